//! The library API against the real `sweep` binary: a sweep driven in-process is read back
//! by `sweep status/runs/best/export` from the same workspace, the same config and seed give
//! the same candidates and best run through the library as through `sweep run`, and a
//! reopened study continues its sampler where it left off.

use crate::support::{output, repo, Project};
use std::path::Path;
use std::process::Command;
use sweep::spec::Policy;
use sweep::study::{Outcome, Study, StudyBuilder, StudyError};

/// A deterministic "training" script: accuracy rises per epoch towards a value set by the
/// parameters, printed with the metric protocol.
const SCRIPT: &str = r#"
import argparse
ap = argparse.ArgumentParser()
ap.add_argument("--x", type=float)
ap.add_argument("--k", type=int)
ap.add_argument("--opt")
a = ap.parse_args()
target = 1.0 - (a.x - 0.3) ** 2 - 0.05 * a.k - (0.1 if a.opt == "sgd" else 0.0)
for epoch in range(1, 4):
    print('@sweep {"metric": "acc", "value": %r, "step": %d}' % (target * epoch / 3.0, epoch), flush=True)
"#;

const HDCONFIG: &str = "sampling:
  type: random
  parameter_space:
  - name: x
    expression: uniform
    values: [0, 1]
  - name: k
    expression: randint
    values: [4]
  - name: opt
    expression: choice
    values: [adam, sgd]
primary_metric_name: acc
primary_metric_goal: maximize
max_total_runs: 7
max_concurrent_runs: 1
";

fn project() -> Project {
    Project::new()
        .script(SCRIPT)
        .hdconfig(HDCONFIG)
        .runconfig("script: t.py\n")
}

/// Runs a trial's argv in `dir` and returns its `acc` reports.
fn run_script(dir: &Path, argv: &[String]) -> Vec<f64> {
    let out = output(Command::new(&argv[0]).args(&argv[1..]).current_dir(dir));
    assert!(out.succeeded(), "{argv:?}: {}", out.text());
    String::from_utf8(out.0.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("@sweep "))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn params_of(runs: &serde_json::Value) -> Vec<serde_json::Value> {
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["params"].clone())
        .collect()
}

#[test]
fn the_library_and_the_cli_give_the_same_candidates_and_best_run() {
    let p = project();
    let (d, ws) = (p.path(), p.workspace());
    p.run(&["--seed", "11", "--name", "cli", "-q"]).success();

    let study = StudyBuilder::from_config(d.join("hd.yml"), Some(&d.join("t.runconfig")))
        .unwrap()
        .name("lib")
        .workspace(&ws)
        .seed(11)
        .build()
        .unwrap();
    while let Some(trial) = study.ask().unwrap() {
        // The trial's argv is the runconfig's launch line: interpreter, script, parameters.
        assert!(
            trial.argv()[1] == "t.py" && trial.argv()[2] == "--x",
            "{:?}",
            trial.argv()
        );
        for v in run_script(d, trial.argv()) {
            assert!(!study.report(&trial, v).should_stop());
        }
        study.tell(trial, Outcome::Completed).unwrap();
    }
    drop(study);

    let cli = p.json(&["runs", "cli", "--format", "json"]);
    let lib = p.json(&["runs", "lib", "--format", "json"]);
    assert_eq!(params_of(&cli).len(), 7);
    assert_eq!(
        params_of(&cli),
        params_of(&lib),
        "same seed, same candidates"
    );
    let (bc, bl) = (
        p.json(&["best", "cli", "--json"]),
        p.json(&["best", "lib", "--json"]),
    );
    assert_eq!(bc["params"], bl["params"]);
    assert_eq!(bc["value"], bl["value"]);
    assert!(bl["value"].as_f64().unwrap() > 0.5, "{bl}");
    // The library records the same launch line, so `sweep best` reproduces it the same way.
    assert_eq!(bc["argv"], bl["argv"]);
    let status = p.sweep(&["status", "lib"]);
    let s = status.stdout();
    assert!(status.succeeded(), "{}", status.text());
    assert!(
        s.contains(": completed") && s.contains("max_total_runs (7) reached"),
        "{s}"
    );
    assert!(s.contains("completed 7"), "{s}");
}

