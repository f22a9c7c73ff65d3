//! Azure ML projects run unchanged (`tests/fixtures/azure/`): a v1 HyperDrive folder
//! through `submit-hyperdrive` with the script on the command line, its `Run.get_context()
//! .log` reaching sweep without azureml-core (sweep's `azureml.core.Run`) and with the real
//! azureml-core (its offline echo); a v2 sweep job with `${{inputs.A}}` whose script logs
//! with the real `mlflow` client; MLflow's per-step, asynchronous and explicit-run logging
//! on local, SSH and Slurm runs, with MLflow 3 and MLflow 2 clients; the parameters and
//! tags a script logs kept with its run; and `--mlflow` holding one server run per sweep
//! run.
//!
//! The Python interpreters with the real packages are the virtual environments
//! `scripts/test.sh` makes: MLflow's (`$SWEEP_TEST_MLFLOW`'s, else
//! `/opt/sweep-mlflow/bin/python`), MLflow 2's (`$SWEEP_TEST_MLFLOW2_PYTHON`, else
//! `/opt/sweep-mlflow2/bin/python`) and azureml-core's (`$SWEEP_TEST_AZUREML_PYTHON`, else
//! `/opt/sweep-azureml/bin/python`).

use crate::services::{self, Env};
use crate::support::{output, remote, slurm_target, ssh_target, sweep_command, Project, Ran};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A project holding a copy of `tests/fixtures/azure/<name>`.
fn fixture(name: &str) -> Project {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dest);
            } else {
                std::fs::copy(e.path(), dest).unwrap();
            }
        }
    }
    let p = Project::new();
    copy(
        &crate::support::repo()
            .join("tests/fixtures/azure")
            .join(name),
        p.path(),
    );
    p
}

/// A Python interpreter of a test virtual environment: `$var`, else `default`; `None`
/// after saying so (a failure under CI).
fn venv_python(what: &str, var: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let r = if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} does not exist", p.display()))
    };
    services::require(what, &r)
}

/// The Python of the virtual environment with the real `mlflow`.
pub(crate) fn mlflow_python() -> Option<PathBuf> {
    let from_bin = std::env::var_os("SWEEP_TEST_MLFLOW")
        .map(PathBuf::from)
        .map(|m| m.with_file_name("python"));
    match from_bin.filter(|p| p.exists()) {
        Some(p) => Some(p),
        None => venv_python(
            "Python with mlflow",
            "SWEEP_TEST_MLFLOW_PYTHON",
            "/opt/sweep-mlflow/bin/python",
        ),
    }
}

/// `sweep submit-hyperdrive ... train_iris.py` in the v1 project, its workspace given by
/// `$SWEEP_WORKSPACE` (everything after the script is the script's).
fn submit(p: &Project) -> Ran {
    output(
        sweep_command()
            .args(["submit-hyperdrive", "-e", "iris", "-c", "local"])
            .args(["--hyperdrive-configuration-name", "hdconfig.yml"])
            .arg("train_iris.py")
            .env("SWEEP_WORKSPACE", p.workspace())
            .current_dir(p.path()),
    )
}

/// The runs of the latest sweep as `sweep export` writes them.
fn exported(p: &Project) -> Vec<Value> {
    p.json(&["export", "latest", "--format", "json"])["runs"]
        .as_array()
        .unwrap()
        .clone()
}

/// The values of metric `name` a run recorded, in order.
fn series(run: &Value, name: &str) -> Vec<f64> {
    run["metrics"][name]
        .as_array()
        .map(|a| a.iter().map(|m| m["value"].as_f64().unwrap()).collect())
        .unwrap_or_default()
}

/// The steps of metric `name` a run recorded, in order.
fn steps(run: &Value, name: &str) -> Vec<Option<i64>> {
    run["metrics"][name]
        .as_array()
        .map(|a| a.iter().map(|m| m["step"].as_i64()).collect())
        .unwrap_or_default()
}

