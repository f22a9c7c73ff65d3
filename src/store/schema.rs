//! The history's schema and its `PRAGMA user_version` migrations.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// The schema version this build writes. Version 0 is an empty database.
pub const SCHEMA_VERSION: i64 = 7;

/// Migrations, in order: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sweeps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    experiment TEXT,
    created REAL NOT NULL,
    ended REAL,
    state TEXT NOT NULL,
    reason TEXT,
    primary_metric TEXT NOT NULL,
    goal TEXT NOT NULL,
    seed INTEGER,
    sampling TEXT,
    policy TEXT,
    max_total_runs INTEGER,
    max_concurrent_runs INTEGER,
    max_duration_minutes REAL,
    max_run_duration_seconds REAL,
    source_dir TEXT,
    git_commit TEXT,
    git_dirty INTEGER,
    target TEXT,
    invocation TEXT
);
CREATE INDEX sweeps_name ON sweeps(name);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    sweep_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    exit_code INTEGER,
    signal INTEGER,
    queued REAL NOT NULL,
    started REAL,
    ended REAL,
    argv TEXT NOT NULL,
    workdir TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    handle TEXT,
    params TEXT NOT NULL,
    last_output TEXT
);
CREATE INDEX runs_sweep ON runs(sweep_id, seq);
CREATE TABLE params (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE metrics (
    run INTEGER NOT NULL,
    name TEXT NOT NULL,
    interval INTEGER NOT NULL,
    step INTEGER,
    value REAL,
    time REAL NOT NULL
);
CREATE INDEX metrics_run ON metrics(run);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id TEXT NOT NULL,
    run_id TEXT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_sweep ON events(sweep_id, id);
"#,
    // Version 2: what `sweep resume` needs to rebuild a sweep (its resolved spec, without
    // secrets), the running time already used, the numbers behind a policy decision, retries.
    r#"
ALTER TABLE sweeps ADD COLUMN spec TEXT;
ALTER TABLE sweeps ADD COLUMN active_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN detail TEXT;
ALTER TABLE runs ADD COLUMN retry_of TEXT;
"#,
    // Version 3: why a running sweep launches nothing right now, written by the process
    // running it when the reason changes, so `sweep status` in another process can say so.
    r#"
ALTER TABLE sweeps ADD COLUMN waiting TEXT;
"#,
    // Version 4: restarts. A run its target started over (a requeued Slurm job) counts its
    // restarts; each metric row says which attempt reported it, and only the current
    // attempt's rows are the run's metrics (the earlier attempts' are kept, superseded).
    r#"
ALTER TABLE runs ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metrics ADD COLUMN restart INTEGER NOT NULL DEFAULT 0;
"#,
    // Version 5: per-metric aggregates of each run attempt, kept by the writer in the same
    // transaction as the rows, so `status`, `runs`, `best` and the report read one row per
    // run and metric instead of every value: counts, finite extremes and the first interval
    // each was reached at, the last interval and its value. Filled from the rows already
    // recorded.
    r#"
CREATE TABLE metric_summary (
    run INTEGER NOT NULL,
    restart INTEGER NOT NULL,
    name TEXT NOT NULL,
    reports INTEGER NOT NULL,
    finite INTEGER NOT NULL,
    lo REAL,
    hi REAL,
    last_time REAL NOT NULL,
    lo_at INTEGER,
    hi_at INTEGER,
    last_interval INTEGER NOT NULL,
    last_value REAL,
    PRIMARY KEY (run, restart, name)
) WITHOUT ROWID;
INSERT INTO metric_summary (run, restart, name, reports, finite, lo, hi, last_time, last_interval)
SELECT run, restart, name, COUNT(*),
       COUNT(CASE WHEN value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308 THEN 1 END),
       MIN(CASE WHEN value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308 THEN value END),
       MAX(CASE WHEN value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308 THEN value END),
       MAX(time), MAX(interval)
FROM metrics GROUP BY run, restart, name;
UPDATE metric_summary SET
  lo_at = (SELECT MIN(m.interval) FROM metrics m WHERE m.run = metric_summary.run
           AND m.restart = metric_summary.restart AND m.name = metric_summary.name
           AND m.value = metric_summary.lo),
  hi_at = (SELECT MIN(m.interval) FROM metrics m WHERE m.run = metric_summary.run
           AND m.restart = metric_summary.restart AND m.name = metric_summary.name
           AND m.value = metric_summary.hi),
  last_value = (SELECT m.value FROM metrics m WHERE m.run = metric_summary.run
                AND m.restart = metric_summary.restart AND m.name = metric_summary.name
                ORDER BY m.interval DESC, m.rowid DESC LIMIT 1);
"#,
    // Version 6: how far each source of a run (a file of its run directory: output.log,
    // metrics.jsonl, an event file) has been recorded, per attempt: the offset just past
    // the last line or record whose reports are in `metrics`. Written in the same
    // transaction as those rows, so a resumed sweep that reads the run again skips
    // exactly what is recorded, source by source.
    r#"
CREATE TABLE metric_sources (
    run INTEGER NOT NULL,
    restart INTEGER NOT NULL,
    source TEXT NOT NULL,
    read_to INTEGER NOT NULL,
    PRIMARY KEY (run, restart, source)
) WITHOUT ROWID;
"#,
    // Version 7: the parameters and tags a run's script logged itself (`mlflow.log_param`,
    // `mlflow.set_tag`, `run.tag`), one row per run, kind and key with the latest value.
    // `id` grows with every change (AUTOINCREMENT never reuses one), so a reader can ask
    // what changed after the last id it saw.
    r#"
CREATE TABLE logged (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (run, kind, key)
);
"#,
];

/// How long a connection waits for a lock another connection holds before SQLite answers
/// "database is locked".
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    let wait = BUSY_TIMEOUT;
    conn.busy_timeout(wait)?;
    // Switching a new file to WAL takes an exclusive lock, and when another process is
    // opening the same new file at that moment SQLite says "locked" at once instead of
    // waiting on the busy handler: try again for as long as the handler would have waited.
    let t0 = std::time::Instant::now();
    loop {
        match conn.execute_batch("PRAGMA journal_mode = WAL;") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && t0.elapsed() < wait =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            r => break r?,
        }
    }
    // NORMAL in WAL mode: a commit survives a crash of sweep (not of the machine), at a
    // fraction of FULL's cost; that is the durability the resume story needs.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768;")
}

/// Opens the database for writing, creating and migrating it.
pub(crate) fn open_rw(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
        });
    }
    loop {
        // Each step and its version bump commit together, so a crash leaves a whole version.
        // The version is read again under the write lock (IMMEDIATE): another process
        // opening the same history at the same moment (a reader polling a starting sweep)
        // may have taken the step already.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let v: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let Some(sql) = usize::try_from(v).ok().and_then(|v| MIGRATIONS.get(v)) else {
            break;
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
    }
    Ok(conn)
}

/// Opens the database for reading; it must exist and not be newer than this build.
pub(crate) fn open_ro(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::NotFound(format!(
            "no run history at {} (no sweep has run in this workspace; pass --workspace DIR?)",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
        });
    }
    if found < SCHEMA_VERSION {
        // A history written by an older sweep: upgrade it once (each step is atomic), so
        // every reader sees the current schema.
        drop(conn);
        drop(open_rw(path)?);
        return open_ro(path);
    }
    Ok(conn)
}
