//! The run history (docs/workspace.md): an SQLite database in the workspace (`sweep.db`, WAL)
//! holding sweeps, runs, parameters, metrics and events.
//!
//! All writes go through one writer thread ([`Store`]) that groups whatever is queued into
//! one transaction, so a run printing a million metric lines costs a few hundred commits, not
//! a million. State changes are sent with [`Store::commit`], which resolves only once the
//! transaction holding them is committed: the engine writes a state change *before* it acts
//! on it. Reads use separate connections ([`Reader`]); WAL lets them run beside the writer.
//!
//! Several processes may write one history (two sweeps sharing a workspace): each
//! transaction takes the write lock before it reads, waits for it, and is tried again while
//! it fails for a reason that can pass. A transaction that still cannot be written stops the
//! writer ([`Store::failed`]): nothing after it is recorded, so the history is what a crash
//! at that moment would have left, and a write is never silently lost.
//!
//! Beside every metric value, the writer keeps per run attempt and metric the count, the
//! finite extremes and the last time (`metric_summary`), in the same transaction: the views
//! of a whole sweep read those instead of every value.
//!
//! The schema is versioned with `PRAGMA user_version` (see [`SCHEMA_VERSION`]). NaN metric
//! values are stored as SQL `NULL` (SQLite has no NaN); infinities are stored as such.

mod read;
mod schema;
mod state;

pub use read::{
    BestAt, BestOutcome, EventRecord, LoggedRecord, MetricRecord, MetricSummary, Reader, RunRecord,
    SweepRecord,
};
pub use schema::SCHEMA_VERSION;
pub use state::{EndReason, RunState, SweepState};

use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The database file name inside the workspace.
pub const DB_FILE: &str = "sweep.db";

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An SQLite error.
    #[error("run history: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A file-system error.
    #[error("run history: {0}")]
    Io(#[from] std::io::Error),
    /// The database was written by a newer `sweep`.
    #[error("run history {path}: schema version {found} is newer than this sweep understands ({SCHEMA_VERSION}); upgrade sweep")]
    TooNew {
        /// The database path.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
    /// The writer thread is gone (a previous write failed fatally).
    #[error("run history writer stopped: {0}")]
    WriterGone(String),
    /// No such sweep.
    #[error("{0}")]
    NotFound(String),
}

/// A new sweep's row.
#[derive(Debug, Clone, Default)]
pub struct NewSweep {
    /// The sweep id.
    pub id: String,
    /// The user-facing name.
    pub name: String,
    /// The experiment name.
    pub experiment: Option<String>,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// The primary metric.
    pub primary_metric: String,
    /// `maximize` / `minimize`.
    pub goal: String,
    /// The sampling seed actually used.
    pub seed: u64,
    /// The sampling algorithm's name.
    pub sampling: String,
    /// The policy's name.
    pub policy: String,
    /// `max_total_runs`.
    pub max_total_runs: u64,
    /// `max_concurrent_runs`.
    pub max_concurrent_runs: u64,
    /// `max_duration_minutes`.
    pub max_duration_minutes: f64,
    /// Per-run limit, seconds.
    pub max_run_duration_seconds: Option<f64>,
    /// The source directory.
    pub source_dir: String,
    /// The source directory's git commit, if it is a git repository.
    pub git_commit: Option<String>,
    /// Whether the git work tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The compute target's name.
    pub target: String,
    /// The command line that started the sweep (for resume hints).
    pub invocation: Vec<String>,
    /// What `sweep resume` rebuilds the sweep from (JSON, no secrets).
    pub spec: Option<String>,
}

/// A new run's row.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run id.
    pub id: String,
    /// The sweep it belongs to.
    pub sweep_id: String,
    /// 0-based proposal order.
    pub seq: u64,
    /// When it was queued, Unix seconds.
    pub queued: f64,
    /// Parameters in parameter-space order, values in their JSON form.
    pub params: Vec<(String, serde_json::Value)>,
    /// The argument vector it is launched with.
    pub argv: Vec<String>,
    /// Its working directory.
    pub workdir: String,
    /// Its run directory (logs, metrics file, outputs).
    pub run_dir: String,
    /// The run this one retries (a run lost with its host or process), if any.
    pub retry_of: Option<String>,
}

