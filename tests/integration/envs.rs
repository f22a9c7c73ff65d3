//! Managed environments end to end, with real `python3 -m venv` and real pip from the package
//! index: the first sweep builds, later sweeps reuse the cache, a changed list rebuilds, two
//! sweeps at once build once, a broken dependency stops the sweep before any run, and a
//! killed sweep resumes in the environment it ran in.

use crate::services;
use crate::support::{kill9, line_after, output, pid_alive, wait_for, Project, Ran};
use std::path::Path;
use std::process::{Command, Stdio};

/// The test's turn to build environments (one test at a time: `python -m venv` is
/// CPU-heavy, and the rest of the suite has timing-sensitive tests running alongside), with
/// a fresh environment cache; `None` when this machine cannot build them.
fn build_turn() -> Option<(std::sync::MutexGuard<'static, ()>, tempfile::TempDir)> {
    static BUILDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let turn = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    prerequisites().then(|| (turn, tempfile::tempdir().unwrap()))
}

/// These tests need python3 with the venv module (scripts/test.sh installs it in CI) and a
/// package `tomli` that the system Python does not already have (else the test proves
/// nothing). Missing prerequisites fail when `CI` is set, and skip loudly otherwise.
fn prerequisites() -> bool {
    let ok = |args: &[&str]| {
        Command::new("python3")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let problem = if !ok(&["-c", "import venv, ensurepip"]) {
        Err("python3 with the venv and ensurepip modules is required")
    } else if ok(&["-c", "import tomli"]) {
        Err("python3 can already import `tomli`: the test would not show the environment at work")
    } else {
        Ok(())
    };
    services::require(
        "a python3 for managed environments",
        &problem.map_err(String::from),
    )
    .is_some()
}

const SCRIPT: &str = r#"
import sys, tomli
print("python=" + sys.executable)
print("tomli=" + tomli.__file__)
print("@sweep " + '{"metric": "acc", "value": %s}' % sys.argv[-1])
"#;

const HD: &str = "sampling:\n  type: grid\n  parameter_space:\n    - name: x\n      expression: choice\n      values: [1, 2]\nprimary_metric_name: acc\nprimary_metric_goal: maximize\nmax_concurrent_runs: 2\n";

/// A project whose runconfig builds its environment from `dep_key: dep_file`, with the
/// environment cache `cache`.
fn project(cache: &Path, dep_key: &str, dep_file: &str, deps: &str) -> Project {
    Project::new()
        .script(SCRIPT)
        .hdconfig(HD)
        .file(dep_file, deps)
        .runconfig(&format!("script: t.py\nenvironment:\n  python:\n    userManagedDependencies: false\n    {dep_key}: {dep_file}\n"))
        .env("SWEEP_ENV_CACHE", cache)
}

/// A project that builds its environment from `requirements.txt` holding `deps`.
fn requirements(cache: &Path, deps: &str) -> Project {
    project(cache, "requirementsFile", "requirements.txt", deps)
}

/// The output logs of the runs of the sweep `out` started.
fn run_logs(p: &Project, out: &Ran) -> Vec<String> {
    let stdout = out.stdout();
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sweep ")?.strip_suffix(" started"))
        .unwrap_or_else(|| panic!("no sweep id in {stdout}"));
    let runs = p.workspace().join("sweeps").join(id).join("runs");
    let mut logs: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("output.log")).unwrap())
        .collect();
    logs.sort();
    logs
}

/// `sweep env list --json`.
fn env_list(p: &Project) -> Vec<serde_json::Value> {
    serde_json::from_value(p.sweep(&["env", "list", "--json"]).success().json()).unwrap()
}

/// Every run imported `tomli` from inside the environment `hash` and reported its metric.
fn assert_runs_used(p: &Project, cache: &Path, out: &Ran, hash: &str) {
    let logs = run_logs(p, out);
    assert_eq!(logs.len(), 2, "{}", out.text());
    let env = cache.join(hash).join("env");
    for log in &logs {
        let python = line_after(log, "python=");
        let tomli = line_after(log, "tomli=");
        assert!(Path::new(python).starts_with(&env), "{log}");
        assert!(Path::new(tomli).starts_with(&env), "{log}");
        assert!(log.contains("@sweep"), "{log}");
    }
}

/// Content and modification time: a rebuild rewrites both.
fn fingerprint(path: &Path) -> (String, std::time::SystemTime) {
    (
        std::fs::read_to_string(path).unwrap(),
        std::fs::metadata(path).unwrap().modified().unwrap(),
    )
}

