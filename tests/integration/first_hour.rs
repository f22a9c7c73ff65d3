//! What a new user meets in the first hour, with real processes: a failing script's
//! traceback shown by `sweep run` itself, once; `validate` catching what every run would hit
//! (a missing interpreter, a pinned Python that is not here, data the snapshot leaves out);
//! readers that end quietly on a closed pipe; a workspace with no history; the output
//! formats; escape sequences from a run or a config shown harmlessly.

use crate::support::{choice, hd, local, output, signal, sweep_command, wait_for, Project, Ran};
use nix::sys::signal::Signal;
use std::process::Stdio;

/// A script that fails the way a missing dependency does.
const MISSING_MODULE: &str = "import sys\nimport no_such_module_here\n";

fn failing() -> Project {
    Project::new().script(MISSING_MODULE).hdconfig(&hd(
        &choice("--lr", "0.1, 0.2, 0.3, 0.4, 0.5"),
        "grid",
        "max_concurrent_runs: 1\n",
    ))
}

#[test]
fn a_failing_scripts_traceback_appears_in_sweep_runs_own_output_once() {
    let p = failing();
    let out = p.run(&[]).code(1);
    let text = format!("{}{}", out.stdout(), out.stderr());
    let needle = "ModuleNotFoundError: No module named 'no_such_module_here'";
    assert_eq!(text.matches(needle).count(), 1, "{}", out.text());
    // With the run's id and what to try.
    assert!(
        text.contains("_0 failed (exit code 1); its last output lines:"),
        "{}",
        out.text()
    );
    assert!(text.contains("hint: the interpreter the runs use has no module `no_such_module_here`"));
    // Every error line says it is one.
    assert!(
        out.stderr()
            .lines()
            .any(|l| l.starts_with("error: sweep sw_")),
        "{}",
        out.text()
    );
}

#[test]
fn quiet_still_shows_the_first_failure_once_in_the_summary() {
    let p = failing();
    let out = p.run(&["--quiet"]).code(1);
    let needle = "No module named 'no_such_module_here'";
    assert_eq!(out.stdout().matches(needle).count(), 1, "{}", out.text());
}

#[test]
fn validate_flags_a_missing_interpreter() {
    let p = Project::new()
        .script("print('acc=1')\n")
        .hdconfig(&hd(&choice("--lr", "0.1"), "grid", ""))
        .runconfig(&local(
            "environment:\n  python:\n    interpreterPath: python3.nope\n",
        ));
    for args in [
        &["validate", "hd.yml", "-c", "t.runconfig"][..],
        &["run", "hd.yml", "-c", "t.runconfig"][..],
    ] {
        let out = p.sweep(args).code(2);
        assert!(
            out.stderr().contains(
                "error: the interpreter (`interpreterPath`) `python3.nope` is not on PATH"
            ),
            "{args:?}: {}",
            out.text()
        );
    }
    // `run` recorded nothing.
    assert!(!p.workspace().join("sweep.db").exists());
}

#[test]
fn validate_says_what_it_checked() {
    let p = Project::new()
        .script("print('acc=1')\n")
        .hdconfig(&hd(&choice("--lr", "0.1"), "grid", ""))
        .runconfig(&local(
            "environment:\n  python:\n    interpreterPath: python3\n",
        ));
    let out = p
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .success();
    out.stdout_has("checked:    the interpreter (`interpreterPath`) `python3` runs: Python 3.");
}

#[test]
fn validate_flags_a_pinned_python_that_is_not_here() {
    let p = Project::new()
        .script("print('acc=1')\n")
        .hdconfig(&hd(&choice("--lr", "0.1"), "grid", ""))
        .file("env.yml", "dependencies:\n  - python=3.4\n  - pip\n")
        .runconfig(&local(
            "environment:\n  python:\n    userManagedDependencies: false\n    condaDependenciesFile: env.yml\n",
        ))
        .env("SWEEP_ENV_BUILDER", "venv");
    let out = p
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .code(2);
    out.stderr_has("Python 3.4 is pinned");
    out.stderr_has("env.yml:2:");
}

