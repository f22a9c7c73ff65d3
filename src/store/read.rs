//! Reading the history: sweeps by id, name or `latest`, runs with their parameters and best
//! primary value, metrics, and the best run (or why there is none).
//!
//! What a view of a whole sweep needs per run (its best value, how many intervals) comes from
//! the aggregates the writer keeps (`metric_summary`), so it costs the same at ten metric
//! values or ten million; the values themselves are streamed ([`Reader::each_metric`],
//! [`Reader::each_value`]) to readers that need them all.

use super::schema::open_ro;
use super::{EndReason, RunState, StoreError, SweepState, DB_FILE};
use crate::metrics::Logged;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;

/// A recorded sweep. The default is an empty record of a running sweep, to be filled in
/// (`SweepRecord { id, primary_metric, ..Default::default() }`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SweepRecord {
    /// The sweep id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The experiment name.
    pub experiment: Option<String>,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// End time, if it ended.
    pub ended: Option<f64>,
    /// Its state.
    pub state: SweepState,
    /// Why it ended that way.
    pub reason: Option<String>,
    /// The primary metric.
    pub primary_metric: String,
    /// `maximize` or `minimize`.
    pub goal: String,
    /// The sampling seed.
    pub seed: Option<i64>,
    /// The sampling algorithm.
    pub sampling: Option<String>,
    /// The early-termination policy.
    pub policy: Option<String>,
    /// `max_total_runs`.
    pub max_total_runs: Option<i64>,
    /// `max_concurrent_runs`.
    pub max_concurrent_runs: Option<i64>,
    /// `max_duration_minutes`.
    pub max_duration_minutes: Option<f64>,
    /// Per-run limit in seconds.
    pub max_run_duration_seconds: Option<f64>,
    /// The source directory.
    pub source_dir: Option<String>,
    /// Its git commit.
    pub git_commit: Option<String>,
    /// Whether its work tree was dirty.
    pub git_dirty: Option<bool>,
    /// The compute target.
    pub target: Option<String>,
    /// Seconds a `sweep` process has spent running it (time while none was attached to it
    /// does not count).
    pub active_seconds: f64,
}

/// A recorded run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// 0-based proposal order.
    pub seq: i64,
    /// Its state.
    pub state: RunState,
    /// Why it ended.
    pub reason: Option<EndReason>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Terminating signal.
    pub signal: Option<i32>,
    /// Queue time.
    pub queued: f64,
    /// Start time.
    pub started: Option<f64>,
    /// End time.
    pub ended: Option<f64>,
    /// The argument vector.
    pub argv: Vec<String>,
    /// The working directory.
    pub workdir: String,
    /// The run directory.
    pub run_dir: String,
    /// The target's handle.
    pub handle: Option<String>,
    /// Parameters in order, JSON values.
    pub params: Vec<(String, serde_json::Value)>,
    /// Last lines of output (failed runs).
    pub last_output: Option<String>,
    /// Best finite primary-metric value.
    pub best: Option<f64>,
    /// Number of primary-metric reports (intervals).
    pub intervals: i64,
    /// The numbers behind the decision that ended it (a policy's interval, value and
    /// threshold), if sweep stopped it.
    pub detail: Option<serde_json::Value>,
    /// The run this one retries, if it is a retry of a lost run.
    pub retry_of: Option<String>,
    /// How many times its target started it over (a requeued Slurm job); its metrics are
    /// the last attempt's.
    pub restarts: u32,
}

impl RunRecord {
    /// The parameters as a JSON object (order kept).
    pub fn params_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.params.iter().cloned().collect())
    }
}

/// A parameter or tag a run's script logged itself (`mlflow.log_param`, `mlflow.set_tag`,
/// `run.tag`), with its latest value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRecord {
    /// The run id.
    pub run_id: String,
    /// The parameter or tag: a [`Logged::Param`] or [`Logged::Tag`].
    pub item: Logged,
}

