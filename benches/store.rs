//! The run history's cost: everything one run writes (its row and parameters, the
//! `starting` commit the engine waits for, `running`, a few metric values, the terminal
//! commit it waits for), per run (target ≤ 1 ms), and metric rows persisted per second when
//! they arrive in batches, as a run's watcher sends them (target ≥ 100,000 rows/s).

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use sweep::store::{now, MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, Write};

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit_blocking(Write::Sweep(Box::new(NewSweep {
            id: "sw".into(),
            name: "bench".into(),
            created: now(),
            primary_metric: "acc".into(),
            goal: "maximize".into(),
            max_total_runs: 1_000_000,
            max_concurrent_runs: 4,
            ..Default::default()
        })))
        .unwrap();
    (dir, store)
}

/// One run's whole life in the history, as the engine writes it.
fn one_run(store: &Store, seq: u64) {
    let id = format!("sw_{seq}");
    store.send(Write::Run(Box::new(NewRun {
        id: id.clone(),
        sweep_id: "sw".into(),
        seq,
        queued: now(),
        params: (0..6)
            .map(|i| (format!("--p{i}"), serde_json::json!(i as f64 * 0.5)))
            .collect(),
        argv: vec!["python3".into(), "train.py".into()],
        workdir: "/w".into(),
        run_dir: "/r".into(),
        retry_of: None,
    })));
    store
        .commit_blocking(Write::RunState(Box::new(RunUpdate::new(
            &id,
            RunState::Starting,
            now(),
        ))))
        .unwrap();
    let mut u = RunUpdate::new(&id, RunState::Running, now());
    u.handle = Some(r#"{"kind":"local","pid":1,"pgid":1,"run_dir":"/r"}"#.into());
    store.send(Write::RunState(Box::new(u)));
    store.send(Write::Metrics(
        (1..=5)
            .map(|i| MetricRow {
                run_id: id.clone(),
                name: "acc".into(),
                interval: i,
                step: None,
                value: i as f64 / 10.0,
                time: now(),
                at: None,
            })
            .collect(),
    ));
    let mut end = RunUpdate::new(&id, RunState::Completed, now());
    end.reason = Some("exit code 0".into());
    end.exit_code = Some(0);
    store
        .commit_blocking(Write::RunState(Box::new(end)))
        .unwrap();
}

fn metric_batch(run: &str, from: u64, n: u64) -> Write {
    Write::Metrics(
        (from..from + n)
            .map(|i| MetricRow {
                run_id: run.into(),
                name: "loss".into(),
                interval: i + 1,
                step: Some(i as i64),
                value: 1.0 / (i + 1) as f64,
                time: now(),
                at: None,
            })
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    g.bench_function("run_lifecycle", |b| {
        b.iter_custom(|iters| {
            let (_dir, store) = new_store();
            let start = Instant::now();
            for i in 0..iters {
                one_run(&store, i);
            }
            start.elapsed()
        })
    });
    for batch in [1_000u64, 4_096] {
        g.throughput(Throughput::Elements(batch));
        g.bench_with_input(BenchmarkId::new("metric_rows", batch), &batch, |b, &n| {
            b.iter_custom(|iters| {
                let (_dir, store) = new_store();
                one_run(&store, 0);
                let start = Instant::now();
                for i in 0..iters {
                    store.send(metric_batch("sw_0", i * n, n));
                }
                store.commit_blocking(Write::Metrics(Vec::new())).unwrap();
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