#[test]
fn validate_warns_when_a_user_managed_environment_pins_another_python() {
    let here = output(
        std::process::Command::new("python3")
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
    )
    .success()
    .stdout();
    let here = here.trim();
    let project = |pin: &str| {
        Project::new()
            .script("print('acc=1')\n")
            .hdconfig(&hd(&choice("--lr", "0.1"), "grid", ""))
            .file("env.yml", &format!("dependencies:\n  - python={pin}\n  - pip\n"))
            .runconfig(&local(
                "environment:\n  python:\n    userManagedDependencies: true\n    interpreterPath: python3\n    condaDependenciesFile: env.yml\n",
            ))
    };
    // Not built, so not an error: the runs may work; but the script was likely written for
    // the pinned Python.
    let out = project("3.4")
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .success();
    let warning = out
        .stderr()
        .lines()
        .find(|l| l.contains("Python 3.4 is pinned"))
        .map(String::from);
    let warning = warning.unwrap_or_else(|| panic!("no warning:\n{}", out.text()));
    assert!(warning.starts_with("warning: "), "{warning}");
    assert!(warning.contains("env.yml:2:5: "), "{warning}");
    assert!(warning.contains(&format!("is Python {here}.")), "{warning}");
    // The interpreter's own minor version pinned: nothing to say.
    let same = project(here)
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .success();
    assert!(!same.stderr().contains("is pinned"), "{}", same.text());
}

#[test]
fn validate_and_run_warn_about_an_excluded_data_directory_the_arguments_name() {
    let script = "import sys\nopen('data/train.csv').read()\nprint('acc=0.5')\n";
    let p = Project::new()
        .script(script)
        .file(".gitignore", "data/\n")
        .hdconfig(&hd(&choice("--lr", "0.1"), "grid", ""))
        .runconfig(&local(
            "arguments: [--data, data/train.csv]\nenvironment:\n  python:\n    interpreterPath: python3\n",
        ));
    std::fs::create_dir(p.path().join("data")).unwrap();
    p.write("data/train.csv", "x,y\n1,2\n");
    let out = p
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .success();
    let err = out.stderr();
    assert!(
        err.contains("warning: the argument `data/train.csv` names `data/train.csv`, but `data/` is excluded from the snapshot by .gitignore"),
        "{}",
        out.text()
    );
    assert!(
        err.contains(
            "warning: `t.py` uses the relative path `data/train.csv`, but `data/` is excluded"
        ),
        "{}",
        out.text()
    );
    out.stdout_has("snapshot:   excluded by .gitignore: data/ (1 file, 8 B)");
    // The run hits it, says so up front and repeats the exclusions at the end.
    let run = p.run(&[]).success();
    run.stderr_has("warning: the argument `data/train.csv`");
    run.stdout_has("snapshot excluded by .gitignore: data/ (1 file, 8 B)");
    run.stdout_has("FileNotFoundError");
}

#[test]
fn readers_end_quietly_on_a_closed_pipe_every_time() {
    let p = Project::grid(
        "print('acc=0.5')\n",
        "--lr",
        "0.1, 0.2, 0.3, 0.4, 0.5, 0.6",
        "",
    );
    p.run(&[]).success();
    let sweep = env!("CARGO_BIN_EXE_sweep");
    let ws = p.workspace();
    for i in 0..100 {
        let cmd = format!(
            "'{sweep}' runs latest --wide --workspace '{}' | head -1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            ws.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &cmd])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(code == "0" || code == "141", "try {i}: exit {code}\n{err}");
        assert!(!err.contains("panicked"), "try {i}: {err}");
    }
}

#[test]
fn status_in_a_workspace_without_history_says_no_sweeps_yet() {
    let p = Project::new();
    let out = p.sweep(&["status"]).success();
    assert!(
        out.stdout().starts_with("no sweeps yet in "),
        "{}",
        out.text()
    );
    assert_eq!(
        p.sweep(&["status", "--json"]).success().json(),
        serde_json::json!([])
    );
}

#[test]
fn every_reader_speaks_the_same_formats() {
    let p = Project::grid(
        "print('acc=0.5')\nprint('acc=0.75')\n",
        "--lr",
        "0.1, 0.2",
        "",
    );
    p.run(&[]).success();
    for cmd in ["runs", "best", "export", "status"] {
        let json = p.sweep(&[cmd, "latest", "--json"]).success().json();
        let same = p
            .sweep(&[cmd, "latest", "--format", "json"])
            .success()
            .json();
        assert_eq!(json, same, "{cmd}");
        let jsonl = p.sweep(&[cmd, "latest", "--format", "jsonl"]).success();
        for l in jsonl.stdout().lines() {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("{cmd} jsonl: {e}: {l}"));
        }
        let csv = p.sweep(&[cmd, "latest", "--format", "csv"]).success();
        assert!(csv.stdout().lines().count() >= 2, "{cmd}: {}", csv.text());
        p.sweep(&[cmd, "latest", "--format", "table"]).success();
    }
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["interval"], 2);
    assert_eq!(best["final"], 0.75);
}