/// A change of a run's state.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    /// The run id.
    pub run_id: String,
    /// The new state.
    pub state: RunState,
    /// When, Unix seconds.
    pub time: f64,
    /// Why (required for terminal states).
    pub reason: Option<EndReason>,
    /// The exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// The target's persisted handle (set when it starts running).
    pub handle: Option<String>,
    /// The last lines of output (set on failure).
    pub last_output: Option<String>,
    /// The numbers behind the decision that ended it (JSON; a policy's interval, value and
    /// threshold).
    pub detail: Option<String>,
}

impl RunUpdate {
    /// An update with only a state and a time.
    pub fn new(run_id: &str, state: RunState, time: f64) -> RunUpdate {
        RunUpdate {
            run_id: run_id.to_string(),
            state,
            time,
            reason: None,
            exit_code: None,
            signal: None,
            handle: None,
            last_output: None,
            detail: None,
        }
    }
}

/// One metric value to record.
#[derive(Debug, Clone)]
pub struct MetricRow {
    /// The run id.
    pub run_id: String,
    /// The metric name.
    pub name: String,
    /// 1-based count of this metric's reports in the run (the *interval*).
    pub interval: u64,
    /// The step the run attached.
    pub step: Option<i64>,
    /// The value.
    pub value: f64,
    /// When it was read, Unix seconds.
    pub time: f64,
    /// Where it was read in the run's files, if it was: the row and the source's recorded
    /// position are written together.
    pub at: Option<crate::metrics::Position>,
}

/// A write to the history.
#[derive(Debug, Clone)]
pub enum Write {
    /// Record a new sweep.
    Sweep(Box<NewSweep>),
    /// Change a sweep's state (terminal states set its end time).
    SweepState {
        /// The sweep id.
        id: String,
        /// The new state.
        state: SweepState,
        /// Why.
        reason: Option<String>,
        /// When.
        time: f64,
    },
    /// Record why a running sweep launches nothing now (`None`: it is launching). Ignored
    /// once the sweep is no longer running; a state change clears it.
    SweepWaiting {
        /// The sweep id.
        id: String,
        /// The reason, as `sweep status` shows it after `waiting: `.
        waiting: Option<String>,
    },
    /// Record the running time a sweep has used so far, in seconds.
    SweepActive {
        /// The sweep id.
        id: String,
        /// Seconds a `sweep` process has spent running it, over all sessions.
        seconds: f64,
    },
    /// Record a new (queued) run with its parameters.
    Run(Box<NewRun>),
    /// Change a run's state.
    RunState(Box<RunUpdate>),
    /// Record metric values (they belong to the run's current attempt).
    Metrics(Vec<MetricRow>),
    /// Record what a run's script logged beside its metrics: parameters and tags
    /// ([`crate::metrics::Logged::Param`], [`crate::metrics::Logged::Tag`]; other items are
    /// ignored). A key recorded again takes the new value.
    Logged {
        /// The run id.
        run_id: String,
        /// What it logged, in order.
        items: Vec<crate::metrics::Logged>,
    },
    /// A run was started over by its target: its metric rows recorded so far are superseded
    /// (kept, but no longer the run's metrics), and the rows that follow are restart
    /// `restart`'s, from interval 1.
    RunRestarted {
        /// The run id.
        run_id: String,
        /// How many times it has been restarted.
        restart: u32,
    },
    /// Record an event.
    Event {
        /// The sweep id.
        sweep_id: String,
        /// The run, if the event is about one.
        run_id: Option<String>,
        /// When.
        time: f64,
        /// A short kind (`run-state`, `warning`, `sweep-state`, ...).
        kind: String,
        /// Human-readable text.
        message: String,
    },
}

enum Cmd {
    Write(
        Write,
        Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    ),
    Stop,
}

