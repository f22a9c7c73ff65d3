//! Metric ingest: one run printing 1,000,000 metric lines (`SWEEP_BENCH_LINES`), timed end
//! to end from the sweep's start until every value is committed to the store; prints
//! lines/s (target ≥ 200,000) for plain `@sweep` lines and for a realistic mix of every
//! format the line grammar reads (Katib pairs, Keras epochs with their long redrawn
//! progress bars, tqdm/Lightning postfixes, Hugging Face dicts, lines that report
//! nothing), measured side by side in one run, beside the rate of the producer alone (the
//! same program with its output to `/dev/null`), and this process's peak memory.

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

/// What the run prints.
#[derive(Clone, Copy)]
enum Mix {
    /// One `@sweep` line per report of `acc`.
    Plain,
    /// The realistic mix: a cycle of [`CYCLE`] lines, three of which report `acc`.
    Formats,
}

const CYCLE: usize = 8;

/// Writes the metric lines to a file the run will `cat` (so the producer costs little);
/// returns it and how many reports of `acc` it holds.
fn make_input(dir: &std::path::Path, n: usize, mix: Mix) -> (std::path::PathBuf, usize) {
    let p = dir.join("lines.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let bar = "\u{2501}".repeat(20);
    let mut acc = 0;
    for i in 0..n {
        let v = i as f64 / n as f64;
        match (mix, i % CYCLE) {
            (Mix::Plain, _) | (Mix::Formats, 0) => {
                acc += 1;
                writeln!(f, "@sweep {{\"metric\":\"acc\",\"value\":{v},\"step\":{i}}}")
            }
            (_, 1) => {
                acc += 1;
                writeln!(f, "epoch={i} loss={:.4} acc={v:.4} lr=0.001", 1.0 - v)
            }
            (_, 2) => writeln!(f, "Epoch {}/10", i / CYCLE),
            (_, 3) => {
                // Keras: batches redrawn with backspaces and `\r`, then the epoch's line.
                acc += 1;
                for b in (1..=469).step_by(47) {
                    write!(f, "\r\x1b[1m{b}/469\x1b[0m \x1b[32m{bar}\x1b[0m \x1b[1m2s\x1b[0m 4ms/step - acc: 0.9 - loss: 0.3{}", "\x08".repeat(80)).unwrap();
                }
                writeln!(f, "\r\x1b[1m469/469\x1b[0m \x1b[32m{bar}\x1b[0m \x1b[1m2s\x1b[0m 4ms/step - acc: {v:.4} - loss: 0.2104 - val_acc: 0.9201 - val_loss: 0.2551")
            }
            (_, 4) => {
                // tqdm / Lightning: the bar redrawn, the postfix at the end.
                for b in (0..=469).step_by(67) {
                    write!(f, "\rEpoch {}: {:>3}%|\u{2588}\u{2588}\u{2588}       | {b}/469 [00:01<00:04, 85.3it/s, loss=0.21, v_num=0]", i / CYCLE, b * 100 / 469).unwrap();
                }
                writeln!(f, "\rEpoch {}: 100%|\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}\u{2588}| 469/469 [00:05<00:00, 85.3it/s, loss=0.21, v_num=0, val_acc={v:.4}]", i / CYCLE)
            }
            (_, 5) => writeln!(f, "{{'eval_loss': 0.41, 'eval_accuracy': {v:.4}, 'eval_runtime': 1.2345, 'epoch': {}.0}}", i / CYCLE),
            (_, 6) => writeln!(f, "INFO 2024-01-01 12:00:00,123 data.py:42] loaded 60000 examples from /data/mnist (shard 3 of 8)"),
            _ => writeln!(f, "Downloading https://example.com/data/train-images.tar.gz: 100%|##########| 9.9M/9.9M [00:01<00:00, 7.5MB/s]"),
        }
        .unwrap();
    }
    f.flush().unwrap();
    (p, acc)
}

fn ingest(n: usize, mix: Mix) -> (Duration, f64) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let (input, reports) = make_input(dir.path(), n, mix);
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
    assert_eq!(
        runs[0].intervals as usize, reports,
        "every report is in the store"
    );
    (t, out.best.map(|b| b.value).unwrap_or(f64::NAN))
}

fn report() {
    let n = lines();
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = make_input(dir.path(), n, Mix::Formats);
    let start = Instant::now();
    Command::new("cat")
        .arg(&input)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let producer = start.elapsed();
    let before = common::peak_rss_mib();
    let (plain, _) = ingest(n, Mix::Plain);
    let (mixed, best) = ingest(n, Mix::Formats);
    let after = common::peak_rss_mib();
    let rate = |t: Duration| n as f64 / t.as_secs_f64();
    println!("ingest: one run printing {n} metric lines");
    println!("  producer alone    {:>12.0} lines/s", rate(producer));
    println!(
        "  plain @sweep      {:>12.0} lines/s  ({:.2}s, into the store)",
        rate(plain),
        plain.as_secs_f64()
    );
    println!(
        "  every format      {:>12.0} lines/s  ({:.2}s, into the store; best {best})",
        rate(mixed),
        mixed.as_secs_f64()
    );
    println!(
        "  formats / plain   {:>12.2}",
        plain.as_secs_f64() / mixed.as_secs_f64()
    );
    println!(
        "  ratio to target   {:>12.2}  (every format; target 200,000 lines/s)",
        rate(mixed) / 200_000.0
    );
    println!("  peak RSS          {before:>9.1} MiB before, {after:.1} MiB after");
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.bench_function("100k_lines", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(100_000, Mix::Plain).0).sum())
    });
    g.bench_function("100k_mixed_lines", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(100_000, Mix::Formats).0).sum())
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
