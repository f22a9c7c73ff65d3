//! `sweep status [SWEEP]`: without an argument, every sweep in the workspace; with one, its
//! state, runs by state, best so far with parameters, elapsed time and limits.

use super::runs::{open_sweep, plain, store_err};
use super::{CliResult, Common};
use crate::report::format_duration;
use crate::store::{now, BestOutcome, Reader, RunState};
use clap::Args;

/// `sweep status [SWEEP]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A sweep id, name, or `latest`; all sweeps when omitted.
    pub sweep: Option<String>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `sweep status`.
pub fn run(args: &StatusArgs) -> CliResult {
    let Some(key) = &args.sweep else {
        let reader = Reader::open(&args.common.workspace_dir()).map_err(store_err)?;
        let sweeps = reader.sweeps().map_err(store_err)?;
        if sweeps.is_empty() {
            println!("no sweeps in this workspace yet");
        }
        for s in sweeps {
            let counts = reader.counts(&s).map_err(store_err)?;
            let total: i64 = counts.iter().map(|c| c.1).sum();
            println!(
                "{}  {:<10} {:<20} {} runs  started {} ago",
                s.id,
                s.state,
                s.name,
                total,
                format_duration(now() - s.created)
            );
        }
        return Ok(());
    };
    let (reader, s) = open_sweep(&args.common, key)?;
    let counts = reader.counts(&s).map_err(store_err)?;
    let count = |st: RunState| {
        counts
            .iter()
            .find(|(n, _)| n == st.as_str())
            .map(|c| c.1)
            .unwrap_or(0)
    };
    println!("sweep {} ({}): {}", s.id, s.name, s.state);
    if let Some(r) = &s.reason {
        println!("  {r}");
    }
    let elapsed = s.ended.unwrap_or_else(now) - s.created;
    println!(
        "  elapsed {} of {}; runs {} of {} (max {} at once)",
        format_duration(elapsed),
        s.max_duration_minutes
            .map(|m| format_duration(m * 60.0))
            .unwrap_or_else(|| "-".into()),
        counts.iter().map(|c| c.1).sum::<i64>(),
        s.max_total_runs.unwrap_or(0),
        s.max_concurrent_runs.unwrap_or(0)
    );
    println!(
        "  {}",
        RunState::ALL
            .iter()
            .map(|st| format!("{} {}", st.as_str(), count(*st)))
            .collect::<Vec<_>>()
            .join("  ")
    );
    match reader.best(&s).map_err(store_err)? {
        BestOutcome::Best { run, value } => {
            println!(
                "  best {}={value} ({}): run {}",
                s.primary_metric, s.goal, run.id
            );
            println!(
                "    {}",
                run.params
                    .iter()
                    .map(|(n, v)| format!("{}={}", n.trim_start_matches('-'), plain(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        BestOutcome::None(why) => println!("  no best run: {why}"),
    }
    if let Some(c) = &s.git_commit {
        println!(
            "  source {} at {}{}",
            s.source_dir.as_deref().unwrap_or("?"),
            c,
            if s.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
