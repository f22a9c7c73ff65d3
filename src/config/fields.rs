//! Reading a YAML mapping as a set of known fields: duplicate keys, unknown keys (with a
//! "did you mean"), Azure keys that are legal but have no effect here, and typed getters
//! that report a wrong type at the value's position. Every check reports and carries on, so
//! one pass finds every problem.

use super::diag::{did_you_mean, Sink};
use super::yaml::{Kind, Node, Span};
use crate::space::format_float;

/// The fields of one mapping.
pub struct Fields<'a> {
    entries: Vec<(&'a Node, &'a Node)>,
    /// Where the mapping is (for "missing key" errors).
    pub span: Span,
    /// What the mapping is called in messages (`sampling`, `the runconfig`).
    pub what: String,
}

/// Reads `node` as a mapping called `what`, with `known` keys and `inert` keys (legal in
/// Azure ML, accepted with a note that they have no effect). Returns `None` (after reporting)
/// when `node` is not a mapping.
pub fn fields<'a>(
    sink: &mut Sink,
    node: &'a Node,
    what: &str,
    known: &[&str],
    inert: &[&str],
) -> Option<Fields<'a>> {
    let Kind::Map(map) = &node.kind else {
        if node.is_null() {
            return Some(Fields {
                entries: Vec::new(),
                span: node.span,
                what: what.to_string(),
            });
        }
        sink.wrong_type(
            node,
            format!("`{what}` should be a mapping of keys to values"),
            None,
        );
        return None;
    };
    let mut entries: Vec<(&Node, &Node)> = Vec::new();
    for (k, v) in map {
        let Some(key) = k.as_text() else {
            sink.wrong_type(k, format!("keys of `{what}` must be names"), None);
            continue;
        };
        if let Some((first, _)) = entries
            .iter()
            .find(|(f, _)| f.as_text().as_deref() == Some(&key))
        {
            sink.error(
                k.span,
                format!("duplicate key `{key}` in `{what}`"),
                Some(format!(
                    "it is already set at line {}; keep one",
                    first.span.line
                )),
            );
            continue;
        }
        if known.contains(&key.as_str()) {
            entries.push((k, v));
        } else if inert.contains(&key.as_str()) {
            if !v.is_null() {
                sink.note(
                    k.span,
                    format!("`{key}` is an Azure ML setting with no effect in sweep"),
                    None,
                );
            }
        } else {
            let hint = match did_you_mean(&key, known) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            sink.error(
                k.span,
                format!("unknown key `{key}` in `{what}`"),
                Some(hint),
            );
        }
    }
    Some(Fields {
        entries,
        span: node.span,
        what: what.to_string(),
    })
}

