//! Ask/tell over a sweep config's own program.
//!
//! Builds a study from a HyperDrive `hdconfig.yml` (with its runconfig) or a v2 sweep job,
//! exactly as `sweep run` loads it, then runs each trial's command line (`Trial::argv`) in
//! the config's source directory one at a time, reports every `@sweep` line of the primary
//! metric, and tells the outcome. Each trial is printed as one JSON line, `{"number",
//! "params", "state"}`: with the same config and seed, the candidates are those
//! `sweep run` (one run at a time) and the Python package's `create_study(config=...)` ask,
//! which `python/tests/test_equivalence.py` checks.
//!
//! ```text
//! cargo run --example ask_tell_config -- HDCONFIG [-c RUNCONFIG] [--seed N] [--workspace DIR] [--name NAME]
//! ```

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use sweep::study::{Outcome, StudyBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let config = args.first().filter(|a| !a.starts_with('-')).ok_or(
        "usage: ask_tell_config HDCONFIG [-c RUNCONFIG] [--seed N] [--workspace DIR] [--name NAME]",
    )?;
    let runconfig = flag("-c").map(PathBuf::from);
    let mut b = StudyBuilder::from_config(config, runconfig.as_deref())?;
    if let Some(seed) = flag("--seed") {
        b = b.seed(seed.parse()?);
    }
    if let Some(ws) = flag("--workspace") {
        b = b.workspace(ws);
    }
    if let Some(name) = flag("--name") {
        b = b.name(name);
    }
    let study = b.build()?;
    let metric = study.spec().primary_metric.clone();
    let dir = study.spec().run.source_dir.clone();
    while let Some(trial) = study.ask()? {
        let argv = trial.argv();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stopped = false;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let Some(json) = line.trim().strip_prefix("@sweep ") else {
                continue;
            };
            let m: serde_json::Value = serde_json::from_str(json)?;
            if m["metric"].as_str() != Some(metric.as_str()) {
                continue;
            }
            let Some(value) = m["value"].as_f64() else {
                continue;
            };
            if study.report(&trial, value).should_stop() {
                stopped = true;
                child.kill()?;
                break;
            }
        }
        let status = child.wait()?;
        let outcome = match (stopped, status.success()) {
            (true, _) => Outcome::Pruned,
            (false, true) => Outcome::Completed,
            (false, false) => Outcome::Failed(format!("{} exited with {status}", argv[0])),
        };
        let line = serde_json::json!({
            "number": trial.number(),
            "params": trial.values().to_json(),
            "state": format!("{outcome:?}"),
        });
        study.tell(trial, outcome)?;
        println!("{line}");
    }
    let s = study.summary();
    eprintln!(
        "study {}: {} trials, {} completed, {} stopped early, {} failed",
        study.id(),
        s.trials,
        s.completed,
        s.canceled,
        s.failed
    );
    Ok(())
}
