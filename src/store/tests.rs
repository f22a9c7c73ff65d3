use super::*;

fn sweep(id: &str, goal: &str) -> NewSweep {
    NewSweep {
        id: id.into(),
        name: "demo".into(),
        created: now(),
        primary_metric: "acc".into(),
        goal: goal.into(),
        max_total_runs: 4,
        max_concurrent_runs: 2,
        ..Default::default()
    }
}

fn run(sweep: &str, seq: u64) -> NewRun {
    NewRun {
        id: format!("{sweep}_{seq}"),
        sweep_id: sweep.into(),
        seq,
        queued: now(),
        params: vec![("--lr".into(), serde_json::json!(0.1 * seq as f64))],
        argv: vec!["python3".into(), "train.py".into()],
        workdir: "/w".into(),
        run_dir: "/r".into(),
        retry_of: None,
    }
}

fn metric(run: &str, interval: u64, value: f64) -> MetricRow {
    MetricRow {
        run_id: run.into(),
        name: "acc".into(),
        interval,
        step: None,
        value,
        time: now(),
        at: None,
    }
}

/// A new history in a temporary workspace holding sweep `id` (with `goal`) and its first
/// `runs` runs.
fn history(id: &str, goal: &str, runs: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit_blocking(Write::Sweep(Box::new(sweep(id, goal))))
        .unwrap();
    for i in 0..runs {
        store.send(Write::Run(Box::new(run(id, i))));
    }
    (dir, store)
}

/// Records that sweep `id` ended with `state` and `reason`, and waits for it.
fn end_sweep(store: &Store, id: &str, state: SweepState, reason: &str) {
    store
        .commit_blocking(Write::SweepState {
            id: id.into(),
            state,
            reason: Some(reason.into()),
            time: now(),
        })
        .unwrap();
}

fn finish(store: &Store, run: &str, state: RunState) {
    let mut u = RunUpdate::new(run, state, now());
    u.reason = Some("exit code 0".into());
    store.commit_blocking(Write::RunState(Box::new(u))).unwrap();
}

#[test]
fn best_ignores_nan_inf_and_failed_runs() {
    let (_dir, store) = history("s1", "maximize", 3);
    store.send(Write::Metrics(vec![
        metric("s1_0", 1, 0.5),
        metric("s1_0", 2, f64::NAN),
        metric("s1_1", 1, f64::INFINITY),
        metric("s1_1", 2, 0.4),
        metric("s1_2", 1, 0.9),
    ]));
    finish(&store, "s1_0", RunState::Completed);
    finish(&store, "s1_1", RunState::Completed);
    finish(&store, "s1_2", RunState::Failed);
    let r = store.reader().unwrap();
    let s = r.resolve("latest").unwrap();
    match r.best(&s).unwrap() {
        BestOutcome::Best { run, value } => {
            assert_eq!(run.id, "s1_0");
            assert_eq!(value, 0.5);
            assert_eq!(run.params[0].0, "--lr");
        }
        BestOutcome::None(why) => panic!("{why}"),
    }
    let m = r.metrics(&s).unwrap();
    assert!(m.iter().any(|m| m.value.is_nan()));
    assert!(m.iter().any(|m| m.value == f64::INFINITY));
    let runs = r.runs(&s).unwrap();
    assert_eq!(runs[1].best, Some(0.4));
    assert_eq!(runs[1].intervals, 2);
}

#[test]
fn no_best_says_which_metrics_were_reported() {
    let (dir, store) = history("s2", "minimize", 1);
    let mut m = metric("s2_0", 1, 0.3);
    m.name = "loss".into();
    store.send(Write::Metrics(vec![m]));
    finish(&store, "s2_0", RunState::Completed);
    let r = Reader::open(dir.path()).unwrap();
    let s = r.resolve("demo").unwrap();
    match r.best(&s).unwrap() {
        BestOutcome::None(why) => {
            assert!(why.contains("\"acc\"") && why.contains("loss"), "{why}")
        }
        BestOutcome::Best { .. } => panic!("no run reported acc"),
    }
}

