//! `sweep best SWEEP [--json]`: the best run, its value, parameters and reproducing command,
//! or, never silently, why there is none (exit code 1 then).

use super::runs::{num_json, open_sweep};
use super::{CliError, CliResult, Common};
use clap::Args;
use sweep::engine::argv::reproduce_command;
use sweep::store::BestOutcome;

/// `sweep best SWEEP [--json]`.
#[derive(Debug, Args)]
pub struct BestArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// Print the stable JSON form.
    #[arg(long)]
    pub json: bool,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `sweep best`.
pub fn run(args: &BestArgs) -> CliResult {
    let (reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let best = reader.best(&sweep)?;
    let source = sweep.source_dir.clone().unwrap_or_else(|| ".".into());
    match best {
        BestOutcome::Best { run, value } => {
            let reproduce = reproduce_command(&source, &run.argv);
            if args.json {
                let v = serde_json::json!({
                    "sweep": sweep.id,
                    "run": run.id,
                    "state": run.state,
                    "metric": sweep.primary_metric,
                    "goal": sweep.goal,
                    "value": num_json(value),
                    "params": run.params_json(),
                    "argv": run.argv,
                    "reproduce": reproduce,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("serializable")
                );
            } else {
                println!(
                    "best run {} ({}): {}={value} ({})",
                    run.id, run.state, sweep.primary_metric, sweep.goal
                );
                for (n, v) in &run.params {
                    println!("  {n} = {}", super::runs::plain(v));
                }
                println!("reproduce: {reproduce}");
            }
            Ok(())
        }
        BestOutcome::None(why) => {
            if args.json {
                let v = serde_json::json!({
                    "sweep": sweep.id,
                    "run": null,
                    "metric": sweep.primary_metric,
                    "goal": sweep.goal,
                    "reason": why,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("serializable")
                );
            }
            Err(CliError::Failure(format!(
                "sweep {} has no best run: {why}",
                sweep.id
            )))
        }
    }
}
