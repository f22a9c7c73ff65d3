//! Ask/tell driving an external training process.
//!
//! Each trial runs `python3 examples/train.py` with the trial's parameters as `--name value`
//! arguments, reads its `@sweep {...}` metric lines as they are printed, reports each
//! validation loss to the study, and stops the process when the Bandit policy says the trial
//! is behind. This is how sweep fits a pipeline that launches its own jobs (a cluster
//! scheduler, a container) while the study keeps the sampling, the policy and the history.
//!
//! ```text
//! cargo run --example ask_tell_process -- [--trials 10] [--workspace DIR]
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use sweep::spec::Policy;
use sweep::study::{Outcome, Study, Verdict};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let trials: u64 = arg("--trials").map_or(Ok(10), |s| s.parse())?;
    let workspace = arg("--workspace").map_or_else(
        || std::env::temp_dir().join(format!("sweep-ask-tell-{}", std::process::id())),
        Into::into,
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/train.py");
    let study = Study::builder()
        .name("ask-tell-process")
        .workspace(&workspace)
        .minimize("val_loss")
        // Every trial's argv: this program, then `--learning_rate 0.1 --batch_size 32 ...`.
        .program(["python3", script, "--epochs", "8"])
        .loguniform("learning_rate", 0.001f64.ln(), 2.0f64.ln())
        .choice("batch_size", [16, 64])
        .choice("optimizer", ["sgd", "momentum", "adagrad"])
        .random()
        .seed(3)
        .max_total_runs(trials)
        .policy(Policy::bandit_slack_factor(0.1).with_delay_evaluation(3))
        .build()?;
    println!("study {} in {}", study.id(), workspace.display());

    while let Some(trial) = study.ask()? {
        let argv = trial.argv();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut stopped = None;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let Some(json) = line.strip_prefix("@sweep ") else {
                continue;
            };
            let m: serde_json::Value = serde_json::from_str(json)?;
            let (Some(name), Some(value)) = (m["metric"].as_str(), m["value"].as_f64()) else {
                continue;
            };
            if name != "val_loss" {
                study.log_metric(&trial, name, value)?;
                continue;
            }
            if let Verdict::Stop(why) = study.report(&trial, value) {
                stopped = Some(why);
                child.kill()?;
                break;
            }
        }
        let status = child.wait()?;
        let outcome = match (&stopped, status.success()) {
            (Some(_), _) => Outcome::Pruned,
            (None, true) => Outcome::Completed,
            (None, false) => Outcome::Failed(format!("train.py exited with {status}")),
        };
        println!(
            "trial {:>2} {:<60} {}",
            trial.number(),
            trial
                .values()
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            match &stopped {
                Some(why) => format!("stopped: {why}"),
                None => format!("{outcome:?}"),
            }
        );
        study.tell(trial, outcome)?;
    }

    let s = study.summary();
    println!(
        "{} trials: {} completed, {} stopped early, {} failed",
        s.trials, s.completed, s.canceled, s.failed
    );
    let best = s.best.ok_or("no trial reported val_loss")?;
    println!("best trial #{}: val_loss {:.4}", best.number, best.value);
    if s.completed + s.canceled != s.trials {
        return Err("some trials failed; is python3 installed?".into());
    }
    Ok(())
}
