//! `sweep status` beside a running `sweep` process says why candidates wait: the concurrency
//! cap on local runs, the target's capacity on the SSH hosts (`scripts/env/start-sshd.sh`);
//! once the sweep has ended, its end and no waiting reason. Runs wait for a `go` file the
//! test creates, so nothing depends on how fast the machine is; every wait has a generous
//! deadline that only a broken build reaches.

use crate::services;
use crate::support::{wait_exit, Project, Ran};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Reports once, after `<sweep dir>/go` exists (two levels above the run's metrics file,
/// locally and on an SSH host alike).
const WAIT_FOR_GO: &str = r#"
import os, time
go = os.path.join(os.path.dirname(os.environ["SWEEP_METRICS_FILE"]), "..", "..", "go")
for _ in range(4800):
    if os.path.exists(go):
        break
    time.sleep(0.05)
print("acc=1", flush=True)
"#;

const DEADLINE_SECS: u64 = 120;
const DEADLINE: Duration = Duration::from_secs(DEADLINE_SECS);

/// Runs `sweep status latest` until its output contains `want`; returns it.
fn poll_status(p: &Project, want: &str, child: &mut Child) -> String {
    let until = Instant::now() + DEADLINE;
    let mut last = String::new();
    while Instant::now() < until {
        let out = p.sweep(&["status", "latest"]);
        last = out.text();
        if out.stdout().contains(want) {
            return out.stdout();
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the sweep ended ({st}) before status said {want:?}; last status:\n{last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("status never said {want:?}; last status:\n{last}");
}

/// Polls `sweep status` until it says `want` with both of the sweep's runs started (the
/// reason holds from the moment both slots are taken, before the launches return), and
/// returns that output.
fn status_with_both_running(p: &Project, want: &str, child: &mut Child) -> String {
    poll_status(p, want, child);
    poll_status(p, "starting 0  running 2", child);
    poll_status(p, want, child)
}

/// The sweep id on the first line of `sweep status SWEEP` (`sweep <id> (<name>): <state>`).
fn sweep_id(status: &str) -> String {
    status
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("sweep "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sweep id in {status}"))
        .to_string()
}

fn release(sweep_dir: &Path) {
    std::fs::write(sweep_dir.join("go"), "").unwrap();
}

#[test]
fn status_and_watch_say_the_concurrency_cap_holds_candidates_back() {
    let p = Project::grid(
        WAIT_FOR_GO,
        "--x",
        "1, 2, 3, 4, 5",
        "max_concurrent_runs: 2\nmax_total_runs: 5\n",
    );
    let mut sweep = p.spawn_run(&["--quiet"]);
    let want = "waiting: max_concurrent_runs (2 of 2 running)";
    let shown = status_with_both_running(&p, want, &mut sweep);
    assert!(shown.contains(": running"), "{shown}");
    assert!(shown.contains("running 2"), "{shown}");
    let id = sweep_id(&shown);

    // `--watch` prints the same line while the sweep waits, and follows it to its end.
    let mut watch = p
        .command(&["status", &id, "--watch", "--interval", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut watched = Vec::new();
    loop {
        match rx.recv_timeout(DEADLINE) {
            Ok(l) => {
                let seen = l.contains(want);
                watched.push(l);
                if seen {
                    break;
                }
            }
            Err(e) => panic!("--watch never said {want:?} ({e}): {watched:#?}"),
        }
    }
    release(&p.workspace().join("sweeps").join(&id));
    let st = wait_exit(&mut sweep, DEADLINE_SECS, "the sweep");
    assert!(
        st.success(),
        "{}",
        Ran::from(sweep.wait_with_output().unwrap()).text()
    );
    assert!(wait_exit(&mut watch, DEADLINE_SECS, "sweep status --watch").success());
    reader.join().unwrap();
    watched.extend(rx.try_iter());
    // The last block is the ended sweep's: its state, no waiting reason.
    let last_block: Vec<&String> = watched
        .iter()
        .rev()
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        last_block
            .last()
            .is_some_and(|l| l.ends_with(": completed")),
        "{watched:#?}"
    );
    assert!(
        !last_block.iter().any(|l| l.contains("waiting:")),
        "{watched:#?}"
    );

    let out = p.sweep(&["status", &id]);
    let after = out.stdout();
    assert!(after.contains(": completed"), "{}", out.text());
    assert!(!after.contains("waiting:"), "{}", out.text());
    assert_eq!(p.runs().len(), 5);
}

#[test]
fn status_says_the_ssh_target_is_full_below_max_concurrent_runs() {
    let Some(env) = services::sshd() else { return };
    // Two hosts with one slot each, four runs allowed at once by the config.
    let p = Project::grid(WAIT_FOR_GO, "--x", "1, 2, 3, 4", "max_concurrent_runs: 4\n")
        .on_ssh(&env, 1, "");
    let mut sweep = p.spawn_run(&[]);
    let want = "waiting: target full (remote: 2 of 2 slots)";
    let shown = status_with_both_running(&p, want, &mut sweep);
    // The configured limit is what the history records; the target's is the binding one.
    assert!(shown.contains("(max 4 at once)"), "{shown}");
    assert!(shown.contains("running 2"), "{shown}");
    let id = sweep_id(&shown);
    // The runs wait in the sweep's directory on the hosts (this machine).
    let remote = format!("/home/{}/.sweep-remote/{id}", env["SWEEP_TEST_SSH_USER"]);
    release(Path::new(&remote));
    let st = wait_exit(&mut sweep, DEADLINE_SECS, "the sweep");
    let out = Ran::from(sweep.wait_with_output().unwrap());
    assert!(st.success(), "{}", out.text());
    out.stderr_has("target remote takes 2 run(s) at once");
    let runs = p.runs();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["state"] == "completed"), "{runs:#?}");
    let after = p.sweep(&["status", &id]);
    assert!(!after.stdout().contains("waiting:"), "{}", after.text());
}