fn only_hash(p: &Project) -> String {
    let list = env_list(p);
    assert_eq!(list.len(), 1, "{list:?}");
    list[0]["hash"].as_str().unwrap().to_string()
}

#[test]
fn built_once_reused_by_later_sweeps_and_rebuilt_when_the_list_changes() {
    let Some((_serial, cache)) = build_turn() else {
        return;
    };
    let p = requirements(cache.path(), "tomli\n");

    let first = p.run(&[]).success();
    let err = first.stderr();
    assert_eq!(err.matches(": building from").count(), 1, "{err}");
    assert!(err.contains("pip install: 1 requirement"), "{err}");
    let hash = only_hash(&p);
    assert_runs_used(&p, cache.path(), &first, &hash);
    let entry = cache.path().join(&hash);
    let log = fingerprint(&entry.join("build.log"));
    let marker = fingerprint(&entry.join("sweep-env.json"));
    assert_eq!(
        log.0.matches("\n$ ").count(),
        2,
        "venv, then pip: {}",
        log.0
    );

    // The same list, reordered, commented and spaced differently: the same environment,
    // and no installer runs (the build log and the marker are untouched).
    p.write(
        "requirements.txt",
        "# TOML parser\n\n   tomli      # for configs\n",
    );
    let second = p.run(&[]).success();
    let err = second.stderr();
    assert!(!err.contains("building"), "{err}");
    assert!(
        err.contains(&format!(
            "environment {hash}: using the cached venv environment"
        )),
        "{err}"
    );
    assert_runs_used(&p, cache.path(), &second, &hash);
    assert_eq!(fingerprint(&entry.join("build.log")), log);
    assert_eq!(fingerprint(&entry.join("sweep-env.json")), marker);
    assert_eq!(only_hash(&p), hash);

    // A changed list is another environment.
    p.write("requirements.txt", "tomli\niniconfig\n");
    let third = p.run(&[]).success();
    assert_eq!(
        third.stderr().matches(": building from").count(),
        1,
        "{}",
        third.text()
    );
    let list = env_list(&p);
    assert_eq!(list.len(), 2, "{list:?}");
    let new_hash = list
        .iter()
        .map(|e| e["hash"].as_str().unwrap())
        .find(|h| *h != hash)
        .unwrap()
        .to_string();
    assert_runs_used(&p, cache.path(), &third, &new_hash);
    let imported = Command::new(cache.path().join(&new_hash).join("env/bin/python"))
        .args(["-c", "import iniconfig, tomli"])
        .status()
        .unwrap();
    assert!(imported.success());
    for e in &list {
        assert_eq!(e["complete"], true);
        assert_eq!(e["in_use"], false);
        assert!(e["size_bytes"].as_u64().unwrap() > 1_000_000, "{e}");
        assert!(e["source"].as_str().unwrap().ends_with("requirements.txt"));
    }

    // Pruning: by default only incomplete builds go; --all removes the rest.
    p.sweep(&["env", "prune"]).success();
    assert_eq!(env_list(&p).len(), 2);
    let out = p.sweep(&["env", "prune", "--all"]).success();
    out.stdout_has("2 environments removed");
    assert!(env_list(&p).is_empty());
    assert!(!entry.exists());
}

#[test]
fn two_sweeps_starting_at_once_build_the_environment_once() {
    let Some((_serial, cache)) = build_turn() else {
        return;
    };
    let a = requirements(cache.path(), "tomli\n");
    let b = requirements(cache.path(), "tomli # same\n");
    let (ca, cb) = (a.spawn_run(&[]), b.spawn_run(&[]));
    let (oa, ob) = (
        Ran::from(ca.wait_with_output().unwrap()),
        Ran::from(cb.wait_with_output().unwrap()),
    );
    let oa = oa.success();
    let ob = ob.success();
    let both = format!("{}{}", oa.stderr(), ob.stderr());
    assert_eq!(both.matches(": building from").count(), 1, "{both}");
    assert_eq!(
        both.matches("another sweep is building it; waiting")
            .count(),
        1,
        "{both}"
    );
    assert_eq!(
        both.matches("using the cached venv environment").count(),
        1,
        "{both}"
    );
    let hash = only_hash(&a);
    let log = std::fs::read_to_string(cache.path().join(&hash).join("build.log")).unwrap();
    assert_eq!(log.matches(" -m venv ").count(), 1, "{log}");
    assert_runs_used(&a, cache.path(), &oa, &hash);
    assert_runs_used(&b, cache.path(), &ob, &hash);
}

