//! MLflow logging against a real `mlflow server` on loopback: a real `sweep run --mlflow`
//! logs the sweep as it happens, and the test reads the parent run, every child run, their
//! parameters, tags, statuses and metric histories back through the REST API. Also: an
//! unreachable server never stops a sweep, and `sweep mlflow` logs a finished sweep once.
//!
//! The server is `$SWEEP_TEST_MLFLOW`, else `mlflow` on the PATH, else the virtual
//! environment scripts/test.sh makes (`/opt/sweep-mlflow/bin/mlflow`). Without it the server
//! test says so and passes, except when `CI` is set: then it fails.

use crate::services::{self, free_port, MlflowServer};
use crate::support::{output, Project, Ran};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Each run reports `acc` at 3 intervals with steps 1, 2, 3 and `loss` without a step; the
/// run with `--lr 0.5` fails after reporting once.
const TRAIN: &str = r#"
import json, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lr = float(args["--lr"])
for i in range(1, 4):
    print("@sweep " + json.dumps({"metric": "acc", "value": lr * i, "step": i}), flush=True)
    print("@sweep " + json.dumps({"metric": "loss", "value": 1.0 / (lr * i)}), flush=True)
    if lr == 0.5:
        sys.exit(3)
"#;

const HD: &str = r#"sampling:
  type: grid
  parameter_space:
  - name: --lr
    expression: choice
    values: [0.1, 0.2, 0.5, 0.3]
  - name: opt
    expression: choice
    values: [adam]
primary_metric_name: acc
primary_metric_goal: Maximize
max_total_runs: 4
max_concurrent_runs: 2
"#;

fn project() -> Project {
    Project::new().script(TRAIN).hdconfig(HD)
}