/// A parameter of a run as a number.
fn param(run: &Value, name: &str) -> f64 {
    let v = &run["params"][name];
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no number {name} in {run}"))
}

/// What `train_iris.py` logs as `Accuracy` for a run's parameters: three epochs.
fn iris_accuracy(run: &Value) -> Vec<f64> {
    let base = match run["params"]["--kernel"].as_str().unwrap() {
        "linear" => 0.8,
        _ => 0.9,
    } - (param(run, "--penalty") - 1.0).abs() / 10.0;
    (0..3)
        .map(|e| ((base - f64::from(2 - e) * 0.05) * 1e4).round() / 1e4)
        .collect()
}

/// Checks a finished v1 sweep: every completed run recorded the three accuracies its
/// script logged (a run the Bandit policy stopped, a prefix of them), the penalty, both
/// fold accuracies, its tag, and not the kernel name (text); the best run is rbf with
/// penalty 1.
#[track_caller]
fn check_iris(p: &Project) {
    let runs = exported(p);
    assert_eq!(runs.len(), 6, "{runs:?}");
    let mut completed = 0;
    for r in &runs {
        let want = iris_accuracy(r);
        let got = series(r, "Accuracy");
        if r["state"] == "completed" {
            completed += 1;
            assert_eq!(got.len(), 3, "{r}");
            let fold = series(r, "Fold accuracy");
            assert_eq!(fold.len(), 2, "{r}");
            assert!((fold[0] - want[2]).abs() < 1e-9, "{r}");
            assert_eq!(series(r, "Penalty"), vec![param(r, "--penalty")], "{r}");
            // `run.tag("model", "svc")`: a tag of the run, whichever `Run` recorded it.
            assert_eq!(r["logged"]["tags"]["model"], "svc", "{r}");
        }
        assert!(!got.is_empty() && got.len() <= 3, "{r}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "{got:?} != {want:?} in {r}");
        }
        assert!(r["metrics"].get("Kernel type").is_none(), "{r}");
    }
    assert!(completed >= 2, "{runs:?}");
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["value"], 0.9, "{best}");
    assert_eq!(best["params"]["--kernel"], "rbf", "{best}");
}

#[test]
fn submit_hyperdrive_runs_the_script_given_on_the_command_line_and_reads_run_log() {
    let p = fixture("v1");
    // `python3` here has no azureml-core: sweep's `azureml.core.Run` is the one imported.
    let ran = submit(&p).success();
    assert!(!ran.stderr().contains("not found"), "{}", ran.text());
    check_iris(&p);
}

#[test]
fn with_the_real_azureml_core_its_offline_echo_is_read_and_it_is_not_shadowed() {
    let Some(py) = venv_python(
        "Python with azureml-core",
        "SWEEP_TEST_AZUREML_PYTHON",
        "/opt/sweep-azureml/bin/python",
    ) else {
        return;
    };
    let p = fixture("v1");
    let rc = p.read(".azureml/local.runconfig").replace(
        "interpreterPath: python3",
        &format!("interpreterPath: {}", py.display()),
    );
    p.write(".azureml/local.runconfig", &rc);
    // The script also uses another azureml-core API, which only the real package has.
    let script = p.read("train_iris.py").replace(
        "run = Run.get_context()",
        "import azureml.core\nfrom azureml.core import Workspace, Experiment\nprint('AZUREML', azureml.core.__file__, flush=True)\nrun = Run.get_context()",
    );
    p.write("train_iris.py", &script);
    submit(&p).success();
    check_iris(&p);
    let runs = p.runs();
    let log = std::fs::read_to_string(p.run_dir(&runs[0]).join("output.log")).unwrap();
    assert!(
        log.contains("site-packages/azureml/core/__init__.py"),
        "the real azureml-core is imported: {log}"
    );
    assert!(
        log.contains("Attempted to log scalar metric Accuracy:"),
        "{log}"
    );
}

