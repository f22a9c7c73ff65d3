//! The run history under load, through the real `sweep` binary: several sweeps writing one
//! workspace at once record every value their runs printed. (The readers of a history with
//! millions of values are measured by `benches/readers.rs`.)

use crate::support::{output, wait_exit, Project, Ran};

/// Prints `loss` 3,000 times as fast as it can, then `acc` once: 20 of these, 8 at a time,
/// keep a sweep's writer committing all the time, interleaved with the other sweep's.
const CHATTY: &str = r#"
for i in range(1, 3001):
    print('@sweep {"metric": "loss", "value": %d, "step": %d}' % (i, i))
print("acc=0.5", flush=True)
"#;

const LINES: usize = 3000;
const RUNS: usize = 20;

#[test]
fn two_sweeps_sharing_a_workspace_record_every_value_both_printed() {
    let options: Vec<String> = (0..RUNS).map(|i| i.to_string()).collect();
    let p = Project::grid(
        CHATTY,
        "--i",
        &options.join(", "),
        "max_concurrent_runs: 8\n",
    );
    let mut a = p.spawn_run(&["--name", "a"]);
    let mut b = p.spawn_run(&["--name", "b"]);
    for (name, child) in [("a", &mut a), ("b", &mut b)] {
        wait_exit(child, 240, name);
    }
    for (name, child) in [("a", a), ("b", b)] {
        let ran = Ran::from(child.wait_with_output().unwrap()).success();
        assert!(!ran.stderr().contains("error"), "{name}: {}", ran.text());
        let export = output(&mut p.command(&["export", name, "--format", "jsonl"])).success();
        let mut per_run: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for line in export.stdout().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["metric"] == "loss" {
                assert_eq!(v["value"].as_f64(), v["interval"].as_f64(), "{v}");
                per_run
                    .entry(v["run"].as_str().unwrap().into())
                    .or_default()
                    .push(v["interval"].as_i64().unwrap());
            }
        }
        assert_eq!(per_run.len(), RUNS, "sweep {name}: {per_run:?}");
        for (run, intervals) in per_run {
            // Every value printed, once, in order: no batch missing, no interval skipped.
            assert_eq!(
                intervals,
                (1..=LINES as i64).collect::<Vec<_>>(),
                "sweep {name}, run {run}"
            );
        }
    }
}