/// A study `name` that maximizes `acc` over a uniform `param` in [0, 1].
fn maximize(ws: &Path, name: &str, param: &str) -> StudyBuilder {
    Study::builder()
        .name(name)
        .workspace(ws)
        .maximize("acc")
        .uniform(param, 0.0, 1.0)
}

fn policy_study(ws: &Path, name: &str) -> StudyBuilder {
    maximize(ws, name, "q")
        .choice("tag", ["a", "b"])
        .seed(5)
        .max_total_runs(16)
        .policy(Policy::bandit_slack_amount(0.1).with_delay_evaluation(2))
}

#[test]
fn pruned_failed_and_completed_trials_show_in_the_cli_as_recorded() {
    let p = Project::new();
    let ws = p.workspace();
    let study = policy_study(&ws, "mixed").build().unwrap();
    let mut pruned = Vec::new();
    let mut failed = 0;
    while let Some(trial) = study.ask().unwrap() {
        let q = trial.get_f64("q").unwrap();
        if trial.number() == 3 {
            study
                .tell(trial, Outcome::Failed("out of memory".into()))
                .unwrap();
            failed += 1;
            continue;
        }
        study.log_metric(&trial, "loss", 1.0 - q).unwrap();
        let mut outcome = Outcome::Completed;
        for epoch in 1..=4 {
            let v = study.report(&trial, q * f64::from(epoch) / 4.0);
            if let sweep::study::Verdict::Stop(why) = v {
                assert!(why.reason() == "policy:bandit", "{why}");
                pruned.push(trial.id().to_string());
                outcome = Outcome::Pruned;
                break;
            }
        }
        study.tell(trial, outcome).unwrap();
    }
    assert!(!pruned.is_empty(), "the bandit never stopped a trial");
    let summary = study.summary();
    assert_eq!(
        (summary.trials, summary.failed, summary.canceled),
        (16, failed, pruned.len() as u64)
    );
    let best = study.best().unwrap();
    study.flush().unwrap();

    let runs = p.json(&["runs", study.id(), "--format", "json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 16);
    for r in runs {
        let id = r["id"].as_str().unwrap();
        let (state, reason) = (r["state"].as_str().unwrap(), r["reason"].as_str().unwrap());
        if pruned.iter().any(|p| p == id) {
            assert_eq!((state, reason), ("canceled", "policy:bandit"), "{r}");
        } else if r["seq"] == 3 {
            assert_eq!((state, reason), ("failed", "out of memory"), "{r}");
        } else {
            assert_eq!((state, reason), ("completed", "completed"), "{r}");
        }
    }
    let b = p.json(&["best", "mixed", "--json"]);
    assert_eq!(b["run"], best.id.as_str());
    assert_eq!(b["value"].as_f64(), Some(best.value));
    let s = p.sweep(&["status", "mixed"]).stdout();
    assert!(
        s.contains(&format!("canceled {}", pruned.len())) && s.contains("failed 1"),
        "{s}"
    );
    let e = p
        .sweep(&["export", "mixed", "--format", "jsonl"])
        .success()
        .stdout();
    assert!(e.contains("\"loss\""), "the extra metric is exported: {e}");
}

#[test]
fn a_reopened_study_continues_the_sampler_and_marks_untold_trials_lost() {
    let p = Project::new();
    let ws = p.workspace();
    let reference: Vec<_> = {
        let s = policy_study(&ws, "reference").build().unwrap();
        let mut v = Vec::new();
        while let Some(t) = s.ask().unwrap() {
            v.push(t.values().clone());
            s.tell(t, Outcome::Value(0.5)).unwrap();
        }
        v
    };
    assert_eq!(reference.len(), 16);
    {
        let s = policy_study(&ws, "resumed").build().unwrap();
        for _ in 0..3 {
            let t = s.ask().unwrap().unwrap();
            assert!(!s.report(&t, 0.5).should_stop());
            s.tell(t, Outcome::Value(0.5)).unwrap();
        }
        let untold = s.ask().unwrap().unwrap();
        assert!(!s.report(&untold, 0.9).should_stop());
        // While it is open here, nobody else may open it (that would mark `untold` lost
        // under this process's feet), and `sweep cancel` does not signal this process.
        let e = policy_study(&ws, "resumed").open("resumed").unwrap_err();
        assert!(
            matches!(&e, StudyError::Busy { pid, .. } if *pid == std::process::id().to_string()),
            "{e}"
        );
        let c = p.sweep(&["cancel", "resumed"]).code(2);
        assert!(c.text().contains("Study::stop"), "{}", c.text());
        // The program "ends" here: the trial is never told.
        std::mem::forget(untold);
    }
    // A different goal is refused with a hint.
    let e = policy_study(&ws, "x")
        .minimize("acc")
        .open("resumed")
        .unwrap_err();
    assert!(
        matches!(e, StudyError::Mismatch { .. }) && e.to_string().contains("goal `maximize`"),
        "{e}"
    );
    let s = policy_study(&ws, "resumed").open_or_build().unwrap();
    let mut asked = Vec::new();
    while let Some(t) = s.ask().unwrap() {
        asked.push(t.values().clone());
        s.tell(t, Outcome::Value(0.5)).unwrap();
    }
    assert_eq!(asked, reference[4..], "the sampler continues its sequence");
    let sum = s.summary();
    assert_eq!((sum.trials, sum.failed, sum.completed), (16, 1, 15));
    // The lost trial reported 0.9, but a failed trial is never the best.
    assert_eq!(
        sum.best.as_ref().map(|b| (b.number, b.value)),
        Some((0, 0.5))
    );
    s.flush().unwrap();
    let runs = p.json(&["runs", "resumed", "--format", "json"]);
    let lost = &runs.as_array().unwrap()[3];
    assert_eq!(lost["state"], "failed");
    assert!(
        lost["reason"].as_str().unwrap().starts_with("lost"),
        "{lost}"
    );
}

#[test]
fn run_drives_an_async_objective_within_the_concurrency_limit() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let p = Project::new();
    let ws = p.workspace();
    let study = policy_study(&ws, "async")
        .max_concurrent_runs(3)
        .build()
        .unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let summary = rt
        .block_on(study.run(|trial, reporter| {
            let (live, peak) = (live.clone(), peak.clone());
            async move {
                // The last trial: a panic's backtrace can hold its worker for a while.
                if trial.number() == 15 {
                    panic!("boom");
                }
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let q = trial.get_f64("q").unwrap();
                let mut out = Outcome::Completed;
                for epoch in 1..=4 {
                    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                    if reporter.report(q * f64::from(epoch)).should_stop() {
                        out = Outcome::Pruned;
                        break;
                    }
                }
                live.fetch_sub(1, Ordering::SeqCst);
                out
            }
        }))
        .unwrap();
    assert_eq!(summary.trials, 16);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "max_concurrent_runs is the limit"
    );
    assert_eq!(summary.failed, 1, "the panicking objective failed");
    assert!(summary.canceled > 0, "{summary:?}");
    assert_eq!(summary.completed + summary.canceled + summary.failed, 16);
    assert_eq!(summary.state, Some(sweep::store::SweepState::Completed));
    let runs = p.json(&["runs", "async", "--format", "json"]);
    assert_eq!(runs[15]["reason"], "objective panicked: boom");
}

