//! In-process overhead of the library per trial: `ask` + 5 `report`s + `tell` with random
//! sampling and a MedianStopping policy, history written to SQLite on disk (the time to
//! commit everything queued is included: each measurement ends with a flush).
//!
//! Side by side, the same loop on the same parts without a study or a store (sampler,
//! policy hook and observations driven directly): the difference is what the study's
//! bookkeeping and history cost. Target: ≤ 0.2 ms per trial (Optuna's in-memory loop takes
//! about 0.19 ms, its SQLite storage about 9.8 ms).
//!
//! ```text
//! cargo bench --bench study
//! ```

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};
use sweep::policy::EarlyStop;
use sweep::sampler::{Observation, Proposal};
use sweep::spec::Policy;
use sweep::study::{Outcome, Parts, Study, StudyBuilder};

fn builder(ws: &std::path::Path) -> StudyBuilder {
    Study::builder()
        .workspace(ws)
        .minimize("loss")
        .loguniform("lr", -9.0, 0.0)
        .uniform("dropout", 0.0, 0.5)
        .randint("layers", 8)
        .choice("optimizer", ["sgd", "adam"])
        .random()
        .seed(1)
        .max_total_runs(u64::MAX / 2)
        .policy(Policy::median_stopping().with_delay_evaluation(2))
}

/// A cheap stand-in for training: the loss curve of a trial.
fn loss(lr: f64, epoch: u32) -> f64 {
    (lr.ln() + 4.0).abs() + 1.0 / f64::from(epoch)
}

fn study(c: &mut Criterion) {
    let mut g = c.benchmark_group("study/trial");
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("ask+5 reports+tell, sqlite history", |b| {
        let dir = tempfile::tempdir().unwrap();
        let study = builder(dir.path()).build().unwrap();
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let trial = study.ask().unwrap().unwrap();
                let lr = trial.get_f64("lr").unwrap();
                for epoch in 1..=5 {
                    let _ = black_box(study.report(&trial, loss(lr, epoch)));
                }
                study.tell(trial, Outcome::Completed).unwrap();
            }
            study.flush().unwrap();
            t.elapsed()
        });
    });
    g.bench_function("same loop, sampler+policy only (no study, no store)", |b| {
        let spec = builder(std::path::Path::new("unused")).spec().unwrap();
        let parts = Parts::new(&spec).unwrap();
        let (mut sampler, mut hook) = (parts.sampler, parts.policy.unwrap());
        let mut finished: Vec<Observation> = Vec::new();
        let mut n = 0u64;
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let Proposal::Candidates(mut c) = sampler.propose(&finished, &[], 1) else {
                    panic!("random sampling never runs out")
                };
                let params = c.pop().unwrap();
                let id = format!("r{n}");
                n += 1;
                let lr = params.get("lr").and_then(|v| v.as_f64()).unwrap();
                let mut best = f64::INFINITY;
                for epoch in 1..=5 {
                    let v = loss(lr, epoch);
                    best = best.min(v);
                    black_box(hook.observe(&id, epoch, v));
                }
                hook.finished(&id);
                finished.push(Observation {
                    params,
                    value: Some(best),
                });
            }
            t.elapsed()
        });
    });
    g.finish();
}

criterion_group!(benches, study);
criterion_main!(benches);
