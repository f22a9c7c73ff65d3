//! `sweep export SWEEP --format table|json|csv|jsonl`: a sweep's history for other tools.
//! The schemas are documented in docs/report.md:
//!
//! - `json`: one document `{"sweep": {...}, "runs": [{...run, "metrics": {name: [{interval,
//!   step, value, time}]}}]}`.
//! - `csv`: one row per run: `id,seq,state,reason,exit_code,signal,queued,started,ended,
//!   duration_s,best,intervals`, then one column per parameter (every parameter any run has,
//!   in parameter-space order; empty where a conditional parameter was inactive).
//! - `jsonl`: one metric point per line: `{"run","seq","metric","interval","step","value",
//!   "time"}`, in the order they were recorded.
//! - `table`: the same metric points as aligned text (`run metric interval step value`).
//!
//! NaN and infinities are written as `NaN`, `Infinity`, `-Infinity` (JSON strings in JSON).
//! The metric values are written as they are read, inside one read transaction: an export's
//! memory does not grow with them.

use super::runs::{
    csv_line, duration_cell, logged_json, num_json, open_sweep, opt_cell, param_cell, plain,
    run_json,
};
use super::{CliError, CliResult, Common, Format, FormatArg};
use clap::Args;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use sweep::store::{MetricSummary, Reader, RunRecord, StoreError, SweepRecord};

/// `sweep export SWEEP --format ...`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep export latest --format csv > runs.csv
  sweep export latest --json > sweep.json
  sweep export latest --format jsonl | head")]
pub struct ExportArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// Output format (required): `json` (the sweep and its runs with their metrics), `csv`
    /// (one row per run, one column per parameter), `jsonl` (one metric point per line),
    /// `table` (the metric points as text).
    #[command(flatten)]
    pub format: FormatArg,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// The fixed columns of the CSV export, before the parameter columns.
pub const CSV_COLUMNS: [&str; 12] = [
    "id",
    "seq",
    "state",
    "reason",
    "exit_code",
    "signal",
    "queued",
    "started",
    "ended",
    "duration_s",
    "best",
    "intervals",
];

/// An export failure: reading the history or writing the output.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the history failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|x| plain(&num_json(x))).unwrap_or_default()
}

/// Writes the export of `sweep` in `format`, read from one consistent snapshot.
pub fn write_export(
    reader: &Reader,
    sweep: &SweepRecord,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    match format {
        Format::Csv => {
            let runs = reader.snapshot(|r| r.runs(sweep))?;
            let mut names: Vec<&str> = Vec::new();
            for r in &runs {
                for (n, _) in &r.params {
                    if !names.contains(&n.as_str()) {
                        names.push(n);
                    }
                }
            }
            let mut head: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
            for n in &names {
                // A parameter named like a fixed column keeps both apart.
                head.push(if CSV_COLUMNS.contains(n) {
                    format!("param:{n}")
                } else {
                    n.to_string()
                });
            }
            writeln!(out, "{}", csv_line(&head))?;
            for r in &runs {
                let mut row = vec![
                    r.id.clone(),
                    r.seq.to_string(),
                    r.state.to_string(),
                    opt_cell(r.reason.as_ref()),
                    opt_cell(r.exit_code),
                    opt_cell(r.signal),
                    format!("{:.6}", r.queued),
                    r.started.map(|t| format!("{t:.6}")).unwrap_or_default(),
                    r.ended.map(|t| format!("{t:.6}")).unwrap_or_default(),
                    duration_cell(r),
                    opt_num(r.best),
                    r.intervals.to_string(),
                ];
                row.extend(names.iter().map(|n| param_cell(r, n)));
                writeln!(out, "{}", csv_line(&row))?;
            }
        }
        Format::Table => reader.snapshot(|r| {
            writeln!(out, "run  metric  interval  step  value")?;
            r.each_metric(sweep, |_, m| {
                writeln!(
                    out,
                    "{}  {}  {}  {}  {}",
                    m.run_id,
                    super::term::shown(&m.name),
                    m.interval,
                    m.step.map_or_else(|| "-".to_string(), |s| s.to_string()),
                    plain(&num_json(m.value))
                )
                .map_err(ExportError::Io)
            })
        })?,
        Format::Jsonl => reader.snapshot(|r| {
            let runs = r.runs(sweep)?;
            let seq: HashMap<&str, i64> = runs.iter().map(|r| (r.id.as_str(), r.seq)).collect();
            r.each_metric(sweep, |_, m| {
                let v = serde_json::json!({
                    "run": m.run_id,
                    "seq": seq.get(m.run_id.as_str()),
                    "metric": m.name,
                    "interval": m.interval,
                    "step": m.step,
                    "value": num_json(m.value),
                    "time": m.time,
                });
                writeln!(out, "{v}").map_err(ExportError::Io)
            })
        })?,
        Format::Json => reader.snapshot(|r| {
            let runs = r.runs(sweep)?;
            let failed = RefCell::new(None);
            let doc = Doc {
                reader: r,
                sweep,
                runs: &runs,
                failed: &failed,
            };
            let written = serde_json::to_writer_pretty(&mut *out, &doc);
            if let Some(e) = failed.into_inner() {
                return Err(ExportError::Store(e));
            }
            written.map_err(std::io::Error::from)?;
            writeln!(out)?;
            Ok(())
        })?,
    }
    Ok(())
}

