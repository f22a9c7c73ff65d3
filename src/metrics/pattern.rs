//! The configurable pattern (`metrics: {pattern: …}`): a regular expression for output
//! lines the built-in formats do not read. It has a named group `value` and either a named
//! group `name` or a fixed name given beside it, and optionally a group `step`. It is
//! compiled once, with the `regex` crate (finite automata, no backtracking: the cost per
//! line is linear in its length whatever the pattern), and run over each line's final state.

use super::number::parse_number_text;
use regex::bytes::{CaptureLocations, Regex};

/// A compiled metric pattern. Serialized as what it was written as, so a saved sweep
/// compiles it again when it is read.
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Regex,
    /// The fixed name, for a pattern without a `name` group.
    name: Option<String>,
    /// Indices of the `name`, `value` and `step` groups.
    groups: Groups,
}

#[derive(Debug, Clone, Copy)]
struct Groups {
    name: Option<usize>,
    value: usize,
    step: Option<usize>,
}

/// Why a pattern cannot be used; the text is a whole sentence for a diagnostic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    /// Not a regular expression the `regex` crate accepts.
    #[error("not a valid regular expression: {0}")]
    Syntax(String),
    /// No `(?P<value>…)` group.
    #[error("the pattern has no group named `value`: write `(?P<value>…)` around the number")]
    NoValue,
    /// Neither a `name` group nor a fixed name.
    #[error("the pattern has no group named `name`: add `(?P<name>…)`, or give the metric's name with `name:`")]
    NoName,
    /// Both a `name` group and a fixed name.
    #[error("the pattern has a group named `name` and a fixed `name:` as well: keep one")]
    TwoNames,
}

impl Pattern {
    /// Compiles `pattern`, with `name` as the metric's name when it has no `name` group.
    pub fn new(pattern: &str, name: Option<&str>) -> Result<Pattern, PatternError> {
        let regex = regex::bytes::RegexBuilder::new(pattern)
            // Bounded compile size: a pattern is one line of config, not a program.
            .size_limit(1 << 20)
            .build()
            .map_err(|e| PatternError::Syntax(one_line(&e.to_string())))?;
        let index = |g: &str| regex.capture_names().position(|n| n == Some(g));
        let value = index("value").ok_or(PatternError::NoValue)?;
        let group_name = index("name");
        match (group_name, name) {
            (None, None) => return Err(PatternError::NoName),
            (Some(_), Some(_)) => return Err(PatternError::TwoNames),
            _ => {}
        }
        let groups = Groups {
            name: group_name,
            value,
            step: index("step"),
        };
        Ok(Pattern {
            regex,
            name: name.map(str::to_string),
            groups,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// The fixed name, if the pattern has no `name` group.
    pub fn fixed_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A reusable buffer for [`Pattern::scan`].
    pub fn locations(&self) -> CaptureLocations {
        self.regex.capture_locations()
    }

    /// Calls `f(name, value, step)` for every match of `line` whose value is a number (and
    /// whose name is UTF-8); returns how many. Allocates nothing: `locs` comes from
    /// [`Pattern::locations`].
    pub fn scan(
        &self,
        line: &[u8],
        locs: &mut CaptureLocations,
        mut f: impl FnMut(&str, f64, Option<i64>),
    ) -> usize {
        let mut found = 0;
        let mut at = 0;
        while at <= line.len() {
            let Some(m) = self.regex.captures_read_at(locs, line, at) else {
                break;
            };
            // An empty match moves on by one byte so the scan ends.
            at = if m.end() > m.start() {
                m.end()
            } else {
                m.end() + 1
            };
            let text = |g: usize| {
                locs.get(g)
                    .and_then(|(s, e)| std::str::from_utf8(&line[s..e]).ok())
            };
            let Some(value) = text(self.groups.value).and_then(|v| parse_number_text(v.trim()))
            else {
                continue;
            };
            let name = match (self.groups.name, &self.name) {
                (Some(g), _) => text(g).map(str::trim),
                (None, Some(n)) => Some(n.as_str()),
                (None, None) => None,
            };
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                continue;
            };
            let step = self
                .groups
                .step
                .and_then(text)
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|s| *s >= 0);
            f(name, value, step);
            found += 1;
        }
        found
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.as_str() == other.as_str() && self.name == other.name
    }
}

/// The `regex` crate's multi-line error message (the pattern, a caret, `error: why`) as
/// its reason alone; the diagnostic already shows the pattern.
fn one_line(s: &str) -> String {
    match s.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        Some(why) => why.to_string(),
        None => s.lines().map(str::trim).collect::<Vec<_>>().join(" "),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Saved {
            pattern: self.as_str().to_string(),
            name: self.name.clone(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let saved = Saved::deserialize(d)?;
        Pattern::new(&saved.pattern, saved.name.as_deref()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(p: &Pattern, line: &str) -> Vec<(String, f64, Option<i64>)> {
        let mut v = Vec::new();
        let mut locs = p.locations();
        p.scan(line.as_bytes(), &mut locs, |n, x, s| {
            v.push((n.to_string(), x, s))
        });
        v
    }

    #[test]
    fn named_groups_or_a_fixed_name() {
        let p = Pattern::new(r"(?P<name>\w+) is (?P<value>\S+) at (?P<step>\d+)", None).unwrap();
        assert_eq!(
            scan(&p, "acc is 0.5 at 3, loss is 2 at 4, f is high at 5"),
            [("acc".into(), 0.5, Some(3)), ("loss".into(), 2.0, Some(4))]
        );
        let p = Pattern::new(r"Top-1 (?P<value>[\d.]+)%", Some("top1")).unwrap();
        assert_eq!(
            scan(&p, "Top-1 93.5% after 3"),
            [("top1".into(), 93.5, None)]
        );
        assert_eq!(scan(&p, "nothing here"), []);
        // An empty match does not loop forever.
        let p = Pattern::new(r"(?P<value>\d*)", Some("x")).unwrap();
        assert_eq!(scan(&p, "a1b").len(), 1);
    }

    #[test]
    fn unusable_patterns_say_why() {
        assert!(matches!(
            Pattern::new("(?P<value>", Some("x")),
            Err(PatternError::Syntax(_))
        ));
        assert_eq!(
            Pattern::new(r"\d+", Some("x")).unwrap_err(),
            PatternError::NoValue
        );
        assert_eq!(
            Pattern::new(r"(?P<value>\d+)", None).unwrap_err(),
            PatternError::NoName
        );
        assert_eq!(
            Pattern::new(r"(?P<name>\w)(?P<value>\d+)", Some("x")).unwrap_err(),
            PatternError::TwoNames
        );
        // Look-around is not in the `regex` crate's language: a clear syntax error.
        let e = Pattern::new(r"(?<=acc )(?P<value>\d+)", Some("x")).unwrap_err();
        assert!(e.to_string().contains("look-around"), "{e}");
    }

    #[test]
    fn a_saved_pattern_compiles_again() {
        let p = Pattern::new(r"acc (?P<value>\S+)", Some("acc")).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"pattern":"acc (?P<value>\\S+)","name":"acc"}"#);
        assert_eq!(serde_json::from_str::<Pattern>(&json).unwrap(), p);
    }
}
