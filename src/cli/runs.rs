//! `sweep runs SWEEP [--format table|json|csv|jsonl] [--sort KEY] [--wide]`: every run of a
//! sweep with its state, reason, best value and parameters; failed runs show their exit
//! code and last output. The table fits the terminal (100 columns when the output is not
//! one): values at 6 significant digits, parameters shortened (`--wide` and the data
//! formats keep them whole).

use super::term::{self, cut, outln, pad, shown, sig, width};
use super::{CliError, CliResult, Common, Format, FormatArg};
use clap::{Args, ValueEnum};
use sweep::human::format_duration;
use sweep::store::{Reader, RunRecord, RunState, SweepRecord, SweepState};

/// The orders `sweep runs` lists runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// Best value first (by the goal); runs without one last, in proposal order.
    Best,
    /// Proposal order.
    Seq,
    /// Longest running time first.
    Time,
    /// By state, then proposal order.
    State,
}

/// `sweep runs SWEEP [--format ...]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep runs latest
  sweep runs latest --sort seq --wide
  sweep runs my-sweep --format csv > runs.csv
  sweep runs latest --json | jq '.[] | select(.state == \"failed\")'")]
pub struct RunsArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// Output format.
    #[command(flatten)]
    pub format: FormatArg,
    /// The order of the runs [default: `best` in the table of a sweep that ended, else
    /// `seq`].
    #[arg(long, value_enum)]
    pub sort: Option<SortKey>,
    /// Show parameters and reasons in full, however wide the table gets.
    #[arg(long)]
    pub wide: bool,
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

/// What a run's script logged itself, as JSON: `{"params": {KEY: TEXT}, "tags": {...}}`,
/// keys in order.
pub(crate) fn logged_json(logged: &[sweep::store::LoggedRecord]) -> serde_json::Value {
    let of = |kind: &str| {
        serde_json::Value::Object(
            logged
                .iter()
                .filter_map(|l| l.item.attribute())
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, key, value)| (key.to_string(), serde_json::Value::String(value.into())))
                .collect(),
        )
    };
    serde_json::json!({ "params": of("param"), "tags": of("tag") })
}

/// Why a run ended, with the numbers behind a policy's decision and the run it retries.
pub(crate) fn reason_text(r: &RunRecord) -> String {
    reason_with(r, |i, v, t| {
        format!(" at interval {i} ({v:.6} vs threshold {t:.6})")
    })
}

/// A run's reason, then `numbers(interval, value, threshold)` of the policy's decision that
/// stopped it, then the run it retries.
fn reason_with(r: &RunRecord, numbers: impl Fn(u64, f64, f64) -> String) -> String {
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
            s.push_str(&numbers(i, v, t));
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

/// A CSV line: `fields`, each quoted as [`csv_field`] quotes it, joined by commas.
pub(crate) fn csv_line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// The CSV cell of a value a run may not have (reason, exit code, signal): empty without.
pub(crate) fn opt_cell(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The CSV cell of a run's duration in seconds (`12.345`): empty unless it started and ended.
pub(crate) fn duration_cell(r: &RunRecord) -> String {
    match (r.started, r.ended) {
        (Some(s), Some(e)) => format!("{:.3}", e - s),
        _ => String::new(),
    }
}

/// The CSV cell of a run's parameter `name`, as plain text: empty if the run has none.
pub(crate) fn param_cell(r: &RunRecord, name: &str) -> String {
    let v = r
        .params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| plain(v));
    v.unwrap_or_default()
}

/// A JSON value as plain text (strings unquoted).
pub(crate) fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn duration_secs(r: &RunRecord) -> f64 {
    match (r.started, r.ended) {
        (Some(s), Some(e)) => e - s,
        (Some(s), None) => sweep::store::now() - s,
        _ => 0.0,
    }
}

fn duration(r: &RunRecord) -> String {
    match r.started {
        Some(_) => format_duration(duration_secs(r)),
        None => "-".into(),
    }
}

/// Orders `runs` by `key`; `minimize` says which best value is better.
pub(crate) fn sort_runs(runs: &mut [RunRecord], key: SortKey, minimize: bool) {
    match key {
        SortKey::Seq => runs.sort_by_key(|r| r.seq),
        SortKey::State => runs.sort_by(|a, b| {
            a.state
                .as_str()
                .cmp(b.state.as_str())
                .then(a.seq.cmp(&b.seq))
        }),
        SortKey::Time => runs.sort_by(|a, b| {
            duration_secs(b)
                .total_cmp(&duration_secs(a))
                .then(a.seq.cmp(&b.seq))
        }),
        SortKey::Best => runs.sort_by(|a, b| {
            let key = |r: &RunRecord| {
                // Failed runs are never best; their values go after every other run's.
                let v = r.best.filter(|_| r.state != RunState::Failed);
                (v.is_none(), v.map(|v| if minimize { v } else { -v }))
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0)
                .then(ka.1.unwrap_or(0.0).total_cmp(&kb.1.unwrap_or(0.0)))
                .then(a.seq.cmp(&b.seq))
        }),
    }
}

/// A parameter value shortened for the table: floats at 4 significant digits.
fn short_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            n.as_f64().map_or_else(|| n.to_string(), |f| sig(f, 4))
        }
        v => plain(v),
    }
}

