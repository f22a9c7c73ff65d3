//! One behavioural suite for every compute target, run against each real one (local
//! processes, the loopback SSH hosts, the single-node Slurm cluster) through the
//! `ComputeTarget` trait itself: argv and environment arrive intact, metrics stream from
//! both channels while the run is alive, a failing run reports its exit code (`exit 130` as
//! code 130, a death by signal as that signal), a stop ends the run by signal, a run
//! re-adopted by a fresh target instance (as after a sweep kill) keeps streaming to its end,
//! and a run whose handle was never recorded is recovered, not launched twice. Timeouts are
//! the engine's (a timeout is a stop); the SSH and Slurm sweep tests cover them end to end.

use crate::services::{self, Env};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep::config::targets::{SlurmConfig, SshConfig, SshHost};
use sweep::metrics::Report;
use sweep::target::local::LocalTarget;
use sweep::target::slurm::{JobShape, SlurmTarget};
use sweep::target::ssh::SshTarget;
use sweep::target::{ComputeTarget, ExitStatus, LaunchRequest, RunHandle, TargetEvent};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

type Make = Box<dyn Fn() -> Arc<dyn ComputeTarget>>;

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "suite_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn request(dir: &Path, sweep_id: &str, run: &str, argv: &[&str]) -> LaunchRequest {
    let snap = dir.join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("data.txt"), "snapshot data").unwrap();
    LaunchRequest {
        sweep_id: sweep_id.to_string(),
        run_id: format!("{sweep_id}_{run}"),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![("MY_VAR".into(), "a 'b' $c;d".into())],
        params_json: r#"{"--x":"it's $1"}"#.into(),
        snapshot: snap,
        run_dir: dir.join("runs").join(format!("{sweep_id}_{run}")),
        primary_metric: "acc".into(),
        output_dirs: Vec::new(),
        pattern: None,
    }
}

