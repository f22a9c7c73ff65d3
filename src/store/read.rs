//! Reading the history: sweeps by id, name or `latest`, runs with their parameters and best
//! primary value, metrics, and the best run (or why there is none).

use super::schema::open_ro;
use super::{EndReason, RunState, StoreError, SweepState, DB_FILE};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;

/// A recorded sweep.
#[derive(Debug, Clone, serde::Serialize)]
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

const FINITE: &str =
    "value IS NOT NULL AND value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308";

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
        let agg = if sweep.goal == "minimize" {
            "MIN"
        } else {
            "MAX"
        };
        let mut st = self.conn.prepare(&format!(
            "SELECT r.id, r.seq, r.state, r.reason, r.exit_code, r.signal, r.queued, r.started, r.ended,
                    r.argv, r.workdir, r.run_dir, r.handle, r.params, r.last_output,
                    (SELECT {agg}(value) FROM metrics m WHERE m.run = r.rowid AND m.restart = r.restarts AND m.name = ?2 AND {FINITE}),
                    (SELECT COUNT(*) FROM metrics m WHERE m.run = r.rowid AND m.restart = r.restarts AND m.name = ?2),
                    r.detail, r.retry_of, r.restarts
             FROM runs r WHERE r.sweep_id = ?1 ORDER BY r.seq"
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

    /// Every metric value of a sweep, by run then name then interval.
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
            "SELECT DISTINCT m.name FROM metrics m JOIN runs r ON r.rowid = m.run
             WHERE r.sweep_id = ?1 AND m.restart = r.restarts ORDER BY m.name",
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
    pub fn snapshot<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let out = f(self);
        // A read transaction has nothing to commit; ending it releases the snapshot.
        let end = self.conn.execute_batch("COMMIT");
        let out = out?;
        end?;
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
        let mut st = self.conn.prepare(
            "SELECT m.rowid, r.id, m.name, m.interval, m.step, m.value, m.time FROM metrics m
             JOIN runs r ON r.rowid = m.run
             WHERE r.sweep_id = ?1 AND m.rowid > ?2 AND m.restart = r.restarts
             ORDER BY m.rowid",
        )?;
        let rows = st.query_map(params![sweep.id, after], |r| {
            Ok((r.get(0)?, metric_from_row(r, 1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One run's values of the primary metric, interval by interval (its current attempt's):
    /// where its best value was reached and what it ended with.
    pub fn primary_curve(&self, sweep: &SweepRecord, run_id: &str) -> Result<Vec<f64>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT m.value FROM metrics m JOIN runs r ON r.rowid = m.run
             WHERE r.id = ?1 AND m.name = ?2 AND m.restart = r.restarts ORDER BY m.interval",
        )?;
        let rows = st.query_map(params![run_id, sweep.primary_metric], |r| {
            Ok(r.get::<_, Option<f64>>(0)?.unwrap_or(f64::NAN))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The best run: the best finite primary value among runs that did not fail (a run a
    /// policy canceled counts). Ties go to the earlier run. Otherwise, why there is none.
    pub fn best(&self, sweep: &SweepRecord) -> Result<BestOutcome, StoreError> {
        let runs = self.runs(sweep)?;
        Ok(best_of(sweep, runs, self.metric_names(sweep)?))
    }
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
