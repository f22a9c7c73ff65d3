//! Dispatch overhead: a sweep of N runs (default 2,000; `SWEEP_BENCH_RUNS`) of a no-op
//! program at `max_concurrent_runs` 4 on the local target, history written, against a bare
//! loop spawning the same program 4 at a time. Prints both rates and their ratio side by
//! side (target: ratio ≥ 0.5), then lets criterion time a smaller sweep.

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

fn engine_sweep(n: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let spec = common::spec(&[PROGRAM], n as u64, CONCURRENCY as u64, &src);
    let start = Instant::now();
    let out = common::run_sweep(spec, &dir.path().join("ws"));
    let t = start.elapsed();
    assert_eq!(out.completed as usize, n, "every run completes");
    t
}

fn report() {
    let n = runs();
    let bare = bare_loop(n);
    let eng = engine_sweep(n);
    let bare_rate = n as f64 / bare.as_secs_f64();
    let eng_rate = n as f64 / eng.as_secs_f64();
    println!("dispatch: {n} runs of {PROGRAM}, {CONCURRENCY} at a time");
    println!(
        "  bare spawn loop   {:>8.1} runs/s  ({:.2}s)",
        bare_rate,
        bare.as_secs_f64()
    );
    println!(
        "  sweep engine      {:>8.1} runs/s  ({:.2}s, history written)",
        eng_rate,
        eng.as_secs_f64()
    );
    println!(
        "  ratio engine/bare {:>8.3}  (target >= 0.5)",
        eng_rate / bare_rate
    );
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    g.sample_size(10);
    g.bench_function("engine_100_runs_c4", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| engine_sweep(100)).sum())
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
