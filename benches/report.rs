//! Report generation for a 1,000-run sweep: reading the snapshot from a real SQLite history
//! (1,000 runs, 4 parameters, 20 intervals each, a quarter stopped by a policy) and rendering
//! the HTML page. Prints the page's size once.

use criterion::{criterion_group, criterion_main, Criterion};
use sweep::report::{html, ReportData};
use sweep::store::{MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, Write};

const RUNS: u64 = 1000;
const INTERVALS: u64 = 20;

fn history(dir: &std::path::Path) {
    let store = Store::open(dir).unwrap();
    let t0 = 1_700_000_000.0;
    store
        .commit_blocking(Write::Sweep(Box::new(NewSweep {
            id: "sw_bench".into(),
            name: "bench".into(),
            created: t0,
            primary_metric: "acc".into(),
            goal: "maximize".into(),
            sampling: "random".into(),
            policy: "bandit".into(),
            max_total_runs: RUNS,
            max_concurrent_runs: 8,
            max_duration_minutes: 600.0,
            source_dir: "/src".into(),
            ..Default::default()
        })))
        .unwrap();
    // A deterministic spread of parameters: a golden-ratio walk per parameter.
    let frac = |i: u64, k: f64| (i as f64 * k).fract();
    for i in 0..RUNS {
        let id = format!("sw_bench_{i}");
        let lr = 10f64.powf(-5.0 + 4.0 * frac(i, 0.618_034));
        let opt = ["adam", "sgd", "rmsprop"][(i % 3) as usize];
        store.send(Write::Run(Box::new(NewRun {
            id: id.clone(),
            sweep_id: "sw_bench".into(),
            seq: i,
            queued: t0 + i as f64,
            params: vec![
                ("--lr".into(), serde_json::json!(lr)),
                ("--opt".into(), serde_json::json!(opt)),
                ("--momentum".into(), serde_json::json!(frac(i, 0.414_214))),
                ("--batch".into(), serde_json::json!(16 << (i % 4))),
            ],
            argv: vec!["python3".into(), "train.py".into()],
            workdir: "/w".into(),
            run_dir: "/r".into(),
            retry_of: None,
        })));
        let ceiling =
            0.95 - 0.05 * (lr.log10() + 2.5).powi(2) - if opt == "sgd" { 0.2 } else { 0.0 };
        let stopped = i % 4 == 3;
        let n = if stopped { INTERVALS / 4 } else { INTERVALS };
        store.send(Write::Metrics(
            (1..=n)
                .map(|k| MetricRow {
                    run_id: id.clone(),
                    name: "acc".into(),
                    interval: k,
                    step: Some(k as i64),
                    value: ceiling * (k as f64 / INTERVALS as f64).powf(0.3),
                    time: t0 + i as f64 + k as f64 * 0.1,
                    at: None,
                })
                .collect(),
        ));
        let mut u = RunUpdate::new(
            &id,
            if stopped {
                RunState::Canceled
            } else {
                RunState::Completed
            },
            t0 + i as f64 + 3.0,
        );
        u.reason = Some(
            if stopped {
                "policy:bandit"
            } else {
                "exit code 0"
            }
            .into(),
        );
        store.send(Write::RunState(Box::new(u)));
    }
    store.close();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let page = html::render(&ReportData::load(dir.path(), "sw_bench").unwrap());
    println!(
        "report of {RUNS} runs x {INTERVALS} intervals: {} bytes ({:.0} KiB)",
        page.len(),
        page.len() as f64 / 1024.0
    );
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.bench_function("load_and_render_1000_runs", |b| {
        b.iter(|| html::render(&ReportData::load(dir.path(), "sw_bench").unwrap()).len())
    });
    let data = ReportData::load(dir.path(), "sw_bench").unwrap();
    g.bench_function("render_1000_runs", |b| b.iter(|| html::render(&data).len()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
