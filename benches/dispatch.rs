//! Dispatch overhead: a sweep of N runs (default 2,000; `SWEEP_BENCH_RUNS`) of a no-op
//! program at `max_concurrent_runs` 4 on the local target, history written, against a bare
//! loop spawning the same program 4 at a time. Prints both rates and their ratio side by
//! side (target: ratio ≥ 0.5) over `SWEEP_BENCH_ROUNDS` rounds (default 3), then lets
//! criterion time a smaller sweep. The workspace goes in `TMPDIR`.

use criterion::{criterion_group, Criterion};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

const PROGRAM: &str = "/bin/true";
const CONCURRENCY: usize = 4;

fn runs() -> usize {
    std::env::var("SWEEP_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

/// Spawns `n` processes, `CONCURRENCY` at a time, waiting for each.
fn bare_loop(n: usize) -> Duration {
    let start = Instant::now();
    let per = n / CONCURRENCY;
    std::thread::scope(|s| {
        for _ in 0..CONCURRENCY {
            s.spawn(move || {
                for _ in 0..per {
                    Command::new(PROGRAM)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .unwrap();
                }
            });
        }
    });
    start.elapsed()
}

/// Runs a sweep of `n` runs in a fresh workspace; returns its time and the workspace, which
/// the caller deletes when it is done measuring (see `report`).
fn engine_sweep(n: usize) -> (Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let spec = common::spec(&[PROGRAM], n as u64, CONCURRENCY as u64, &src);
    let start = Instant::now();
    let out = common::run_sweep(spec, &dir.path().join("ws"));
    let t = start.elapsed();
    assert_eq!(out.completed as usize, n, "every run completes");
    (t, dir)
}

fn rounds() -> usize {
    std::env::var("SWEEP_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The type of the filesystem the workspace goes on (`TMPDIR`): creating each run's files
/// is part of what is measured, and costs differ a lot between filesystems.
fn workspace_fs() -> String {
    let dir = std::env::temp_dir();
    let out = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(&dir)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{} ({})",
        dir.display(),
        if out.is_empty() { "?" } else { &out }
    )
}

/// Measures both sides `rounds()` times, alternating which goes first, and reports each
/// round and the medians: on a shared machine one pair can be far off.
fn report() {
    let n = runs();
    let r = rounds();
    println!(
        "dispatch: {n} runs of {PROGRAM}, {CONCURRENCY} at a time, {r} rounds; workspace on {}",
        workspace_fs()
    );
    let (mut bares, mut engs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    // Workspaces are deleted only after the last round: on an ext4 without a journal, inode
    // allocation skips over inodes freed in the last ~30 s, so deleting one round's
    // thousands of run directories would slow the next round's by the bench's own doing.
    let mut keep = Vec::new();
    for i in 0..r {
        let (bare, (eng, ws)) = if i % 2 == 0 {
            let b = bare_loop(n);
            (b, engine_sweep(n))
        } else {
            let e = engine_sweep(n);
            (bare_loop(n), e)
        };
        keep.push(ws);
        let bare_rate = n as f64 / bare.as_secs_f64();
        let eng_rate = n as f64 / eng.as_secs_f64();
        println!(
            "  round {}: bare {bare_rate:>8.1} runs/s, engine {eng_rate:>8.1} runs/s, ratio {:.3}",
            i + 1,
            eng_rate / bare_rate
        );
        bares.push(bare_rate);
        engs.push(eng_rate);
        ratios.push(eng_rate / bare_rate);
    }
    println!(
        "  bare spawn loop   {:>8.1} runs/s  (median)",
        median(bares)
    );
    println!(
        "  sweep engine      {:>8.1} runs/s  (median, history written)",
        median(engs)
    );
    println!(
        "  ratio engine/bare {:>8.3}  (median of the rounds' ratios; target >= 0.5)",
        median(ratios)
    );
    drop(keep);
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    g.sample_size(10);
    g.bench_function("engine_100_runs_c4", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| engine_sweep(100).0).sum())
    });
    g.bench_function("bare_100_runs_c4", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bare_loop(100)).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    report();
    if std::env::var_os("SWEEP_BENCH_SUMMARY_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
