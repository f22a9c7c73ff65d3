//! Metrics read from the logs training scripts already print: output recorded from the real
//! libraries (`tests/fixtures/metrics/`, see its README) replayed by a real run, and a
//! configured pattern, recorded with their steps as the docs' "Metrics" section says.

use crate::support::{local, repo, Project};
use std::collections::BTreeMap;

/// Writes the fixture named by `--fixture` to standard output in small pieces, so lines
/// and redraws arrive split across reads.
const REPLAY: &str = r#"
import sys, time
name = sys.argv[sys.argv.index("--fixture") + 1]
data = open(name, "rb").read()
for i in range(0, len(data), 700):
    sys.stdout.buffer.write(data[i:i + 700])
    sys.stdout.buffer.flush()
    time.sleep(0.005)
"#;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/metrics").join(name)).unwrap()
}

/// Per run (by its `--fixture`), per metric: `(step, value)` in recorded order.
type Points = BTreeMap<String, BTreeMap<String, Vec<(Option<i64>, f64)>>>;

fn points(p: &Project) -> Points {
    let by_id: BTreeMap<String, String> = p
        .runs()
        .iter()
        .map(|r| {
            let f = r["params"]["--fixture"].as_str().unwrap_or("").to_string();
            (r["id"].as_str().unwrap().to_string(), f)
        })
        .collect();
    let mut out = Points::new();
    let text = p.sweep(&["export", "latest", "--format", "jsonl"]).stdout();
    for line in text.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        let run = by_id[m["run"].as_str().unwrap()].clone();
        out.entry(run)
            .or_default()
            .entry(m["metric"].as_str().unwrap().to_string())
            .or_default()
            .push((m["step"].as_i64(), m["value"].as_f64().unwrap()));
    }
    out
}

fn steps(list: &[(i64, f64)]) -> Vec<(Option<i64>, f64)> {
    list.iter().map(|&(s, v)| (Some(s), v)).collect()
}

/// A project whose three runs replay Keras, Lightning/tqdm and Hugging Face output; its
/// primary metric is `loss`, which all three report.
pub fn formats_project() -> Project {
    Project::new()
        .script(REPLAY)
        .file("keras.txt", &fixture("keras.txt"))
        .file("tqdm-lightning.txt", &fixture("tqdm-lightning.txt"))
        .file("hf-trainer.txt", &fixture("hf-trainer.txt"))
        .hdconfig(
            "sampling:\n  type: grid\n  parameter_space:\n  - name: --fixture\n    expression: choice\n    values: [keras.txt, tqdm-lightning.txt, hf-trainer.txt]\nprimary_metric_name: loss\nprimary_metric_goal: Minimize\nmax_concurrent_runs: 3\n",
        )
}

/// Policy: a Keras epoch is one report per metric, its final line (the batches' redraws
/// collapse), at the step `Epoch N/M` gives; a Lightning/tqdm bar is one report per postfix
/// metric at its final drawing, at the step of its `Epoch N:`; a Hugging Face logs dict is
/// one report per key, at its `epoch` when that is whole.
pub fn assert_formats_read(p: &Project, out: &str) {
    assert!(!out.contains("never reported"), "{out}");
    let got = points(p);
    let keras = &got["keras.txt"];
    assert_eq!(keras["loss"], steps(&[(1, 0.87), (2, 0.77), (3, 0.67)]));
    assert_eq!(keras["accuracy"], steps(&[(1, 0.73), (2, 0.78), (3, 0.83)]));
    assert_eq!(keras["val_loss"], steps(&[(1, 0.5), (2, 0.45), (3, 0.4)]));
    assert_eq!(
        keras["val_accuracy"],
        steps(&[(1, 0.8), (2, 0.85), (3, 0.9)])
    );
    assert_eq!(keras.len(), 4, "{keras:?}");
    let tqdm = &got["tqdm-lightning.txt"];
    assert_eq!(tqdm["loss"], steps(&[(0, 0.87), (1, 0.77), (2, 0.67)]));
    assert_eq!(tqdm["val_acc"], steps(&[(0, 0.8), (1, 0.85), (2, 0.9)]));
    assert_eq!(tqdm["v_num"], steps(&[(0, 0.0), (1, 0.0), (2, 0.0)]));
    assert_eq!(tqdm.len(), 3, "{tqdm:?}");
    let hf = &got["hf-trainer.txt"];
    assert_eq!(hf["loss"], steps(&[(1, 0.8), (2, 0.7), (3, 0.6)]));
    assert_eq!(
        hf["eval_accuracy"],
        steps(&[(1, 0.87), (2, 0.89), (3, 0.91)])
    );
    assert_eq!(hf["eval_loss"], steps(&[(1, 0.47), (2, 0.44), (3, 0.41)]));
    assert!(!hf.contains_key("epoch"), "epoch is the step, not a metric");
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["value"], 0.6, "{best}");
}

