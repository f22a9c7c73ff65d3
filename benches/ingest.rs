//! Metric ingest: one run printing 1,000,000 `@sweep` metric lines (`SWEEP_BENCH_LINES`),
//! timed end to end from the sweep's start until every value is committed to the store;
//! prints lines/s (target ≥ 200,000) beside the rate of the producer alone (the same
//! program with its output to `/dev/null`), and this process's peak memory.

use criterion::{criterion_group, Criterion};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

fn lines() -> usize {
    std::env::var("SWEEP_BENCH_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// Writes the metric lines to a file the run will `cat` (so the producer costs little).
fn make_input(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let p = dir.join("lines.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    for i in 0..n {
        writeln!(
            f,
            "@sweep {{\"metric\":\"acc\",\"value\":{},\"step\":{i}}}",
            i as f64 / n as f64
        )
        .unwrap();
    }
    f.flush().unwrap();
    p
}

fn ingest(n: usize) -> (Duration, f64) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let input = make_input(dir.path(), n);
    let input = input.to_str().unwrap();
    let ws = dir.path().join("ws");
    let spec = common::spec(&["cat", input], 1, 1, &src);
    let start = Instant::now();
    let out = common::run_sweep(spec, &ws);
    let t = start.elapsed();
    assert_eq!(out.completed, 1);
    // Everything reached the store.
    let reader = sweep::store::Reader::open(&ws).unwrap();
    let s = reader.resolve("latest").unwrap();
    let runs = reader.runs(&s).unwrap();
    assert_eq!(runs[0].intervals as usize, n, "every line is in the store");
    (t, out.best.map(|b| b.value).unwrap_or(f64::NAN))
}

fn report() {
    let n = lines();
    let dir = tempfile::tempdir().unwrap();
    let input = make_input(dir.path(), n);
    let start = Instant::now();
    Command::new("cat")
        .arg(&input)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let producer = start.elapsed();
    let before = common::peak_rss_mib();
    let (t, best) = ingest(n);
    let after = common::peak_rss_mib();
    println!("ingest: one run printing {n} metric lines");
    println!(
        "  producer alone    {:>12.0} lines/s",
        n as f64 / producer.as_secs_f64()
    );
    println!(
        "  end to end        {:>12.0} lines/s  ({:.2}s, into the store; best {best})",
        n as f64 / t.as_secs_f64(),
        t.as_secs_f64()
    );
    println!(
        "  ratio to target   {:>12.2}  (target 200,000 lines/s)",
        n as f64 / t.as_secs_f64() / 200_000.0
    );
    println!("  peak RSS          {before:>9.1} MiB before, {after:.1} MiB after");
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.bench_function("100k_lines", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(100_000).0).sum())
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
