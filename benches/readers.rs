//! The readers of a sweep with millions of metric values: `sweep status`, `best`, `export`
//! (CSV, JSONL, JSON) and `report` as processes of the real binary, each with its wall time
//! and peak memory (the child's maximum resident set), and the size of what it wrote.
//!
//! The history is written once through the library's store: `SWEEP_BENCH_POINTS` values
//! (default 5,000,000) of the primary metric over 20 runs. With `SWEEP_BASELINE=/path/to/sweep`
//! (another build, such as one of an earlier commit), the same commands run on a copy of the
//! history with that binary too, side by side; the copy has the history's oldest schema this
//! build can still give an older one (version 4: no per-run aggregates), and this build
//! upgrades its own copy first, which is timed on its own line. The baseline runs under a
//! 14 GiB address-space limit, so a reader that needs more fails instead of exhausting the
//! machine.
//!
//! `cargo bench --bench readers`; docs/report.md records the numbers.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sweep::store::{MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, Write, DB_FILE};

const RUNS: u64 = 20;
const SWEEP: &str = "sw_readers";

/// Writes the history: `points` values of `acc` spread over [`RUNS`] finished runs, in
/// batches as a run's watcher sends them.
fn history(workspace: &Path, points: u64) {
    let store = Store::open(workspace).unwrap();
    let t0 = 1_700_000_000.0;
    store
        .commit_blocking(Write::Sweep(Box::new(NewSweep {
            id: SWEEP.into(),
            name: "readers".into(),
            created: t0,
            primary_metric: "acc".into(),
            goal: "maximize".into(),
            sampling: "random".into(),
            policy: "none".into(),
            max_total_runs: RUNS,
            max_concurrent_runs: 4,
            max_duration_minutes: 6000.0,
            source_dir: "/src".into(),
            target: "local".into(),
            ..Default::default()
        })))
        .unwrap();
    let per_run = points / RUNS;
    for i in 0..RUNS {
        let id = format!("{SWEEP}_{i}");
        store.send(Write::Run(Box::new(NewRun {
            id: id.clone(),
            sweep_id: SWEEP.into(),
            seq: i,
            queued: t0 + i as f64,
            params: vec![
                (
                    "--lr".into(),
                    serde_json::json!(10f64.powf(-1.0 - i as f64 / 5.0)),
                ),
                ("--layers".into(), serde_json::json!(i % 4 + 1)),
            ],
            argv: vec!["python3".into(), "train.py".into()],
            workdir: "/w".into(),
            run_dir: "/r".into(),
            retry_of: None,
        })));
        let ceiling = 0.6 + 0.3 * (i as f64 / RUNS as f64);
        let mut k = 0;
        while k < per_run {
            let n = (per_run - k).min(4096);
            store.send(Write::Metrics(
                (k..k + n)
                    .map(|j| MetricRow {
                        run_id: id.clone(),
                        name: "acc".into(),
                        interval: j + 1,
                        step: Some(j as i64),
                        // A rising curve with noise, so the reduction has shapes to keep.
                        value: ceiling * (1.0 - (-(j as f64) / per_run as f64 * 5.0).exp())
                            + 0.02 * ((j * 7919 % 1000) as f64 / 1000.0 - 0.5),
                        time: t0 + i as f64 * 100.0 + j as f64 * 1e-3,
                        at: None,
                    })
                    .collect(),
            ));
            k += n;
        }
        let mut u = RunUpdate::new(&id, RunState::Completed, t0 + i as f64 * 100.0 + 99.0);
        u.exit_code = Some(0);
        store.send(Write::RunState(Box::new(u)));
    }
    store.commit_blocking(Write::Metrics(Vec::new())).unwrap();
    store.close();
}

/// Copies a workspace's history into `to` with the schema of version 4 (what builds before
/// the per-run aggregates read): the aggregates' table dropped, the version set back.
fn copy_as_version_4(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join(DB_FILE), to.join(DB_FILE)).unwrap();
    let conn = rusqlite::Connection::open(to.join(DB_FILE)).unwrap();
    conn.execute_batch("DROP TABLE metric_summary; PRAGMA user_version = 4;")
        .unwrap();
}

/// What one process cost.
struct Cost {
    wall: Duration,
    peak_kib: i64,
    ok: bool,
    bytes: u64,
}

/// Runs `binary ARGS --workspace WS`, its output in `out`, and measures it.
///
/// Through a fresh process of this bench (see [`launch`]): Linux counts into a child's peak
/// memory the memory of the process it was forked or spawned from, which here holds the
/// history it just wrote.
fn measure(binary: &Path, ws: &Path, args: &[&str], out: &Path, cap: Option<u64>) -> Cost {
    let reply = Command::new(std::env::current_exe().unwrap())
        .arg(LAUNCH)
        .arg(out)
        .arg(cap.unwrap_or(0).to_string())
        .arg(binary)
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&reply.stdout);
    let mut f = text.split_whitespace();
    let mut next = || f.next().unwrap_or_else(|| panic!("launcher said {text:?}"));
    let wall = Duration::from_secs_f64(next().parse().unwrap());
    let peak_kib = next().parse().unwrap();
    let ok = next() == "ok";
    let mut bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    if let Some(page) = args.iter().position(|a| *a == "--out") {
        bytes = std::fs::metadata(args[page + 1])
            .map(|m| m.len())
            .unwrap_or(0);
    }
    Cost {
        wall,
        peak_kib,
        ok,
        bytes,
    }
}

