//! The real services the tests run against, and the one place that starts them: the SSH
//! "hosts" and the Slurm cluster through the project's own scripts (`scripts/env/start-sshd.sh`,
//! `start-slurm.sh`, idempotent; the tests read the env files they write), and an MLflow
//! tracking server per test. When a service or tool is missing, a test fails if `CI` is set
//! and otherwise says loudly that it did not run.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::support::{output, repo, Ran};

/// Variables of a service's env file.
pub type Env = HashMap<String, String>;

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

/// What a service or tool gave, or `None` after saying loudly that the test did not run
/// (only outside CI: under `CI` a missing prerequisite fails the test).
pub fn require<T: Clone>(what: &str, r: &Result<T, String>) -> Option<T> {
    match r {
        Ok(e) => Some(e.clone()),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("{what} is required under CI and is not available: {why}");
            }
            eprintln!("NOT RUN: {what} is not available here ({why}); under CI this fails");
            None
        }
    }
}

/// A service every test of this process shares: started once by `scripts/env/<script>`,
/// which writes the env file `env_file`.
fn shared(
    once: &OnceLock<Result<Env, String>>,
    script: &str,
    env_file: &str,
    what: &str,
) -> Option<Env> {
    let r = once.get_or_init(|| start(script, Path::new(env_file), &[]));
    require(&format!("{what} (scripts/env/{script})"), r)
}

/// The two SSH hosts every SSH test shares (never stopped by a test).
pub fn sshd() -> Option<Env> {
    static R: OnceLock<Result<Env, String>> = OnceLock::new();
    shared(
        &R,
        "start-sshd.sh",
        "/tmp/sweep-test-env/sshd/env",
        "the test sshd hosts",
    )
}

/// Where the private hosts live: their own state directory and ports.
const PRIVATE_SSHD: [(&str, &str); 2] = [
    ("SWEEP_SSHD_DIR", "/tmp/sweep-test-env/sshd-loss"),
    ("SWEEP_SSHD_PORT", "2232"),
];

/// Starts (again, after [`stop_private_sshd_host`]) two SSH hosts of their own, which a
/// test may stop without disturbing the others.
pub fn private_sshd() -> Result<Env, String> {
    start(
        "start-sshd.sh",
        Path::new("/tmp/sweep-test-env/sshd-loss/env"),
        &PRIVATE_SSHD,
    )
}

/// Stops host `n` of [`private_sshd`]'s pair and ends the sessions open to it, as when a
/// machine goes down.
pub fn stop_private_sshd_host(n: u32) -> Ran {
    let mut stop = Command::new(repo().join("scripts/env/stop-sshd.sh"));
    stop.args(["--host", &n.to_string(), "--sessions"]);
    for (k, v) in PRIVATE_SSHD {
        stop.env(k, v);
    }
    output(&mut stop)
}

/// The single-node Slurm cluster.
pub fn slurm() -> Option<Env> {
    static R: OnceLock<Result<Env, String>> = OnceLock::new();
    shared(
        &R,
        "start-slurm.sh",
        "/tmp/sweep-test-env/slurm/env",
        "the test Slurm cluster",
    )
}

/// Held by a test while it runs jobs on the cluster: it has 2 CPUs, so such tests take
/// turns.
pub fn cluster_turn() -> MutexGuard<'static, ()> {
    static CLUSTER: Mutex<()> = Mutex::new(());
    CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `mlflow` program: `$SWEEP_TEST_MLFLOW`, else `mlflow` on the PATH, else the virtual
/// environment scripts/test.sh makes (`/opt/sweep-mlflow/bin/mlflow`).
fn mlflow_bin() -> Result<PathBuf, String> {
    // scripts/test.sh always names its virtual environment's mlflow; it may not be there.
    if let Some(p) = std::env::var_os("SWEEP_TEST_MLFLOW").map(PathBuf::from) {
        if p.exists() {
            return Ok(p);
        }
    }
    if let Ok(out) = Command::new("which").arg("mlflow").output() {
        if out.status.success() {
            return Ok(PathBuf::from(
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            ));
        }
    }
    let venv = Path::new("/opt/sweep-mlflow/bin/mlflow");
    venv.exists().then(|| venv.to_path_buf()).ok_or_else(|| {
        "mlflow is not installed (scripts/test.sh installs it into /opt/sweep-mlflow)".into()
    })
}

/// An MLflow tracking server on a free loopback port, stopped (with its workers) on drop.
pub struct MlflowServer {
    child: Child,
    /// Its tracking URI.
    pub uri: String,
    dir: tempfile::TempDir,
}

impl Drop for MlflowServer {
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

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a tracking server with a fresh SQLite store and waits for it to answer.
pub fn mlflow() -> Option<MlflowServer> {
    let bin = require("mlflow", &mlflow_bin())?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = Command::new(&bin)
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
    let mut server = MlflowServer { child, uri, dir };
    let http = reqwest::blocking::Client::new();
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{}/health", server.uri)).send() {
            if r.status().is_success() {
                return Some(server);
            }
        }
        if let Ok(Some(s)) = server.child.try_wait() {
            let log =
                std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
            panic!("mlflow server exited ({s}):\n{log}");
        }
        assert!(Instant::now() < until, "mlflow server not up within 120 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The `tmux` program, which runs `sweep` in a real pseudo-terminal of a chosen size
/// (`scripts/test.sh` installs it), or why it is not there.
pub fn tmux() -> Result<PathBuf, String> {
    which("tmux")
}

/// A program on PATH, or why it is not there.
fn which(name: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{name}` is not on PATH"))
}
