//! Reading the metrics runs report: the sources a run's reports come from, the readers of
//! each kind of source, and the bound on reports in flight.
//!
//! # Sources and positions
//!
//! Every report is read from one file of the run directory, its [`Source`]
//! (`output.log`, `metrics.jsonl`, a TensorBoard event file), and carries its [`Position`]
//! there: the byte offset just past the line or record it came from. The engine records,
//! with the reports and in the same transaction, how far each source has been recorded;
//! a run read again from its start (re-adopted by `sweep resume`) skips, per source, what
//! is at or before that position. So every report is recorded exactly once, in whatever
//! order the sources are read. Two rules keep that true, and every reader keeps them: the
//! reports of one line or record share its position, and they are handed on together
//! (a batch never ends inside a line or record).
//!
//! # The readers
//!
//! - [`split`]: a byte stream into lines, in bounded memory, each at its final state
//!   (`\r` redraws collapsed) and with its end offset.
//! - [`grammar`]: the line grammar of the output (`@sweep` JSON lines, the configured
//!   [`pattern`], Keras epoch lines, and every `name=value` / `name: value` `pairs` pair).
//! - [`parse_file_line`]: a metrics-file line (one JSON object): a report, or one of the
//!   `param`, `tag` and `other_run` objects sweep's Python integrations write beside
//!   reports ([`Logged`]), which the engine keeps with the run.
//! - [`azureml`]: the real azureml-core's offline echo (`Attempted to log scalar metric
//!   NAME:` and the value on the next line), a recogniser of the output grammar.
//! - [`tfevents`]: TensorBoard event files (TFRecord framing, CRC32C, scalar summaries).
//! - [`Seen`] and [`never_reported`]: what a run reported, by kind of source, and the
//!   warning for a run that never reported the primary metric (its text is built there only).
//!
//! # Adding a source
//!
//! A new kind of source is a [`SourceKind`] variant (its label names it in warnings), a
//! reader that turns the file's bytes into [`Found`] reports with their end offsets, and
//! one place in the run watcher (`target::watch`) that finds the file and feeds it, as
//! [`tfevents`] is fed by `EventFiles` there (and by the SSH poll's event-file blocks). A new line
//! format of the output is a rule in [`grammar`] instead. The engine, the history and
//! resume need nothing new: they see [`Report`]s with positions, and the warning for a
//! missing primary metric ([`never_reported`]) names the source by its label.

use std::borrow::Cow;

pub mod azureml;
pub mod grammar;
mod json;
pub mod missing;
mod number;
mod pairs;
pub mod pattern;
mod seen;
mod source;
pub mod split;
pub mod tfevents;

pub use grammar::{OutputGrammar, Verdict, PREFIX};
pub use pattern::{Pattern, PatternError};
pub use seen::{never_reported, Seen};
pub use source::{Position, Source, SourceKind};
pub use split::{pump, LineSplitter, SplitLine, MAX_LINE};

/// One metric report from a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The metric's name.
    pub name: String,
    /// The value (NaN and infinities are kept: recorded, never best).
    pub value: f64,
    /// The step the run attached, if any.
    pub step: Option<i64>,
    /// Where it was read; `None` for a report that does not come from a run's files (a
    /// scripted target's), which is never read twice.
    pub at: Option<Position>,
}

impl Report {
    /// A report with no position.
    pub fn new(name: &str, value: f64, step: Option<i64>) -> Report {
        Report {
            name: name.to_string(),
            value,
            step,
            at: None,
        }
    }
}

/// A report as a reader finds it, before it is given its position: the name borrows from
/// the line when it can, so finding costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<'a> {
    /// The metric's name.
    pub name: Cow<'a, str>,
    /// The value.
    pub value: f64,
    /// The step, if the source gave one.
    pub step: Option<i64>,
}

impl Found<'_> {
    /// The report, read at `at`.
    pub fn at(self, at: Position) -> Report {
        Report {
            name: self.name.into_owned(),
            value: self.value,
            step: self.step,
            at: Some(at),
        }
    }
}

/// What a script records beside its reports, through the metrics file lines sweep's Python
/// integrations write (docs/metrics.md): kept with the run, never a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Logged {
    /// A parameter the script recorded (`mlflow.log_param`); a later value of the same
    /// key replaces an earlier one.
    Param {
        /// Its name.
        key: String,
        /// Its value, as text.
        value: String,
    },
    /// A tag the script recorded (`mlflow.set_tag`, `run.tag`, `run.add_properties`).
    Tag {
        /// Its name.
        key: String,
        /// Its value, as text.
        value: String,
    },
    /// A metric value the script logged to another run than the sweep run (an MLflow run
    /// it created itself, an azureml child run): not the run's report, but the reason a
    /// run can miss its primary metric.
    OtherRun {
        /// The other run's id.
        run: String,
        /// The metric's name.
        metric: String,
    },
}

impl Logged {
    /// A parameter's or tag's kind (`param`, `tag`), key and value; `None` for a value
    /// logged to another run.
    pub fn attribute(&self) -> Option<(&'static str, &str, &str)> {
        match self {
            Logged::Param { key, value } => Some(("param", key, value)),
            Logged::Tag { key, value } => Some(("tag", key, value)),
            Logged::OtherRun { .. } => None,
        }
    }