/// A run's parameters as `name=value` words, shortened or whole, safe for the terminal.
pub(crate) fn params_words(r: &RunRecord, whole: bool) -> String {
    r.params
        .iter()
        .map(|(n, v)| {
            let v = if whole { plain(v) } else { short_value(v) };
            format!("{}={}", shown(n.trim_start_matches('-')), shown(&v))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reason for the table: a policy's numbers at 4 significant digits.
fn short_reason(r: &RunRecord) -> String {
    reason_with(r, |i, v, t| {
        format!(" at {i}: {} vs {}", sig(v, 4), sig(t, 4))
    })
}

/// The widest a table's reason column gets before it is cut (`--wide` lifts it).
const REASON_WIDTH: usize = 30;

/// The runs table, at most `max` columns wide (unless `wide`): one line per run, and under
/// each failed run the last lines of its output.
pub fn table(sweep: &SweepRecord, runs: &[RunRecord], max: usize, wide: bool) -> Vec<String> {
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.state.to_string(),
                r.best.map(|b| sig(b, 6)).unwrap_or_else(|| "-".into()),
                r.intervals.to_string(),
                duration(r),
                shown(&if wide {
                    reason_text(r)
                } else {
                    short_reason(r)
                })
                .into_owned(),
                params_words(r, wide),
            ]
        })
        .collect();
    let head = [
        "run".to_string(),
        "state".into(),
        shown(&sweep.primary_metric).into_owned(),
        "int".into(),
        "time".into(),
        "reason".into(),
        "params".into(),
    ];
    let mut w = [0usize; 7];
    for r in rows.iter().chain(std::iter::once(&head)) {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(width(c));
        }
    }
    if !wide {
        w[2] = w[2].min(12);
        // The reason gets at most two fifths of what the fixed columns leave; the
        // parameters, which tell runs apart, get the rest.
        let fixed: usize = w[..5].iter().map(|c| c + 2).sum();
        let left = max.saturating_sub(fixed + 2);
        w[5] = w[5].min(REASON_WIDTH).min((left * 2 / 5).max(12));
    }
    // Numbers are right-aligned, text left-aligned; the last column takes what is left.
    let right = [false, false, true, true, true, false, false];
    let fmt = |r: &[String; 7]| {
        let mut s = String::new();
        for (i, c) in r.iter().enumerate() {
            if i == 6 {
                s.push_str(c);
                break;
            }
            let c = if wide { c.into() } else { cut(c, w[i]) };
            if right[i] {
                s.push_str(&" ".repeat(w[i].saturating_sub(width(&c))));
                s.push_str(&c);
            } else {
                s.push_str(&pad(&c, w[i]));
            }
            s.push_str("  ");
        }
        let s = s.trim_end().to_string();
        if wide {
            s
        } else {
            cut(&s, max).into_owned()
        }
    };
    let mut lines = vec![fmt(&head)];
    for (r, row) in runs.iter().zip(&rows) {
        lines.push(fmt(row));
        if r.state == RunState::Failed {
            if let Some(out) = &r.last_output {
                lines.push(format!("    last output ({}):", shown(&r.run_dir)));
                for l in out.lines() {
                    let l = format!("    | {}", shown(l));
                    lines.push(if wide { l } else { cut(&l, max).into_owned() });
                }
            }
        }
    }
    lines
}