/// The argument that makes this bench a launcher: `LAUNCH OUT CAP BINARY ARGS...` runs
/// `BINARY ARGS` with its standard output in `OUT` (and an address-space limit of `CAP`
/// bytes unless 0), then prints its wall time in seconds, its peak resident memory in KiB
/// and `ok` or `failed`.
const LAUNCH: &str = "--launch-measured";

// The child is reaped by `wait4`, which gives its peak memory too; `Child::wait` would not.
#[allow(clippy::zombie_processes)]
fn launch(args: &[String]) {
    let [out, cap, binary, rest @ ..] = args else {
        panic!("{LAUNCH} OUT CAP BINARY ARGS...");
    };
    let cap: u64 = cap.parse().unwrap();
    let mut cmd = Command::new(binary);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .env_remove("SWEEP_WORKSPACE");
    if cap > 0 {
        // SAFETY: setrlimit only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::rlimit {
                    rlim_cur: cap,
                    rlim_max: cap,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let t0 = Instant::now();
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for and reaps our own child, which `child` never waits for again.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    println!(
        "{} {} {}",
        t0.elapsed().as_secs_f64(),
        usage.ru_maxrss,
        if ok { "ok" } else { "failed" }
    );
}

fn show(c: &Cost) -> String {
    if !c.ok {
        return format!("{:>30}", "failed");
    }
    format!(
        "{:>8.2} s {:>9.1} MiB {:>9}",
        c.wall.as_secs_f64(),
        c.peak_kib as f64 / 1024.0,
        human(c.bytes)
    )
}

fn human(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some(LAUNCH) {
        return launch(&all[1..]);
    }
    // `cargo bench` passes `--bench`; a filter that is not this bench's name skips it.
    let args: Vec<String> = all.into_iter().filter(|a| !a.starts_with("--")).collect();
    if args.iter().any(|a| !"readers".contains(a.as_str())) {
        return;
    }
    let points: u64 = std::env::var("SWEEP_BENCH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let this = PathBuf::from(env!("CARGO_BIN_EXE_sweep"));
    let baseline = std::env::var_os("SWEEP_BASELINE").map(PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("written");
    let t0 = Instant::now();
    history(&written, points);
    println!(
        "history: {points} values of the primary metric over {RUNS} runs, written in {:.1} s ({:.0} values/s), {}",
        t0.elapsed().as_secs_f64(),
        points as f64 / t0.elapsed().as_secs_f64(),
        human(std::fs::metadata(written.join(DB_FILE)).unwrap().len())
    );
    let page = dir.path().join("report.html");
    let page = page.to_str().unwrap();
    let commands: [(&str, Vec<&str>); 7] = [
        ("status", vec!["status", SWEEP]),
        ("status (all sweeps)", vec!["status"]),
        ("best", vec!["best", SWEEP]),
        (
            "export --format csv",
            vec!["export", SWEEP, "--format", "csv"],
        ),
        (
            "export --format jsonl",
            vec!["export", SWEEP, "--format", "jsonl"],
        ),
        (
            "export --format json",
            vec!["export", SWEEP, "--format", "json"],
        ),
        ("report", vec!["report", SWEEP, "--out", page]),
    ];
    let out = dir.path().join("stdout");
    let v4 = dir.path().join("v4");
    copy_as_version_4(&written, &v4);
    std::fs::remove_dir_all(&written).unwrap();
    let copy = |name: &str| {
        let ws = dir.path().join(name);
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::copy(v4.join(DB_FILE), ws.join(DB_FILE)).unwrap();
        ws
    };
    let mut base_costs: Vec<Option<Cost>> = Vec::new();
    if let Some(b) = &baseline {
        let ws = copy("baseline");
        for (_, args) in &commands {
            base_costs.push(Some(measure(b, &ws, args, &out, Some(14 << 30))));
        }
        std::fs::remove_dir_all(ws).unwrap();
    }
    let new_ws = copy("this");
    std::fs::remove_dir_all(&v4).unwrap();
    // Upgrading a version-4 history fills the aggregates from every value, once.
    let upgrade = measure(&this, &new_ws, &["status", SWEEP], &out, None);
    let mut rows: Vec<(String, Option<Cost>, Cost)> =
        vec![("upgrade to this schema (once)".into(), None, upgrade)];
    for (i, (name, args)) in commands.iter().enumerate() {
        let cost = measure(&this, &new_ws, args, &out, None);
        rows.push((
            name.to_string(),
            base_costs.get_mut(i).and_then(Option::take),
            cost,
        ));
    }
    println!(
        "{:<30} {:>30}   {:>30}",
        "",
        if baseline.is_some() { "baseline" } else { "" },
        "this build"
    );
    println!(
        "{:<30} {:>30}   {:>30}",
        "command", "time, peak RSS, output", "time, peak RSS, output"
    );
    for (name, base, new) in &rows {
        println!(
            "{name:<30} {:>30}   {:>30}",
            base.as_ref().map(show).unwrap_or_default(),
            show(new)
        );
    }
}