    /// The parameter (`kind` `param`) or tag (`tag`) `key` = `value`; `None` for another
    /// kind.
    pub fn attribute_of(kind: &str, key: String, value: String) -> Option<Logged> {
        match kind {
            "param" => Some(Logged::Param { key, value }),
            "tag" => Some(Logged::Tag { key, value }),
            _ => None,
        }
    }
}

/// Most metric names per run whose values logged to another run are passed on (each once):
/// enough to name a near miss, while a script logging everything to its own runs costs
/// nothing more.
pub const MAX_OTHER_RUN_NAMES: usize = 64;

/// One line of `$SWEEP_METRICS_FILE`.
#[derive(Debug, Clone, PartialEq)]
pub enum FileRecord {
    /// A report.
    Report(Found<'static>),
    /// A parameter, a tag or a value logged to another run.
    Logged(Logged),
}

/// Parses one line of `$SWEEP_METRICS_FILE` (one JSON object); blank lines are nothing.
pub fn parse_file_line(line: &[u8]) -> Result<Option<FileRecord>, String> {
    match std::str::from_utf8(line) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => Ok(Some(match json::parse_record(s.trim())? {
            json::Object::Report(f) => FileRecord::Report(f),
            json::Object::Logged(l) => FileRecord::Logged(l),
        })),
        Err(_) => Err("not valid UTF-8".into()),
    }
}

/// Metric reports read from runs but not yet committed to the store, in this process. Readers
/// wait while it is above [`MAX_IN_FLIGHT`], so a run printing metrics faster than the store
/// can write them fills its log file on disk, not sweep's memory.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Most metric reports queued between the readers and the store.
pub const MAX_IN_FLIGHT: usize = 100_000;

/// Counts `n` reports handed to the engine.
pub fn produced(n: usize) {
    IN_FLIGHT.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// Counts `n` reports committed (or dropped) by the store.
pub fn committed(n: usize) {
    let _ = IN_FLIGHT.fetch_update(
        std::sync::atomic::Ordering::Relaxed,
        std::sync::atomic::Ordering::Relaxed,
        |v| Some(v.saturating_sub(n)),
    );
}

/// Blocks the calling (reader) thread while too many reports are in flight.
pub fn wait_for_room() {
    while IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed) > MAX_IN_FLIGHT {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Whether `v` can be a best value (finite).
pub fn is_rankable(v: f64) -> bool {
    v.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_tags_and_other_runs_values_are_logged_not_reports() {
        let logged = |line: &[u8]| match parse_file_line(line) {
            Ok(Some(FileRecord::Logged(l))) => l,
            other => panic!("{other:?}"),
        };
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(matches!(
            logged(br#"{"param":"lr","value":"0.1"}"#),
            Logged::Param { key, value } if (key.clone(), value.clone()) == kv("lr", "0.1")
        ));
        // A value that is not a string is kept as its JSON text.
        assert!(matches!(
            logged(br#"{"param":"bs","value":32}"#),
            Logged::Param { key, value } if (key.clone(), value.clone()) == kv("bs", "32")
        ));
        assert!(matches!(
            logged(br#"{"tag":"team","value":"x"}"#),
            Logged::Tag { key, value } if (key.clone(), value.clone()) == kv("team", "x")
        ));
        assert_eq!(
            logged(br#"{"other_run":"abc","metric":"acc","value":0.5,"step":1}"#),
            Logged::OtherRun {
                run: "abc".into(),
                metric: "acc".into()
            }
        );
        // A `metric` key with `param` beside it is still a report.
        assert!(matches!(
            parse_file_line(br#"{"metric":"a","value":1,"param":"p"}"#),
            Ok(Some(FileRecord::Report(_)))
        ));
        // An `@sweep` line's object of the same shapes is no report either.
        assert_eq!(
            json::parse_object(r#"{"param":"lr","value":"0.1"}"#),
            Ok(None)
        );
        for (line, why) in [
            (&br#"{"value":1}"#[..], "no \"metric\" key"),
            (
                br#"{"param":"","value":"1"}"#,
                "\"param\" is not a non-empty string",
            ),
            (br#"{"tag":"t"}"#, "no \"value\" for tag \"t\""),
            (
                br#"{"other_run":"r","value":1}"#,
                "\"metric\" of an \"other_run\" value",
            ),
        ] {
            let e = parse_file_line(line).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn metrics_file_lines() {
        assert_eq!(parse_file_line(b"  "), Ok(None));
        let Ok(Some(FileRecord::Report(f))) =
            parse_file_line(br#"{"metric":"l","value":"inf","step":2}"#)
        else {
            panic!("not a report")
        };
        assert_eq!(
            (f.name.as_ref(), f.value, f.step),
            ("l", f64::INFINITY, Some(2))
        );
        assert!(parse_file_line(b"loss=1")
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(parse_file_line(b"\xff").unwrap_err().contains("UTF-8"));
    }
}