#[test]
fn keras_lightning_and_hugging_face_output_is_read_as_printed() {
    let p = formats_project();
    let out = p.run(&[]).success().text();
    assert_formats_read(&p, &out);
}

/// Katib-style lines (every pair, the step from the line), a configured pattern for a
/// format nothing else reads, and a name that differs from the primary metric's only in
/// case: hinted at, never taken.
#[test]
fn pairs_a_pattern_and_a_case_only_name() {
    let script = r#"
import sys
mode = sys.argv[sys.argv.index("--mode") + 1]
if mode == "pairs":
    for e in range(1, 4):
        print(f"epoch={e} loss={1 / e:.4f} accuracy={0.9 + e / 100:.4f}", flush=True)
elif mode == "pattern":
    print("Top-1 91.5% after 3 steps", flush=True)
    print("Top-1 92.5% after 4 steps", flush=True)
else:
    print("Accuracy: 0.81", flush=True)
"#;
    let p = Project::new()
        .script(script)
        .runconfig(&local(
            "metrics:\n  pattern: 'Top-1 (?P<value>[0-9.]+)% after (?P<step>\\d+) steps'\n  name: top1\n",
        ))
        .hdconfig(
            "sampling:\n  type: grid\n  parameter_space:\n  - name: --mode\n    expression: choice\n    values: [pairs, pattern, case]\nprimary_metric_name: accuracy\nprimary_metric_goal: Maximize\n",
        );
    let out = p.run(&[]).success().text();
    let by_id: BTreeMap<String, String> = p
        .runs()
        .iter()
        .map(|r| {
            (
                r["params"]["--mode"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let case = &by_id["case"];
    assert!(
        out.contains(&format!("run {case} never reported the primary metric \"accuracy\" (it reported only: Accuracy in its output)")),
        "{out}"
    );
    assert_eq!(
        out.matches("differs from it only in case").count(),
        1,
        "{out}"
    );
    let pattern = &by_id["pattern"];
    assert!(
        out.contains(&format!("run {pattern} never reported the primary metric \"accuracy\" (it reported only: top1 in its output)")),
        "{out}"
    );
    let mut rows = Vec::new();
    let text = p.sweep(&["export", "latest", "--format", "jsonl"]).stdout();
    for line in text.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        let mode = by_id.iter().find(|(_, id)| **id == m["run"]).unwrap().0;
        rows.push((
            mode.clone(),
            m["metric"].as_str().unwrap().to_string(),
            m["step"].as_i64(),
            m["value"].as_f64().unwrap(),
        ));
    }
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let r = |m: &str, n: &str, s: i64, v: f64| (m.to_string(), n.to_string(), Some(s), v);
    assert_eq!(
        rows,
        [
            ("case".to_string(), "Accuracy".to_string(), None, 0.81),
            r("pairs", "accuracy", 1, 0.91),
            r("pairs", "accuracy", 2, 0.92),
            r("pairs", "accuracy", 3, 0.93),
            r("pairs", "loss", 1, 1.0),
            r("pairs", "loss", 2, 0.5),
            r("pairs", "loss", 3, 0.3333),
            r("pattern", "top1", 3, 91.5),
            r("pattern", "top1", 4, 92.5),
        ]
    );
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["value"], 0.93, "{best}");
}

/// Appends the event file `src` (recorded by the real writer) to `dst` in three pieces,
/// 0.3 s apart, cutting records in two: the reader waits for the rest.
const TENSORBOARD: &str = r#"
import os, sys, time
def grow(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    data = open(src, "rb").read()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    with open(dst, "ab") as f:
        for a, b in zip(cuts, cuts[1:]):
            f.write(data[a:b]); f.flush(); time.sleep(0.3)
grow("simple_value.tfevents", "runs/exp1/events.out.tfevents.1700000000.host.1.0")
grow("tensor_scalars.tfevents", os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "tb", "events.out.tfevents.1700000001.host.2.0"))
"#;

/// The TensorBoard project: the script above and the two recorded event files.
pub fn tensorboard_project() -> Project {
    let tb = |n: &str| std::fs::read(repo().join("tests/fixtures/tensorboard").join(n)).unwrap();
    let p = Project::new().script(TENSORBOARD);
    std::fs::write(
        p.path().join("simple_value.tfevents"),
        tb("simple_value.tfevents"),
    )
    .unwrap();
    std::fs::write(
        p.path().join("tensor_scalars.tfevents"),
        tb("tensor_scalars.tfevents"),
    )
    .unwrap();
    p
}

/// Per metric, `(step, value)` of the latest sweep's only run.
pub fn one_run_points(p: &Project) -> BTreeMap<String, Vec<(Option<i64>, f64)>> {
    let mut out: BTreeMap<String, Vec<(Option<i64>, f64)>> = BTreeMap::new();
    let text = p.sweep(&["export", "latest", "--format", "jsonl"]).stdout();
    for line in text.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        out.entry(m["metric"].as_str().unwrap().to_string())
            .or_default()
            .push((m["step"].as_i64(), m["value"].as_f64().unwrap()));
    }
    out
}

/// What the two event files hold, as recorded: every scalar event one report at its step.
pub fn assert_tensorboard_points(p: &Project) {
    let got = one_run_points(p);
    assert_eq!(got["train/loss"], steps(&[(0, 1.0), (1, 0.5), (2, 0.25)]));
    assert_eq!(got["val/acc"], steps(&[(0, 0.5), (1, 0.75), (2, 0.875)]));
    assert_eq!(got["acc"], steps(&[(10, 0.25), (20, 0.5)]));
    assert_eq!(got["loss"], steps(&[(10, 2.0), (20, 1.0)]));
    assert_eq!(got.len(), 4, "the histogram is no scalar: {got:?}");
}

#[test]
fn tensorboard_scalars_under_the_working_and_outputs_directories() {
    let p = tensorboard_project().hdconfig(
        "sampling:\n  type: grid\n  parameter_space:\n  - name: --x\n    expression: choice\n    values: [1]\nprimary_metric_name: val/acc\nprimary_metric_goal: Maximize\n",
    );
    p.run(&[]).success();
    assert_tensorboard_points(&p);
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["value"], 0.875, "{best}");
}

