//! `sweep best SWEEP [--format table|json|csv|jsonl]`: the best run, its value (where it was
//! reached and what the run ended with), parameters and reproducing command, or, never
//! silently, why there is none (exit code 1 then).

use super::runs::{csv_line, logged_json, num_json, open_sweep, plain};
use super::term::{outln, shown, sig};
use super::{CliError, CliResult, Common, Format, FormatArg};
use clap::Args;
use sweep::engine::argv::reproduce_command;
use sweep::store::{BestAt, BestOutcome};

/// `sweep best SWEEP [--format ...]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep best latest
  sweep best latest --json > best.json
  sweep best my-sweep --format csv --workspace runs/.sweep")]
pub struct BestArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// Output format.
    #[command(flatten)]
    pub format: FormatArg,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// `0.9852 at interval 12 of 20 (final 0.9685)`: the value, where it was reached, and the
/// run's last value when that is another one (the reproduced run ends with it).
pub fn value_at(value: f64, at: Option<BestAt>) -> String {
    match at {
        Some(at) if at.interval == at.of => {
            format!("{} at interval {} of {}", sig(value, 6), at.interval, at.of)
        }
        Some(at) => format!(
            "{} at interval {} of {} (final {})",
            sig(value, 6),
            at.interval,
            at.of,
            sig(at.last, 6)
        ),
        None => sig(value, 6),
    }
}

/// Runs `sweep best`.
pub fn run(args: &BestArgs) -> CliResult {
    let (reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let best = reader.best(&sweep)?;
    let source = sweep.source_dir.clone().unwrap_or_else(|| ".".into());
    let format = args.format.get(Format::Table);
    match best {
        BestOutcome::Best { run, value } => {
            let reproduce = reproduce_command(&source, &run.argv);
            let at = reader.best_at(&sweep, &run.id, value)?;
            let logged = reader.logged(&run.id)?;
            let v = serde_json::json!({
                "sweep": sweep.id,
                "run": run.id,
                "state": run.state,
                "metric": sweep.primary_metric,
                "goal": sweep.goal,
                "value": num_json(value),
                "interval": at.map(|a| a.interval),
                "intervals": run.intervals,
                "final": at.map(|a| num_json(a.last)),
                "params": run.params_json(),
                "logged": logged_json(&logged),
                "argv": run.argv,
                "reproduce": reproduce,
            });
            match format {
                Format::Json => outln(&serde_json::to_string_pretty(&v).expect("serializable")),
                Format::Jsonl => outln(&v.to_string()),
                Format::Csv => {
                    let mut head: Vec<String> = [
                        "sweep",
                        "run",
                        "state",
                        "metric",
                        "goal",
                        "value",
                        "interval",
                        "intervals",
                        "final",
                        "reproduce",
                    ]
                    .map(String::from)
                    .to_vec();
                    let mut row = vec![
                        sweep.id.clone(),
                        run.id.clone(),
                        run.state.to_string(),
                        sweep.primary_metric.clone(),
                        sweep.goal.clone(),
                        plain(&num_json(value)),
                        at.map(|a| a.interval.to_string()).unwrap_or_default(),
                        run.intervals.to_string(),
                        at.map(|a| plain(&num_json(a.last))).unwrap_or_default(),
                        reproduce.clone(),
                    ];
                    for (n, p) in &run.params {
                        head.push(n.clone());
                        row.push(plain(p));
                    }
                    outln(&csv_line(&head));
                    outln(&csv_line(&row));
                }
                Format::Table => {
                    outln(&format!(
                        "best run {} ({}): {}={} ({})",
                        run.id,
                        run.state,
                        sweep.primary_metric,
                        value_at(value, at),
                        sweep.goal
                    ));
                    for (n, v) in &run.params {
                        outln(&format!("  {n} = {}", shown(&plain(v))));
                    }
                    if !logged.is_empty() {
                        outln("logged by the script:");
                        for (kind, key, value) in logged.iter().filter_map(|l| l.item.attribute()) {
                            outln(&format!("  {kind} {key} = {}", shown(value)));
                        }
                    }
                    outln(&format!("reproduce: {}", shown(&reproduce)));
                }
            }
            Ok(())
        }
        BestOutcome::None(why) => {
            let v = serde_json::json!({
                "sweep": sweep.id,
                "run": null,
                "metric": sweep.primary_metric,
                "goal": sweep.goal,
                "reason": why,
            });
            match format {
                Format::Json => outln(&serde_json::to_string_pretty(&v).expect("serializable")),
                Format::Jsonl => outln(&v.to_string()),
                Format::Csv | Format::Table => {}
            }
            Err(CliError::Failure(format!(
                "sweep {} has no best run: {why}",
                sweep.id
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_value_says_where_it_was_reached_and_how_the_run_ended() {
        let at = |interval, of, last| Some(BestAt { interval, of, last });
        assert_eq!(
            value_at(0.98521, at(2, 4, 0.96853)),
            "0.98521 at interval 2 of 4 (final 0.96853)"
        );
        assert_eq!(
            value_at(0.96853, at(2, 2, 0.96853)),
            "0.96853 at interval 2 of 2"
        );
        // A run that ended on a value that is not a number says so.
        assert_eq!(
            value_at(0.7, at(1, 2, f64::NAN)),
            "0.7 at interval 1 of 2 (final NaN)"
        );
        assert_eq!(value_at(0.7, None), "0.7");
    }
}