/// Events until `Exited` (or a panic after `secs`); with `until_metric`, stops early once
/// a report of that value arrives and returns no status.
fn collect(
    rx: &mut UnboundedReceiver<TargetEvent>,
    secs: u64,
    until_metric: Option<f64>,
) -> (Vec<Report>, Option<ExitStatus>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut reports = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(TargetEvent::Metrics { reports: r, .. }) => {
                sweep::metrics::committed(r.len());
                reports.extend(r);
                if let Some(v) = until_metric {
                    if reports.iter().any(|r| r.value == v) {
                        return (reports, None, Vec::new());
                    }
                }
            }
            Ok(TargetEvent::Malformed { .. } | TargetEvent::Logged { .. }) => {}
            Ok(TargetEvent::Restarted { .. }) => panic!("nothing here restarts a run"),
            Ok(TargetEvent::Exited { status, tail, .. }) => return (reports, Some(status), tail),
            Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "no exit within {secs}s; got {reports:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

const ECHO: &str = r#"echo "ARGS|$1|$2|$MY_VAR|$SWEEP_PARAMS|$(cat data.txt)"
echo '@sweep {"metric":"acc","value":0.5,"step":1}'
echo '{"metric":"loss","value":2}' >> "$SWEEP_METRICS_FILE"
exit "$3""#;

/// What a suite run checks beyond the common behaviour.
struct Checks {
    /// Exit codes above 128 are told apart from deaths by signal. Slurm's batch script
    /// cannot (docs/targets.md, "Exit status").
    codes_above_128: bool,
}

fn suite(name: &str, make: Make, secs: u64, checks: Checks) {
    let dir = tempfile::tempdir().unwrap();
    let sweep_id = unique();
    let t = make();

    // argv, environment, snapshot, both metric channels, exit code.
    for (run, code) in [("ok", "0"), ("fail", "3")] {
        let req = request(
            dir.path(),
            &sweep_id,
            run,
            &["sh", "-c", ECHO, "sh", "two words", "it's \"q\" `x`", code],
        );
        let (tx, mut rx) = unbounded_channel();
        t.launch(&req, tx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (reports, status, tail) = collect(&mut rx, secs, None);
        assert_eq!(
            status,
            Some(ExitStatus::Code(code.parse().unwrap())),
            "{name}: {tail:?}"
        );
        let got: Vec<(&str, f64)> = reports.iter().map(|r| (r.name.as_str(), r.value)).collect();
        assert!(
            got.contains(&("acc", 0.5)) && got.contains(&("loss", 2.0)),
            "{name}: {got:?}"
        );
        let line = tail
            .iter()
            .find(|l| l.starts_with("ARGS|"))
            .unwrap_or_else(|| panic!("{name}: no ARGS line in {tail:?}"));
        assert_eq!(
            line, r#"ARGS|two words|it's "q" `x`|a 'b' $c;d|{"--x":"it's $1"}|snapshot data"#,
            "{name}"
        );
    }

    // The program starts with SIGINT and SIGQUIT at their defaults (a shell's `&` would
    // leave them ignored), so a forwarded interrupt reaches it.
    let req = request(
        dir.path(),
        &sweep_id,
        "sigign",
        &["sh", "-c", "grep '^SigIgn:' /proc/self/status"],
    );
    let (tx, mut rx) = unbounded_channel();
    t.launch(&req, tx).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (_, status, tail) = collect(&mut rx, secs, None);
    assert_eq!(status, Some(ExitStatus::Code(0)), "{name}: {tail:?}");
    let ign = tail
        .iter()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or_else(|| panic!("{name}: no SigIgn line in {tail:?}"));
    let int_quit = (1 << (libc::SIGINT - 1)) | (1 << (libc::SIGQUIT - 1));
    assert_eq!(ign & int_quit, 0, "{name}: ignored signals {ign:#x}");

    // `exit 130` is an exit code; a death by a signal is that signal.
    if checks.codes_above_128 {
        for (run, prog, want) in [
            ("exit130", "exit 130", ExitStatus::Code(130)),
            ("term", "kill -TERM $$", ExitStatus::Signal(15)),
            ("kill9", "kill -KILL $$", ExitStatus::Signal(9)),
        ] {
            let req = request(dir.path(), &sweep_id, run, &["sh", "-c", prog]);
            let (tx, mut rx) = unbounded_channel();
            t.launch(&req, tx).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (_, status, tail) = collect(&mut rx, secs, None);
            assert_eq!(status, Some(want), "{name}: `{prog}`: {tail:?}");
        }
    }

    // Stop: the run reports, then sleeps; a stop ends it by a signal.
    let req = request(
        dir.path(),
        &sweep_id,
        "stop",
        &[
            "sh",
            "-c",
            "echo '@sweep {\"metric\":\"acc\",\"value\":1}'; sleep 120",
        ],
    );
    let (tx, mut rx) = unbounded_channel();
    let h = t.launch(&req, tx).unwrap_or_else(|e| panic!("{name}: {e}"));
    collect(&mut rx, secs, Some(1.0));
    t.stop(&h, Duration::from_secs(2));
    let (_, status, _) = collect(&mut rx, secs + 20, None);
    assert!(
        matches!(status, Some(ExitStatus::Signal(_))),
        "{name}: stopped run ended {status:?}"
    );

    // Re-adoption: the first target instance goes away mid-run (as when sweep is killed);
    // a new one adopts the run by its handle and follows it to the end.
    let go = std::env::temp_dir().join(format!("{}-go", unique()));
    let script = waits_for(&go, "");
    let req = request(dir.path(), &sweep_id, "adopt", &["sh", "-c", &script]);
    let h = launch_then_abandon(name, t, &req, secs);
    let t2 = make();
    adopt_to_its_end(name, &*t2, &h, &req, &go, secs, "adopted");

    // Recovery: sweep died after recording the run `starting` but before its handle. A new
    // target instance finds the live run from the request alone and adopts it; the run
    // started once (each start appends a line to `starts`).
    let t = make();
    let go = std::env::temp_dir().join(format!("{}-go", unique()));
    let starts = std::env::temp_dir().join(format!("{}-starts", unique()));
    let script = waits_for(&go, &format!("echo started >> '{}'; ", starts.display()));
    let req = request(dir.path(), &sweep_id, "recover", &["sh", "-c", &script]);
    let never = request(dir.path(), &sweep_id, "never", &["true"]);
    assert_eq!(t.recover(&never), None, "{name}: a run never launched");
    let h = launch_then_abandon(name, t, &req, secs);
    let t2 = make();
    let found = t2.recover(&req);
    assert_eq!(
        found.as_ref(),
        Some(&h),
        "{name}: recover finds the launched run"
    );
    adopt_to_its_end(name, &*t2, &found.unwrap(), &req, &go, secs, "recovered");
    let n = std::fs::read_to_string(&starts).unwrap_or_default();
    let _ = std::fs::remove_file(&starts);
    assert_eq!(n, "started\n", "{name}: the run started once");
    // An ended run is still found (its end is what adoption then reports).
    assert_eq!(t2.recover(&req).as_ref(), Some(&h), "{name}: an ended run");
}

/// A shell script that runs `first`, reports 1, waits for the file `go`, reports 2 and
/// exits 0.
fn waits_for(go: &Path, first: &str) -> String {
    format!(
        "{first}echo '@sweep {{\"metric\":\"acc\",\"value\":1}}'; while [ ! -e '{}' ]; do sleep 0.1; done; echo '@sweep {{\"metric\":\"acc\",\"value\":2}}'; exit 0",
        go.display()
    )
}

/// Launches `req` on `t` and waits for its first report, then drops the target instance
/// and the run's channel, as a killed sweep would; returns the run's handle.
fn launch_then_abandon(
    name: &str,
    t: Arc<dyn ComputeTarget>,
    req: &LaunchRequest,
    secs: u64,
) -> RunHandle {
    let (tx, mut rx) = unbounded_channel();
    let h = t.launch(req, tx).unwrap_or_else(|e| panic!("{name}: {e}"));
    collect(&mut rx, secs, Some(1.0));
    h
}

/// Adopts the run `h` of a [`waits_for`] script on `t`, lets it past its `go` file, and
/// checks that it ends with code 0 after its later report.
fn adopt_to_its_end(
    name: &str,
    t: &dyn ComputeTarget,
    h: &RunHandle,
    req: &LaunchRequest,
    go: &Path,
    secs: u64,
    which: &str,
) {
    let (tx, mut rx) = unbounded_channel();
    t.adopt(h, req, tx)
        .unwrap_or_else(|e| panic!("{name}: adopt: {e}"));
    std::fs::write(go, "").unwrap();
    let (reports, status, tail) = collect(&mut rx, secs, None);
    let _ = std::fs::remove_file(go);
    assert_eq!(status, Some(ExitStatus::Code(0)), "{name}: {tail:?}");
    assert!(
        reports.iter().any(|r| r.value == 2.0),
        "{name}: the {which} run's later report: {reports:?}"
    );
}

#[test]
fn behaviour_local() {
    suite(
        "local",
        Box::new(|| Arc::new(LocalTarget::new())),
        20,
        Checks {
            codes_above_128: true,
        },
    );
}

fn ssh_config(env: &Env) -> SshConfig {
    let hosts = env["SWEEP_TEST_SSH_PORTS"]
        .split(' ')
        .enumerate()
        .map(|(i, p)| SshHost {
            name: format!("host-{}", i + 1),
            address: env["SWEEP_TEST_SSH_ADDR"].clone(),
            port: p.parse().unwrap(),
            user: Some(env["SWEEP_TEST_SSH_USER"].clone()),
            slots: 2,
            identity_file: Some(env["SWEEP_TEST_SSH_KEY"].clone().into()),
            password: None,
        })
        .collect();
    SshConfig {
        hosts,
        ssh_config: None,
        known_hosts_file: Some(env["SWEEP_TEST_SSH_KNOWN_HOSTS"].clone().into()),
        strict_host_key_checking: None,
        ssh_options: Vec::new(),
        remote_dir: ".sweep-remote".into(),
        connect_timeout: 5,
        lost_after: 10,
    }
}

#[test]
fn behaviour_ssh() {
    let Some(env) = services::sshd() else { return };
    let cfg = ssh_config(&env);
    suite(
        "ssh",
        Box::new(move || Arc::new(SshTarget::new("suite", cfg.clone()).unwrap())),
        30,
        Checks {
            codes_above_128: true,
        },
    );
}

#[test]
fn behaviour_slurm() {
    let Some(env) = services::slurm() else { return };
    let _turn = services::cluster_turn();
    // The sbatch/scontrol this process runs read the test cluster's config.
    assert!(
        Path::new(&env["SLURM_CONF"]).exists(),
        "no {}",
        env["SLURM_CONF"]
    );
    if std::env::var_os("SLURM_CONF").as_deref() != Some(env["SLURM_CONF"].as_ref())
        && !Path::new("/etc/slurm/slurm.conf").exists()
    {
        panic!(
            "set SLURM_CONF={} (or let start-slurm.sh link /etc/slurm/slurm.conf)",
            env["SLURM_CONF"]
        );
    }
    let cfg = SlurmConfig {
        partition: Some(env["SWEEP_TEST_SLURM_PARTITION"].clone()),
        poll_seconds: 0.5,
        ..SlurmConfig::default()
    };
    suite(
        "slurm",
        Box::new(move || Arc::new(SlurmTarget::new("suite", cfg.clone(), JobShape::default()))),
        60,
        Checks {
            codes_above_128: false,
        },
    );
}