/// A [`LoggedRecord`] from the columns run id, kind, key, value, from column `at` on.
fn logged_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<LoggedRecord> {
    let kind: String = r.get(at + 1)?;
    let item = Logged::attribute_of(&kind, r.get(at + 2)?, r.get(at + 3)?).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            at + 1,
            rusqlite::types::Type::Text,
            format!("logged: no kind {kind:?}").into(),
        )
    })?;
    Ok(LoggedRecord {
        run_id: r.get(at)?,
        item,
    })
}

/// A recorded metric value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricRecord {
    /// The run id.
    pub run_id: String,
    /// Metric name.
    pub name: String,
    /// 1-based interval.
    pub interval: i64,
    /// Step, if the run gave one.
    pub step: Option<i64>,
    /// The value (`NaN` when stored as NULL).
    pub value: f64,
    /// Time, Unix seconds.
    pub time: f64,
}

/// What the history keeps about one metric of one run attempt, so that reading it costs
/// the same however many values the run reported.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricSummary {
    /// Metric name.
    pub name: String,
    /// How many values were reported (the last interval).
    pub reports: i64,
    /// How many of them are finite.
    pub finite: i64,
    /// The smallest finite value, if any.
    pub lo: Option<f64>,
    /// The largest finite value, if any.
    pub hi: Option<f64>,
    /// When the last value was read, Unix seconds.
    pub last_time: f64,
    /// The first interval the smallest finite value was reported at.
    pub lo_at: Option<i64>,
    /// The first interval the largest finite value was reported at.
    pub hi_at: Option<i64>,
    /// The last interval reported.
    pub last_interval: i64,
    /// The value reported at the last interval (`NaN` when it was not a number).
    pub last_value: f64,
}

/// Where a run's best value was reached, from the aggregates the history keeps of its
/// primary metric (so it costs the same for ten values or ten million).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BestAt {
    /// The first interval (1-based) the best value was reported at.
    pub interval: i64,
    /// The run's last interval.
    pub of: i64,
    /// The value reported at the last interval.
    pub last: f64,
}

/// The answer to "which run is best?": a run, or the reason there is none.
#[derive(Debug, Clone)]
pub enum BestOutcome {
    /// The best run and its best value.
    Best {
        /// The run.
        run: Box<RunRecord>,
        /// Its best value.
        value: f64,
    },
    /// No run qualifies; the text says why.
    None(String),
}

/// A recorded event: `(time, run, kind, message)`.
pub type EventRecord = (f64, Option<String>, String, String);

/// A read connection to the history.
pub struct Reader {
    conn: Connection,
}

fn sweep_from_row(r: &Row<'_>) -> rusqlite::Result<SweepRecord> {
    Ok(SweepRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        experiment: r.get(2)?,
        created: r.get(3)?,
        ended: r.get(4)?,
        state: r.get(5)?,
        reason: r.get(6)?,
        primary_metric: r.get(7)?,
        goal: r.get(8)?,
        seed: r.get(9)?,
        sampling: r.get(10)?,
        policy: r.get(11)?,
        max_total_runs: r.get(12)?,
        max_concurrent_runs: r.get(13)?,
        max_duration_minutes: r.get(14)?,
        max_run_duration_seconds: r.get(15)?,
        source_dir: r.get(16)?,
        git_commit: r.get(17)?,
        git_dirty: r.get(18)?,
        target: r.get(19)?,
        active_seconds: r.get(20)?,
    })
}

/// A metric row whose columns `run id, name, interval, step, value, time` start at `at`
/// (a NULL value is a NaN the store could not keep).
fn metric_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<MetricRecord> {
    Ok(MetricRecord {
        run_id: r.get(at)?,
        name: r.get(at + 1)?,
        interval: r.get(at + 2)?,
        step: r.get(at + 3)?,
        value: r.get::<_, Option<f64>>(at + 4)?.unwrap_or(f64::NAN),
        time: r.get(at + 5)?,
    })
}

const SWEEP_COLS: &str = "id, name, experiment, created, ended, state, reason, primary_metric, goal, seed, sampling, policy, max_total_runs, max_concurrent_runs, max_duration_minutes, max_run_duration_seconds, source_dir, git_commit, git_dirty, target, active_seconds";