/// Runs `sweep runs`.
pub fn run(args: &RunsArgs) -> CliResult {
    let (reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let mut runs = reader.runs(&sweep)?;
    let format = args.format.get(Format::Table);
    // The data formats keep proposal order unless asked; the table shows the best runs of
    // a sweep that ended first.
    let key = args.sort.unwrap_or(match format {
        Format::Table if sweep.state != SweepState::Running => SortKey::Best,
        _ => SortKey::Seq,
    });
    sort_runs(&mut runs, key, sweep.goal == "minimize");
    match format {
        Format::Json => {
            let v: Vec<serde_json::Value> = runs.iter().map(run_json).collect();
            outln(&serde_json::to_string_pretty(&v).expect("serializable"));
        }
        Format::Jsonl => {
            for r in &runs {
                outln(&run_json(r).to_string());
            }
        }
        Format::Csv => {
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
            outln(&csv_line(&header));
            for r in &runs {
                let mut row = vec![
                    r.id.clone(),
                    r.state.to_string(),
                    opt_cell(r.reason.as_ref()),
                    opt_cell(r.exit_code),
                    opt_cell(r.best),
                    r.intervals.to_string(),
                    duration_cell(r),
                ];
                row.extend(names.iter().map(|n| param_cell(r, n)));
                outln(&csv_line(&row));
            }
        }
        Format::Table => {
            if runs.is_empty() {
                outln(&format!("sweep {} has no runs yet", sweep.id));
                return Ok(());
            }
            for l in table(&sweep, &runs, term::output_width(), args.wide) {
                outln(&l);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep of [`runs`]: the table shows its primary metric.
    fn finished_sweep() -> SweepRecord {
        SweepRecord {
            id: "sw_6b15cc4b_7919".into(),
            primary_metric: "accuracy".into(),
            goal: "maximize".into(),
            state: sweep::store::SweepState::Completed,
            ..SweepRecord::default()
        }
    }

    fn record(seq: i64, state: &str, best: Option<f64>) -> RunRecord {
        RunRecord {
            id: format!("sw_6b15cc4b_7919_{seq}"),
            seq,
            state: state.parse().unwrap(),
            reason: Some(sweep::store::EndReason::parse(match state {
                "completed" => "exit code 0",
                "failed" => "exit code 1",
                _ => "policy:bandit",
            })),
            exit_code: None,
            signal: None,
            queued: 1_700_000_000.0,
            started: Some(1_700_000_001.0),
            ended: Some(1_700_000_001.0 + 7.0 * (seq + 1) as f64),
            argv: vec![],
            workdir: "/w".into(),
            run_dir: format!("/ws/sweeps/sw_6b15cc4b_7919/runs/sw_6b15cc4b_7919_{seq}"),
            handle: None,
            params: vec![
                (
                    "--learning_rate".into(),
                    serde_json::json!(0.000123456789 * (seq + 1) as f64),
                ),
                ("--batch_size".into(), serde_json::json!(32 << seq)),
                (
                    "--optimizer".into(),
                    serde_json::json!(["adam", "sgd-with-nesterov-momentum"][seq as usize % 2]),
                ),
                ("--weight_decay".into(), serde_json::json!(0.00031415926535)),
            ],
            last_output: (state == "failed").then(|| {
                "Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\nFileNotFoundError: [Errno 2] No such file or directory: 'data/train.csv'".into()
            }),
            best,
            intervals: if best.is_some() { 20 } else { 0 },
            detail: (state == "canceled").then(|| {
                serde_json::json!({"interval": 4, "value": 0.61, "threshold": 0.6666667})
            }),
            retry_of: None,
            restarts: 0,
        }
    }

    fn runs() -> Vec<RunRecord> {
        vec![
            record(0, "completed", Some(0.9685123456)),
            record(1, "failed", None),
            record(2, "canceled", Some(0.61)),
            record(3, "completed", Some(0.98521234)),
        ]
    }

    #[test]
    fn the_table_fits_100_columns_best_first() {
        let mut r = runs();
        sort_runs(&mut r, SortKey::Best, false);
        let lines = table(&finished_sweep(), &r, 100, false);
        for l in &lines {
            assert!(width(l) <= 100, "{} columns: {l}", width(l));
        }
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn wide_keeps_every_value_whole() {
        let lines = table(&finished_sweep(), &runs(), 100, true);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("learning_rate=0.000123456789 ")),
            "{lines:#?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.contains("policy:bandit at interval 4 (0.610000 vs threshold 0.666667)")));
    }

    #[test]
    fn sorting_by_best_follows_the_goal_and_puts_runs_without_a_value_last() {
        let order = |minimize| {
            let mut r = runs();
            sort_runs(&mut r, SortKey::Best, minimize);
            r.iter().map(|r| r.seq).collect::<Vec<_>>()
        };
        assert_eq!(order(false), [3, 0, 2, 1]);
        assert_eq!(order(true), [2, 0, 3, 1]);
        let mut r = runs();
        sort_runs(&mut r, SortKey::Time, false);
        assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 2, 1, 0]);
    }
}
