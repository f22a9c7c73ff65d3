//! Launch overhead and short-run throughput per compute target, through the
//! `ComputeTarget` trait: local processes, the loopback SSH hosts and the single-node Slurm
//! cluster of `scripts/env/` (start them first: `scripts/env/start-sshd.sh`,
//! `scripts/env/start-slurm.sh`).
//!
//! - *Launch overhead*: from the `launch` call to the run's first output line arriving as an
//!   event (the run prints one `@sweep` line at once and exits).
//! - *Throughput*: runs of a no-op program per second, as many at a time as the target
//!   takes (local 4, SSH 4 = 2 hosts × 2 slots, Slurm 2 = the node's CPUs).
//!
//! Prints the medians side by side with their ratio to local, then lets criterion time the
//! launch overhead. Under `cargo test --all-targets` it only checks one launch per target.
//! A target whose service is not running is skipped with a message (an error under `CI`).

use criterion::{criterion_group, Criterion};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep::config::targets::{SlurmConfig, SshConfig, SshHost};
use sweep::target::local::LocalTarget;
use sweep::target::slurm::{JobShape, SlurmTarget};
use sweep::target::ssh::SshTarget;
use sweep::target::{ComputeTarget, ExitStatus, LaunchRequest, TargetEvent};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

fn env_file(path: &str) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect(),
    )
}

fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is not running (start it with scripts/env/); required under CI");
    }
    println!("targets bench: {what} is not running; skipped");
}

/// The targets to measure, with how many runs each takes at once.
fn targets() -> Vec<(&'static str, Arc<dyn ComputeTarget>, usize)> {
    let mut v: Vec<(&'static str, Arc<dyn ComputeTarget>, usize)> =
        vec![("local", Arc::new(LocalTarget::new()), 4)];
    match env_file("/tmp/sweep-test-env/sshd/env") {
        None => missing("the test sshd (scripts/env/start-sshd.sh)"),
        Some(env) => {
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
            let cfg = SshConfig {
                hosts,
                ssh_config: None,
                known_hosts_file: Some(env["SWEEP_TEST_SSH_KNOWN_HOSTS"].clone().into()),
                strict_host_key_checking: None,
                ssh_options: Vec::new(),
                remote_dir: ".sweep-remote".into(),
                connect_timeout: 5,
                lost_after: 15,
            };
            v.push(("ssh", Arc::new(SshTarget::new("bench", cfg).unwrap()), 4));
        }
    }
    match env_file("/tmp/sweep-test-env/slurm/env") {
        None => missing("the test Slurm cluster (scripts/env/start-slurm.sh)"),
        Some(env) => {
            if std::env::var_os("SLURM_CONF").is_none()
                && !Path::new("/etc/slurm/slurm.conf").exists()
            {
                missing("SLURM_CONF for the test cluster");
            } else {
                let cfg = SlurmConfig {
                    partition: Some(env["SWEEP_TEST_SLURM_PARTITION"].clone()),
                    poll_seconds: 0.2,
                    ..SlurmConfig::default()
                };
                let cpus = env["SWEEP_TEST_SLURM_CPUS"].parse().unwrap_or(1);
                v.push((
                    "slurm",
                    Arc::new(SlurmTarget::new("bench", cfg, JobShape::default())),
                    cpus,
                ));
            }
        }
    }
    v
}

struct Ctx {
    dir: tempfile::TempDir,
    sweep: String,
    n: std::cell::Cell<u64>,
}

impl Ctx {
    fn new() -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("snap")).unwrap();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        Ctx {
            dir,
            sweep: format!("bench_{t}_{}", std::process::id()),
            n: std::cell::Cell::new(0),
        }
    }

    fn request(&self, argv: &[&str]) -> LaunchRequest {
        let i = self.n.get();
        self.n.set(i + 1);
        let run = format!("{}_{i}", self.sweep);
        LaunchRequest {
            sweep_id: self.sweep.clone(),
            run_id: run.clone(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            params_json: "{}".into(),
            snapshot: self.dir.path().join("snap"),
            run_dir: self.dir.path().join("runs").join(run),
            primary_metric: "acc".into(),
            output_dirs: Vec::new(),
            pattern: None,
        }
    }
}

fn wait(rx: &mut UnboundedReceiver<TargetEvent>, first_metric: bool) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        match rx.try_recv() {
            Ok(TargetEvent::Metrics { reports, .. }) => {
                sweep::metrics::committed(reports.len());
                if first_metric {
                    return None;
                }
            }
            Ok(TargetEvent::Exited { status, .. }) => return Some(status),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    panic!("no event within 120 s");
}

/// One launch: time to the first output line; then waits for the exit.
fn launch_once(t: &dyn ComputeTarget, ctx: &Ctx) -> Duration {
    let req = ctx.request(&["sh", "-c", "echo '@sweep {\"metric\":\"acc\",\"value\":1}'"]);
    let (tx, mut rx) = unbounded_channel();
    let start = Instant::now();
    t.launch(&req, tx).expect("launch");
    wait(&mut rx, true);
    let d = start.elapsed();
    assert_eq!(wait(&mut rx, false), Some(ExitStatus::Code(0)));
    d
}

/// `n` runs of `true`, `width` at a time; returns runs per second.
fn throughput(t: &dyn ComputeTarget, ctx: &Ctx, n: usize, width: usize) -> f64 {
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(width);
        let mut rxs = Vec::new();
        for _ in 0..k {
            let (tx, rx) = unbounded_channel();
            t.launch(&ctx.request(&["true"]), tx).expect("launch");
            rxs.push(rx);
        }
        for mut rx in rxs {
            assert_eq!(wait(&mut rx, false), Some(ExitStatus::Code(0)));
        }
        left -= k;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(ts: &[(&'static str, Arc<dyn ComputeTarget>, usize)], ctx: &Ctx) {
    let runs: usize = std::env::var("SWEEP_BENCH_LAUNCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    println!("targets: launch -> first output line (median of {runs}), and short-run throughput");
    let mut base = None;
    for (name, t, width) in ts {
        // One launch first: the SSH connection and snapshot copy are per sweep, not per run.
        launch_once(t.as_ref(), ctx);
        let m = median((0..runs).map(|_| launch_once(t.as_ref(), ctx)).collect());
        let rate = throughput(t.as_ref(), ctx, 4 * width, *width);
        let b = *base.get_or_insert(m.as_secs_f64());
        println!(
            "  {name:<6} launch {:>8.1} ms  ({:>6.1}x local)   throughput {rate:>7.1} runs/s at {width} at once",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / b
        );
    }
}

fn bench(c: &mut Criterion) {
    let ts = targets();
    let ctx = Ctx::new();
    let mut g = c.benchmark_group("launch_to_first_output");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for (name, t, _) in &ts {
        launch_once(t.as_ref(), &ctx);
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| launch_once(t.as_ref(), &ctx)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    if !benching {
        // `cargo test --all-targets`: one real launch per target.
        let ctx = Ctx::new();
        for (name, t, _) in targets() {
            let d = launch_once(t.as_ref(), &ctx);
            println!(
                "targets bench (test mode): {name} launch ok in {:.1} ms",
                d.as_secs_f64() * 1e3
            );
        }
        return;
    }
    report(&targets(), &Ctx::new());
    if std::env::var_os("SWEEP_BENCH_SUMMARY_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
