//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Serde-based YAML readers stop at the first error and lose positions on the way to typed
//! structs; the validator needs every node's `line:col` and wants to report every problem at
//! once, so configs are read into this tree (saphyr's YAML 1.2 parser supplies the events and
//! spans) and checked by hand. YAML 1.2 core-schema typing applies: `yes`/`no`/`on`/`off` are
//! strings, quoted scalars are always strings.

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan};
use std::collections::HashMap;

/// A position range in the source, 1-based line and column, and a character length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// Length in characters (at least 1 where anything can be underlined).
    pub len: usize,
}

impl Span {
    fn from_yaml(s: YSpan) -> Span {
        let len = if s.end.line() == s.start.line() {
            s.end.col().saturating_sub(s.start.col())
        } else {
            0
        };
        Span {
            line: s.start.line(),
            col: s.start.col() + 1,
            len,
        }
    }
}

/// A scalar with its core-schema type resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `~`, `null`, or empty.
    Null,
    /// `true`/`false` (any case of the core schema's spellings).
    Bool(bool),
    /// A decimal, octal (`0o`) or hex (`0x`) integer.
    Int(i64),
    /// A float, including `.inf`, `-.inf` and `.nan`.
    Float(f64),
    /// Everything else, and every quoted scalar.
    Str(String),
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar; `raw` is its source text after unescaping.
    Scalar {
        /// The typed value.
        value: Scalar,
        /// The text as written (unquoted).
        raw: String,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, duplicates kept (the validator reports them).
    Map(Vec<(Node, Node)>),
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it holds.
    pub kind: Kind,
    /// Where it starts (for collections, the start of the first entry or the bracket).
    pub span: Span,
}

