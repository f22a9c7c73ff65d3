//! Reports from the real azureml-core's offline run: where `Run.get_context()` has no Azure
//! run behind it, azureml-core prints what a script logs instead of sending it:
//! `Attempted to log scalar metric NAME:` on one line and `str(value)` on the next (`list`
//! with a Python list, `row` with a dict of columns, `table` with a dict of column lists).
//! [`Echo`] pairs those two lines into reports; a name may hold spaces or end in `:` itself.
//! Other kinds (images, confusion matrices, predictions) are not numbers and are skipped.
//! Tags and properties are echoed on one line each (`Attempted to add tag NAME with value
//! VALUE`, `Attempted to set tags {...}`, `Attempted to add properties {...}`): they become
//! the run's tags ([`Logged::Tag`]), as sweep's own `Run` records them.

use super::{Found, Logged};
use std::borrow::Cow;

/// The start of every offline echo.
const ATTEMPTED: &str = "Attempted to ";
/// The start of every offline metric echo.
const HEADER: &str = "Attempted to log ";

/// What the value line of an echo holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One number (`run.log`).
    Scalar,
    /// A list of numbers (`run.log_list`), each a report of the name.
    List,
    /// `{column: number}` (`run.log_row`): each column a report of `NAME.column`.
    Row,
    /// `{column: [numbers]}` (`run.log_table`): each value a report of `NAME.column`.
    Table,
}

/// Reads echo headers and the value lines after them, one output line at a time (a
/// recogniser of the output grammar, [`super::grammar`]).
#[derive(Debug, Clone, Default)]
pub struct Echo {
    /// The header just read, waiting for its value line.
    pending: Option<(Kind, String)>,
    /// Tags read from echo lines, until taken.
    tags: Vec<Logged>,
}

impl Echo {
    /// Reads one output line (without its newline), calling `f` for the reports it
    /// completes; whether the line was part of an echo (a header, or the value line after
    /// one), which nothing else then reads.
    pub fn line(&mut self, line: &[u8], mut f: impl FnMut(Found<'static>)) -> bool {
        if let Some((kind, name)) = self.pending.take() {
            let text = std::str::from_utf8(line).unwrap_or("");
            for (name, value) in value_reports(kind, &name, text.trim()) {
                f(Found {
                    name: Cow::Owned(name),
                    value,
                    step: None,
                });
            }
            return true;
        }
        // Cheap refusal first: most lines do not start with the header.
        if !line.starts_with(ATTEMPTED.as_bytes()) {
            return false;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return false;
        };
        if let Some(tags) = tags(text) {
            self.tags.extend(
                tags.into_iter()
                    .map(|(key, value)| Logged::Tag { key, value }),
            );
            return true;
        }
        match header(text) {
            Some(h) => {
                self.pending = Some(h);
                true
            }
            None => false,
        }
    }

    /// The tags read since the last call, in order.
    pub fn take_tags(&mut self) -> Vec<Logged> {
        std::mem::take(&mut self.tags)
    }

    /// Whether the line before was an echo header (its value line is next).
    pub fn expects_value(&self) -> bool {
        self.pending.is_some()
    }
}

/// `Attempted to log KIND metric NAME:` → the kind and the name (one trailing `:` removed).
fn header(line: &str) -> Option<(Kind, String)> {
    let rest = line.trim_end_matches(['\r', ' ']).strip_prefix(HEADER)?;
    let (kind, rest) = rest.split_once(" metric ")?;
    let kind = match kind {
        "scalar" => Kind::Scalar,
        "list" => Kind::List,
        "row" => Kind::Row,
        "table" => Kind::Table,
        _ => return None,
    };
    let name = rest.strip_suffix(':')?;
    (!name.is_empty()).then(|| (kind, name.to_string()))
}

/// The tags of a tag or properties echo line: `Attempted to add tag NAME with value VALUE`,
/// `Attempted to set tags {'k': 'v', ...}`, `Attempted to add properties {...}` (a dict's
/// string values without their quotes, others as written); `None` for any other line.
fn tags(line: &str) -> Option<Vec<(String, String)>> {
    let rest = line.trim_end_matches(['\r', ' ']).strip_prefix(ATTEMPTED)?;
    if let Some(one) = rest.strip_prefix("add tag ") {
        let (key, value) = one.split_once(" with value ")?;
        return (!key.is_empty()).then(|| vec![(key.to_string(), value.to_string())]);
    }
    let dict = rest
        .strip_prefix("set tags ")
        .or_else(|| rest.strip_prefix("add properties "))?;
    let entries = dict_entries(dict)?;
    Some(
        entries
            .into_iter()
            .map(|(k, v)| {
                let unquoted = ['\'', '"']
                    .into_iter()
                    .find_map(|q| v.strip_prefix(q).and_then(|x| x.strip_suffix(q)))
                    .map(str::to_string);
                (k, unquoted.unwrap_or(v))
            })
            .collect(),
    )
}

/// A number as Python's `str` writes it (also numpy's scalars, `True`/`False` excluded).
fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    let s = s
        .strip_prefix("np.float64(")
        .or_else(|| s.strip_prefix("np.float32("))
        .or_else(|| s.strip_prefix("np.int64("))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(s);
    super::number::parse_number_text(s)
}

