//! MLflow logging against a real `mlflow server` on loopback: a real `sweep run --mlflow`
//! logs the sweep as it happens, and the test reads the parent run, every child run, their
//! parameters, tags, statuses and metric histories back through the REST API. Also: an
//! unreachable server never stops a sweep, and `sweep mlflow` logs a finished sweep once.
//!
//! The server is `$SWEEP_TEST_MLFLOW`, else `mlflow` on the PATH, else the virtual
//! environment scripts/test.sh makes (`/opt/sweep-mlflow/bin/mlflow`). Without it the server
//! test says so and passes, except when `CI` is set: then it fails.

use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

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

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.py"), TRAIN).unwrap();
    std::fs::write(dir.path().join("hd.yml"), HD).unwrap();
    std::fs::write(
        dir.path().join("t.runconfig"),
        "script: t.py\ntarget: local\n",
    )
    .unwrap();
    dir
}

fn sweep(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(sweep_bin());
    c.args(args)
        .arg("--workspace")
        .arg(dir.join("ws"))
        .current_dir(dir)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .stdin(Stdio::null());
    c
}

fn mlflow_bin() -> Option<PathBuf> {
    // scripts/test.sh always names its virtual environment's mlflow; it may not be there.
    if let Some(p) = std::env::var_os("SWEEP_TEST_MLFLOW").map(PathBuf::from) {
        if p.exists() {
            return Some(p);
        }
    }
    if let Ok(out) = Command::new("which").arg("mlflow").output() {
        if out.status.success() {
            return Some(PathBuf::from(
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            ));
        }
    }
    let venv = Path::new("/opt/sweep-mlflow/bin/mlflow");
    venv.exists().then(|| venv.to_path_buf())
}

/// A tracking server on a free loopback port, stopped (with its workers) on drop.
struct Server {
    child: Child,
    uri: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The server runs its workers in its own process group: end them all.
        let pid = self.child.id() as i32;
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(bin: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = Command::new(bin)
        .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--backend-store-uri")
        .arg(format!(
            "sqlite:///{}",
            dir.path().join("mlflow.db").display()
        ))
        .arg("--default-artifact-root")
        .arg(dir.path().join("artifacts"))
        .args(["--workers", "1"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let uri = format!("http://127.0.0.1:{port}");
    let mut server = Server {
        child,
        uri,
        _dir: dir,
    };
    let http = reqwest::blocking::Client::new();
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{}/health", server.uri)).send() {
            if r.status().is_success() {
                return server;
            }
        }
        if let Ok(Some(s)) = server.child.try_wait() {
            let log =
                std::fs::read_to_string(server._dir.path().join("server.log")).unwrap_or_default();
            panic!("mlflow server exited ({s}):\n{log}");
        }
        assert!(Instant::now() < until, "mlflow server not up within 120 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn api(server: &Server, path: &str, body: Value) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/2.0/mlflow/{path}", server.uri))
        .json_body(&body)
        .send()
        .unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{path}: {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn api_get(server: &Server, path: &str, query: &[(&str, &str)]) -> Value {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/2.0/mlflow/{path}", server.uri))
        .query(query)
        .send()
        .unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{path}: {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// `reqwest` here is built without its `json` feature; this posts a JSON body.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::blocking::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}

fn tags(run: &Value) -> std::collections::HashMap<String, String> {
    run["data"]["tags"]
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

fn params(run: &Value) -> std::collections::HashMap<String, String> {
    run["data"]["params"]
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

fn search(server: &Server, exp: &str, filter: &str) -> Vec<Value> {
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
    let Some(bin) = mlflow_bin() else {
        if std::env::var_os("CI").is_some() {
            panic!("mlflow is not installed (scripts/test.sh installs it into /opt/sweep-mlflow)");
        }
        eprintln!("SKIPPED: mlflow is not installed");
        return;
    };
    let server = start_server(&bin);
    let dir = project();
    let out = sweep(
        dir.path(),
        &[
            "run",
            "hd.yml",
            "-c",
            "t.runconfig",
            "-e",
            "sweeps <test>",
            "--mlflow",
            &server.uri,
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MLflow: logged the sweep as run"),
        "{}",
        text(&out)
    );
    assert!(!err.contains("warning: MLflow"), "{}", text(&out));

    let runs: Value = serde_json::from_slice(
        &sweep(dir.path(), &["runs", "latest", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let runs = runs.as_array().unwrap();
    let sweep_id = runs[0]["id"]
        .as_str()
        .unwrap()
        .rsplit_once('_')
        .unwrap()
        .0
        .to_string();

    let exp = api_get(
        &server,
        "experiments/get-by-name",
        &[("experiment_name", "sweeps <test>")],
    )["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
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
    for r in runs {
        let id = r["id"].as_str().unwrap();
        let child = children
            .iter()
            .find(|c| tags(c).get("sweep.run_id").map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no child run for {id}"));
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
        let hist = api_get(
            &server,
            "metrics/get-history",
            &[("run_id", run_id), ("metric_key", "acc")],
        );
        let mut steps: Vec<(i64, f64)> = hist["metrics"]
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
        steps.sort_by_key(|s| s.0);
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
    let again = sweep(
        dir.path(),
        &[
            "mlflow",
            "latest",
            "--uri",
            &server.uri,
            "--experiment",
            "sweeps <test>",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already logged"),
        "{}",
        text(&again)
    );
    let other = sweep(
        dir.path(),
        &[
            "mlflow",
            "latest",
            "--uri",
            &server.uri,
            "--experiment",
            "copy",
        ],
    )
    .output()
    .unwrap();
    assert!(other.status.success(), "{}", text(&other));
    let copy = api_get(
        &server,
        "experiments/get-by-name",
        &[("experiment_name", "copy")],
    )["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let copied = search(
        &server,
        &copy,
        &format!("tags.`sweep.sweep_id` = '{sweep_id}'"),
    );
    assert_eq!(copied.len(), runs.len());
}

#[test]
fn an_unreachable_tracking_server_never_stops_the_sweep() {
    let dir = project();
    // A port nothing listens on: every request is refused.
    let port = free_port();
    let started = Instant::now();
    let out = sweep(
        dir.path(),
        &[
            "run",
            "hd.yml",
            "-c",
            "t.runconfig",
            "--mlflow",
            &format!("http://user:s3cret@127.0.0.1:{port}"),
        ],
    )
    .env("SWEEP_MLFLOW_FLUSH_SECONDS", "1")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
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
    let runs: Value = serde_json::from_slice(
        &sweep(dir.path(), &["runs", "latest", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 4);
}

#[test]
fn a_tracking_uri_that_is_not_http_is_bad_input() {
    let dir = project();
    let out = sweep(
        dir.path(),
        &[
            "run",
            "hd.yml",
            "-c",
            "t.runconfig",
            "--mlflow",
            "file:./mlruns",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REST API"));
}