/// The JSON export, written while it is read: serde drives the output, and each run's values
/// are read from the history as they are written, so the memory used does not grow with
/// them. A read error stops the output and is kept in `failed`.
struct Doc<'a> {
    reader: &'a Reader,
    sweep: &'a SweepRecord,
    runs: &'a [RunRecord],
    failed: &'a RefCell<Option<StoreError>>,
}

impl Doc<'_> {
    /// Keeps a read error for the caller and stops the output with it.
    fn fail<E: serde::ser::Error>(&self, e: StoreError) -> E {
        let text = e.to_string();
        *self.failed.borrow_mut() = Some(e);
        E::custom(text)
    }
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("sweep", self.sweep)?;
        m.serialize_entry("runs", &DocRuns(self))?;
        m.end()
    }
}

/// The runs of a [`Doc`], each the stable run JSON with its values under `metrics`.
struct DocRuns<'a>(&'a Doc<'a>);

impl Serialize for DocRuns<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let doc = self.0;
        let mut seq = s.serialize_seq(Some(doc.runs.len()))?;
        for run in doc.runs {
            seq.serialize_element(&DocRun { doc, run })?;
        }
        seq.end()
    }
}

struct DocRun<'a> {
    doc: &'a Doc<'a>,
    run: &'a RunRecord,
}

impl Serialize for DocRun<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = run_json(self.run);
        let fields = fields.as_object().expect("a run is a JSON object");
        let mut m = s.serialize_map(Some(fields.len() + 2))?;
        for (k, v) in fields {
            m.serialize_entry(k, v)?;
        }
        let logged = (self.doc.reader.logged(&self.run.id)).map_err(|e| self.doc.fail(e))?;
        m.serialize_entry("logged", &logged_json(&logged))?;
        let names = (self.doc.reader.run_metrics(self.run)).map_err(|e| self.doc.fail(e))?;
        m.serialize_entry(
            "metrics",
            &DocMetrics {
                at: self,
                names: &names,
            },
        )?;
        m.end()
    }
}

/// A run's metrics by name (in name order), each the list of its values by interval.
struct DocMetrics<'a> {
    at: &'a DocRun<'a>,
    names: &'a [MetricSummary],
}

impl Serialize for DocMetrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.names.len()))?;
        for n in self.names {
            m.serialize_entry(
                &n.name,
                &DocValues {
                    at: self.at,
                    name: &n.name,
                },
            )?;
        }
        m.end()
    }
}

struct DocValues<'a> {
    at: &'a DocRun<'a>,
    name: &'a str,
}

/// What stops a stream of values: reading them or writing them.
enum Stop<E> {
    Read(StoreError),
    Write(E),
}

impl<E> From<StoreError> for Stop<E> {
    fn from(e: StoreError) -> Stop<E> {
        Stop::Read(e)
    }
}

impl Serialize for DocValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let DocRun { doc, run } = self.at;
        let mut seq = s.serialize_seq(None)?;
        let read = doc.reader.each_value(run, self.name, |m| {
            seq.serialize_element(&serde_json::json!({
                "interval": m.interval, "step": m.step, "value": num_json(m.value), "time": m.time
            }))
            .map_err(Stop::Write)
        });
        match read {
            Ok(()) => seq.end(),
            Err(Stop::Write(e)) => Err(e),
            Err(Stop::Read(e)) => Err(doc.fail(e)),
        }
    }
}