impl<'a> Fields<'a> {
    /// The value of `key`, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_text().as_deref() == Some(key))
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    /// The key node of `key`, for pointing at a key rather than its value.
    pub fn key_node(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_text().as_deref() == Some(key))
            .map(|(k, _)| *k)
    }

    /// Whether `key` is written with a value. A key written with an empty value (`key:`,
    /// `key: ~`) counts as not given: every getter skips it, and a required one is reported
    /// at the key by [`Fields::needs`] and [`Fields::require`].
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Reports a required `key` that has no value: `message` at the mapping when the key is
    /// not written at all, "`key` is empty" at the key when it is written without a value.
    /// (A value of the wrong type is reported by its getter, at the value.)
    pub fn needs(
        &self,
        sink: &mut Sink,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        if self.has(key) {
            return;
        }
        match self.key_node(key) {
            Some(k) => sink.error(k.span, empty_message(key), hint),
            None => sink.error(self.span, message, hint),
        }
    }

    /// Reports `key` if it is written with no value: for a key that is optional but only
    /// when it is left out (`max_total_runs:` under random sampling). Returns whether it was.
    pub fn reject_empty(&self, sink: &mut Sink, key: &str, hint: Option<String>) -> bool {
        match self.key_node(key) {
            Some(k) if !self.has(key) => {
                sink.error(k.span, empty_message(key), hint);
                true
            }
            _ => false,
        }
    }

    /// The value of a required key; reports it (as [`Fields::needs`] does) when it is
    /// missing or empty.
    pub fn require(&self, sink: &mut Sink, key: &str, hint: Option<String>) -> Option<&'a Node> {
        let message = format!("`{}` needs `{key}`", self.what);
        self.needs(sink, key, message, hint);
        self.get(key)
    }

    /// The value of `key` as `read` takes it, or an error at the value: "`key` should be
    /// {want}, found {found(value)}", with `hint(value)`.
    fn typed<T>(
        &self,
        sink: &mut Sink,
        key: &str,
        want: &str,
        read: impl FnOnce(&'a Node) -> Option<T>,
        found: fn(&Node) -> String,
        hint: fn(&Node) -> Option<String>,
    ) -> Option<(T, Span)> {
        let v = self.get(key)?;
        let x = read(v);
        if x.is_none() {
            sink.error(
                v.span,
                format!("`{key}` should be {want}, found {}", found(v)),
                hint(v),
            );
        }
        Some((x?, v.span))
    }

    /// A string field (numbers and booleans are not strings here).
    pub fn string(&self, sink: &mut Sink, key: &str) -> Option<(String, Span)> {
        let read = |v: &Node| v.as_str().map(str::to_string);
        self.typed(sink, key, "a string", read, type_name, no_hint)
    }

    /// A scalar field read as text whatever its type (`arguments: [1, --x]`).
    pub fn text(&self, sink: &mut Sink, key: &str) -> Option<(String, Span)> {
        self.typed(
            sink,
            key,
            "a single value",
            Node::as_text,
            type_name,
            no_hint,
        )
    }

    /// A finite number field: `.inf` and `.nan` are errors, as no setting means them.
    pub fn number(&self, sink: &mut Sink, key: &str) -> Option<(f64, Span)> {
        let (x, span) = self.typed(sink, key, "a number", Node::as_f64, type_name, no_hint)?;
        if !x.is_finite() {
            sink.error(
                span,
                format!("`{key}` must be a finite number, got {}", format_float(x)),
                Some("write a finite number, or leave the key out for its default".into()),
            );
            return None;
        }
        Some((x, span))
    }

    /// An integer field.
    pub fn integer(&self, sink: &mut Sink, key: &str) -> Option<(i64, Span)> {
        self.typed(sink, key, "a whole number", Node::as_i64, describe, no_hint)
    }

    /// A positive integer field (limits): zero and negatives are errors.
    pub fn positive(&self, sink: &mut Sink, key: &str) -> Option<(u64, Span)> {
        self.integer_at_least(sink, key, 1)
    }

    /// An integer field of at least `min` (a count or an index, so `min` is 0 or more);
    /// a smaller value is an error that states the bound.
    pub fn integer_at_least(&self, sink: &mut Sink, key: &str, min: i64) -> Option<(u64, Span)> {
        let (x, span) = self.integer(sink, key)?;
        if x < min {
            let bound = if min == 0 {
                "must not be negative".to_string()
            } else {
                format!("must be at least {min}")
            };
            sink.error(span, format!("`{key}` {bound}, got {x}"), None);
            return None;
        }
        Some((x as u64, span))
    }

    /// A number that must be greater than zero (durations); `unit` names it in the message.
    pub fn positive_number(&self, sink: &mut Sink, key: &str, unit: &str) -> Option<(f64, Span)> {
        let (x, span) = self.number(sink, key)?;
        if x <= 0.0 {
            sink.error(
                span,
                format!("`{key}` must be greater than 0{unit}, got {x}"),
                None,
            );
            return None;
        }
        Some((x, span))
    }

    /// A boolean field.
    pub fn boolean(&self, sink: &mut Sink, key: &str) -> Option<(bool, Span)> {
        let hint = |v: &Node| {
            matches!(v.as_str(), Some("yes" | "no" | "on" | "off")).then(|| {
                "YAML 1.2 reads `yes`/`no`/`on`/`off` as strings: write `true` or `false`".into()
            })
        };
        self.typed(sink, key, "true or false", Node::as_bool, describe, hint)
    }

    /// A list of scalars read as text.
    pub fn text_list(&self, sink: &mut Sink, key: &str) -> Option<Vec<(String, Span)>> {
        let v = self.get(key)?;
        let Some(items) = v.as_seq() else {
            sink.wrong_type(v, format!("`{key}` should be a list"), None);
            return None;
        };
        let mut out = Vec::new();
        for it in items {
            match it.as_text() {
                Some(s) => out.push((s, it.span)),
                None => sink.wrong_type(
                    it,
                    format!("items of `{key}` should be single values"),
                    None,
                ),
            }
        }
        Some(out)
    }
}

/// The error for a key written with no value.
fn empty_message(key: &str) -> String {
    format!("`{key}` is empty: it needs a value")
}

fn type_name(v: &Node) -> String {
    v.type_name().to_string()
}

fn no_hint(_: &Node) -> Option<String> {
    None
}

/// `a string "abc"`, `a float 1.5`: a value and its type, for messages.
pub fn describe(v: &Node) -> String {
    match v.raw() {
        Some(raw) if !v.is_null() => format!("{} `{raw}`", v.type_name()),
        _ => v.type_name().to_string(),
    }
}