/// A line that reports nothing costs no allocation: neither cutting it from the stream
/// (redraws included) nor reading it with every format and a configured pattern. Measured
/// with the test binary's counting allocator.
#[test]
fn a_line_that_matches_nothing_allocates_nothing() {
    use sweep::metrics::{LineSplitter, OutputGrammar, Pattern, Verdict};
    let pattern = Pattern::new(r"Top-1 (?P<value>[0-9.]+)%", Some("top1")).unwrap();
    let mut grammar = OutputGrammar::new(Some(&pattern));
    let mut splitter = LineSplitter::new();
    let chatter: &[u8] = b"INFO 2024-01-01 12:00:00,123 data.py:42] loaded 60000 examples\n\
        Downloading https://x.org/a.tar.gz: 100%|##########| 9.9M/9.9M [00:01<00:00, 7.5MB/s]\n\
        \r 10%|#         | 1/10 [00:00<00:01]\r100%|##########| 10/10 [00:01<00:00]\n\
        accuracy=high, see http://localhost:8080/run/3 at 93% - 2s\n";
    // Warm up: the first call may set up what the pattern engine caches.
    splitter.feed(chatter, |l| {
        grammar.line(l.bytes, |_| {});
    });
    let (reports, peak) = crate::config_fuzz::peak_of(|| {
        let mut reports = 0;
        for _ in 0..100 {
            splitter.feed(chatter, |l| {
                assert_eq!(grammar.line(l.bytes, |_| reports += 1), Verdict::Read);
            });
        }
        reports
    });
    assert_eq!(reports, 0);
    assert_eq!(
        peak, 0,
        "reading lines that report nothing allocated {peak} bytes"
    );
}

/// TensorBoard scalars through a SIGKILLed sweep and `sweep resume`, the sweep killed at
/// several points of the files' growth: every scalar is recorded exactly once.
#[test]
fn tensorboard_scalars_are_recorded_once_through_a_kill_and_resume() {
    for wait_ms in [0u64, 350, 700, 1100] {
        let p = tensorboard_project().hdconfig(
            "sampling:\n  type: grid\n  parameter_space:\n  - name: --x\n    expression: choice\n    values: [1]\nprimary_metric_name: val/acc\nprimary_metric_goal: Maximize\n",
        );
        let mut child = p.spawn_run(&[]);
        crate::support::wait_for(60, "the first event file", || {
            p.run_dirs()
                .iter()
                .any(|d| d.join("work/runs/exp1").is_dir())
        });
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        crate::support::kill9(&mut child);
        p.sweep(&["resume", "latest"]).code(0);
        assert_tensorboard_points(&p);
    }
}