/// The handle to the writer thread. Dropping it flushes and stops the thread.
pub struct Store {
    tx: mpsc::Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    /// Why the writer gave the history up, once it has (see [`Store::failed`]).
    broken: tokio::sync::watch::Receiver<Option<String>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Most writes grouped into one transaction; bounds the latency of an acknowledged write.
const MAX_BATCH: usize = 50_000;

/// How long the writer keeps trying a transaction that fails for a reason that can pass
/// (another process holding the write lock past the busy timeout, a full disk, an I/O
/// error) before it gives the history up.
pub const WRITE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// WAL frames (pages) written since the last checkpoint that make the writer ask for the
/// next one: SQLite's own default threshold.
const CHECKPOINT_FRAMES: i32 = 1000;
/// WAL frames past which the writer checkpoints itself, waiting: a checkpointer that cannot
/// keep up must not let the log grow without bound.
const CHECKPOINT_FORCE_FRAMES: i32 = 64 * CHECKPOINT_FRAMES;

thread_local! {
    /// Frames in the WAL after the writer thread's last commit (its WAL hook sets it).
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// Copies the WAL back into the database on a thread and connection of its own. A
/// checkpoint ends in an `fsync`, which in the writer (SQLite's default, every 1000 pages)
/// held up every commit queued behind it, and with them the launches waiting for their
/// `Starting` record: on a real disk, stalls of 10 ms every few hundred runs.
struct Checkpointer {
    tx: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Frames in the WAL when the last checkpoint was asked for.
    asked_at: i32,
}

impl Checkpointer {
    fn start(path: &Path) -> Checkpointer {
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("sweep-checkpoint".into())
            .spawn(move || {
                let conn = match Connection::open(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("history checkpointer: {e}");
                        return;
                    }
                };
                let _ = conn.busy_timeout(schema::BUSY_TIMEOUT);
                while rx.recv().is_ok() {
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!("history checkpoint failed: {e}");
                    }
                }
            })
            .ok();
        Checkpointer {
            tx: thread.is_some().then_some(tx),
            thread,
            asked_at: 0,
        }
    }

    /// After a commit that left `frames` in the WAL: asks for a checkpoint every
    /// [`CHECKPOINT_FRAMES`], or makes one on `conn` if the log has grown too long.
    fn after_commit(&mut self, conn: &Connection, frames: i32) {
        if frames < self.asked_at {
            // The log started over: everything before was copied back.
            self.asked_at = 0;
        }
        if frames >= CHECKPOINT_FORCE_FRAMES || self.tx.is_none() && frames >= CHECKPOINT_FRAMES {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
            self.asked_at = 0;
        } else if frames - self.asked_at >= CHECKPOINT_FRAMES {
            if let Some(tx) = &self.tx {
                // Full: one is already asked for and will see these frames too.
                let _ = tx.try_send(());
            }
            self.asked_at = frames;
        }
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A write queued by [`Store::commit_later`].
#[derive(Debug)]
pub struct Committing(tokio::sync::oneshot::Receiver<Result<(), String>>);

impl Committing {
    /// Blocks until the write is committed (not from inside an async task).
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        match self.0.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::WriterGone(e)),
            Err(_) => Err(StoreError::WriterGone("thread exited".into())),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the history in `workspace`, migrating its schema.
    pub fn open(workspace: &Path) -> Result<Store, StoreError> {
        Store::open_with_patience(workspace, WRITE_PATIENCE)
    }

    /// [`Store::open`], giving up a failing transaction after `patience` instead of
    /// [`WRITE_PATIENCE`].
    pub(crate) fn open_with_patience(
        workspace: &Path,
        patience: std::time::Duration,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(workspace)?;
        let path = workspace.join(DB_FILE);
        let conn = schema::open_rw(&path)?;
        // A shorter patience bounds the wait for the lock too.
        conn.busy_timeout(patience.min(schema::BUSY_TIMEOUT))?;
        // Replaces SQLite's automatic checkpoints, which ran on this connection.
        conn.wal_hook(Some(note_wal_frames));
        let (broken_tx, broken) = tokio::sync::watch::channel(None);
        let writer = Writer {
            checkpointer: Checkpointer::start(&path),
            conn,
            keys: RunKeys::default(),
            patience,
            path: path.clone(),
            broken: broken_tx,
        };
        let (tx, rx) = mpsc::channel::<Cmd>();
        let thread = std::thread::Builder::new()
            .name("sweep-store".into())
            .spawn(move || writer.run(rx))?;
        Ok(Store {
            tx,
            thread: Some(thread),
            path,
            broken,
        })
    }

    /// Resolves once the writer has given the history up: a transaction failed for longer
    /// than its patience, or for a reason that cannot pass. From then on every write is
    /// refused with the same error, so the history keeps exactly what was written before,
    /// as after a crash. A sweep stops on it rather than go on with writes that vanish.
    pub async fn failed(&self) -> StoreError {
        let mut rx = self.broken.clone();
        let why = rx
            .wait_for(Option::is_some)
            .await
            .map(|v| v.clone().unwrap_or_default());
        match why {
            Ok(why) => StoreError::WriterGone(why),
            // The writer thread ended without a failure: nothing will fail now.
            Err(_) => std::future::pending().await,
        }
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a read connection to the same database.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Reader::open_db(&self.path)
    }

    /// Queues a write without waiting (metrics, events).
    pub fn send(&self, w: Write) {
        // A gone writer already logged why; the next `commit` reports it.
        let _ = self.tx.send(Cmd::Write(w, None));
    }

    /// Queues a write and waits until the transaction holding it is committed.
    pub async fn commit(&self, w: Write) -> Result<(), StoreError> {
        let (ack, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Cmd::Write(w, Some(ack)))
            .map_err(|_| StoreError::WriterGone("thread exited".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::WriterGone(e)),
            Err(_) => Err(StoreError::WriterGone("thread exited".into())),
        }
    }

    /// Queues a write and returns what tells, later and on any thread, that the transaction
    /// holding it is committed: for work that must wait for the write but need not hold up
    /// its caller meanwhile.
    pub fn commit_later(&self, w: Write) -> Committing {
        let (ack, rx) = tokio::sync::oneshot::channel();
        let _ = self.tx.send(Cmd::Write(w, Some(ack)));
        Committing(rx)
    }

    /// Like [`Store::commit`], for synchronous callers (not from inside an async task).
    pub fn commit_blocking(&self, w: Write) -> Result<(), StoreError> {
        let (ack, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Cmd::Write(w, Some(ack)))
            .map_err(|_| StoreError::WriterGone("thread exited".into()))?;
        match rx.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::WriterGone(e)),
            Err(_) => Err(StoreError::WriterGone("thread exited".into())),
        }
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.commit(Write::Metrics(Vec::new())).await
    }

    /// Flushes and stops the writer thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The writer thread's state: its connection, what it caches and how it gives up.
