//! Real services for the remote-target tests: the project's own scripts
//! (`scripts/env/start-sshd.sh`, `start-slurm.sh`) start them, idempotently, and the tests
//! read the env files they write. When a service cannot start, a test fails if `CI` is set
//! and otherwise says loudly that it did not run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Variables of a service's env file.
pub type Env = HashMap<String, String>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses `export K=V` / `export K="V"` lines.
pub fn read_env(path: &Path) -> Option<Env> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut env = Env::new();
    for line in text.lines() {
        let Some(kv) = line.strip_prefix("export ") else {
            continue;
        };
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        env.insert(k.to_string(), v.trim_matches('"').to_string());
    }
    Some(env)
}

/// Runs a start script with extra environment; returns its env file's variables, or why not.
pub fn start(script: &str, env_file: &Path, extra: &[(&str, &str)]) -> Result<Env, String> {
    // One start at a time per process: the scripts serialise with flock anyway, this just
    // keeps the output readable.
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Command::new(repo().join("scripts/env").join(script));
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = c
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    read_env(env_file)
        .ok_or_else(|| format!("{script} succeeded but wrote no {}", env_file.display()))
}

/// The result of a start, or `None` after saying loudly that the test did not run (only
/// outside CI: under `CI` a service that cannot start fails the test).
pub fn require(what: &str, r: &Result<Env, String>) -> Option<Env> {
    match r {
        Ok(e) => Some(e.clone()),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("{what} is required under CI and could not start: {why}");
            }
            eprintln!("NOT RUN: {what} could not start here ({why}); under CI this fails");
            None
        }
    }
}

/// The two SSH hosts every SSH test shares (never stopped by a test).
pub fn sshd() -> Option<Env> {
    static R: OnceLock<Result<Env, String>> = OnceLock::new();
    let r = R.get_or_init(|| {
        start(
            "start-sshd.sh",
            Path::new("/tmp/sweep-test-env/sshd/env"),
            &[],
        )
    });
    require("the test sshd hosts (scripts/env/start-sshd.sh)", r)
}

/// The single-node Slurm cluster.
pub fn slurm() -> Option<Env> {
    static R: OnceLock<Result<Env, String>> = OnceLock::new();
    let r = R.get_or_init(|| {
        start(
            "start-slurm.sh",
            Path::new("/tmp/sweep-test-env/slurm/env"),
            &[],
        )
    });
    require("the test Slurm cluster (scripts/env/start-slurm.sh)", r)
}

/// Whether a process is alive (a zombie counts as dead).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits up to `secs` for a process to end.
pub fn wait_dead(pid: i32, secs: u64) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