/// The README's library example is doctested through `docs/library.md`, which must hold
/// it verbatim.
#[test]
fn the_readme_example_is_the_doctested_one() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let guide = std::fs::read_to_string(repo().join("docs/library.md")).unwrap();
    let section = readme
        .split("## Use it as a library")
        .nth(1)
        .expect("README has a library section");
    let start = section.find("```rust\n").expect("a rust block");
    let end = start + 8 + section[start + 8..].find("\n```\n").unwrap() + 5;
    let block = &section[start..end];
    assert!(block.contains("Study::builder()"), "{block}");
    assert!(
        guide.contains(block),
        "docs/library.md must contain the README's example verbatim:\n{block}"
    );
}

#[test]
fn run_stops_live_trials_at_max_duration_and_drops_trials_past_their_time_limit() {
    use std::time::Duration;
    let p = Project::new();
    let ws = p.workspace();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Sweep budget: every live trial is told to stop by its next report.
    let study = maximize(&ws, "deadline", "x")
        .max_total_runs(50)
        .max_concurrent_runs(2)
        .max_duration(Duration::from_millis(400))
        .build()
        .unwrap();
    let summary = rt
        .block_on(study.run(|_trial, reporter| async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let sweep::study::Verdict::Stop(why) = reporter.report(0.5) {
                    return Outcome::Failed(format!("stopped: {why}"));
                }
            }
        }))
        .unwrap();
    assert_eq!(summary.trials, 2, "nothing is asked after the deadline");
    assert_eq!(summary.canceled, 2, "{summary:?}");
    assert_eq!(summary.state, Some(sweep::store::SweepState::Canceled));
    let runs = p.json(&["runs", "deadline", "--format", "json"]);
    for r in runs.as_array().unwrap() {
        assert_eq!(r["state"], "canceled");
        assert_eq!(r["reason"], "sweep limit: max_duration_minutes reached");
    }
    let st = p.json(&["best", "deadline", "--json"]);
    assert_eq!(st["value"], 0.5);

    // Per-trial limit: an objective that overstays is dropped and recorded as a timeout.
    let study = maximize(&ws, "timeout", "x")
        .max_total_runs(3)
        .max_concurrent_runs(3)
        .max_run_duration(Duration::from_millis(100))
        .build()
        .unwrap();
    let summary = rt
        .block_on(study.run(|trial, reporter| async move {
            let _ = reporter.report(trial.get_f64("x").unwrap());
            tokio::time::sleep(Duration::from_secs(30)).await;
            Outcome::Completed
        }))
        .unwrap();
    assert_eq!((summary.trials, summary.canceled), (3, 3), "{summary:?}");
    let runs = p.json(&["runs", "timeout", "--format", "json"]);
    for r in runs.as_array().unwrap() {
        assert_eq!(r["state"], "canceled");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .starts_with("timeout: exceeded"),
            "{r}"
        );
    }
}