/// Runs `sweep export`.
pub fn run(args: &ExportArgs) -> CliResult {
    let Some(format) = args.format.asked() else {
        return Err(CliError::BadInput(
            "`sweep export` needs a format: `--format table|json|csv|jsonl` (or `--json`)".into(),
        ));
    };
    let (reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_export(&reader, &sweep, format, &mut out)?;
    out.flush().map_err(ExportError::Io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep::store::{MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, Write as W};

    /// A small history with fixed ids and times: a completed run whose script logged a
    /// parameter and a tag, a run a policy stopped, a failed run with a NaN report, and a
    /// conditional parameter present in one run only.
    fn history() -> (tempfile::TempDir, Reader, SweepRecord) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .commit_blocking(W::Sweep(Box::new(NewSweep {
                id: "sw_fixed".into(),
                name: "demo, \"quoted\"".into(),
                created: 1_700_000_000.0,
                primary_metric: "acc".into(),
                goal: "maximize".into(),
                seed: 7,
                sampling: "random".into(),
                policy: "bandit".into(),
                max_total_runs: 3,
                max_concurrent_runs: 2,
                max_duration_minutes: 10.0,
                source_dir: "/src".into(),
                target: "local".into(),
                ..Default::default()
            })))
            .unwrap();
        let params = [
            vec![
                ("--lr".to_string(), serde_json::json!(0.01)),
                ("--opt".into(), serde_json::json!("adam")),
            ],
            vec![
                ("--lr".to_string(), serde_json::json!(0.1)),
                ("--opt".into(), serde_json::json!("sgd, momentum")),
                ("--momentum".into(), serde_json::json!(0.9)),
            ],
            vec![
                ("--lr".to_string(), serde_json::json!(1)),
                ("--opt".into(), serde_json::json!("adam")),
            ],
        ];
        for (i, p) in params.iter().enumerate() {
            store.send(W::Run(Box::new(NewRun {
                id: format!("sw_fixed_{i}"),
                sweep_id: "sw_fixed".into(),
                seq: i as u64,
                queued: 1_700_000_001.0 + i as f64,
                params: p.clone(),
                argv: vec!["python3".into(), "t.py".into()],
                workdir: "/w".into(),
                run_dir: "/r".into(),
                retry_of: None,
            })));
            let mut u = RunUpdate::new(
                &format!("sw_fixed_{i}"),
                RunState::Running,
                1_700_000_002.0 + i as f64,
            );
            u.handle = Some("pid".into());
            store.send(W::RunState(Box::new(u)));
        }
        let m = |run: usize, name: &str, interval: u64, step: Option<i64>, value: f64| MetricRow {
            run_id: format!("sw_fixed_{run}"),
            name: name.into(),
            interval,
            step,
            value,
            time: 1_700_000_010.0 + interval as f64 + run as f64 / 10.0,
            at: None,
        };
        store.send(W::Metrics(vec![
            m(0, "acc", 1, Some(100), 0.5),
            m(1, "acc", 1, None, 0.2),
            m(0, "acc", 2, Some(200), 0.75),
            m(0, "loss", 1, None, 1.25),
            m(2, "acc", 1, None, f64::NAN),
        ]));
        // What run 0's script logged itself.
        store.send(W::Logged {
            run_id: "sw_fixed_0".into(),
            items: vec![
                sweep::metrics::Logged::Param {
                    key: "batch".into(),
                    value: "32".into(),
                },
                sweep::metrics::Logged::Tag {
                    key: "team".into(),
                    value: "vision".into(),
                },
            ],
        });
        let end = |i: usize, st: RunState, reason: &str, code: Option<i32>| {
            let mut u = RunUpdate::new(&format!("sw_fixed_{i}"), st, 1_700_000_020.0 + i as f64);
            u.reason = Some(reason.into());
            u.exit_code = code;
            store.commit_blocking(W::RunState(Box::new(u))).unwrap();
        };
        end(0, RunState::Completed, "exit code 0", Some(0));
        end(1, RunState::Canceled, "policy:bandit", None);
        end(2, RunState::Failed, "exit code 1", Some(1));
        drop(store);
        let reader = Reader::open(dir.path()).unwrap();
        let sweep = reader.resolve("sw_fixed").unwrap();
        (dir, reader, sweep)
    }

    fn export(format: Format) -> String {
        let (_dir, reader, sweep) = history();
        let mut out = Vec::new();
        write_export(&reader, &sweep, format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_is_one_row_per_run_with_a_column_per_parameter() {
        insta::assert_snapshot!(export(Format::Csv));
    }

    #[test]
    fn jsonl_is_one_metric_point_per_line() {
        insta::assert_snapshot!(export(Format::Jsonl));
    }

    #[test]
    fn json_is_the_sweep_with_runs_and_their_metrics() {
        insta::assert_snapshot!(export(Format::Json));
    }
}