#[test]
fn azures_hello_sweep_job_validates_and_runs_with_mlflow_logging() {
    let Some(py) = mlflow_python() else { return };
    let p = fixture("v2");
    // Only `python` on the PATH having mlflow, as on an Azure compute.
    let path = format!(
        "{}:{}",
        py.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let p = p.env("PATH", &path);
    let v = p.sweep(&["validate", "hello-sweep.yml"]).success();
    v.stdout_has("--A 0.5");
    p.sweep(&["run", "hello-sweep.yml"]).success();
    let runs = exported(&p);
    assert_eq!(runs.len(), 4, "{runs:?}");
    let mut best = f64::INFINITY;
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
        // The script logs `random()`: what sweep recorded is the one value it wrote
        // through the `sweep:` MLflow store into the run's metrics file.
        let file = Path::new(r["run_dir"].as_str().unwrap()).join("metrics.jsonl");
        let written: Vec<f64> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["metric"] == "random_metric")
            .map(|v| v["value"].as_f64().unwrap())
            .collect();
        assert_eq!(written.len(), 1, "{}", file.display());
        assert!((0.0..1.0).contains(&written[0]), "{written:?}");
        assert_eq!(series(r, "random_metric"), written, "{r}");
        best = best.min(written[0]);
        // Its `mlflow.log_param` calls are the run's logged parameters, as Python wrote
        // its arguments: A from `inputs:`, B and C from the search space.
        let logged = &r["logged"]["params"];
        assert_eq!(logged["A"], "0.5", "{r}");
        assert_eq!(logged["B"], r["params"]["B"], "{r}");
        let c: f64 = logged["C"].as_str().unwrap().parse().unwrap();
        assert_eq!(c, param(r, "C"), "{r}");
    }
    let b = p.json(&["best", "latest", "--json"]);
    assert_eq!(b["value"].as_f64(), Some(best), "{b}");
    assert_eq!(b["logged"]["params"]["A"], "0.5", "{b}");
}

/// Each run logs `acc` for epochs 1 to 3 through MLflow in the way its `--mode` names:
/// `log_metric` with a step, `log_metrics` with asynchronous logging, or inside its own
/// `set_experiment()` + `start_run()` (with a nested run whose values are not the run's).
const MLFLOW_MODES: &str = r#"
import sys, mlflow
mode = sys.argv[sys.argv.index("--mode") + 1]
def acc(epoch):
    return {"plain": 0.1, "async": 0.2, "explicit": 0.3}[mode] * epoch
if mode == "plain":
    mlflow.log_param("lr", 0.1)
    for e in range(1, 4):
        mlflow.log_metric("acc", acc(e), step=e)
elif mode == "async":
    mlflow.config.enable_async_logging(True)
    for e in range(1, 4):
        mlflow.log_metrics({"acc": acc(e), "loss": 1 - acc(e)}, step=e)
    mlflow.flush_async_logging()
else:
    mlflow.set_experiment("my experiment")
    with mlflow.start_run():
        for e in range(1, 4):
            mlflow.log_metric("acc", acc(e), step=e)
        with mlflow.start_run(nested=True):
            mlflow.log_metric("acc", 99.0)
"#;

/// Runs [`MLFLOW_MODES`] once per mode with `runconfig`, and checks that every run's
/// recorded `acc` series and steps are what it logged.
#[track_caller]
fn check_mlflow_modes(p: Project) {
    let p = p.script(MLFLOW_MODES).hdconfig(&crate::support::hd(
        &crate::support::choice("--mode", "plain, async, explicit"),
        "grid",
        "max_concurrent_runs: 3\n",
    ));
    p.run(&[]).success();
    let runs = exported(&p);
    assert_eq!(runs.len(), 3);
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
        let k = match r["params"]["--mode"].as_str().unwrap() {
            "plain" => 0.1,
            "async" => 0.2,
            _ => 0.3,
        };
        let got = series(r, "acc");
        let want: Vec<f64> = (1..4).map(|e| k * f64::from(e)).collect();
        assert_eq!(got.len(), 3, "{r}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "{got:?} != {want:?}: {r}");
        }
        assert_eq!(steps(r, "acc"), vec![Some(1), Some(2), Some(3)], "{r}");
        // The plain script's `log_param` is kept with its run.
        let lr = (k == 0.1).then_some("0.1");
        assert_eq!(r["logged"]["params"]["lr"].as_str(), lr, "{r}");
    }
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["params"]["--mode"], "explicit", "{best}");
}