/// A POST to the tracking server's REST API with a JSON body; its JSON answer.
fn api(server: &MlflowServer, path: &str, body: Value) -> Value {
    answer(
        path,
        reqwest::blocking::Client::new()
            .post(format!("{}/api/2.0/mlflow/{path}", server.uri))
            // `reqwest` here is built without its `json` feature.
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
}

/// A GET from the tracking server's REST API; its JSON answer.
fn api_get(server: &MlflowServer, path: &str, query: &[(&str, &str)]) -> Value {
    answer(
        path,
        reqwest::blocking::Client::new()
            .get(format!("{}/api/2.0/mlflow/{path}", server.uri))
            .query(query),
    )
}

/// The id of the experiment `name`.
fn experiment_id(server: &MlflowServer, name: &str) -> String {
    api_get(
        server,
        "experiments/get-by-name",
        &[("experiment_name", name)],
    )["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sends a request that must succeed and parses its answer.
fn answer(path: &str, request: reqwest::blocking::RequestBuilder) -> Value {
    let r = request.send().unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{path}: {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A run's `tags` or `params` (`what`) as a map.
fn pairs(run: &Value, what: &str) -> std::collections::HashMap<String, String> {
    run["data"][what]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["key"].as_str().unwrap().to_string(),
                        t["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The MLflow run among `runs` that is sweep run `id`'s child run.
#[track_caller]
fn child_of<'a>(runs: &'a [Value], id: &str) -> &'a Value {
    runs.iter()
        .find(|c| tags(c).get("sweep.run_id").map(String::as_str) == Some(id))
        .unwrap_or_else(|| panic!("no child run for {id}"))
}

fn tags(run: &Value) -> std::collections::HashMap<String, String> {
    pairs(run, "tags")
}

fn params(run: &Value) -> std::collections::HashMap<String, String> {
    pairs(run, "params")
}

/// A run's history of metric `key` as (step, value), by step (the REST API writes a step
/// as a string or a number).
fn history(server: &MlflowServer, run_id: &str, key: &str) -> Vec<(i64, f64)> {
    let hist = api_get(
        server,
        "metrics/get-history",
        &[("run_id", run_id), ("metric_key", key)],
    );
    let mut points: Vec<(i64, f64)> = hist["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["step"]
                    .as_str()
                    .map(|s| s.parse().unwrap())
                    .unwrap_or_else(|| m["step"].as_i64().unwrap_or(0)),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    points.sort_by_key(|p| p.0);
    points
}

fn search(server: &MlflowServer, exp: &str, filter: &str) -> Vec<Value> {
    api(
        server,
        "runs/search",
        json!({ "experiment_ids": [exp], "filter": filter, "max_results": 100 }),
    )["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_sweep_is_logged_to_a_real_mlflow_server_as_it_runs() {
    let Some(server) = services::mlflow() else {
        return;
    };
    let p = project();
    let out = p
        .run(&["-e", "sweeps <test>", "--mlflow", &server.uri])
        .success();
    let err = out.stderr();
    assert!(
        err.contains("MLflow: logged the sweep as run"),
        "{}",
        out.text()
    );
    assert!(!err.contains("warning: MLflow"), "{}", out.text());

    let runs = p.runs();
    let sweep_id = runs[0]["id"]
        .as_str()
        .unwrap()
        .rsplit_once('_')
        .unwrap()
        .0
        .to_string();

    let exp = experiment_id(&server, "sweeps <test>");
    let parents = search(&server, &exp, &format!("tags.`sweep.id` = '{sweep_id}'"));
    assert_eq!(parents.len(), 1, "{parents:?}");
    let parent = &parents[0];
    let parent_id = parent["info"]["run_id"].as_str().unwrap();
    assert_eq!(parent["info"]["status"], "FINISHED");
    assert_eq!(params(parent)["primary_metric"], "acc");
    assert_eq!(params(parent)["sampling"], "grid");
    assert_eq!(tags(parent)["sweep.state"], "completed");
    // The parent's curve: the running best of acc (0.3 from lr 0.1 and 0.2 ... up to 0.9).
    let best = api_get(
        &server,
        "metrics/get-history",
        &[("run_id", parent_id), ("metric_key", "best_acc")],
    );
    let best: Vec<f64> = best["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert!(best.windows(2).all(|w| w[0] < w[1]), "{best:?}");
    assert!(
        (best.last().unwrap() - 1.5).abs() < 1e-9 || (best.last().unwrap() - 0.9).abs() < 1e-9,
        "{best:?}"
    );

    let children = search(
        &server,
        &exp,
        &format!("tags.`mlflow.parentRunId` = '{parent_id}'"),
    );
    assert_eq!(children.len(), runs.len());
    for r in &runs {
        let id = r["id"].as_str().unwrap();
        let child = child_of(&children, id);
        let t = tags(child);
        assert_eq!(t["sweep.sweep_id"], sweep_id);
        assert_eq!(t["sweep.state"], r["state"].as_str().unwrap());
        assert_eq!(t["sweep.reason"], r["reason"].as_str().unwrap());
        let p = params(child);
        assert_eq!(p["lr"], r["params"]["--lr"].to_string());
        assert_eq!(p["opt"], "adam");
        let want_status = match r["state"].as_str().unwrap() {
            "completed" => "FINISHED",
            "failed" => "FAILED",
            _ => "KILLED",
        };
        assert_eq!(child["info"]["status"], want_status, "{id}");
        let run_id = child["info"]["run_id"].as_str().unwrap();
        let steps = history(&server, run_id, "acc");
        let lr = r["params"]["--lr"].as_f64().unwrap();
        let n = r["intervals"].as_i64().unwrap();
        assert_eq!(steps.len() as i64, n, "{id}: every point is logged");
        for (i, (step, value)) in steps.iter().enumerate() {
            assert_eq!(*step, i as i64 + 1, "{id}: the run's own steps");
            assert!((value - lr * (i as f64 + 1.0)).abs() < 1e-9);
        }
        // A metric reported without a step is logged at its interval.
        let loss = api_get(
            &server,
            "metrics/get-history",
            &[("run_id", run_id), ("metric_key", "loss")],
        );
        assert_eq!(loss["metrics"].as_array().unwrap().len() as i64, n);
    }
    assert!(
        runs.iter().any(|r| r["state"] == "failed"),
        "the lr=0.5 run fails"
    );

    // `sweep mlflow` does not log the same sweep twice, and logs it into another experiment.
    let log_again = |experiment: &str| {
        p.sweep(&[
            "mlflow",
            "latest",
            "--uri",
            &server.uri,
            "--experiment",
            experiment,
        ])
    };
    let again = log_again("sweeps <test>").code(2);
    again.stderr_has("already logged");
    log_again("copy").success();
    let copy = experiment_id(&server, "copy");
    let copied = search(
        &server,
        &copy,
        &format!("tags.`sweep.sweep_id` = '{sweep_id}'"),
    );
    assert_eq!(copied.len(), runs.len());
}

#[test]
fn an_unreachable_tracking_server_never_stops_the_sweep() {
    let p = project();
    // A port nothing listens on: every request is refused.
    let port = free_port();
    let started = Instant::now();
    let out = output(
        p.run_command(&["--mlflow", &format!("http://user:s3cret@127.0.0.1:{port}")])
            .env("SWEEP_MLFLOW_FLUSH_SECONDS", "1"),
    )
    .success();
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = out.stderr();
    assert_eq!(
        err.matches("warning: MLflow logging:").count(),
        1,
        "warned once: {err}"
    );
    assert!(err.contains("is incomplete"), "{err}");
    assert!(
        !err.contains("s3cret"),
        "a password reached the output: {err}"
    );
    assert_eq!(p.runs().len(), 4);
}

#[test]
fn a_tracking_uri_that_is_not_http_is_bad_input() {
    let out = project().run(&["--mlflow", "file:./mlruns"]).code(2);
    assert!(out.stderr().contains("REST API"));
}

/// Runs `script` (its own MLflow calls, nothing of sweep's) with the real `mlflow` client's
/// Python on the local target, once for each `--lr` of `lrs` (a YAML list), logged with
/// `--mlflow` to a real tracking server into experiment `exp`: the project, the server and
/// the finished `sweep run`; `None` after saying which is missing (a failure under CI).
fn run_logged(script: &str, lrs: &str, exp: &str) -> Option<(Project, MlflowServer, Ran)> {
    let python = crate::azure::mlflow_python()?;
    let server = services::mlflow()?;
    let runs = lrs.split(',').count();
    let p = Project::new()
        .script(script)
        .hdconfig(
            &HD.replace("[0.1, 0.2, 0.5, 0.3]", lrs)
                .replace("max_total_runs: 4", &format!("max_total_runs: {runs}")),
        )
        .runconfig(&format!(
            "script: t.py\ntarget: local\nenvironment:\n  python:\n    interpreterPath: {}\n",
            python.display()
        ));
    let out = p.run(&["-e", exp, "--mlflow", &server.uri]).success();
    Some((p, server, out))
}

#[test]
fn an_unchanged_mlflow_script_logs_into_sweeps_child_run_one_run_per_sweep_run() {
    // The script knows nothing of sweep: it logs through MLflow's fluent API.
    // Its parameter `lr` is also a sweep parameter (`--lr`, `lr` in MLflow).
    let script = "import sys, mlflow\nlr = float(sys.argv[sys.argv.index('--lr') + 1])\nmlflow.log_params({'batch': 32, 'lr': lr})\nmlflow.set_tag('team', 'vision')\nfor e in range(1, 4):\n    mlflow.log_metric('acc', lr * e, step=e)\n";
    let Some((p, server, _)) = run_logged(script, "[0.1, 0.2]", "unchanged") else {
        return;
    };
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    let exp = experiment_id(&server, "unchanged");
    // The sweep's run and one child per sweep run: the script made none of its own.
    let all = search(&server, &exp, "");
    assert_eq!(all.len(), 1 + runs.len(), "{all:?}");
    for r in &runs {
        let id = r["id"].as_str().unwrap();
        let child = child_of(&all, id);
        let lr = r["params"]["--lr"].as_f64().unwrap();
        // The script's parameters and tags are on the child run too.
        let child_params = params(child);
        assert_eq!(
            child_params.get("batch").map(String::as_str),
            Some("32"),
            "{child}"
        );
        assert_eq!(child_params["lr"].parse::<f64>().unwrap(), lr, "{child}");
        assert_eq!(
            tags(child).get("team").map(String::as_str),
            Some("vision"),
            "{child}"
        );
        let got = history(&server, child["info"]["run_id"].as_str().unwrap(), "acc");
        let want: Vec<(i64, f64)> = (1..4).map(|e| (e, lr * e as f64)).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g.0 == w.0 && (g.1 - w.1).abs() < 1e-9,
                "{got:?} != {want:?}"
            );
        }
    }
}

#[test]
fn a_parameter_the_script_changes_after_it_reached_the_server_is_said_and_kept_in_the_history() {
    // `batch` reaches the server (the follower polls about once a second) before the
    // script changes it, which MLflow refuses; the tag logged with the change still goes.
    let script = "import time, mlflow\nmlflow.log_param('batch', 32)\nmlflow.log_metric('acc', 0.5)\ntime.sleep(4)\nmlflow.log_param('batch', 64)\nmlflow.set_tag('stage', 'after')\nmlflow.log_metric('acc', 0.6)\n";
    let Some((p, server, out)) = run_logged(script, "[0.1]", "changed") else {
        return;
    };
    out.says_all(&["MLflow refused parameters the script of run", "batch ("]);
    let exp = experiment_id(&server, "changed");
    let child = search(&server, &exp, "")
        .into_iter()
        .find(|r| tags(r).contains_key("sweep.run_id"))
        .expect("a child run");
    assert_eq!(
        params(&child).get("batch").map(String::as_str),
        Some("32"),
        "{child}"
    );
    assert_eq!(
        tags(&child).get("stage").map(String::as_str),
        Some("after"),
        "{child}"
    );
    let run = &p.json(&["export", "latest", "--format", "json"])["runs"][0];
    assert_eq!(run["logged"]["params"]["batch"], "64", "{run}");
}