impl Node {
    /// The node's short type name for diagnostics (`a mapping`, `a list`, `a string`, ...).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { value, .. } => match value {
                Scalar::Null => "nothing (null)",
                Scalar::Bool(_) => "a boolean",
                Scalar::Int(_) => "an integer",
                Scalar::Float(_) => "a float",
                Scalar::Str(_) => "a string",
            },
        }
    }

    /// The scalar value, if this is a scalar.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether the node is a null scalar (an empty value).
    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }

    /// The text of a scalar as written (for strings: the string).
    pub fn raw(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { raw, .. } => Some(raw),
            _ => None,
        }
    }

    /// A number (integer or float) as `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self.scalar()? {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// An integer (a float with no fractional part counts, as `1.0`).
    pub fn as_i64(&self) -> Option<i64> {
        match self.scalar()? {
            Scalar::Int(i) => Some(*i),
            Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// A string scalar's text.
    pub fn as_str(&self) -> Option<&str> {
        match self.scalar()? {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.scalar()? {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar rendered as text of any type (numbers and booleans as written).
    pub fn as_text(&self) -> Option<String> {
        match self.scalar()? {
            Scalar::Null => None,
            _ => self.raw().map(str::to_string),
        }
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What the parser said.
    pub message: String,
    /// Where.
    pub span: Span,
    /// How to fix it, when more is known than that the syntax is wrong.
    pub hint: Option<String>,
}

/// The most nodes that aliases may add to a document. An alias copies its anchored node, so
/// a few lines of nested aliases ("billion laughs") could otherwise expand to gigabytes; no
/// sweep config comes near this, and past it the alias is reported where it is written.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A collection being read: the node so far, its anchor id (0: none), a key waiting for its
/// value (mappings), and its weight (nodes in it, itself included).
struct Open {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
    weight: usize,
}

/// Parses one YAML document. An empty document gives a null node. Anchors and aliases are
/// resolved by copying the anchored node, up to [`MAX_ALIAS_NODES`] copied nodes in all.
pub fn parse(src: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Open> = Vec::new();
    // Anchored nodes with their weights.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut copied = 0usize;
    let mut root: Option<Node> = None;
    let mut docs = 0usize;
    while let Some(ev) = parser.next_event() {
        let (ev, yspan) = ev.map_err(|e| SyntaxError {
            message: e.info().to_string(),
            span: Span {
                line: e.marker().line(),
                col: e.marker().col() + 1,
                len: 1,
            },
            hint: None,
        })?;
        let span = Span::from_yaml(yspan);
        // A finished node: the node, its anchor id, its weight.
        let finished: Option<(Node, usize, usize)> = match ev {
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(SyntaxError {
                        message: "a config holds one YAML document; found a second `---`".into(),
                        span,
                        hint: None,
                    });
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = matches!(style, ScalarStyle::Plain) && tag.is_none();
                let value = if plain {
                    resolve_plain(&text)
                } else if let Some(tag) = tag.filter(|t| t.is_yaml_core_schema()) {
                    resolve_tagged(&tag.suffix, &text)
                } else {
                    Scalar::Str(text.to_string())
                };
                let mut span = span;
                if !plain
                    && span.len >= 2
                    && matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted)
                {
                    // Point at the quoted text, quotes included, as written.
                    span.len = span.len.max(text.chars().count() + 2);
                }
                let raw = text.to_string();
                Some((
                    Node {
                        kind: Kind::Scalar { value, raw },
                        span,
                    },
                    anchor,
                    1,
                ))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let kind = if matches!(ev, Event::SequenceStart(..)) {
                    Kind::Seq(Vec::new())
                } else {
                    Kind::Map(Vec::new())
                };
                stack.push(Open {
                    node: Node { kind, span },
                    anchor,
                    pending_key: None,
                    weight: 1,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop().map(|o| (o.node, o.anchor, o.weight))
            }
            Event::Alias(id) => {
                let (node, weight) = anchors.get(&id).ok_or(SyntaxError {
                    message: "alias to an unknown anchor".into(),
                    span,
                    hint: None,
                })?;
                copied = copied.saturating_add(*weight);
                if copied > MAX_ALIAS_NODES {
                    return Err(SyntaxError {
                        message: format!(
                            "aliases expand the document by more than {MAX_ALIAS_NODES} nodes"
                        ),
                        span,
                        hint: Some("an alias copies what its anchor holds: write the values out, or use fewer levels of aliases".into()),
                    });
                }
                let mut node = node.clone();
                node.span = span;
                Some((node, 0, *weight))
            }
            _ => None,
        };
        if let Some((node, anchor, weight)) = finished {
            if anchor != 0 {
                anchors.insert(anchor, (node.clone(), weight));
            }
            match stack.last_mut() {
                None => root = Some(node),
                Some(parent) => {
                    parent.weight = parent.weight.saturating_add(weight);
                    match &mut parent.node.kind {
                        Kind::Seq(items) => items.push(node),
                        Kind::Map(entries) => match parent.pending_key.take() {
                            None => parent.pending_key = Some(node),
                            Some(k) => entries.push((k, node)),
                        },
                        Kind::Scalar { .. } => unreachable!("scalars have no children"),
                    }
                }
            }
        }
    }
    Ok(root.unwrap_or(Node {
        kind: Kind::Scalar {
            value: Scalar::Null,
            raw: String::new(),
        },
        span: Span {
            line: 1,
            col: 1,
            len: 0,
        },
    }))
}

/// Core-schema resolution of a plain scalar (YAML 1.2 §10.3.2).
pub fn resolve_plain(s: &str) -> Scalar {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Scalar::Int(i);
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Scalar::Int(i);
        }
    }
    let is_int = {
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if is_int {
        if let Ok(i) = s.parse::<i64>() {
            return Scalar::Int(i);
        }
    }
    // The core schema's float: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let looks_float = {
        let b = s.strip_prefix(['-', '+']).unwrap_or(s);
        !b.is_empty()
            && b.bytes()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == b'.')
            && b.bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
            && b.bytes().any(|c| c.is_ascii_digit())
    };
    if looks_float {
        if let Ok(f) = s.parse::<f64>() {
            return Scalar::Float(f);
        }
    }
    Scalar::Str(s.to_string())
}

fn resolve_tagged(suffix: &str, text: &str) -> Scalar {
    match suffix {
        "str" => Scalar::Str(text.to_string()),
        "int" => text
            .parse()
            .map(Scalar::Int)
            .unwrap_or_else(|_| Scalar::Str(text.into())),
        "float" => text
            .parse()
            .map(Scalar::Float)
            .unwrap_or_else(|_| resolve_plain(text)),
        "bool" => match resolve_plain(text) {
            b @ Scalar::Bool(_) => b,
            _ => Scalar::Str(text.into()),
        },
        "null" => Scalar::Null,
        _ => resolve_plain(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("yes"), Scalar::Str("yes".into()));
        assert_eq!(resolve_plain("no"), Scalar::Str("no".into()));
        assert_eq!(resolve_plain("1"), Scalar::Int(1));
        assert_eq!(resolve_plain("-1.5e3"), Scalar::Float(-1500.0));
        assert_eq!(resolve_plain("1e-3"), Scalar::Float(0.001));
        assert_eq!(resolve_plain(".5"), Scalar::Float(0.5));
        assert_eq!(resolve_plain("True"), Scalar::Bool(true));
        assert_eq!(resolve_plain("1.2.3"), Scalar::Str("1.2.3".into()));
        assert_eq!(resolve_plain("--lr"), Scalar::Str("--lr".into()));
    }

    #[test]
    fn positions_and_quotes() {
        let n = parse("a:\n  b: [1, 'x']\n  c: yes\n").unwrap();
        let m = n.as_map().unwrap();
        assert_eq!(m[0].0.raw(), Some("a"));
        let inner = m[0].1.as_map().unwrap();
        let seq = inner[0].1.as_seq().unwrap();
        assert_eq!(
            seq[0].span,
            Span {
                line: 2,
                col: 7,
                len: 1
            }
        );
        assert_eq!(seq[1].as_str(), Some("x"));
        assert_eq!(seq[1].span.col, 10);
        assert_eq!(inner[1].1.as_str(), Some("yes"));
    }

    #[test]
    fn keeps_duplicate_keys_and_resolves_aliases() {
        let n = parse("a: &x 1\na: *x\n").unwrap();
        let m = n.as_map().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].1.as_i64(), Some(1));
        assert_eq!(m[1].0.span.line, 2);
    }

    #[test]
    fn alias_bombs_stop_at_the_bound_where_the_alias_is() {
        // Six levels of ten aliases would copy a million nodes.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=6 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&text).unwrap_err();
        assert!(
            e.message.contains("more than 100000 nodes"),
            "{}",
            e.message
        );
        // Level 4's aliases copy 11,111 nodes each: its eighth passes the bound.
        assert_eq!((e.span.line, e.span.col), (5, 45), "{e:?}");
        // Below the bound, aliases are copies as before.
        let small = "a: &x [1, 2]\nb: [*x, *x]\n";
        let n = parse(small).unwrap();
        let b = n.as_map().unwrap()[1].1.as_seq().unwrap();
        assert_eq!(b[1].as_seq().unwrap()[1].as_i64(), Some(2));
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.span.line >= 1);
        assert!(parse("").unwrap().is_null());
    }
}