/// A runconfig that runs `t.py` with `python` on `target`.
fn mlflow_runconfig(python: &Path, target: &str) -> String {
    format!(
        "script: t.py\ntarget: {target}\nenvironment:\n  python:\n    interpreterPath: {}\n",
        python.display()
    )
}

#[test]
fn mlflow_logging_reaches_local_runs_in_every_style() {
    let Some(py) = mlflow_python() else { return };
    check_mlflow_modes(Project::new().runconfig(&mlflow_runconfig(&py, "local")));
}

/// The `site-packages` directory of the virtual environment of `python`.
fn site_packages(python: &Path) -> PathBuf {
    let lib = python.parent().unwrap().parent().unwrap().join("lib");
    std::fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no site-packages under {}", lib.display()))
}

#[test]
fn mlflow_logging_reaches_ssh_runs_in_every_style() {
    let Some(py) = mlflow_python() else { return };
    let Some(env) = services::sshd() else { return };
    // The hosts' user cannot run the virtual environment's interpreter (it lives under
    // root's home): the host's python3 gets its packages through the runconfig's
    // PYTHONPATH, which sweep keeps after its own entry.
    let rc = remote(&format!(
        "  environmentVariables:\n    PYTHONPATH: {}\n",
        site_packages(&py).display()
    ));
    check_mlflow_modes(
        Project::new()
            .runconfig(&rc)
            .targets(&ssh_target("remote", &env, 3, "")),
    );
}

#[test]
fn mlflow_logging_reaches_slurm_runs_in_every_style() {
    let Some(py) = mlflow_python() else { return };
    let Some(env) = services::slurm() else { return };
    let _turn = services::cluster_turn();
    check_mlflow_modes(slurm_project(&env).runconfig(&mlflow_runconfig(&py, "remote")));
}

fn slurm_project(env: &Env) -> Project {
    Project::new()
        .targets(&slurm_target(env))
        .env("SLURM_CONF", &env["SLURM_CONF"])
}

#[test]
fn run_log_without_azureml_core_reaches_ssh_and_slurm_runs() {
    const SCRIPT: &str = "from azureml.core import Run\nimport sys\nrun = Run.get_context()\nx = float(sys.argv[-1])\nfor i in range(3):\n    run.log('acc', x * (i + 1), step=i)\n";
    let check = |p: Project| {
        let p = p.script(SCRIPT).hdconfig(&crate::support::hd(
            &crate::support::choice("--x", "1, 2"),
            "grid",
            "max_concurrent_runs: 2\n",
        ));
        p.run(&[]).success();
        for r in exported(&p) {
            let x = param(&r, "--x");
            assert_eq!(series(&r, "acc"), vec![x, 2.0 * x, 3.0 * x], "{r}");
            assert_eq!(steps(&r, "acc"), vec![Some(0), Some(1), Some(2)], "{r}");
        }
        assert_eq!(p.json(&["best", "latest", "--json"])["value"], 6.0);
    };
    if let Some(env) = services::sshd() {
        check(Project::new().on_ssh(&env, 2, ""));
    }
    if let Some(env) = services::slurm() {
        let _turn = services::cluster_turn();
        check(slurm_project(&env).runconfig(&remote("")));
    }
}