#[test]
fn newer_schema_is_refused_and_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .commit_blocking(Write::Sweep(Box::new(sweep("s3", "maximize"))))
            .unwrap();
    }
    // Reopening migrates nothing and keeps the row.
    drop(Store::open(dir.path()).unwrap());
    assert_eq!(
        Reader::open(dir.path())
            .unwrap()
            .resolve("s3")
            .unwrap()
            .name,
        "demo"
    );
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::TooNew { .. })
    ));
    assert!(matches!(
        Reader::open(dir.path()),
        Err(StoreError::TooNew { .. })
    ));
}

#[test]
fn unknown_sweep_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let r = Reader::open(dir.path()).unwrap();
    let e = r.resolve("nope").unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    assert!(r.resolve("latest").is_err());
}

/// A workspace whose history is at schema `version`, made by that version's migrations and
/// holding `rows` (SQL inserts written as that version's `sweep` wrote them), and a reader,
/// the first to open it (which upgrades it).
fn old_history(version: usize, rows: &str) -> (tempfile::TempDir, Reader) {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    for m in &schema::MIGRATIONS[..version] {
        conn.execute_batch(m).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn.execute_batch(rows).unwrap();
    drop(conn);
    let r = Reader::open(dir.path()).unwrap();
    (dir, r)
}

/// The schema version of the database at `path`.
fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// The rows of a history written by schema version 1 (the first release's): a sweep, a run
/// and metrics, exactly as that version's `sweep` wrote them.
const V1_ROWS: &str = r#"INSERT INTO sweeps (id, name, created, state, primary_metric, goal, seed, sampling, policy,
            max_total_runs, max_concurrent_runs, max_duration_minutes, source_dir, target, invocation)
          VALUES ('sw_old', 'old', 1700000000, 'completed', 'acc', 'maximize', 7, 'random', 'none',
            2, 1, 10, '/src', 'local', '["sweep","run"]');
        INSERT INTO runs (id, sweep_id, seq, state, reason, exit_code, queued, started, ended, argv,
            workdir, run_dir, params)
          VALUES ('sw_old_0', 'sw_old', 0, 'completed', 'exit code 0', 0, 1700000000, 1700000001,
            1700000002, '["python3","train.py"]', '/w', '/r', '[["--lr",0.5]]');
        INSERT INTO metrics (run, name, interval, value, time)
          VALUES (1, 'acc', 1, 0.25, 1700000001), (1, 'acc', 2, 0.75, 1700000002),
                 (1, 'acc', 3, 0.75, 1700000003), (1, 'acc', 4, NULL, 1700000004);"#;

#[test]
fn a_version_1_database_opens_upgrades_and_keeps_its_history() {
    // A reader is the first to open the old database: it upgrades it and reads it.
    let (dir, r) = old_history(1, V1_ROWS);
    let old = r.resolve("old").unwrap();
    assert_eq!(old.active_seconds, 0.0);
    drop(r);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(user_version(&dir.path().join(DB_FILE)), SCHEMA_VERSION);
    // The new columns are there and writable next to the old rows.
    store
        .commit_blocking(Write::SweepActive {
            id: "sw_old".into(),
            seconds: 12.5,
        })
        .unwrap();
    let mut u = RunUpdate::new("sw_old_0", RunState::Completed, now());
    u.detail = Some(r#"{"note":"upgraded"}"#.into());
    store.commit_blocking(Write::RunState(Box::new(u))).unwrap();
    drop(store);

    let r = Reader::open(dir.path()).unwrap();
    let sw = r.resolve("sw_old").unwrap();
    assert_eq!((sw.state.as_str(), sw.active_seconds), ("completed", 12.5));
    assert_eq!(r.spec(&sw).unwrap(), None);
    let runs = r.runs(&sw).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].best, Some(0.75));
    assert_eq!(runs[0].intervals, 4);
    // The upgrade found where the best value was first reached and what the run ended with.
    let at = r.best_at(&sw, "sw_old_0", 0.75).unwrap().unwrap();
    assert_eq!((at.interval, at.of), (2, 4));
    assert!(at.last.is_nan(), "{at:?}");
    assert_eq!(runs[0].params[0].0, "--lr");
    assert_eq!(
        runs[0].detail,
        Some(serde_json::json!({"note": "upgraded"}))
    );
    match r.best(&sw).unwrap() {
        BestOutcome::Best { run, value } => {
            assert_eq!((run.id.as_str(), value), ("sw_old_0", 0.75))
        }
        BestOutcome::None(why) => panic!("{why}"),
    }
}

