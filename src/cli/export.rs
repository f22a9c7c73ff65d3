//! `sweep export SWEEP --format json|csv|jsonl`: the whole history of a sweep (the sweep,
//! every run with its parameters, every metric value) for other tools.
//!
//! - `json`: one object `{"sweep": {...}, "runs": [{...run, "metrics": {name: [{interval,
//!   step, value, time}]}}]}`.
//! - `jsonl`: one run object (as in `json`) per line.
//! - `csv`: one row per metric value: `run,state,<params...>,metric,interval,step,value,time`.
//!
//! NaN and infinities are written as the strings `NaN`, `Infinity`, `-Infinity`.

use super::runs::{csv_field, num_json, open_sweep, plain, run_json, store_err};
use super::{CliResult, Common};
use clap::{Args, ValueEnum};
use std::collections::HashMap;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// One row per metric value.
    Csv,
    /// One run per line.
    Jsonl,
}

/// `sweep export SWEEP --format ...`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `sweep export`.
pub fn run(args: &ExportArgs) -> CliResult {
    let (reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let runs = reader.runs(&sweep).map_err(store_err)?;
    let metrics = reader.metrics(&sweep).map_err(store_err)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    let io = |e: std::io::Error| super::CliError::Failure(format!("writing the export: {e}"));
    match args.format {
        ExportFormat::Csv => {
            let names: Vec<String> = runs
                .first()
                .map(|r| r.params.iter().map(|(n, _)| n.clone()).collect())
                .unwrap_or_default();
            let by_id: HashMap<&str, &crate::store::RunRecord> =
                runs.iter().map(|r| (r.id.as_str(), r)).collect();
            let mut head = vec!["run".to_string(), "state".into()];
            head.extend(names.iter().cloned());
            head.extend(["metric", "interval", "step", "value", "time"].map(String::from));
            writeln!(
                out,
                "{}",
                head.iter()
                    .map(|h| csv_field(h))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .map_err(io)?;
            for m in &metrics {
                let r = by_id.get(m.run_id.as_str());
                let mut row = vec![
                    m.run_id.clone(),
                    r.map(|r| r.state.clone()).unwrap_or_default(),
                ];
                for n in &names {
                    row.push(
                        r.and_then(|r| r.params.iter().find(|(k, _)| k == n))
                            .map(|(_, v)| plain(v))
                            .unwrap_or_default(),
                    );
                }
                row.push(m.name.clone());
                row.push(m.interval.to_string());
                row.push(m.step.map(|s| s.to_string()).unwrap_or_default());
                row.push(plain(&num_json(m.value)));
                row.push(format!("{:.6}", m.time));
                writeln!(
                    out,
                    "{}",
                    row.iter()
                        .map(|f| csv_field(f))
                        .collect::<Vec<_>>()
                        .join(",")
                )
                .map_err(io)?;
            }
        }
        ExportFormat::Json | ExportFormat::Jsonl => {
            let mut per_run: HashMap<&str, serde_json::Map<String, serde_json::Value>> =
                HashMap::new();
            for m in &metrics {
                let e = per_run
                    .entry(m.run_id.as_str())
                    .or_default()
                    .entry(m.name.clone())
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let serde_json::Value::Array(a) = e {
                    a.push(serde_json::json!({
                        "interval": m.interval, "step": m.step, "value": num_json(m.value), "time": m.time
                    }));
                }
            }
            let run_objs = runs.iter().map(|r| {
                let mut v = run_json(r);
                v["metrics"] =
                    serde_json::Value::Object(per_run.remove(r.id.as_str()).unwrap_or_default());
                v
            });
            if args.format == ExportFormat::Jsonl {
                for v in run_objs {
                    writeln!(out, "{v}").map_err(io)?;
                }
            } else {
                let doc = serde_json::json!({
                    "sweep": serde_json::to_value(&sweep).expect("serializable"),
                    "runs": run_objs.collect::<Vec<_>>(),
                });
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&doc).expect("serializable")
                )
                .map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}
