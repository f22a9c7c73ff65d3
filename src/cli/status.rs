//! `sweep status [SWEEP] [--watch]`: without an argument, every sweep in the workspace; with
//! one, its state, runs by state, why a running sweep launches nothing right now (as the
//! process running it recorded it), best so far with parameters, elapsed time and limits. With
//! `--watch`, the same view plus the live runs, redrawn in place every second until the sweep
//! ends (or Ctrl-C); each view is read from one consistent snapshot of the history.

use super::runs::{csv_field, num_json, open_sweep, params_words};
use super::term::{outln, shown};
use super::{CliError, CliResult, Common, Format, FormatArg};
use clap::Args;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;
use sweep::human::format_duration;
use sweep::report::{elapsed_seconds, retries_note};
use sweep::store::{
    now, BestOutcome, Reader, RunRecord, RunState, StoreError, SweepRecord, SweepState,
};

/// `sweep status [SWEEP] [--watch]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep status
  sweep status latest
  sweep status latest --watch
  sweep status --format json")]
pub struct StatusArgs {
    /// A sweep id, name, or `latest`; all sweeps when omitted.
    pub sweep: Option<String>,
    /// Keep the view on screen, redrawn as the sweep progresses, until the sweep ends.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Seconds between redraws with `--watch`.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
    /// Output format (`--watch` draws the table only).
    #[command(flatten)]
    pub format: FormatArg,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `sweep status`.
pub fn run(args: &StatusArgs) -> CliResult {
    let format = args.format.get(Format::Table);
    if args.watch && format != Format::Table {
        return Err(CliError::BadInput(
            "--watch draws the table view; drop `--format`/`--json`, or leave out `--watch` to print the sweep once in that format".into(),
        ));
    }
    let Some(key) = &args.sweep else {
        if args.watch {
            return Err(CliError::BadInput(
                "--watch needs a sweep: `sweep status SWEEP --watch` (or `latest`)".into(),
            ));
        }
        return list(&args.common, format);
    };
    let (reader, s) = open_sweep(&args.common, key)?;
    let ws = args.common.workspace_dir();
    if format != Format::Table {
        let v = reader.snapshot(|r| sweep_json(r, &s, orphaned(&ws, &s)))?;
        print_records(format, std::slice::from_ref(&v), SWEEP_COLUMNS, false);
        return Ok(());
    }
    if !args.watch {
        for l in view(&reader, &s, false, orphaned(&ws, &s))? {
            outln(&l);
        }
        return Ok(());
    }
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(super::CliError::BadInput(format!(
            "--interval {}: give a positive number of seconds",
            args.interval
        )));
    }
    watch(&reader, &ws, &s.id, Duration::from_secs_f64(args.interval))
}

/// Whether `s` is recorded running but no process holds its lock: its `sweep` was killed
/// (or its machine went down) and nothing runs it until `sweep resume`.
fn orphaned(workspace: &std::path::Path, s: &SweepRecord) -> bool {
    s.state == SweepState::Running
        && sweep::engine::controller_pid(&workspace.join("sweeps").join(&s.id)).is_none()
}