/// The numbers of a printed Python list or numpy array (`[1, 2.5]`, `[1.  2.5]`); `None`
/// when anything in it is not a number.
fn numbers(s: &str) -> Option<Vec<f64>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(number)
        .collect()
}

/// The `key: value` pairs of a printed flat Python dict (`{'a': 1, 'b': [1, 2]}`), values
/// as written; keys without quotes.
fn dict_entries(s: &str) -> Option<Vec<(String, String)>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let q = rest.chars().next()?;
        if q != '\'' && q != '"' {
            return None;
        }
        let end = rest[1..].find(q)? + 1;
        let key = rest[1..end].to_string();
        let after = rest[end + 1..].trim_start().strip_prefix(':')?.trim_start();
        let (value, next) = if after.starts_with('[') {
            let close = after.find(']')?;
            (&after[..=close], &after[close + 1..])
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        out.push((key, value.trim().to_string()));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(out)
}

/// The reports of an echo's value line.
fn value_reports(kind: Kind, name: &str, line: &str) -> Vec<(String, f64)> {
    match kind {
        Kind::Scalar => number(line)
            .map(|v| vec![(name.to_string(), v)])
            .unwrap_or_default(),
        Kind::List => numbers(line)
            .unwrap_or_default()
            .into_iter()
            .map(|v| (name.to_string(), v))
            .collect(),
        Kind::Row => dict_entries(line)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| number(&v).map(|v| (format!("{name}.{k}"), v)))
            .collect(),
        Kind::Table => {
            let cols: Vec<(String, Vec<f64>)> = dict_entries(line)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| numbers(&v).map(|vs| (format!("{name}.{k}"), vs)))
                .collect();
            // Row by row, as the sweep-provided `Run.log_table` reports them.
            let rows = cols.iter().map(|c| c.1.len()).max().unwrap_or(0);
            (0..rows)
                .flat_map(|i| {
                    cols.iter()
                        .filter_map(move |(k, vs)| vs.get(i).map(|v| (k.clone(), *v)))
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[&str]) -> Vec<(String, f64)> {
        let mut e = Echo::default();
        let mut out = Vec::new();
        for l in lines {
            e.line(l.as_bytes(), |f| out.push((f.name.into_owned(), f.value)));
        }
        out
    }

    fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
    }

    #[test]
    fn scalar_echoes_pair_with_the_next_line_and_names_keep_spaces_and_colons() {
        let got = read(&[
            "Attempted to log scalar metric Regularization Strength::",
            "1.0",
            "some output",
            "Attempted to log scalar metric Accuracy:",
            "0.9179059180576631",
            "Attempted to log scalar metric note:",
            "not a number",
            "0.5",
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("Regularization Strength:", 1.0),
                ("Accuracy", 0.9179059180576631)
            ])
        );
    }

    #[test]
    fn lists_rows_and_tables_report_each_number() {
        let got = read(&[
            "Attempted to log list metric losses:",
            "[0.5, 0.25, np.float64(0.125)]",
            "Attempted to log row metric epoch:",
            "{'acc': 0.5, 'name': 'x', \"loss\": 2}",
            "Attempted to log table metric t:",
            "{'a': [1, 2], 'b': [3]}",
            "Attempted to log image metric pic:",
            "pic.png",
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("losses", 0.5),
                ("losses", 0.25),
                ("losses", 0.125),
                ("epoch.acc", 0.5),
                ("epoch.loss", 2.0),
                ("t.a", 1.0),
                ("t.b", 3.0),
                ("t.a", 2.0),
            ])
        );
    }

    #[test]
    fn tag_and_property_echoes_are_the_runs_tags() {
        let mut e = Echo::default();
        let lines = [
            "Attempted to add tag model with value svc",
            "Attempted to set tags {'team': 'vision', 'n': 3}",
            "Attempted to add properties {\"owner\": \"it's me\"}",
            "Attempted to add tag  with value nothing",
        ];
        let read: Vec<bool> = lines
            .iter()
            .map(|l| e.line(l.as_bytes(), |f| panic!("{f:?}")))
            .collect();
        // A tag without a name is no echo: the line is left to the rest of the grammar.
        assert_eq!(read, [true, true, true, false]);
        let tag = |k: &str, v: &str| Logged::Tag {
            key: k.into(),
            value: v.into(),
        };
        assert_eq!(
            e.take_tags(),
            [
                tag("model", "svc"),
                tag("team", "vision"),
                tag("n", "3"),
                tag("owner", "it's me")
            ]
        );
        assert!(e.take_tags().is_empty());
    }

    #[test]
    fn lines_that_only_look_like_echoes_are_not_reports() {
        let mut e = Echo::default();
        for l in [
            "Attempted to log scalar metric :",
            "Attempted to track file m.pkl at outputs/m.pkl",
            "Attempted to log scalar metric acc",
            "0.5",
        ] {
            assert!(!e.line(l.as_bytes(), |f| panic!("{f:?}")), "{l}");
            assert!(!e.expects_value());
        }
    }
}