/// The rows of a history written by schema version 2: a sweep that was running when its
/// `sweep` process went away.
const V2_ROWS: &str = r#"INSERT INTO sweeps (id, name, created, state, primary_metric, goal, seed, sampling, policy,
            max_total_runs, max_concurrent_runs, max_duration_minutes, source_dir, target, invocation,
            spec, active_seconds)
          VALUES ('sw_v2', 'v2', 1700000000, 'running', 'acc', 'maximize', 7, 'random', 'none',
            4, 2, 10, '/src', 'local', '["sweep","run"]', '{}', 30);
        INSERT INTO runs (id, sweep_id, seq, state, queued, started, argv, workdir, run_dir, params)
          VALUES ('sw_v2_0', 'sw_v2', 0, 'running', 1700000000, 1700000001,
            '["python3","train.py"]', '/w', '/r', '[["--lr",0.5]]');"#;

#[test]
fn a_version_2_database_upgrades_and_records_why_a_running_sweep_waits() {
    // A reader (`sweep status` beside an older database) upgrades it first.
    let (dir, r) = old_history(2, V2_ROWS);
    let sw = r.resolve("v2").unwrap();
    assert_eq!((sw.state.as_str(), sw.active_seconds), ("running", 30.0));
    assert_eq!(r.waiting(&sw).unwrap(), None);
    assert_eq!(r.runs(&sw).unwrap()[0].state, RunState::Running);
    drop(r);
    assert_eq!(user_version(&dir.path().join(DB_FILE)), SCHEMA_VERSION);

    let store = Store::open(dir.path()).unwrap();
    let waiting = |w: Option<&str>| Write::SweepWaiting {
        id: "sw_v2".into(),
        waiting: w.map(str::to_string),
    };
    store
        .commit_blocking(waiting(Some("max_concurrent_runs (2 of 2 running)")))
        .unwrap();
    let r = Reader::open(dir.path()).unwrap();
    assert_eq!(
        r.waiting(&sw).unwrap().as_deref(),
        Some("max_concurrent_runs (2 of 2 running)")
    );
    // Launching again: nothing to say.
    store.commit_blocking(waiting(None)).unwrap();
    assert_eq!(r.waiting(&sw).unwrap(), None);
    store
        .commit_blocking(waiting(Some("sampler needs results (1 running)")))
        .unwrap();
    // The sweep's end clears it, and a late write cannot bring it back.
    end_sweep(
        &store,
        "sw_v2",
        SweepState::Completed,
        "max_total_runs (4) reached",
    );
    store
        .commit_blocking(waiting(Some("search space exhausted (1 still running)")))
        .unwrap();
    let ended = r.resolve("sw_v2").unwrap();
    assert_eq!(ended.state, SweepState::Completed);
    assert_eq!(r.waiting(&ended).unwrap(), None);
    let raw: Option<String> = rusqlite::Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .query_row("SELECT waiting FROM sweeps WHERE id = 'sw_v2'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(raw, None);
}

#[test]
fn a_restart_supersedes_the_runs_earlier_metric_rows() {
    let (dir, store) = history("s1", "maximize", 2);
    store.send(Write::Metrics(vec![
        metric("s1_0", 1, 0.9),
        metric("s1_0", 2, 0.8),
        metric("s1_1", 1, 0.5),
    ]));
    store.send(Write::RunRestarted {
        run_id: "s1_0".into(),
        restart: 1,
    });
    store
        .commit_blocking(Write::Metrics(vec![metric("s1_0", 1, 0.25)]))
        .unwrap();
    let r = Reader::open(dir.path()).unwrap();
    let s = r.resolve("s1").unwrap();
    let runs = r.runs(&s).unwrap();
    assert_eq!(
        (runs[0].restarts, runs[0].intervals, runs[0].best),
        (1, 1, Some(0.25))
    );
    assert_eq!((runs[1].restarts, runs[1].best), (0, Some(0.5)));
    let all: Vec<(String, i64, f64)> = r
        .metrics_after(&s, 0)
        .unwrap()
        .into_iter()
        .map(|(_, m)| (m.run_id, m.interval, m.value))
        .collect();
    assert_eq!(
        all,
        [("s1_1".to_string(), 1, 0.5), ("s1_0".to_string(), 1, 0.25)]
    );
    assert_eq!(r.metrics(&s).unwrap().len(), 2);
    match r.best(&s).unwrap() {
        BestOutcome::Best { run, value } => assert_eq!((run.id.as_str(), value), ("s1_1", 0.5)),
        BestOutcome::None(why) => panic!("{why}"),
    }
}

#[test]
fn what_a_script_logged_keeps_each_keys_latest_value_and_says_what_changed() {
    use crate::metrics::Logged;
    let param = |k: &str, v: &str| Logged::Param {
        key: k.into(),
        value: v.into(),
    };
    let (dir, store) = history("s1", "maximize", 2);
    store.send(Write::Logged {
        run_id: "s1_0".into(),
        items: vec![
            param("lr", "0.1"),
            Logged::Tag {
                key: "lr".into(),
                value: "a tag, not the param".into(),
            },
            Logged::OtherRun {
                run: "x".into(),
                metric: "acc".into(),
            },
        ],
    });
    store
        .commit_blocking(Write::Logged {
            run_id: "s1_1".into(),
            items: vec![param("bs", "32")],
        })
        .unwrap();
    let r = Reader::open(dir.path()).unwrap();
    let s = r.resolve("s1").unwrap();
    let first = r.logged_after(&s, 0).unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = first
        .iter()
        .map(|(_, l)| {
            let (kind, key, value) = l.item.attribute().unwrap();
            (&*l.run_id, kind, key, value)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("s1_0", "param", "lr", "0.1"),
            ("s1_0", "tag", "lr", "a tag, not the param"),
            ("s1_1", "param", "bs", "32")
        ]
    );
    let mark = first.last().unwrap().0;
    // The same values again (a run read again after a resume) change nothing; a new value
    // replaces the old one and is what changed after the mark.
    store
        .commit_blocking(Write::Logged {
            run_id: "s1_0".into(),
            items: vec![param("lr", "0.1"), param("lr", "0.2")],
        })
        .unwrap();
    store
        .commit_blocking(Write::Logged {
            run_id: "s1_1".into(),
            items: vec![param("bs", "32")],
        })
        .unwrap();
    let after: Vec<Logged> = r
        .logged_after(&s, mark)
        .unwrap()
        .into_iter()
        .map(|(_, l)| l.item)
        .collect();
    assert_eq!(after, [param("lr", "0.2")]);
    let run0: Vec<Logged> = r
        .logged("s1_0")
        .unwrap()
        .into_iter()
        .map(|l| l.item)
        .collect();
    let tag = Logged::Tag {
        key: "lr".into(),
        value: "a tag, not the param".into(),
    };
    assert_eq!(run0, [param("lr", "0.2"), tag]);
}

/// Processes that open a new history at the same moment (a sweep starting, a reader polling
/// it) migrate it once between them, and every one of them gets it.
#[test]
fn concurrent_opens_of_a_new_history_all_succeed() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || schema::open_rw(&p).map(drop))
            })
            .collect();
        for o in opens {
            o.join().unwrap().unwrap();
        }
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }
}