struct Writer {
    conn: Connection,
    keys: RunKeys,
    checkpointer: Checkpointer,
    patience: std::time::Duration,
    path: PathBuf,
    broken: tokio::sync::watch::Sender<Option<String>>,
}

/// Whether a failed transaction may succeed if tried again: the lock is still held by
/// another writer, the disk is full, an I/O error. Anything else (a constraint, a corrupt
/// file) fails the same way every time.
fn transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(
        f.code,
        C::DatabaseBusy
            | C::DatabaseLocked
            | C::SystemIoFailure
            | C::DiskFull
            | C::CannotOpen
            | C::OutOfMemory
            | C::FileLockingProtocolFailed
            | C::SchemaChanged
    ))
}

/// How many metric values a batch holds.
fn metric_rows(batch: &[Cmd]) -> usize {
    batch
        .iter()
        .map(|c| match c {
            Cmd::Write(Write::Metrics(m), _) => m.len(),
            _ => 0,
        })
        .sum()
}

/// What a batch holds, for the message that says it could not be written.
fn batch_contents(batch: &[Cmd]) -> String {
    let rows = metric_rows(batch);
    let other = batch
        .iter()
        .filter(|c| matches!(c, Cmd::Write(w, _) if !matches!(w, Write::Metrics(_))))
        .count();
    match (rows, other) {
        (0, n) => format!("{n} changes"),
        (r, 0) => format!("{r} metric values"),
        (r, n) => format!("{r} metric values and {n} other changes"),
    }
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        let mut batch: Vec<Cmd> = Vec::new();
        let mut stop = false;
        while !stop {
            match rx.recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
            // Group whatever else is already queued into the same transaction.
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let broken = self.broken.borrow().clone();
            let result = match broken {
                // Nothing after a lost batch is written: the history stays a prefix of
                // what was sent, which is what `sweep resume` knows how to continue.
                Some(why) => Err(why),
                None => self.write(&batch),
            };
            let rows = metric_rows(&batch);
            // Even on failure, so that readers waiting for room never stall: a failure
            // stops the sweep (see `Store::failed`).
            crate::metrics::committed(rows);
            for cmd in batch.drain(..) {
                match cmd {
                    Cmd::Write(_, Some(ack)) => {
                        let _ = ack.send(result.clone());
                    }
                    Cmd::Write(_, None) => {}
                    Cmd::Stop => stop = true,
                }
            }
        }
        self.checkpointer.stop();
        // Best effort: fold the WAL back so the database file alone is complete.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
    }

    /// Commits `batch` in one transaction, trying again while it fails for a reason that
    /// can pass, for up to the writer's patience. On giving up, marks the history broken.
    fn write(&mut self, batch: &[Cmd]) -> Result<(), String> {
        let t0 = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(10);
        let mut warned = false;
        loop {
            let result = apply_batch(&mut self.conn, batch, &mut self.keys);
            let e = match result {
                Ok(()) => {
                    self.checkpointer
                        .after_commit(&self.conn, WAL_FRAMES.with(|f| f.get()));
                    if warned {
                        tracing::warn!("run history {}: written after all", self.path.display());
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            // Rolled back: what the batch cached (a restart) may not be in the file.
            self.keys = RunKeys::default();
            if transient(&e) && t0.elapsed() + pause < self.patience {
                if !warned {
                    tracing::warn!(
                        "run history {}: writing {} failed ({e}); trying again for up to {} s",
                        self.path.display(),
                        batch_contents(batch),
                        self.patience.as_secs()
                    );
                    warned = true;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
                continue;
            }
            let why = format!(
                "could not write {} to {} ({e}{}); nothing after it is recorded, and `sweep resume` continues from what is",
                batch_contents(batch),
                self.path.display(),
                if transient(&e) {
                    format!(", still failing after {:.0} s", t0.elapsed().as_secs_f64())
                } else {
                    String::new()
                }
            );
            tracing::error!("run history writer stopped: {why}");
            self.broken.send_replace(Some(why.clone()));
            return Err(why);
        }
    }
}

/// Run ids to the integer keys metric rows refer to, with each run's current restart: a
/// small integer index is what keeps a million inserts cheap (a text index on every row
/// costs several times more).
#[derive(Default)]
struct RunKeys {
    last: Option<(String, (i64, i64))>,
    map: std::collections::HashMap<String, (i64, i64)>,
}

impl RunKeys {
    /// The run's key and current restart.
    fn get(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        run_id: &str,
    ) -> rusqlite::Result<(i64, i64)> {
        if let Some((id, k)) = &self.last {
            if id == run_id {
                return Ok(*k);
            }
        }
        let k = match self.map.get(run_id) {
            Some(k) => *k,
            None => {
                let k: (i64, i64) = tx
                    .prepare_cached("SELECT rowid, restarts FROM runs WHERE id = ?1")?
                    .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                self.map.insert(run_id.to_string(), k);
                k
            }
        };
        self.last = Some((run_id.to_string(), k));
        Ok(k)
    }

    /// Forgets a run's cached restart (it changed).
    fn forget(&mut self, run_id: &str) {
        self.map.remove(run_id);
        if self.last.as_ref().is_some_and(|(id, _)| id == run_id) {
            self.last = None;
        }
    }
}

fn apply_batch(conn: &mut Connection, batch: &[Cmd], keys: &mut RunKeys) -> rusqlite::Result<()> {
    // IMMEDIATE: the write lock is taken (waiting on the busy handler) before anything is
    // read. A deferred transaction that reads first (a run's key) and then writes cannot
    // wait when another process committed in between: SQLite answers "database is locked"
    // at once, and two sweeps sharing a workspace lost whole batches that way.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for cmd in batch {
        if let Cmd::Write(w, _) = cmd {
            apply(&tx, w, keys)?;
        }
    }
    tx.commit()
}

/// What one transaction adds to a run attempt's aggregates of one metric (the
/// `metric_summary` row it is added to).
#[derive(Default)]
struct Summary {
    reports: i64,
    finite: i64,
    /// The smallest finite value and the first interval it was reached at.
    lo: Option<(f64, i64)>,
    /// The largest finite value and the first interval it was reached at.
    hi: Option<(f64, i64)>,
    last_time: f64,
    /// The last interval and its value (NaN as `None`).
    last: Option<(i64, Option<f64>)>,
}

impl Summary {
    fn add(&mut self, v: f64, interval: i64, time: f64) {
        self.reports += 1;
        if v.is_finite() {
            self.finite += 1;
            // Ties keep the earlier interval: values usually come in interval order, but a
            // batch may hold them in any.
            let better = |old: Option<(f64, i64)>, wins: fn(f64, f64) -> bool| match old {
                Some((o, at)) if !(wins(v, o) || (v == o && interval < at)) => Some((o, at)),
                _ => Some((v, interval)),
            };
            self.lo = better(self.lo, |a, b| a < b);
            self.hi = better(self.hi, |a, b| a > b);
        }
        if self.last.is_none_or(|(at, _)| interval >= at) {
            self.last = Some((interval, nan_as_null(v)));
        }
        self.last_time = self.last_time.max(time);
    }
}

fn nan_as_null(v: f64) -> Option<f64> {
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, w: &Write, keys: &mut RunKeys) -> rusqlite::Result<()> {
    match w {
        Write::Sweep(s) => {
            tx.prepare_cached(
                "INSERT INTO sweeps (id, name, experiment, created, state, primary_metric, goal, seed, sampling, policy,
                  max_total_runs, max_concurrent_runs, max_duration_minutes, max_run_duration_seconds,
                  source_dir, git_commit, git_dirty, target, invocation, spec)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?
            .execute(params![
                s.id,
                s.name,
                s.experiment,
                s.created,
                s.primary_metric,
                s.goal,
                s.seed as i64,
                s.sampling,
                s.policy,
                s.max_total_runs as i64,
                s.max_concurrent_runs as i64,
                s.max_duration_minutes,
                s.max_run_duration_seconds,
                s.source_dir,
                s.git_commit,
                s.git_dirty,
                s.target,
                serde_json::to_string(&s.invocation).unwrap_or_default(),
                s.spec,
            ])?;
        }
        Write::SweepState {
            id,
            state,
            reason,
            time,
        } => {
            let ended = (*state != SweepState::Running).then_some(*time);
            // Running again (a resumed sweep) clears the end time. A waiting reason belongs
            // to the session that wrote it: any state change clears it.
            tx.prepare_cached(
                "UPDATE sweeps SET state = ?2, reason = ?3,
                   ended = CASE WHEN ?2 = 'running' THEN NULL ELSE COALESCE(?4, ended) END,
                   waiting = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, state, reason, ended])?;
        }
        Write::SweepWaiting { id, waiting } => {
            tx.prepare_cached(
                "UPDATE sweeps SET waiting = ?2 WHERE id = ?1 AND state = 'running'",
            )?
            .execute(params![id, waiting])?;
        }
        Write::SweepActive { id, seconds } => {
            tx.prepare_cached("UPDATE sweeps SET active_seconds = ?2 WHERE id = ?1")?
                .execute(params![id, seconds])?;
        }
        Write::Run(r) => {
            tx.prepare_cached(
                "INSERT INTO runs (id, sweep_id, seq, state, queued, argv, workdir, run_dir, params, retry_of)
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                r.id,
                r.sweep_id,
                r.seq as i64,
                r.queued,
                serde_json::to_string(&r.argv).unwrap_or_default(),
                r.workdir,
                r.run_dir,
                serde_json::to_string(&r.params).unwrap_or_default(),
                r.retry_of,
            ])?;
            let mut st = tx.prepare_cached(
                "INSERT INTO params (run_id, idx, name, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (i, (n, v)) in r.params.iter().enumerate() {
                st.execute(params![r.id, i as i64, n, v.to_string()])?;
            }
        }
        Write::RunState(u) => {
            let started = (u.state == RunState::Running).then_some(u.time);
            let ended = u.state.is_terminal().then_some(u.time);
            tx.prepare_cached(
                "UPDATE runs SET state = ?2, reason = COALESCE(?3, reason),
                   exit_code = COALESCE(?4, exit_code), signal = COALESCE(?5, signal),
                   handle = COALESCE(?6, handle), last_output = COALESCE(?7, last_output),
                   started = COALESCE(?8, started), ended = COALESCE(?9, ended),
                   detail = COALESCE(?10, detail)
                 WHERE id = ?1",
            )?
            .execute(params![
                u.run_id,
                u.state,
                u.reason,
                u.exit_code,
                u.signal,
                u.handle,
                u.last_output,
                started,
                ended,
                u.detail
            ])?;
        }
        Write::Metrics(rows) => {
            let mut st = tx.prepare_cached(
                "INSERT INTO metrics (run, name, interval, step, value, time, restart) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            // The furthest position of each (run, attempt, source) in these rows: rows
            // come in the order read, so the last one of a source is the furthest.
            let mut read: Vec<(i64, i64, &str, u64)> = Vec::new();
            let mut sums: std::collections::HashMap<(i64, i64, &str), Summary> =
                std::collections::HashMap::new();
            for m in rows {
                let (run, restart) = keys.get(tx, &m.run_id)?;
                st.execute(params![
                    run,
                    m.name,
                    m.interval as i64,
                    m.step,
                    nan_as_null(m.value),
                    m.time,
                    restart
                ])?;
                if let Some(at) = &m.at {
                    let path = at.source.path();
                    match read
                        .iter_mut()
                        .find(|r| r.0 == run && r.1 == restart && r.2 == path)
                    {
                        Some(r) => r.3 = r.3.max(at.end),
                        None => read.push((run, restart, path, at.end)),
                    }
                }
                sums.entry((run, restart, m.name.as_str()))
                    .or_default()
                    .add(m.value, m.interval as i64, m.time);
            }
            let mut pos = tx.prepare_cached(
                "INSERT INTO metric_sources (run, restart, source, read_to) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (run, restart, source) DO UPDATE SET read_to = max(read_to, excluded.read_to)",
            )?;
            for (run, restart, source, end) in read {
                pos.execute(params![run, restart, source, end as i64])?;
            }
            // Every right-hand side reads the row as it was before this update.
            let mut up = tx.prepare_cached(
                "INSERT INTO metric_summary (run, restart, name, reports, finite, lo, hi, last_time,
                                             lo_at, hi_at, last_interval, last_value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (run, restart, name) DO UPDATE SET
                   reports = reports + excluded.reports,
                   finite = finite + excluded.finite,
                   lo = CASE WHEN lo IS NULL OR excluded.lo < lo THEN COALESCE(excluded.lo, lo) ELSE lo END,
                   hi = CASE WHEN hi IS NULL OR excluded.hi > hi THEN COALESCE(excluded.hi, hi) ELSE hi END,
                   lo_at = CASE WHEN lo IS NULL OR excluded.lo < lo THEN COALESCE(excluded.lo_at, lo_at)
                                WHEN excluded.lo = lo THEN MIN(lo_at, excluded.lo_at) ELSE lo_at END,
                   hi_at = CASE WHEN hi IS NULL OR excluded.hi > hi THEN COALESCE(excluded.hi_at, hi_at)
                                WHEN excluded.hi = hi THEN MIN(hi_at, excluded.hi_at) ELSE hi_at END,
                   last_value = CASE WHEN excluded.last_interval >= last_interval
                                THEN excluded.last_value ELSE last_value END,
                   last_interval = MAX(last_interval, excluded.last_interval),
                   last_time = MAX(last_time, excluded.last_time)",
            )?;
            for ((run, restart, name), s) in sums {
                let (last_interval, last_value) = s.last.unwrap_or((0, None));
                up.execute(params![
                    run,
                    restart,
                    name,
                    s.reports,
                    s.finite,
                    s.lo.map(|l| l.0),
                    s.hi.map(|h| h.0),
                    s.last_time,
                    s.lo.map(|l| l.1),
                    s.hi.map(|h| h.1),
                    last_interval,
                    last_value
                ])?;
            }
        }
        Write::Logged { run_id, items } => {
            let (run, _) = keys.get(tx, run_id)?;
            // A key's row is replaced (taking a new, larger id, which is how the MLflow
            // follower finds what changed) only when its value changes: a run read again
            // after a resume writes nothing new.
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO logged (run, kind, key, value)
                 SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS
                   (SELECT 1 FROM logged WHERE run = ?1 AND kind = ?2 AND key = ?3 AND value = ?4)",
            )?;
            for (kind, key, value) in items.iter().filter_map(|i| i.attribute()) {
                st.execute(params![run, kind, key, value])?;
            }
        }
        Write::RunRestarted { run_id, restart } => {
            tx.prepare_cached("UPDATE runs SET restarts = ?2 WHERE id = ?1")?
                .execute(params![run_id, restart])?;
            keys.forget(run_id);
        }
        Write::Event {
            sweep_id,
            run_id,
            time,
            kind,
            message,
        } => {
            tx.prepare_cached(
                "INSERT INTO events (sweep_id, run_id, time, kind, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![sweep_id, run_id, time, kind, message])?;
        }
    }
    Ok(())
}

/// The current time as Unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