impl Reader {
    /// Opens the history of a workspace.
    pub fn open(workspace: &Path) -> Result<Reader, StoreError> {
        Reader::open_db(&workspace.join(DB_FILE))
    }

    /// Opens a database file.
    pub fn open_db(path: &Path) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: open_ro(path)?,
        })
    }

    /// Every sweep, newest first.
    pub fn sweeps(&self) -> Result<Vec<SweepRecord>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {SWEEP_COLS} FROM sweeps ORDER BY created DESC, rowid DESC"
        ))?;
        let rows = st.query_map([], sweep_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Finds a sweep by id, by name (the newest of that name) or `latest`.
    pub fn resolve(&self, key: &str) -> Result<SweepRecord, StoreError> {
        let q = if key == "latest" {
            format!("SELECT {SWEEP_COLS} FROM sweeps ORDER BY created DESC, rowid DESC LIMIT 1")
        } else {
            format!("SELECT {SWEEP_COLS} FROM sweeps WHERE id = ?1 OR name = ?1 ORDER BY (id = ?1) DESC, created DESC, rowid DESC LIMIT 1")
        };
        let found = if key == "latest" {
            self.conn.query_row(&q, [], sweep_from_row).optional()?
        } else {
            self.conn.query_row(&q, [key], sweep_from_row).optional()?
        };
        found.ok_or_else(|| {
            if key == "latest" {
                StoreError::NotFound("no sweeps recorded in this workspace yet".into())
            } else {
                StoreError::NotFound(format!(
                    "no sweep with id or name {key:?} (see `sweep status` for the list)"
                ))
            }
        })
    }

    /// The runs of a sweep in proposal order, with parameters and primary-metric summaries.
    pub fn runs(&self, sweep: &SweepRecord) -> Result<Vec<RunRecord>, StoreError> {
        // The run attempt's aggregates of the primary metric, kept by the writer: one row
        // per run, however many values it reported.
        let best = if sweep.goal == "minimize" { "lo" } else { "hi" };
        let mut st = self.conn.prepare(&format!(
            "SELECT r.id, r.seq, r.state, r.reason, r.exit_code, r.signal, r.queued, r.started, r.ended,
                    r.argv, r.workdir, r.run_dir, r.handle, r.params, r.last_output,
                    s.{best}, COALESCE(s.reports, 0), r.detail, r.retry_of, r.restarts
             FROM runs r LEFT JOIN metric_summary s
               ON s.run = r.rowid AND s.restart = r.restarts AND s.name = ?2
             WHERE r.sweep_id = ?1 ORDER BY r.seq"
        ))?;
        let rows = st.query_map(params![sweep.id, sweep.primary_metric], |r| {
            let argv: String = r.get(9)?;
            let params: String = r.get(13)?;
            Ok(RunRecord {
                id: r.get(0)?,
                seq: r.get(1)?,
                state: r.get(2)?,
                reason: r.get(3)?,
                exit_code: r.get(4)?,
                signal: r.get(5)?,
                queued: r.get(6)?,
                started: r.get(7)?,
                ended: r.get(8)?,
                argv: serde_json::from_str(&argv).unwrap_or_default(),
                workdir: r.get(10)?,
                run_dir: r.get(11)?,
                handle: r.get(12)?,
                // An array of `[name, value]` pairs: the parameter-space order is kept.
                params: serde_json::from_str(&params).unwrap_or_default(),
                last_output: r.get(14)?,
                best: r.get(15)?,
                intervals: r.get(16)?,
                detail: r
                    .get::<_, Option<String>>(17)?
                    .and_then(|d| serde_json::from_str(&d).ok()),
                retry_of: r.get(18)?,
                restarts: r.get(19)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The spec a sweep was started with (JSON, see `engine::resume`), if recorded.
    pub fn spec(&self, sweep: &SweepRecord) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT spec FROM sweeps WHERE id = ?1", [&sweep.id], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }

    /// Why a running sweep launches nothing right now, as the process running it last
    /// recorded it; `None` when it is launching, or when the sweep is not running.
    pub fn waiting(&self, sweep: &SweepRecord) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT waiting FROM sweeps WHERE id = ?1 AND state = 'running'",
                [&sweep.id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Every metric value of a sweep in the order it was recorded (what a resumed sweep
    /// replays into its policy). Here and in every metric query, a restarted run's values
    /// are its current attempt's only.
    pub fn metrics_in_order(&self, sweep: &SweepRecord) -> Result<Vec<MetricRecord>, StoreError> {
        Ok(self
            .metrics_after(sweep, 0)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// How far each source of each run has been recorded, for the runs' current attempts:
    /// `(run id, source path, offset just past its last recorded line or record)`.
    pub fn positions(&self, sweep: &SweepRecord) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT r.id, p.source, p.read_to FROM metric_sources p
             JOIN runs r ON r.rowid = p.run WHERE r.sweep_id = ?1 AND p.restart = r.restarts
             ORDER BY r.seq, p.source",
        )?;
        let rows = st.query_map([&sweep.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every metric value of a sweep, by run then name then interval, in memory: readers of
    /// sweeps of any size stream them instead ([`Reader::each_metric`],
    /// [`Reader::each_value`]).
    pub fn metrics(&self, sweep: &SweepRecord) -> Result<Vec<MetricRecord>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT r.id, m.name, m.interval, m.step, m.value, m.time FROM metrics m
             JOIN runs r ON r.rowid = m.run WHERE r.sweep_id = ?1 AND m.restart = r.restarts
             ORDER BY r.seq, m.name, m.interval",
        )?;
        let rows = st.query_map([&sweep.id], |r| metric_from_row(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The distinct metric names reported in a sweep.
    pub fn metric_names(&self, sweep: &SweepRecord) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT s.name FROM metric_summary s JOIN runs r ON r.rowid = s.run
             WHERE r.sweep_id = ?1 AND s.restart = r.restarts ORDER BY s.name",
        )?;
        let rows = st.query_map([&sweep.id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Count of runs by state.
    pub fn counts(&self, sweep: &SweepRecord) -> Result<Vec<(RunState, i64)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM runs WHERE sweep_id = ?1 GROUP BY state")?;
        let rows = st.query_map([&sweep.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The events of a sweep in order: `(time, run, kind, message)`.
    pub fn events(&self, sweep: &SweepRecord) -> Result<Vec<EventRecord>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT time, run_id, kind, message FROM events WHERE sweep_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([&sweep.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs `f` inside one read transaction, so every query it makes sees the same
    /// consistent snapshot of the history even while a sweep is writing to it (WAL).
    pub fn snapshot<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(StoreError::from)?;
        let out = f(self);
        // A read transaction has nothing to commit; ending it releases the snapshot.
        let end = self.conn.execute_batch("COMMIT");
        let out = out?;
        end.map_err(StoreError::from)?;
        Ok(out)
    }

    /// The metric values of a sweep recorded after row `after` (0 for all), in the order they
    /// were recorded, each with its row number: a follower reads only what is new. Rows are
    /// only ever appended by one writer, so row numbers grow in commit order. (A follower
    /// keeps what it read of an attempt that a restart later superseded.)
    pub fn metrics_after(
        &self,
        sweep: &SweepRecord,
        after: i64,
    ) -> Result<Vec<(i64, MetricRecord)>, StoreError> {
        self.numbered(
            "SELECT m.rowid, r.id, m.name, m.interval, m.step, m.value, m.time FROM metrics m
             JOIN runs r ON r.rowid = m.run
             WHERE r.sweep_id = ?1 AND m.rowid > ?2 AND m.restart = r.restarts
             ORDER BY m.rowid",
            params![sweep.id, after],
            metric_from_row,
        )
    }

    /// The rows of `sql` (with `args`), whose first column is a row number and whose next
    /// ones `read` reads from column 1 on, each with its number.
    fn numbered<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        read: fn(&rusqlite::Row<'_>, usize) -> rusqlite::Result<T>,
    ) -> Result<Vec<(i64, T)>, StoreError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(args, |r| Ok((r.get(0)?, read(r, 1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The parameters and tags the runs of a sweep logged themselves whose row changed after
    /// row `after` (0: all), each with its row number, in the order of those numbers: a
    /// follower that remembers the last number sees each change once.
    pub fn logged_after(
        &self,
        sweep: &SweepRecord,
        after: i64,
    ) -> Result<Vec<(i64, LoggedRecord)>, StoreError> {
        self.numbered(
            "SELECT l.id, r.id, l.kind, l.key, l.value FROM logged l
             JOIN runs r ON r.rowid = l.run
             WHERE r.sweep_id = ?1 AND l.id > ?2
             ORDER BY l.id",
            params![sweep.id, after],
            logged_from_row,
        )
    }

    /// The parameters and tags run `run_id` logged itself, by kind then key.
    pub fn logged(&self, run_id: &str) -> Result<Vec<LoggedRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT r.id, l.kind, l.key, l.value FROM logged l
             JOIN runs r ON r.rowid = l.run
             WHERE r.id = ?1
             ORDER BY l.kind, l.key",
        )?;
        let rows = st.query_map([run_id], |r| logged_from_row(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Calls `f` with every metric value of a sweep, in the order they were recorded, each
    /// with its row number (see [`Reader::metrics_after`]), holding none of them: the memory
    /// used is the same for ten values or ten million.
    pub fn each_metric<E: From<StoreError>>(
        &self,
        sweep: &SweepRecord,
        mut f: impl FnMut(i64, MetricRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut st = self
            .conn
            .prepare(
                "SELECT m.rowid, r.id, m.name, m.interval, m.step, m.value, m.time FROM metrics m
                 JOIN runs r ON r.rowid = m.run
                 WHERE r.sweep_id = ?1 AND m.restart = r.restarts
                 ORDER BY m.rowid",
            )
            .map_err(StoreError::from)?;
        let mut rows = st.query([&sweep.id]).map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            let rowid = row.get(0).map_err(StoreError::from)?;
            f(rowid, metric_from_row(row, 1).map_err(StoreError::from)?)?;
        }
        Ok(())
    }

    /// The metrics a run reported (its current attempt), by name, with their aggregates.
    pub fn run_metrics(&self, run: &RunRecord) -> Result<Vec<MetricSummary>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT s.name, s.reports, s.finite, s.lo, s.hi, s.last_time,
                    s.lo_at, s.hi_at, s.last_interval, s.last_value FROM metric_summary s
             WHERE s.run = (SELECT rowid FROM runs WHERE id = ?1) AND s.restart = ?2
             ORDER BY s.name",
        )?;
        let rows = st.query_map(params![run.id, run.restarts], summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where run `run_id` (its current attempt) reached `value` of the sweep's primary
    /// metric, which must be its best (smallest when minimizing, largest otherwise), and
    /// what it ended with; `None` when the run reported no such value.
    pub fn best_at(
        &self,
        sweep: &SweepRecord,
        run_id: &str,
        value: f64,
    ) -> Result<Option<BestAt>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT s.name, s.reports, s.finite, s.lo, s.hi, s.last_time,
                    s.lo_at, s.hi_at, s.last_interval, s.last_value FROM metric_summary s
             JOIN runs r ON s.run = r.rowid AND s.restart = r.restarts
             WHERE r.id = ?1 AND s.name = ?2",
        )?;
        let found = st
            .query_row(params![run_id, sweep.primary_metric], summary_from_row)
            .optional()?;
        Ok(found.and_then(|s| {
            let (best, at) = if sweep.goal == "minimize" {
                (s.lo, s.lo_at)
            } else {
                (s.hi, s.hi_at)
            };
            (best == Some(value)).then_some(())?;
            Some(BestAt {
                interval: at?,
                of: s.last_interval,
                last: s.last_value,
            })
        }))
    }

    /// Calls `f` with each value of one metric of a run (its current attempt), by interval,
    /// holding none of them.
    pub fn each_value<E: From<StoreError>>(
        &self,
        run: &RunRecord,
        name: &str,
        mut f: impl FnMut(MetricRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        // One writer appends a run attempt's values of a metric interval after interval,
        // so row order is interval order, and the run's index gives it without sorting.
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT ?1, m.name, m.interval, m.step, m.value, m.time FROM metrics m
                 WHERE m.run = (SELECT rowid FROM runs WHERE id = ?1) AND m.restart = ?2
                   AND m.name = ?3
                 ORDER BY m.rowid",
            )
            .map_err(StoreError::from)?;
        let mut rows = st
            .query(params![run.id, run.restarts, name])
            .map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            f(metric_from_row(row, 0).map_err(StoreError::from)?)?;
        }
        Ok(())
    }

    /// The best run: the best finite primary value among runs that did not fail (a run a
    /// policy canceled counts). Ties go to the earlier run. Otherwise, why there is none.
    pub fn best(&self, sweep: &SweepRecord) -> Result<BestOutcome, StoreError> {
        let runs = self.runs(sweep)?;
        Ok(best_of(sweep, runs, self.metric_names(sweep)?))
    }
}

/// A [`MetricSummary`] from the columns `name, reports, finite, lo, hi, last_time, lo_at,
/// hi_at, last_interval, last_value`.
fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MetricSummary> {
    Ok(MetricSummary {
        name: r.get(0)?,
        reports: r.get(1)?,
        finite: r.get(2)?,
        lo: r.get(3)?,
        hi: r.get(4)?,
        last_time: r.get(5)?,
        lo_at: r.get(6)?,
        hi_at: r.get(7)?,
        last_interval: r.get(8)?,
        last_value: r.get::<_, Option<f64>>(9)?.unwrap_or(f64::NAN),
    })
}

/// Picks the best run of `runs` or explains why there is none.
pub(crate) fn best_of(
    sweep: &SweepRecord,
    runs: Vec<RunRecord>,
    reported: Vec<String>,
) -> BestOutcome {
    let minimize = sweep.goal == "minimize";
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in runs.iter().enumerate() {
        if r.state == RunState::Failed {
            continue;
        }
        if let Some(v) = r.best {
            let better = match best {
                None => true,
                Some((_, b)) => {
                    if minimize {
                        v < b
                    } else {
                        v > b
                    }
                }
            };
            if better {
                best = Some((i, v));
            }
        }
    }
    if let Some((i, value)) = best {
        let run = runs.into_iter().nth(i).expect("index from the same list");
        return BestOutcome::Best {
            run: Box::new(run),
            value,
        };
    }
    let m = &sweep.primary_metric;
    let why = if runs.is_empty() {
        "no runs have been launched yet".to_string()
    } else if runs.iter().all(|r| r.state == RunState::Failed) {
        let codes: Vec<String> = runs
            .iter()
            .map(|r| {
                r.reason
                    .as_ref()
                    .map_or_else(|| "failed".into(), EndReason::to_string)
            })
            .take(3)
            .collect();
        format!(
            "all {} runs failed (e.g. {}); see `sweep runs {}`",
            runs.len(),
            codes.join("; "),
            sweep.id
        )
    } else if runs
        .iter()
        .any(|r| r.intervals > 0 && r.state != RunState::Failed)
    {
        format!("runs reported the primary metric {m:?} but only NaN or infinite values, which never count as best")
    } else if runs.iter().any(|r| r.intervals > 0) {
        format!("only failed runs reported the primary metric {m:?}; failed runs are never best")
    } else if reported.is_empty() {
        format!(
            "no run reported any metric; the primary metric is {m:?} (print `@sweep {{\"metric\":\"{m}\",\"value\":...}}` or `{m}=...`)"
        )
    } else {
        format!(
            "no run reported the primary metric {m:?}; the runs reported: {}",
            reported.join(", ")
        )
    };
    BestOutcome::None(why)
}
