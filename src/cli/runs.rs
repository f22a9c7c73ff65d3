//! `sweep runs SWEEP [--format table|json|csv]`: every run of a sweep with its state,
//! reason, best value and parameters; failed runs show their exit code and last output.

use super::{CliError, CliResult, Common};
use clap::{Args, ValueEnum};
use sweep::report::format_duration;
use sweep::store::{Reader, RunRecord, RunState, SweepRecord};

/// Output formats of `sweep runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunsFormat {
    /// An aligned table for people.
    Table,
    /// A JSON array (stable; documented in docs/engine.md).
    Json,
    /// CSV with one column per parameter.
    Csv,
}

/// `sweep runs SWEEP [--format ...]`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunsFormat::Table)]
    pub format: RunsFormat,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Opens the workspace's history and finds a sweep.
pub(crate) fn open_sweep(common: &Common, key: &str) -> Result<(Reader, SweepRecord), CliError> {
    let reader = Reader::open(&common.workspace_dir())?;
    let sweep = reader.resolve(key)?;
    Ok((reader, sweep))
}

/// A float as JSON, keeping NaN and infinities as strings rather than losing them.
pub(crate) fn num_json(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|| {
            serde_json::Value::String(
                if v.is_nan() {
                    "NaN"
                } else if v > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                }
                .into(),
            )
        })
}

/// The stable JSON form of a run.
pub(crate) fn run_json(r: &RunRecord) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "seq": r.seq,
        "state": r.state,
        "reason": r.reason,
        "exit_code": r.exit_code,
        "signal": r.signal,
        "queued": r.queued,
        "started": r.started,
        "ended": r.ended,
        "params": r.params_json(),
        "best": r.best.map(num_json),
        "intervals": r.intervals,
        "argv": r.argv,
        "workdir": r.workdir,
        "run_dir": r.run_dir,
        "last_output": r.last_output,
        "detail": r.detail,
        "retry_of": r.retry_of,
    })
}

/// Why a run ended, with the numbers behind a policy's decision and the run it retries.
pub(crate) fn reason_text(r: &RunRecord) -> String {
    let mut s = r
        .reason
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if let Some(d) = &r.detail {
        if let (Some(i), Some(v), Some(t)) = (
            d.get("interval").and_then(|v| v.as_u64()),
            d.get("value").and_then(|v| v.as_f64()),
            d.get("threshold").and_then(|v| v.as_f64()),
        ) {
            s.push_str(&format!(" at interval {i} ({v:.6} vs threshold {t:.6})"));
        }
    }
    if let Some(o) = &r.retry_of {
        s.push_str(&format!(" (retry of {o})"));
    }
    s
}

/// Quotes a CSV field when needed.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A JSON value as plain text (strings unquoted).
pub(crate) fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn duration(r: &RunRecord) -> String {
    match (r.started, r.ended) {
        (Some(s), Some(e)) => format_duration(e - s),
        (Some(s), None) => format_duration(sweep::store::now() - s),
        _ => "-".into(),
    }
}

/// Runs `sweep runs`.
pub fn run(args: &RunsArgs) -> CliResult {
    let (reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let runs = reader.runs(&sweep)?;
    match args.format {
        RunsFormat::Json => {
            let v: Vec<serde_json::Value> = runs.iter().map(run_json).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&v).expect("serializable")
            );
        }
        RunsFormat::Csv => {
            let names: Vec<String> = runs
                .first()
                .map(|r| r.params.iter().map(|(n, _)| n.clone()).collect())
                .unwrap_or_default();
            let mut header = vec![
                "id".to_string(),
                "state".into(),
                "reason".into(),
                "exit_code".into(),
                format!("best_{}", sweep.primary_metric),
                "intervals".into(),
                "duration_s".into(),
            ];
            header.extend(names.iter().cloned());
            println!(
                "{}",
                header
                    .iter()
                    .map(|h| csv_field(h))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for r in &runs {
                let dur = match (r.started, r.ended) {
                    (Some(s), Some(e)) => format!("{:.3}", e - s),
                    _ => String::new(),
                };
                let mut row = vec![
                    r.id.clone(),
                    r.state.to_string(),
                    r.reason
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                    r.best.map(|b| b.to_string()).unwrap_or_default(),
                    r.intervals.to_string(),
                    dur,
                ];
                for n in &names {
                    let v = r.params.iter().find(|(k, _)| k == n).map(|(_, v)| plain(v));
                    row.push(v.unwrap_or_default());
                }
                println!(
                    "{}",
                    row.iter()
                        .map(|f| csv_field(f))
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        RunsFormat::Table => {
            if runs.is_empty() {
                println!("sweep {} has no runs yet", sweep.id);
                return Ok(());
            }
            let rows: Vec<[String; 6]> = runs
                .iter()
                .map(|r| {
                    [
                        r.id.clone(),
                        r.state.to_string(),
                        r.best.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                        duration(r),
                        reason_text(r),
                        r.params
                            .iter()
                            .map(|(n, v)| format!("{}={}", n.trim_start_matches('-'), plain(v)))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect();
            let head = [
                "run".to_string(),
                "state".into(),
                sweep.primary_metric.clone(),
                "time".into(),
                "reason".into(),
                "params".into(),
            ];
            let mut w = [0usize; 6];
            for r in rows.iter().chain(std::iter::once(&head)) {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            let fmt = |r: &[String; 6]| {
                let mut s = String::new();
                for (i, c) in r.iter().enumerate() {
                    if i == 5 {
                        s.push_str(c);
                    } else {
                        s.push_str(&format!("{c:<width$}  ", width = w[i]));
                    }
                }
                s.trim_end().to_string()
            };
            println!("{}", fmt(&head));
            for (r, row) in runs.iter().zip(&rows) {
                println!("{}", fmt(row));
                if r.state == RunState::Failed {
                    if let Some(out) = &r.last_output {
                        println!("    last output ({}):", r.run_dir);
                        for l in out.lines() {
                            println!("    | {l}");
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