#[test]
fn the_wal_is_copied_back_while_the_store_is_open() {
    let (dir, store) = history("s1", "maximize", 1);
    let db = dir.path().join(DB_FILE);
    let before = std::fs::metadata(&db).unwrap().len();
    // Many commits of a few pages each, as a sweep makes them: several times the
    // checkpoint threshold in all.
    for chunk in 0..400u64 {
        let rows = (0..100)
            .map(|i| metric("s1_0", chunk * 100 + i + 1, 0.5))
            .collect();
        store
            .commit_blocking(Write::Metrics(rows))
            .expect("committed");
    }
    // Only a checkpoint writes to the database file itself; the store is still open, so
    // it was not the final one.
    let grew = (0..200).any(|_| {
        let now = std::fs::metadata(&db).unwrap().len();
        now > before + 1_000_000 || {
            std::thread::sleep(std::time::Duration::from_millis(25));
            false
        }
    });
    assert!(
        grew,
        "database file still {} bytes",
        std::fs::metadata(&db).unwrap().len()
    );
    let wal = std::fs::metadata(dir.path().join(format!("{DB_FILE}-wal")))
        .unwrap()
        .len();
    // 40,000 rows are several MB of pages; a log reused after each checkpoint stays below.
    assert!(wal < 16 * 1024 * 1024, "WAL is {wal} bytes");
    drop(store);
}