#[test]
fn a_run_without_the_primary_metric_is_told_every_way_and_its_near_miss() {
    // The script prints its accuracy in words and logs it under another case.
    let script = "import sys\nprint('Accuracy is 0.81', flush=True)\nprint('@sweep {\"metric\": \"accuracy\", \"value\": 0.81}', flush=True)\n";
    let p = Project::grid(script, "--x", "1", "").hdconfig(
        &crate::support::hd(&crate::support::choice("--x", "1"), "grid", "")
            .replace("primary_metric_name: acc", "primary_metric_name: Accuracy"),
    );
    p.run(&[]).says_all(&[
        "never reported the primary metric \"Accuracy\" (it reported only: accuracy in its output)",
        "azureml's `run.log(NAME, value)`, `mlflow.log_metric(NAME, value)`",
        "\"accuracy\" differs from it only in case",
        "Its output has `Accuracy is 0.81`, which is not a report of it",
    ]);
}

/// A project running `script` once (`--x 1`) with `python` on the local target, `more`
/// added to its hdconfig.
fn one_local_run(python: &Path, script: &str, more: &str) -> Project {
    Project::new()
        .runconfig(&mlflow_runconfig(python, "local"))
        .script(script)
        .hdconfig(&crate::support::hd(
            &crate::support::choice("--x", "1"),
            "grid",
            more,
        ))
}

#[test]
fn a_primary_metric_logged_to_another_mlflow_run_is_named_in_the_warning() {
    let Some(py) = mlflow_python() else { return };
    // The script logs its metric inside a nested run it starts itself, and a parameter and
    // a tag to its own run, which are kept with the sweep run.
    let script = "import mlflow\nmlflow.log_param('epochs', 3)\nmlflow.set_tag('team', 'vision')\nwith mlflow.start_run(nested=True):\n    mlflow.log_metric('acc', 0.5)\n";
    let p = one_local_run(&py, script, "");
    p.run(&[]).says_all(&[
        "never reported the primary metric \"acc\" (it reported no metrics at all)",
        "Its script logged \"acc\" to another run (",
        "`mlflow.start_run(nested=True)`",
    ]);
    let r = &exported(&p)[0];
    assert_eq!(r["logged"]["params"]["epochs"], "3", "{r}");
    assert_eq!(r["logged"]["tags"]["team"], "vision", "{r}");
    assert!(r["metrics"].as_object().unwrap().is_empty(), "{r}");
}

#[test]
fn a_logged_model_links_the_runs_metrics_without_reporting_them_again() {
    let Some(py) = mlflow_python() else { return };
    // MLflow 3's `log_model(step=...)` logs that step's points again with the model's id.
    let script = "import mlflow, mlflow.pyfunc\nclass M(mlflow.pyfunc.PythonModel):\n    def predict(self, context, model_input):\n        return model_input\nfor e in range(1, 4):\n    mlflow.log_metric('acc', e / 10, step=e)\nmlflow.pyfunc.log_model(name='m', python_model=M(), step=3)\n";
    let p = one_local_run(&py, script, "");
    p.run(&[]).success();
    let r = &exported(&p)[0];
    assert_eq!(series(r, "acc"), vec![0.1, 0.2, 0.3], "{r}");
    assert_eq!(steps(r, "acc"), vec![Some(1), Some(2), Some(3)], "{r}");
}

/// The Python of a virtual environment with MLflow 2 (`mlflow-skinny<3`).
fn mlflow2_python() -> Option<PathBuf> {
    venv_python(
        "Python with MLflow 2",
        "SWEEP_TEST_MLFLOW2_PYTHON",
        "/opt/sweep-mlflow2/bin/python",
    )
}

#[test]
fn mlflow_2_clients_log_to_local_runs_in_every_style() {
    let Some(py) = mlflow2_python() else { return };
    check_mlflow_modes(Project::new().runconfig(&mlflow_runconfig(&py, "local")));
}

/// Logs `acc` (MLflow) and `loss` (azureml's `Run`) for epochs 1 to 6, `--x` times each.
const SLOW_BOTH: &str = "import sys, time, mlflow\nfrom azureml.core import Run\nx = float(sys.argv[-1])\nrun = Run.get_context()\nfor e in range(1, 7):\n    mlflow.log_metric('acc', x * e, step=e)\n    run.log('loss', 10 - x * e, step=e)\n    time.sleep(0.2)\n";