#[test]
fn bayesian_asks_distinct_points_for_pending_trials_and_grid_ends_exhausted() {
    let p = Project::new();
    let ws = p.workspace();
    let study = Study::builder()
        .workspace(&ws)
        .minimize("loss")
        .uniform("x", 0.0, 1.0)
        .uniform("y", 0.0, 1.0)
        .bayesian()
        .seed(2)
        .max_total_runs(30)
        .build()
        .unwrap();
    // Past the initial design, with three trials pending at once.
    for _ in 0..12 {
        let t = study.ask().unwrap().unwrap();
        let (x, y) = (t.get_f64("x").unwrap(), t.get_f64("y").unwrap());
        study
            .tell(t, Outcome::Value((x - 0.7).powi(2) + (y - 0.2).powi(2)))
            .unwrap();
    }
    let pending: Vec<_> = (0..3).map(|_| study.ask().unwrap().unwrap()).collect();
    for (i, a) in pending.iter().enumerate() {
        for b in &pending[..i] {
            assert_ne!(a.values(), b.values(), "pending trials must differ");
        }
    }

    let grid = Study::builder()
        .workspace(&ws)
        .name("grid")
        .minimize("loss")
        .choice("a", ["x", "y"])
        .choice("b", [true, false])
        .grid()
        .max_total_runs(10)
        .build()
        .unwrap();
    let mut seen = Vec::new();
    while let Some(t) = grid.ask().unwrap() {
        seen.push(format!(
            "{}{}",
            t.get_str("a").unwrap(),
            t.get_bool("b").unwrap()
        ));
        grid.tell(t, Outcome::Value(1.0)).unwrap();
    }
    assert_eq!(seen, ["xtrue", "xfalse", "ytrue", "yfalse"]);
    let s = grid.summary();
    assert_eq!(s.reason.as_deref(), Some("the search space is exhausted"));
}