#[test]
fn states_and_reasons_are_stored_as_the_text_they_always_were() {
    let (dir, store) = history("s1", "maximize", 0);
    let ends = [
        (RunState::Completed, EndReason::Exit(0), "exit code 0"),
        (RunState::Failed, EndReason::Signal(9), "signal 9 (SIGKILL)"),
        (
            RunState::Canceled,
            EndReason::Timeout(2.5),
            "timeout: exceeded max_run_duration_seconds (2.5)",
        ),
        (
            RunState::Canceled,
            EndReason::Policy("bandit".into()),
            "policy:bandit",
        ),
        (
            RunState::Failed,
            EndReason::Lost("host a stopped answering".into()),
            "lost: host a stopped answering",
        ),
        (
            RunState::Failed,
            EndReason::Other("diverged".into()),
            "diverged",
        ),
    ];
    for (i, (state, reason, _)) in ends.iter().enumerate() {
        store.send(Write::Run(Box::new(run("s1", i as u64))));
        let mut u = RunUpdate::new(&format!("s1_{i}"), *state, now());
        u.reason = Some(reason.clone());
        store.send(Write::RunState(Box::new(u)));
    }
    end_sweep(
        &store,
        "s1",
        SweepState::Canceled,
        "interrupted by the user",
    );
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let raw: Vec<(String, String)> = conn
        .prepare("SELECT state, reason FROM runs ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<(String, String)> = ends
        .iter()
        .map(|(s, _, text)| (s.as_str().to_string(), text.to_string()))
        .collect();
    assert_eq!(raw, expected);
    let sweep_state: String = conn
        .query_row("SELECT state FROM sweeps WHERE id = 's1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sweep_state, "canceled");

    let r = Reader::open(dir.path()).unwrap();
    let sw = r.resolve("s1").unwrap();
    assert_eq!(sw.state, SweepState::Canceled);
    let read: Vec<(RunState, Option<EndReason>)> = r
        .runs(&sw)
        .unwrap()
        .into_iter()
        .map(|run| (run.state, run.reason))
        .collect();
    let typed: Vec<(RunState, Option<EndReason>)> =
        ends.iter().map(|(s, e, _)| (*s, Some(e.clone()))).collect();
    assert_eq!(read, typed);
}

#[test]
fn a_state_of_no_known_name_is_a_read_error_naming_it() {
    let (dir, store) = history("s1", "maximize", 1);
    store.commit_blocking(Write::Metrics(Vec::new())).unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute("UPDATE runs SET state = 'paused'", [])
        .unwrap();
    let r = Reader::open(dir.path()).unwrap();
    let err = r.runs(&r.resolve("s1").unwrap()).unwrap_err().to_string();
    assert!(err.contains("unknown run state \"paused\""), "{err}");
}

/// Two processes' writers on one history (two sweeps sharing a workspace), each recording
/// run after run and committing each run's first metric rows in a transaction of their own,
/// which starts by looking the run up: every row of both is recorded, and no write fails.
#[test]
fn two_writers_on_one_history_lose_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    const RUNS: u64 = 150;
    const ROWS: u64 = 40;
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|id| {
            let ws = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let store = Store::open(&ws).unwrap();
                store.commit_blocking(Write::Sweep(Box::new(sweep(id, "maximize"))))?;
                for seq in 0..RUNS {
                    store.commit_blocking(Write::Run(Box::new(run(id, seq))))?;
                    let run_id = format!("{id}_{seq}");
                    let rows = (1..=ROWS).map(|i| metric(&run_id, i, 0.5)).collect();
                    store.commit_blocking(Write::Metrics(rows))?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap().expect("every write committed");
    }
    let r = Reader::open(dir.path()).unwrap();
    for id in ["a", "b"] {
        let s = r.resolve(id).unwrap();
        let runs = r.runs(&s).unwrap();
        assert_eq!(runs.len() as u64, RUNS);
        assert!(runs.iter().all(|r| r.intervals as u64 == ROWS));
        assert_eq!(r.metrics(&s).unwrap().len() as u64, RUNS * ROWS);
    }
}

/// How many values of the primary metric the history in `workspace` holds for sweep `s1`'s
/// first run.
fn first_run_intervals(workspace: &std::path::Path) -> i64 {
    let r = Reader::open(workspace).unwrap();
    let s = r.resolve("s1").unwrap();
    r.runs(&s).unwrap()[0].intervals
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A store with one sweep and one run, whose writer gives a failing transaction up after
/// `patience`.
fn store_with_a_run(dir: &std::path::Path, patience: std::time::Duration) -> Store {
    let store = Store::open_with_patience(dir, patience).unwrap();
    store
        .commit_blocking(Write::Sweep(Box::new(sweep("s1", "maximize"))))
        .unwrap();
    store
        .commit_blocking(Write::Run(Box::new(run("s1", 0))))
        .unwrap();
    store
}

/// [`store_with_a_run`] in a new workspace, and a connection of another "process" holding
/// the history's write lock.
fn store_behind_a_lock(
    patience: std::time::Duration,
) -> (tempfile::TempDir, Store, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_run(dir.path(), patience);
    let blocker = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    (dir, store, blocker)
}

#[test]
fn a_lock_held_past_the_writers_patience_stops_the_history_loudly() {
    // Another process holds the write lock and never lets go.
    let (dir, store, blocker) = store_behind_a_lock(std::time::Duration::from_millis(800));
    let rows = (1..=3).map(|i| metric("s1_0", i, 0.5)).collect();
    let err = store
        .commit_blocking(Write::Metrics(rows))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("could not write 3 metric values") && err.contains("locked"),
        "{err}"
    );
    // The engine hears of it without writing anything itself.
    assert_eq!(block_on(store.failed()).to_string(), err);
    // Once the lock is free, later writes are refused all the same: the history keeps
    // what came before the lost batch and nothing after it.
    blocker.execute_batch("ROLLBACK").unwrap();
    let later = store.commit_blocking(Write::Metrics(vec![metric("s1_0", 4, 0.9)]));
    assert_eq!(later.unwrap_err().to_string(), err);
    drop(store);
    assert_eq!(first_run_intervals(dir.path()), 0);
}

#[test]
fn a_lock_held_briefly_is_waited_for() {
    let (dir, store, blocker) = store_behind_a_lock(std::time::Duration::from_secs(20));
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        blocker.execute_batch("COMMIT").unwrap();
    });
    store
        .commit_blocking(Write::Metrics(vec![metric("s1_0", 1, 0.5)]))
        .expect("written once the lock is free");
    release.join().unwrap();
    assert_eq!(first_run_intervals(dir.path()), 1);
}