#[test]
fn a_dependency_that_does_not_exist_stops_the_sweep_before_any_run() {
    let Some((_serial, cache)) = build_turn() else {
        return;
    };
    let p = requirements(cache.path(), "sweep-test-no-such-package-3b1f9c\n");
    let out = p.run(&[]).code(1);
    let err = out.stderr();
    assert!(err.contains("building the environment for"), "{err}");
    assert!(err.contains("`pip install` exited with code 1"), "{err}");
    // The installer's own message, from the tail of its output.
    assert!(
        err.contains("No matching distribution found for sweep-test-no-such-package-3b1f9c"),
        "{err}"
    );
    assert!(err.contains("= hint: check the package names"), "{err}");
    assert!(err.contains("no run was started"), "{err}");
    assert!(
        !p.workspace().join("sweeps").exists(),
        "a sweep was recorded"
    );
    let list = env_list(&p);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["complete"], false);

    // The failed entry is pruned by default (a later attempt would discard it: see the
    // killed-build test).
    let out = p.sweep(&["env", "prune"]);
    out.stdout_has("(incomplete)");
    assert!(env_list(&p).is_empty());
}

/// `X.Y` of the python3 on PATH.
fn python3_minor() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn conda_file_without_conda_builds_its_pip_section_with_the_pinned_python() {
    let Some((_serial, cache)) = build_turn() else {
        return;
    };
    let minor = python3_minor();
    let conda = format!(
        "name: project_environment\nchannels:\n  - conda-forge\ndependencies:\n  - python={minor}\n  - pip\n  - pip:\n    - tomli\n"
    );
    let p = project(
        cache.path(),
        "condaDependenciesFile",
        "conda_dependencies.yml",
        &conda,
    );
    let out = output(p.run_command(&[]).env("SWEEP_ENV_BUILDER", "venv")).success();
    let list = env_list(&p);
    assert_eq!(list.len(), 1);
    assert!(
        list[0]["python"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{minor}.")),
        "{list:?}"
    );
    assert_runs_used(&p, cache.path(), &out, list[0]["hash"].as_str().unwrap());
}

#[test]
fn what_a_virtualenv_cannot_provide_is_an_error_at_its_line_before_anything_runs() {
    let cache = tempfile::tempdir().unwrap();
    let p = project(
        cache.path(),
        "condaDependenciesFile",
        "env.yml",
        "dependencies:\n  - python=2.5\n  - numpy=1.26\n  - pip:\n    - tomli\n",
    );
    let out = output(p.run_command(&[]).env("SWEEP_ENV_BUILDER", "venv")).code(2);
    let err = out.stderr();
    assert!(err.contains("env.yml:2:5"), "{err}");
    assert!(
        err.contains("Python 2.5 is pinned, but there is no `python2.5` on PATH"),
        "{err}"
    );
    assert!(err.contains("env.yml:3:5"), "{err}");
    assert!(err.contains("`numpy=1.26` is a conda package"), "{err}");
    assert!(err.contains("hint: move it under `pip:`"), "{err}");
    assert!(!p.workspace().join("sweeps").exists());
    assert!(env_list(&p).is_empty(), "nothing was built");
}

#[test]
fn a_broken_dependency_file_is_a_config_error_located_in_it() {
    let cache = tempfile::tempdir().unwrap();
    let p = project(
        cache.path(),
        "condaDependenciesFile",
        "env.yml",
        "dependencies:\n  - tomli\n  - {pipp: [x]}\n",
    );
    let out = p
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .code(2);
    let err = format!("{}{}", out.stderr(), out.stdout());
    assert!(err.contains("env.yml:3:6"), "{err}");
    assert!(err.contains("unknown nested list `pipp`"), "{err}");
    // Both files named: an error, not a guess.
    p.write(
        "t.runconfig",
        "script: t.py\nenvironment:\n  python:\n    condaDependenciesFile: env.yml\n    requirementsFile: r.txt\n",
    );
    let out = p
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .code(2);
    assert!(out.text().contains("t.runconfig:5:23"), "{}", out.text());
}

#[test]
fn a_managed_environment_on_a_remote_target_is_refused_before_anything_starts() {
    let cache = tempfile::tempdir().unwrap();
    let p = requirements(cache.path(), "tomli\n")
        .targets("boxes:\n  type: ssh\n  hosts:\n    - {address: 127.0.0.1, slots: 1}\n");
    let out = p.run(&["--target", "boxes"]).code(2);
    out.stderr_has("are built for the `local` target only, not yet on `boxes`");
    assert!(!p.workspace().join("sweeps").exists());
    assert!(env_list(&p).is_empty(), "nothing was built");
}

#[test]
fn a_build_killed_midway_is_discarded_and_built_again() {
    use std::io::BufRead as _;
    use std::os::unix::process::CommandExt as _;
    let Some((_serial, cache)) = build_turn() else {
        return;
    };
    let p = requirements(cache.path(), "tomli\n");
    let mut child = p
        .run_command(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("creating a virtualenv"));
    assert!(started, "the build never started");
    // Kill sweep and the installer it started, as a power cut or `kill -9` would.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let list = env_list(&p);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["complete"], false, "{list:?}");
    assert_eq!(list[0]["in_use"], false, "the lock died with the process");

    let out = p.run(&[]).success();
    let err = out.stderr();
    assert!(
        err.contains("discarding an incomplete earlier build"),
        "{err}"
    );
    assert_eq!(err.matches(": building from").count(), 1, "{err}");
    assert_runs_used(&p, cache.path(), &out, &only_hash(&p));
}

/// Writes its pid (so that the test sees it live), shows what it runs with, then naps.
const NAPPING: &str = r#"
import os, sys, time, tomli
print("python=" + sys.executable)
print("tomli=" + tomli.__file__)
print("path=" + os.environ["PATH"], flush=True)
open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "pid"), "w").write(str(os.getpid()))
time.sleep(float(os.environ["NAP"]))
print("@sweep " + '{"metric": "acc", "value": %s}' % sys.argv[-1])
"#;