#[test]
fn completions_and_the_manual_page() {
    let sweep = |args: &[&str]| output(sweep_command().args(args));
    let bash = sweep(&["completions", "bash"]).success();
    bash.stdout_has("complete -F _sweep");
    let man = sweep(&["man"]).success();
    assert!(
        man.stdout().starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        man.text()
    );
    man.stdout_has("sweep\\-runs");
}

#[test]
fn escape_sequences_from_a_run_are_kept_exact_in_the_data() {
    let p = escapes();
    // One run, failed: the sweep itself completes.
    p.run(&[]).success();
    // Not a terminal: the data stays exact.
    let runs = p.runs();
    assert_eq!(runs[0]["params"]["--tag"], "a\u{1b}[2Jb");
    assert!(runs[0]["last_output"]
        .as_str()
        .unwrap()
        .contains("\u{1b}]0;pwned"));
}

/// A sweep whose parameter value and failing run's output carry escape sequences: a
/// screen clear, a title change (OSC) and a colour.
pub fn escapes() -> Project {
    Project::new()
        .script("import sys\nprint('\\x1b]0;pwned\\x07\\x1b[31mred')\nsys.exit(3)\n")
        .hdconfig(&hd(&choice("--tag", "\"a\\e[2Jb\""), "grid", ""))
}

#[test]
fn a_script_that_never_reports_the_metric_stops_the_sweep_after_five_runs() {
    let p = Project::new()
        .script("print('@sweep {\"metric\": \"loss\", \"value\": 0.25}')\n")
        .hdconfig(&hd(
            "  - name: --lr\n    expression: uniform\n    values: [0.1, 1.0]\n",
            "random",
            "max_total_runs: 20\nmax_concurrent_runs: 2\n",
        ));
    let out = p.run(&[]).code(1);
    out.stdout_has("the first 5 runs completed without reporting the primary metric \"acc\" (they reported only loss)");
    let runs = p.runs();
    assert!(runs.len() < 20, "{} runs", runs.len());
    let completed = runs.iter().filter(|r| r["state"] == "completed").count();
    assert_eq!(completed, 5, "{runs:#?}");
    // The window is configurable, and 0 never stops for it.
    let all = p.run(&["--stop-without-metric", "0"]).success();
    all.stdout_has("max_total_runs (20) reached");
}

#[test]
fn the_no_result_window_goes_on_counting_across_a_resume() {
    let p = Project::new()
        .script(
            "import time\ntime.sleep(2)\nprint('@sweep {\"metric\": \"loss\", \"value\": 0.25}')\n",
        )
        .hdconfig(&hd(
            "  - name: --lr\n    expression: uniform\n    values: [0.1, 1.0]\n",
            "random",
            "max_total_runs: 20\nmax_concurrent_runs: 1\n",
        ));
    let child = p.spawn_run(&[]);
    wait_for(60, "two runs to complete", || {
        p.runs_so_far()
            .iter()
            .filter(|r| r["state"] == "completed")
            .count()
            >= 2
    });
    signal(&child, Signal::SIGINT);
    Ran::from(child.wait_with_output().unwrap()).code(130);
    let before = p.runs();
    let done = before.iter().filter(|r| r["state"] == "completed").count();
    assert!(done < 5, "the first session already stopped: {before:#?}");
    // The window of 5 counts the runs already completed: the resumed sweep stops once 5
    // have completed in all, not after 5 more.
    let out = p.sweep(&["resume", "latest"]).code(1);
    out.stdout_has("the first 5 runs completed without reporting the primary metric");
    let runs = p.runs();
    let completed = runs.iter().filter(|r| r["state"] == "completed").count();
    assert_eq!(completed, 5, "{runs:#?}");
}