#[test]
fn a_killed_sweep_resumed_records_every_mlflow_and_run_log_value_once() {
    let Some(py) = mlflow_python() else { return };
    for point in 0..6u64 {
        let p = one_local_run(&py, SLOW_BOTH, "max_total_runs: 1\n");
        let mut child = p.spawn_run(&[]);
        crate::support::wait_for(60, "the run to start", || {
            p.runs_so_far().iter().any(|r| r["state"] == "running")
        });
        std::thread::sleep(std::time::Duration::from_millis(400 * point));
        crate::support::kill9(&mut child);
        p.sweep(&["resume", "latest"]).code(0);
        let r = &exported(&p)[0];
        assert_eq!(r["state"], "completed", "killed at point {point}: {r}");
        let want: Vec<f64> = (1..7).map(f64::from).collect();
        assert_eq!(series(r, "acc"), want, "killed at point {point}: {r}");
        let loss: Vec<f64> = want.iter().map(|a| 10.0 - a).collect();
        assert_eq!(series(r, "loss"), loss, "killed at point {point}: {r}");
        let steps_want: Vec<Option<i64>> = (1..7).map(Some).collect();
        assert_eq!(steps(r, "acc"), steps_want, "killed at point {point}: {r}");
    }
}

#[test]
fn a_bandit_policy_stops_the_laggard_by_its_mlflow_and_run_log_metrics() {
    let Some(py) = mlflow_python() else { return };
    let hd = crate::support::hd(
        &crate::support::choice("--x", "1, 0.1"),
        "grid",
        "max_concurrent_runs: 2\npolicy:\n  type: BanditPolicy\n  evaluation_interval: 1\n  slack_factor: 0.1\n",
    );
    // The laggard (`--x 0.1`, which would run 100 epochs) starts logging once the leader
    // has logged its six, so every one of its intervals has the leader's to be judged by,
    // however long MLflow's import takes either run.
    let script = SLOW_BOTH
        .replace(
            "for e in range(1, 7):",
            "import os
flag = os.environ['LEADER_DONE']
while x < 1 and not os.path.exists(flag):
    time.sleep(0.05)
for e in range(1, 7 if x >= 1 else 101):",
        )
        .replace(
            "    time.sleep(0.2)\n",
            "    time.sleep(0.2)\nif x >= 1:\n    open(flag, 'w').close()\n",
        );
    let p = Project::new().script(&script).hdconfig(&hd);
    let flag = p.path().join("leader-done");
    let p = p.runconfig(&format!(
        "{}  environmentVariables:\n    LEADER_DONE: {}\n",
        mlflow_runconfig(&py, "local"),
        flag.display()
    ));
    p.run(&[]).success();
    for r in exported(&p) {
        let x = param(&r, "--x");
        let want = if x == 1.0 { "completed" } else { "canceled" };
        assert_eq!(r["state"], want, "{r}");
        // What was recorded before the stop is what the script logged.
        for (i, v) in series(&r, "acc").iter().enumerate() {
            assert!((v - x * (i as f64 + 1.0)).abs() < 1e-9, "{r}");
        }
    }
}

#[test]
fn a_trailing_script_that_is_not_there_is_bad_input_naming_the_command_line() {
    let p = fixture("v1");
    let out = output(
        sweep_command()
            .args(["submit-hyperdrive", "-e", "iris", "-c", "local"])
            .args(["--hyperdrive-configuration-name", "hdconfig.yml", "nope.py"])
            .env("SWEEP_WORKSPACE", p.workspace())
            .current_dir(p.path()),
    )
    .code(2);
    let err = out.stderr();
    assert!(
        err.contains("script `nope.py` not found") && err.contains("given on the command line"),
        "{}",
        out.text()
    );
    assert!(err.contains("local.runconfig"), "{}", out.text());
    // The runconfig's own `train.py`, which is not there either, is not what it says.
    assert!(!err.contains("train.py"), "{}", out.text());
}