/// The runconfig's own PATH: a resumed sweep must put the environment before it, as
/// `sweep run` did.
const USER_PATH: &str = "/sweep-test-user-path:/usr/bin:/bin";

/// Pids the runs of every sweep of `p` have recorded, with whether each is still running.
fn run_pids(p: &Project) -> Vec<(i32, bool)> {
    p.pids("pid")
        .into_iter()
        .map(|pid| (pid, pid_alive(pid)))
        .collect()
}

/// Waits until `ready` holds for the recorded run pids; returns them.
fn wait_pids(
    p: &Project,
    what: &str,
    mut ready: impl FnMut(&[(i32, bool)]) -> bool,
) -> Vec<(i32, bool)> {
    let mut pids = Vec::new();
    wait_for(120, what, || {
        pids = run_pids(p);
        ready(&pids)
    });
    pids
}

/// Starts sweep `name` as a child `sweep` process and SIGKILLs it (only it: its runs live
/// on, as after a crash) once two runs are live; returns those runs' pids.
fn start_and_kill(p: &Project, name: &str) -> Vec<i32> {
    let before: Vec<i32> = run_pids(p).into_iter().map(|(pid, _)| pid).collect();
    let mut child = p
        .run_command(&["--name", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let live = |pids: &[(i32, bool)]| -> Vec<i32> {
        pids.iter()
            .filter(|(pid, alive)| *alive && !before.contains(pid))
            .map(|(pid, _)| *pid)
            .collect()
    };
    let pids = wait_pids(p, "two runs to go live", |pids| live(pids).len() >= 2);
    kill9(&mut child);
    live(&pids)
}

/// Sweep `name` completed all four runs, each in the environment `hash` with `USER_PATH`
/// behind the environment's `bin`.
fn assert_sweep_used(p: &Project, cache: &Path, name: &str, hash: &str) {
    let runs: Vec<serde_json::Value> = serde_json::from_value(
        p.sweep(&["runs", name, "--format", "json"])
            .success()
            .json(),
    )
    .unwrap();
    assert_eq!(runs.len(), 4, "{runs:?}");
    let env = cache.join(hash).join("env");
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
        let log = std::fs::read_to_string(p.run_dir(r).join("output.log")).unwrap();
        let python = line_after(&log, "python=");
        let tomli = line_after(&log, "tomli=");
        let path = line_after(&log, "path=");
        assert!(Path::new(python).starts_with(&env), "{log}");
        assert!(Path::new(tomli).starts_with(&env), "{log}");
        assert_eq!(
            path,
            format!("{}:{USER_PATH}", env.join("bin").display()),
            "{log}"
        );
        assert!(log.contains("@sweep"), "{log}");
    }
}

#[test]
fn a_killed_sweep_resumes_in_its_environment_rebuilt_if_pruned_and_not_in_a_changed_one() {
    let Some((_serial, cache)) = build_turn() else {
        return;
    };
    let p = requirements(cache.path(), "tomli\n")
        .script(NAPPING)
        .hdconfig(&HD.replace("[1, 2]", "[1, 2, 3, 4]"))
        .runconfig(&format!("script: t.py\nenvironment:\n  environmentVariables:\n    NAP: \"3\"\n    PATH: {USER_PATH}\n  python:\n    userManagedDependencies: false\n    requirementsFile: requirements.txt\n"));

    // Resumed while two runs are live: it adopts them and launches the rest in the same
    // environment, holding it so that a prune leaves it alone.
    let first = start_and_kill(&p, "first");
    let hash = only_hash(&p);
    let mut resume = p.spawn(&["resume", "first"]);
    wait_pids(&p, "the resumed sweep to launch a run", |pids| {
        if resume.try_wait().unwrap().is_some() {
            return true;
        }
        pids.iter()
            .any(|(pid, alive)| *alive && !first.contains(pid))
    });
    if resume.try_wait().unwrap().is_some() {
        let out = Ran::from(resume.wait_with_output().unwrap());
        panic!(
            "the resumed sweep ended before its last runs: {}",
            out.text()
        );
    }
    let list = env_list(&p);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["in_use"], true, "{list:?}");
    let prune = p.sweep(&["env", "prune", "--all"]);
    prune.stdout_has("0 environments removed");
    let out = Ran::from(resume.wait_with_output().unwrap()).success();
    let err = out.stderr();
    assert!(
        err.contains(&format!(
            "environment {hash}: using the cached venv environment"
        )),
        "{err}"
    );
    assert_sweep_used(&p, cache.path(), "first", &hash);

    // Pruned while no sweep runs: resume builds it again, under the same hash.
    let second = start_and_kill(&p, "second");
    wait_pids(&p, "the killed sweep's runs to end", |pids| {
        !pids
            .iter()
            .any(|(pid, alive)| *alive && second.contains(pid))
    });
    let prune = p.sweep(&["env", "prune", "--all"]);
    prune.stdout_has("1 environment removed");
    // A completed sweep has nothing to resume, and builds nothing.
    let out = p.sweep(&["resume", "first"]).success();
    out.stdout_has("already completed");
    assert!(env_list(&p).is_empty(), "{}", out.text());
    let out = p.sweep(&["resume", "second"]).success();
    assert_eq!(
        out.stderr().matches(": building from").count(),
        1,
        "{}",
        out.text()
    );
    assert_eq!(only_hash(&p), hash);
    assert_sweep_used(&p, cache.path(), "second", &hash);

    // A changed dependency list would run the remaining candidates elsewhere: refused,
    // before anything is built. Cancel still works (it builds nothing).
    start_and_kill(&p, "third");
    // Another cache root: the same hash, but the environment would be another one.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = output(
        p.command(&["resume", "third"])
            .env("SWEEP_ENV_CACHE", elsewhere.path()),
    )
    .code(2);
    out.stderr_has(&format!(
        "= hint: resume with SWEEP_ENV_CACHE={}",
        cache.path().display()
    ));
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    // A runconfig that no longer asks for the environment.
    let runconfig = p.read("t.runconfig");
    let unmanaged = &runconfig[..runconfig.find("  python:").unwrap()];
    p.write("t.runconfig", unmanaged);
    let out = p.sweep(&["resume", "third"]).code(2);
    out.stderr_has("but its runconfig no longer asks for one");
    p.write("t.runconfig", &runconfig);
    p.write("requirements.txt", "tomli\niniconfig\n");
    let out = p.sweep(&["resume", "third"]).code(2);
    let err = out.stderr();
    let env = cache.path().join(&hash).join("env");
    assert!(
        err.contains(&format!("ran in the managed environment {}", env.display())),
        "{err}"
    );
    assert!(
        err.contains("requirements.txt now gives the environment"),
        "{err}"
    );
    assert!(
        err.contains("requirements.txt as it was to resume"),
        "{err}"
    );
    assert_eq!(only_hash(&p), hash, "nothing was built");
    let out = p.sweep(&["cancel", "third"]).success();
    out.stdout_has("canceled");
    assert_eq!(only_hash(&p), hash, "nothing was built");
}
