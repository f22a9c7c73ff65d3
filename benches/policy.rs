//! Policy evaluation throughput: 10,000 runs × 100 intervals of reports, interleaved as a
//! sweep with 200 concurrent runs of uneven speed would produce them, every report recorded
//! and evaluated (evaluation_interval 1, delay 0: the most work a policy can be asked for).
//!
//! Two groups: `policy_step` is wall-clock time; `policy_step_cpu` is the bench thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`), which stays meaningful on a machine shared with other
//! jobs, where wall-clock rates mostly measure the scheduler.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use sweep::policy::{Evaluator, RunKey};
use sweep::spec::{Goal, Policy, PolicyKind};

const RUNS: usize = 10_000;
const INTERVALS: u32 = 100;
const CONCURRENT: usize = 200;

/// The report stream: `(run index, value)` in arrival order. Each of the `CONCURRENT` slots
/// holds a live run; a random slot reports next, and a run that reached `INTERVALS` is
/// replaced by the next run, so runs overlap and reach each interval in mixed order.
fn stream() -> Vec<(u32, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let quality: Vec<f64> = (0..RUNS).map(|_| rng.random::<f64>()).collect();
    let mut slots: Vec<(u32, u32)> = (0..CONCURRENT as u32).map(|r| (r, 0)).collect();
    let mut next = CONCURRENT as u32;
    let mut out = Vec::with_capacity(RUNS * INTERVALS as usize);
    while !slots.is_empty() {
        let i = rng.random_range(0..slots.len());
        let (run, done) = &mut slots[i];
        *done += 1;
        let t = f64::from(*done);
        // A saturating learning curve per run, plus noise so that bests keep moving.
        let v = quality[*run as usize] * (1.0 - (-t / 15.0).exp()) + rng.random::<f64>() * 0.05;
        out.push((*run, v));
        if *done == INTERVALS {
            if (next as usize) < RUNS {
                slots[i] = (next, 0);
                next += 1;
            } else {
                slots.swap_remove(i);
            }
        }
    }
    out
}

fn setup(kind: &PolicyKind) -> (Evaluator, Vec<RunKey>) {
    let policy = Policy {
        kind: kind.clone(),
        evaluation_interval: 1,
        delay_evaluation: 0,
    };
    let mut ev = Evaluator::new(&policy, Goal::Maximize).expect("valid policy");
    let keys = (0..RUNS).map(|i| ev.register(&format!("run{i}"))).collect();
    (ev, keys)
}

/// The calling thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Records and evaluates every report of the stream; returns the number of cuts.
fn step_all(ev: &mut Evaluator, keys: &[RunKey], reports: &[(u32, f64)]) -> u32 {
    let mut cuts = 0u32;
    for &(run, v) in reports {
        let k = keys[run as usize];
        ev.record(k, v);
        cuts += u32::from(ev.evaluate(k).is_some());
    }
    cuts
}

fn kinds() -> [(&'static str, PolicyKind); 4] {
    [
        ("none", PolicyKind::NoTermination),
        (
            "bandit",
            PolicyKind::Bandit {
                slack_factor: Some(0.2),
                slack_amount: None,
            },
        ),
        ("median_stopping", PolicyKind::MedianStopping),
        (
            "truncation_selection",
            PolicyKind::TruncationSelection {
                truncation_percentage: 20,
            },
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let reports = stream();
    let mut g = c.benchmark_group("policy_step");
    g.throughput(Throughput::Elements(reports.len() as u64));
    g.sample_size(10);
    for (name, kind) in kinds() {
        g.bench_function(name, |b| {
            b.iter_batched(
                || setup(&kind),
                |(mut ev, keys)| black_box(step_all(&mut ev, &keys, &reports)),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("policy_step_cpu");
    g.throughput(Throughput::Elements(reports.len() as u64));
    g.sample_size(10);
    for (name, kind) in kinds() {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (mut ev, keys) = setup(&kind);
                    let t0 = thread_cpu();
                    black_box(step_all(&mut ev, &keys, &reports));
                    total += thread_cpu() - t0;
                    drop(ev);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