/// Redraws the view until the sweep is no longer running (or no process runs it any more).
/// On a terminal the block is redrawn in place (lines cut to the terminal's width so the
/// redraw stays aligned); otherwise a new block is printed whenever something other than the
/// clock changed.
fn watch(reader: &Reader, ws: &std::path::Path, id: &str, every: Duration) -> CliResult {
    let tty = std::io::stdout().is_terminal();
    let mut last_key: Vec<String> = Vec::new();
    loop {
        let (s, lines, gone) = reader.snapshot(|r| {
            let s = r.resolve(id)?;
            let gone = orphaned(ws, &s);
            let lines = view(r, &s, true, gone)?;
            Ok::<_, StoreError>((s, lines, gone))
        })?;
        if tty {
            super::live::draw(lines);
        } else {
            let mut out = std::io::stdout().lock();
            // The elapsed-time line changes every tick; it alone is not news.
            let key: Vec<String> = lines
                .iter()
                .filter(|l| !l.trim_start().starts_with("elapsed"))
                .cloned()
                .collect();
            if key != last_key {
                for l in &lines {
                    let _ = writeln!(out, "{l}");
                }
                let _ = writeln!(out);
                let _ = out.flush();
                last_key = key;
            }
        }
        if s.state != SweepState::Running || gone {
            super::live::release();
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

fn params_text(r: &RunRecord) -> String {
    params_words(r, false)
}

/// The columns of a sweep's CSV line (the JSON objects have the same keys).
const SWEEP_COLUMNS: &[&str] = &[
    "id",
    "name",
    "state",
    "reason",
    "created",
    "ended",
    "elapsed",
    "runs",
    "queued",
    "starting",
    "running",
    "completed",
    "failed",
    "canceled",
    "waiting",
    "best_run",
    "best_value",
];

/// `sweep status` without a sweep: every sweep of the workspace, newest first; a workspace
/// with no history yet has no sweeps (not an error).
fn list(common: &Common, format: Format) -> CliResult {
    let ws = common.workspace_dir();
    let reader = match Reader::open(&ws) {
        Ok(r) => Some(r),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let sweeps = match &reader {
        Some(r) => r.sweeps()?,
        None => Vec::new(),
    };
    if format != Format::Table {
        let mut rows = Vec::new();
        if let Some(r) = &reader {
            for s in &sweeps {
                let o = orphaned(&ws, s);
                rows.push(r.snapshot(|r| sweep_json(r, s, o))?);
            }
        }
        print_records(format, &rows, SWEEP_COLUMNS, true);
        return Ok(());
    }
    let Some(reader) = reader.filter(|_| !sweeps.is_empty()) else {
        outln(&format!(
            "no sweeps yet in {} (start one with `sweep run HDCONFIG -c RUNCONFIG`)",
            ws.display()
        ));
        return Ok(());
    };
    for s in sweeps {
        let counts = reader.counts(&s)?;
        let total: i64 = counts.iter().map(|c| c.1).sum();
        outln(&format!(
            "{}  {:<10} {:<20} {} runs  started {} ago",
            s.id,
            s.state,
            shown(&s.name),
            total,
            format_duration(now() - s.created)
        ));
    }
    Ok(())
}

/// One sweep's status as a JSON object with the keys of [`SWEEP_COLUMNS`].
fn sweep_json(
    reader: &Reader,
    s: &SweepRecord,
    orphaned: bool,
) -> Result<serde_json::Value, StoreError> {
    let counts = reader.counts(s)?;
    let count = |st: RunState| counts.iter().find(|(n, _)| *n == st).map_or(0, |c| c.1);
    let (best_run, best_value) = match reader.best(s)? {
        BestOutcome::Best { run, value } => (Some(run.id), Some(num_json(value))),
        BestOutcome::None(_) => (None, None),
    };
    let waiting = if orphaned {
        Some("no process is running this sweep".to_string())
    } else {
        reader.waiting(s)?
    };
    Ok(serde_json::json!({
        "id": s.id,
        "name": s.name,
        "state": s.state,
        "reason": s.reason,
        "created": s.created,
        "ended": s.ended,
        "elapsed": num_json(elapsed_seconds(s, now())),
        "runs": counts.iter().map(|c| c.1).sum::<i64>(),
        "queued": count(RunState::Queued),
        "starting": count(RunState::Starting),
        "running": count(RunState::Running),
        "completed": count(RunState::Completed),
        "failed": count(RunState::Failed),
        "canceled": count(RunState::Canceled),
        "waiting": waiting,
        "best_run": best_run,
        "best_value": best_value,
    }))
}

/// Prints JSON objects in a data format: `list` says whether they are a list (a JSON array)
/// or one object (printed alone).
fn print_records(format: Format, rows: &[serde_json::Value], columns: &[&str], list: bool) {
    match format {
        Format::Json if list => outln(&serde_json::to_string_pretty(rows).expect("serializable")),
        Format::Json => {
            for r in rows {
                outln(&serde_json::to_string_pretty(r).expect("serializable"));
            }
        }
        Format::Jsonl => {
            for r in rows {
                outln(&r.to_string());
            }
        }
        Format::Csv | Format::Table => {
            outln(&columns.join(","));
            for r in rows {
                let fields: Vec<String> = columns
                    .iter()
                    .map(|c| csv_field(&super::runs::plain(&r[*c])))
                    .collect();
                outln(&fields.join(","));
            }
        }
    }
}

/// The lines of one sweep's view: the one-shot view, plus (`live`) the runs in flight and the
/// latest finished ones. `orphaned`: recorded running, but no process runs it.
fn view(
    reader: &Reader,
    s: &SweepRecord,
    live: bool,
    orphaned: bool,
) -> Result<Vec<String>, StoreError> {
    let mut lines = Vec::new();
    let counts = reader.counts(s)?;
    let count = |st: RunState| {
        counts
            .iter()
            .find(|(n, _)| *n == st)
            .map(|c| c.1)
            .unwrap_or(0)
    };
    lines.push(format!("sweep {} ({}): {}", s.id, shown(&s.name), s.state));
    if let Some(r) = &s.reason {
        lines.push(format!("  {}", shown(r)));
    }
    let runs = reader.runs(s)?;
    // Retries stand for the candidate they retry: `max_total_runs` counts candidates.
    let retries = runs.iter().filter(|r| r.retry_of.is_some()).count();
    lines.push(format!(
        "  elapsed {} of {}; runs {} of {} (max {} at once){}",
        format_duration(elapsed_seconds(s, now())),
        s.max_duration_minutes
            .map(|m| format_duration(m * 60.0))
            .unwrap_or_else(|| "-".into()),
        runs.len() - retries,
        s.max_total_runs.unwrap_or(0),
        s.max_concurrent_runs.unwrap_or(0),
        retries_note(retries)
    ));
    lines.push(format!(
        "  {}",
        RunState::ALL
            .iter()
            .map(|st| format!("{} {}", st.as_str(), count(*st)))
            .collect::<Vec<_>>()
            .join("  ")
    ));
    if orphaned {
        // Its recorded waiting reason is the dead process's last word: not shown.
        lines.push(if s.target.as_deref() == Some("in-process") {
            "  no process has this library study open (did its program end without finishing it?); reopen it from the program to continue".to_string()
        } else {
            format!(
                "  no process is running this sweep (was its `sweep` killed?); `sweep resume {}` continues it",
                s.id
            )
        });
    } else if let Some(w) = reader.waiting(s)? {
        lines.push(format!("  waiting: {w}"));
    }
    // Why the runs that ended ended, most common first: exit codes, policy stops, timeouts.
    let mut why: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &runs {
        if r.state.is_terminal() {
            let reason = r
                .reason
                .as_ref()
                .map_or_else(|| r.state.to_string(), ToString::to_string);
            *why.entry(shown(&reason).into_owned()).or_insert(0) += 1;
        }
    }
    if !why.is_empty() {
        let mut why: Vec<(String, usize)> = why.into_iter().collect();
        why.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        lines.push(format!(
            "  ended: {}",
            why.iter()
                .map(|(r, n)| format!("{n}× {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match reader.best(s)? {
        BestOutcome::Best { run, value } => {
            let at = reader.best_at(s, &run.id, value)?;
            lines.push(format!(
                "  best {}={} ({}): run {}",
                s.primary_metric,
                super::best::value_at(value, at),
                s.goal,
                run.id
            ));
            lines.push(format!("    {}", params_text(&run)));
        }
        BestOutcome::None(why) => lines.push(format!("  no best run: {why}")),
    }
    if let Some(c) = &s.git_commit {
        lines.push(format!(
            "  source {} at {}{}",
            s.source_dir.as_deref().unwrap_or("?"),
            c,
            if s.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        ));
    }
    if live {
        let t = now();
        let active: Vec<&RunRecord> = runs.iter().filter(|r| !r.state.is_terminal()).collect();
        if !active.is_empty() {
            lines.push(format!("  in flight ({}):", active.len()));
            for r in active.iter().take(10) {
                lines.push(format!(
                    "    {}  {:<8} {:>8}  interval {:<4} best {:<10} {}",
                    r.id,
                    r.state,
                    r.started
                        .map(|x| format_duration(t - x))
                        .unwrap_or_else(|| "-".into()),
                    r.intervals,
                    r.best.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                    params_text(r)
                ));
            }
            if active.len() > 10 {
                lines.push(format!("    … and {} more", active.len() - 10));
            }
        }
        let mut done: Vec<&RunRecord> = runs.iter().filter(|r| r.state.is_terminal()).collect();
        done.sort_by(|a, b| b.ended.unwrap_or(0.0).total_cmp(&a.ended.unwrap_or(0.0)));
        if !done.is_empty() {
            lines.push("  latest finished:".into());
            for r in done.iter().take(3) {
                lines.push(format!(
                    "    {}  {:<9} best {:<10} {}",
                    r.id,
                    r.state,
                    r.best.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                    shown(
                        &r.reason
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )
                ));
            }
        }
    }
    Ok(lines)
}
