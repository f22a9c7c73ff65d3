//! Sampler latency: one proposal from the grid, random, Sobol and Bayesian samplers.
//!
//! The Bayesian cases use a 6-parameter space (Hartmann6 on the unit cube) with 200 and
//! 1,000 finished runs. "warm" is the steady state of a sweep: the hyperparameters for the
//! current run count are already fitted (they are refitted on a schedule, see
//! `sampler::bayes`), so a proposal conditions the GP and maximises the acquisition.
//! "refit" includes the hyperparameter fit, which happens once every few runs.
//!
//! The Bayesian cases run twice: timed by the wall clock (`bayes_propose1_6d`) and by the
//! process's CPU time (`bayes_propose1_6d_cpu`, reported in the same units). On the shared
//! machine the wall clock also counts the time other builds hold the cores; CPU time is
//! what a proposal would take with a core to itself.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use std::time::Duration;
use sweep::sampler::bayes::BayesSampler;
use sweep::sampler::grid::GridSampler;
use sweep::sampler::random::{RandomSampler, Rule};
use sweep::sampler::{Observation, Sampler};
use sweep::space::{Domain, Param, Params, SearchSpace, Value};
use sweep::spec::Goal;

fn unit_space(d: usize) -> SearchSpace {
    SearchSpace::new(
        (0..d)
            .map(|i| Param {
                name: format!("x{i}"),
                domain: Domain::Uniform {
                    low: 0.0,
                    high: 1.0,
                },
                condition: None,
            })
            .collect(),
    )
}

fn grid_space() -> SearchSpace {
    SearchSpace::new(
        (0..6)
            .map(|i| Param {
                name: format!("g{i}"),
                domain: Domain::Choice {
                    options: (0..10).map(Value::Int).collect(),
                },
                condition: None,
            })
            .collect(),
    )
}

#[path = "common/problems.rs"]
mod problems;
use problems::hartmann6;

/// `n` finished runs at random points of the 6-D cube, valued by Hartmann6.
fn history(space: &SearchSpace, n: usize) -> Vec<Observation> {
    let mut r = RandomSampler::new(space.clone(), Rule::Plain, 99);
    let pts = match r.propose(&[], &[], n) {
        sweep::sampler::Proposal::Candidates(c) => c,
        other => panic!("{other:?}"),
    };
    pts.into_iter()
        .map(|p: Params| {
            let x: Vec<f64> = p.iter().map(|(_, v)| v.as_f64().unwrap()).collect();
            Observation {
                value: Some(hartmann6(&x)),
                params: p,
            }
        })
        .collect()
}

fn cheap(c: &mut Criterion) {
    let mut g = c.benchmark_group("propose1");
    let grid = GridSampler::new(grid_space());
    g.bench_function("grid_6x10", |b| {
        b.iter_batched_ref(
            || grid.clone(),
            |s| black_box(s.propose(&[], &[], 1)),
            BatchSize::SmallInput,
        )
    });
    for (name, rule) in [("random_6d", Rule::Plain), ("sobol_6d", Rule::Sobol)] {
        let mut s = RandomSampler::new(unit_space(6), rule, 1);
        g.bench_function(name, |b| b.iter(|| black_box(s.propose(&[], &[], 1))));
    }
    // No-repeat bookkeeping in a finite space of a million points, 10,000 already drawn
    // (cloned per batch so the space never fills up during measurement).
    let mut s = RandomSampler::new(grid_space(), Rule::Plain, 1);
    let _ = s.propose(&[], &[], 10_000);
    g.bench_function("random_discrete_6x10", |b| {
        b.iter_batched_ref(
            || s.clone(),
            |s| black_box(s.propose(&[], &[], 1)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// CPU time used by this process, in nanoseconds, measured like criterion's wall clock.
struct CpuTime {
    /// Only for its formatter: values are nanoseconds either way.
    wall: WallTime,
}

fn process_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

impl Measurement for CpuTime {
    type Intermediate = f64;
    type Value = f64;
    fn start(&self) -> f64 {
        process_cpu_ns()
    }
    fn end(&self, start: f64) -> f64 {
        process_cpu_ns() - start
    }
    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }
    fn zero(&self) -> f64 {
        0.0
    }
    fn to_f64(&self, v: &f64) -> f64 {
        *v
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

fn bayes(c: &mut Criterion) {
    bayes_group(c, "bayes_propose1_6d");
}

fn bayes_cpu(c: &mut Criterion<CpuTime>) {
    bayes_group(c, "bayes_propose1_6d_cpu");
}

fn bayes_group<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let space = unit_space(6);
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for n in [200usize, 1000] {
        let hist = history(&space, n);
        let mut warm = BayesSampler::new(space.clone(), Goal::Minimize, 7);
        // Fits the hyperparameters for this run count once; later proposals reuse them.
        let _ = warm.propose(&hist, &[], 1);
        g.bench_function(format!("warm_{n}"), |b| {
            b.iter_batched_ref(
                || warm.clone(),
                |s| black_box(s.propose(&hist, &[], 1)),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("refit_{n}"), |b| {
            b.iter_batched_ref(
                || BayesSampler::new(space.clone(), Goal::Minimize, 7),
                |s| black_box(s.propose(&hist, &[], 1)),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, cheap, bayes);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(CpuTime { wall: WallTime });
    targets = bayes_cpu
}
criterion_main!(benches, cpu);
