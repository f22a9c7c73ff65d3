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

/// Policy: a Keras epoch is one report per metric, its final line (the batches' redraws
/// collapse), at the step `Epoch N/M` gives; a Lightning/tqdm bar is one report per postfix
/// metric at its final drawing, at the step of its `Epoch N:`; a Hugging Face logs dict is
/// one report per key, at its `epoch` when that is whole.
#[test]
fn keras_lightning_and_hugging_face_output_is_read_as_printed() {
    let p = Project::new()
        .script(REPLAY)
        .file("keras.txt", &fixture("keras.txt"))
        .file("tqdm-lightning.txt", &fixture("tqdm-lightning.txt"))
        .file("hf-trainer.txt", &fixture("hf-trainer.txt"))
        .hdconfig(
            "sampling:\n  type: grid\n  parameter_space:\n  - name: --fixture\n    expression: choice\n    values: [keras.txt, tqdm-lightning.txt, hf-trainer.txt]\nprimary_metric_name: loss\nprimary_metric_goal: Minimize\n",
        );
    let out = p.run(&[]).success().text();
    assert!(!out.contains("never reported"), "{out}");
    let got = points(&p);
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