#[test]
fn a_batch_that_can_never_be_written_stops_the_history_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_run(dir.path(), std::time::Duration::from_secs(30));
    let t0 = std::time::Instant::now();
    // A value of a run the history does not have fails the same way every time.
    let err = store
        .commit_blocking(Write::Metrics(vec![metric("no_such_run", 1, 0.5)]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not write 1 metric values"), "{err}");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "not tried again"
    );
    assert!(store
        .commit_blocking(Write::Metrics(vec![metric("s1_0", 1, 0.5)]))
        .is_err());
}

mod summaries {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Value { run: u64, name: usize, value: f64 },
        Restart { run: u64 },
        Commit,
    }

    fn op() -> impl Strategy<Value = Op> {
        let value = prop_oneof![
            4 => -1e6f64..1e6,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ];
        prop_oneof![
            8 => (0..3u64, 0..2usize, value).prop_map(|(run, name, value)| Op::Value { run, name, value }),
            1 => (0..3u64).prop_map(|run| Op::Restart { run }),
            2 => Just(Op::Commit),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever the values (NaN, infinities), restarts and transaction boundaries, the
        /// aggregates the writer keeps are those of the values the history holds.
        #[test]
        fn the_kept_aggregates_are_those_of_the_recorded_values(ops in proptest::collection::vec(op(), 1..80)) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            store.commit_blocking(Write::Sweep(Box::new(sweep("s1", "minimize")))).unwrap();
            for i in 0..3 {
                store.send(Write::Run(Box::new(run("s1", i))));
            }
            let names = ["acc", "loss"];
            let mut intervals = std::collections::HashMap::new();
            let mut restarts = [0u32; 3];
            let mut pending = Vec::new();
            for op in ops {
                match op {
                    Op::Value { run, name, value } => {
                        let n = intervals.entry((run, name)).or_insert(0u64);
                        *n += 1;
                        let mut m = metric(&format!("s1_{run}"), *n, value);
                        m.name = names[name].into();
                        pending.push(m);
                    }
                    Op::Restart { run } => {
                        store.send(Write::Metrics(std::mem::take(&mut pending)));
                        restarts[run as usize] += 1;
                        intervals.retain(|k, _| k.0 != run);
                        store.send(Write::RunRestarted { run_id: format!("s1_{run}"), restart: restarts[run as usize] });
                    }
                    Op::Commit => {
                        store.commit_blocking(Write::Metrics(std::mem::take(&mut pending))).unwrap();
                    }
                }
            }
            store.commit_blocking(Write::Metrics(pending)).unwrap();
            let r = store.reader().unwrap();
            let s = r.resolve("s1").unwrap();
            let all = r.metrics(&s).unwrap();
            for run in r.runs(&s).unwrap() {
                let mut want = Vec::new();
                for name in names {
                    let vals: Vec<&MetricRecord> = all.iter().filter(|m| m.run_id == run.id && m.name == name).collect();
                    if vals.is_empty() {
                        continue;
                    }
                    let finite: Vec<f64> = vals.iter().map(|m| m.value).filter(|v| v.is_finite()).collect();
                    want.push((
                        name.to_string(),
                        vals.len() as i64,
                        finite.len() as i64,
                        finite.iter().copied().reduce(f64::min),
                        finite.iter().copied().reduce(f64::max),
                    ));
                }
                let got: Vec<_> = r.run_metrics(&run).unwrap().into_iter()
                    .map(|m| (m.name, m.reports, m.finite, m.lo, m.hi)).collect();
                prop_assert_eq!(&got, &want);
                // The first interval each extreme was reached at, and the last interval's
                // value, as the recorded values say.
                for m in r.run_metrics(&run).unwrap() {
                    let vals: Vec<&MetricRecord> = all.iter().filter(|v| v.run_id == run.id && v.name == m.name).collect();
                    let first_at = |x: Option<f64>| x.and_then(|x| vals.iter().find(|v| v.value == x).map(|v| v.interval));
                    prop_assert_eq!(m.lo_at, first_at(m.lo));
                    prop_assert_eq!(m.hi_at, first_at(m.hi));
                    let last = vals.iter().max_by_key(|v| v.interval).unwrap();
                    prop_assert_eq!(m.last_interval, last.interval);
                    prop_assert_eq!(format!("{:?}", m.last_value), format!("{:?}", last.value));
                    if m.name == "acc" {
                        // The sweep minimizes: its best value is the smallest.
                        let at = r.best_at(&s, &run.id, m.lo.unwrap_or(f64::NAN)).unwrap();
                        let want_at = m.lo_at.map(|interval| BestAt { interval, of: last.interval, last: last.value });
                        prop_assert_eq!(format!("{at:?}"), format!("{want_at:?}"));
                    }
                }
                let acc = want.iter().find(|w| w.0 == "acc");
                prop_assert_eq!(run.intervals, acc.map_or(0, |w| w.1));
                prop_assert_eq!(run.best, acc.and_then(|w| w.3));
                let mut streamed = Vec::new();
                r.each_value::<StoreError>(&run, "acc", |m| { streamed.push(m.interval); Ok(()) }).unwrap();
                prop_assert_eq!(streamed, (1..=acc.map_or(0, |w| w.1)).collect::<Vec<_>>());
            }
        }
    }
}
