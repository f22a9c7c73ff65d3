//! What a report is drawn from: one consistent snapshot of a sweep's history (the sweep, its
//! runs, the bounded forms of its primary-metric values: see [`crate::report::reduce`]) plus
//! what is known about each parameter's axis.
//!
//! The axis of a parameter (numeric or categorical, linear or log) comes from the sweep's
//! search space, recorded by `sweep run` as `sweeps/<id>/space.json` in the workspace. A sweep
//! without that file (an older one, or one driven through the library) gets axes inferred
//! from the values: numbers are numeric, anything else categorical, and a positive numeric
//! parameter spanning at least three decades is drawn on a log axis.

use crate::report::reduce::{BestOverTime, Lttb};
use crate::space::{SearchSpace, Value};
use crate::store::{EndReason, MetricRecord, Reader, RunRecord, RunState, StoreError, SweepRecord};
use std::path::{Path, PathBuf};

/// The file, inside a sweep's directory, that describes its search space for reports.
pub const SPACE_FILE: &str = "space.json";

/// How one parameter is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// The name as written in the config (`--lr`).
    pub name: String,
    /// `Some(options)` for a categorical parameter (options as text, in config order).
    pub categories: Option<Vec<String>>,
    /// Whether its axis is logarithmic.
    pub log: bool,
    /// The domain as a person reads it (`loguniform(-6, -1) → ...`), if known.
    pub domain: Option<String>,
}

impl ParamInfo {
    /// The label shown on plots: the name without leading dashes.
    pub fn label(&self) -> &str {
        let l = self.name.trim_start_matches('-');
        if l.is_empty() {
            &self.name
        } else {
            l
        }
    }
}

/// A snapshot of one sweep for the report.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The sweep.
    pub sweep: SweepRecord,
    /// Its runs in proposal order.
    pub runs: Vec<RunRecord>,
    /// The learning curve of each run that reported the primary metric, in run order.
    pub curves: Vec<Curve>,
    /// The best primary value so far over time, from the runs that did not fail:
    /// `(seconds since the sweep started, value)` at each improvement, in time order, at
    /// most one per [`TIME_BUCKETS`]th of the time the sweep has run.
    pub best_over_time: Vec<(f64, f64)>,
    /// Its parameters, in parameter-space order.
    pub params: Vec<ParamInfo>,
    /// When the snapshot was taken, Unix seconds.
    pub taken: f64,
}

/// A run's learning curve as the report draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The run id.
    pub run_id: String,
    /// Its finite primary-metric values as `(interval, value)`, in interval order, reduced
    /// by largest-triangle-three-buckets ([`Lttb`]) to the run's share of [`CURVE_POINTS`].
    pub points: Vec<(i64, f64)>,
}

/// The most points of all learning curves together (about 1.2 MB of page): each run's
/// curve gets an equal share, within [`MIN_RUN_CURVE_POINTS`]..=[`RUN_CURVE_POINTS`].
pub const CURVE_POINTS: usize = 100_000;

/// The most points one run's curve keeps: about two per pixel of the plot's width.
pub const RUN_CURVE_POINTS: usize = 800;

/// The fewest points a run's curve keeps when a sweep has very many runs.
pub const MIN_RUN_CURVE_POINTS: usize = 16;

/// Buckets the best-so-far-over-time plot keeps an improvement for: more than the plot is
/// wide in pixels, so the drawn steps are exact.
pub const TIME_BUCKETS: usize = 1000;

/// The points each of `curves` learning curves keeps.
fn curve_share(curves: usize) -> usize {
    (CURVE_POINTS / curves.max(1)).clamp(MIN_RUN_CURVE_POINTS, RUN_CURVE_POINTS)
}

/// The bounded forms of a sweep's primary-metric values, built one run at a time.
struct Reduction<'a> {
    sweep: &'a SweepRecord,
    share: usize,
    curves: Vec<Curve>,
    best: BestOverTime,
}

impl<'a> Reduction<'a> {
    /// For `curves` runs with values, the latest of them reported at `last` (Unix seconds).
    fn new(sweep: &'a SweepRecord, curves: usize, last: f64, taken: f64) -> Reduction<'a> {
        let end = sweep.ended.unwrap_or(taken).max(last);
        Reduction {
            sweep,
            share: curve_share(curves),
            curves: Vec::with_capacity(curves),
            best: BestOverTime::new(
                sweep.goal == "minimize",
                0.0,
                end - sweep.created,
                TIME_BUCKETS,
            ),
        }
    }

    /// Reduces the values of `run`, `finite` of them finite, which `each` feeds in interval
    /// order.
    fn run<E>(
        &mut self,
        run: &RunRecord,
        finite: usize,
        each: impl FnOnce(&mut dyn FnMut(&MetricRecord)) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut curve = Lttb::new(finite, self.share);
        let failed = run.state == RunState::Failed;
        let (best, created) = (&mut self.best, self.sweep.created);
        each(&mut |m: &MetricRecord| {
            if m.value.is_finite() {
                curve.push(m.interval as f64, m.value);
                if !failed {
                    best.push(m.time - created, m.value);
                }
            }
        })?;
        self.curves.push(Curve {
            run_id: run.id.clone(),
            points: curve
                .finish()
                .into_iter()
                .map(|(x, y)| (x as i64, y))
                .collect(),
        });
        Ok(())
    }
}

/// The text form of a parameter value in reports (strings unquoted).
pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The numeric value of a parameter value, if it is a number.
pub fn value_num(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

/// The path of a sweep's space file.
pub fn space_path(workspace: &Path, sweep_id: &str) -> PathBuf {
    workspace.join("sweeps").join(sweep_id).join(SPACE_FILE)
}

/// Writes the space file of a sweep (`sweep run` calls this once it knows the sweep id), so
/// reports draw each parameter on the right axis.
pub fn record_space(workspace: &Path, sweep_id: &str, space: &SearchSpace) -> std::io::Result<()> {
    let params: Vec<serde_json::Value> = space
        .params()
        .iter()
        .map(|p| {
            let categories = match &p.domain {
                crate::space::Domain::Choice { options } => Some(
                    options
                        .iter()
                        .map(|o| value_text(&o.to_json()))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            };
            serde_json::json!({
                "name": p.name,
                "expression": p.domain.expression(),
                "log": p.domain.is_log(),
                "categories": categories,
                "domain": p.domain.describe(),
            })
        })
        .collect();
    let path = space_path(workspace, sweep_id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&serde_json::json!({ "params": params }))
        .expect("serializable");
    std::fs::write(path, text)
}

fn read_space(workspace: &Path, sweep_id: &str) -> Option<Vec<ParamInfo>> {
    let text = std::fs::read_to_string(space_path(workspace, sweep_id)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["params"]
        .as_array()?
        .iter()
        .map(|p| {
            Some(ParamInfo {
                name: p["name"].as_str()?.to_string(),
                categories: p["categories"].as_array().map(|a| {
                    a.iter()
                        .map(|o| {
                            o.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| o.to_string())
                        })
                        .collect()
                }),
                log: p["log"].as_bool().unwrap_or(false),
                domain: p["domain"].as_str().map(String::from),
            })
        })
        .collect()
}

/// Axes inferred from the values when the space is not recorded.
pub fn infer_params(runs: &[RunRecord]) -> Vec<ParamInfo> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        for (n, _) in &r.params {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values: Vec<&serde_json::Value> = runs
                .iter()
                .filter_map(|r| r.params.iter().find(|(n, _)| n == name).map(|(_, v)| v))
                .collect();
            let nums: Option<Vec<f64>> = values.iter().map(|v| value_num(v)).collect();
            match nums {
                Some(nums) if !nums.is_empty() => {
                    let (lo, hi) = nums
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                            (a.min(*v), b.max(*v))
                        });
                    ParamInfo {
                        name: name.to_string(),
                        categories: None,
                        log: lo > 0.0 && hi / lo >= 1000.0,
                        domain: None,
                    }
                }
                _ => {
                    let mut cats: Vec<String> = Vec::new();
                    for v in values {
                        let t = value_text(v);
                        if !cats.contains(&t) {
                            cats.push(t);
                        }
                    }
                    ParamInfo {
                        name: name.to_string(),
                        categories: Some(cats),
                        log: false,
                        domain: None,
                    }
                }
            }
        })
        .collect()
}

impl ReportData {
    /// Reads a sweep (id, name or `latest`) from a workspace in one read transaction, so a
    /// report of a running sweep is a consistent snapshot. The values are streamed from the
    /// history into their bounded forms: the memory used does not grow with them.
    pub fn load(workspace: &Path, key: &str) -> Result<ReportData, StoreError> {
        let reader = Reader::open(workspace)?;
        let taken = crate::store::now();
        let (sweep, runs, curves, best_over_time) = reader.snapshot(|r| {
            let sweep = r.resolve(key)?;
            let runs = r.runs(&sweep)?;
            let primary = &sweep.primary_metric;
            let mut reported = Vec::new();
            for run in runs.iter().filter(|run| run.intervals > 0) {
                if let Some(m) = r.run_metrics(run)?.into_iter().find(|m| &m.name == primary) {
                    reported.push((run, m));
                }
            }
            let last = reported
                .iter()
                .map(|(_, m)| m.last_time)
                .fold(0.0, f64::max);
            let mut red = Reduction::new(&sweep, reported.len(), last, taken);
            for (run, m) in &reported {
                red.run(run, m.finite as usize, |feed| {
                    r.each_value::<StoreError>(run, primary, |m| {
                        feed(&m);
                        Ok(())
                    })
                })?;
            }
            let (curves, best) = (red.curves, red.best.steps());
            Ok::<_, StoreError>((sweep, runs, curves, best))
        })?;
        let mut params = read_space(workspace, &sweep.id).unwrap_or_default();
        // Parameters the runs have but the space file lacks (or no file): inferred.
        let inferred = infer_params(&runs);
        for p in inferred {
            if !params.iter().any(|q| q.name == p.name) {
                params.push(p);
            }
        }
        Ok(ReportData::assemble(
            sweep,
            runs,
            (curves, best_over_time),
            params,
            taken,
        ))
    }

    /// The data of `sweep` and its `runs` with what the reduction of their values gave
    /// (the curves and the best over time), the parameters and the snapshot's time.
    fn assemble(
        sweep: SweepRecord,
        runs: Vec<RunRecord>,
        (curves, best_over_time): (Vec<Curve>, Vec<(f64, f64)>),
        params: Vec<ParamInfo>,
        taken: f64,
    ) -> ReportData {
        ReportData {
            sweep,
            runs,
            curves,
            best_over_time,
            params,
            taken,
        }
    }

    /// The report's data from values already in memory (values of other metrics than the
    /// primary one, or of runs not in `runs`, are left out), reduced as
    /// [`ReportData::load`] reduces them.
    pub fn from_values(
        sweep: SweepRecord,
        runs: Vec<RunRecord>,
        values: &[MetricRecord],
        params: Vec<ParamInfo>,
        taken: f64,
    ) -> ReportData {
        let primary: Vec<&MetricRecord> = values
            .iter()
            .filter(|m| m.name == sweep.primary_metric)
            .collect();
        let reported: Vec<(&RunRecord, Vec<&MetricRecord>)> = runs
            .iter()
            .map(|run| {
                let mut mine: Vec<&MetricRecord> = primary
                    .iter()
                    .copied()
                    .filter(|m| m.run_id == run.id)
                    .collect();
                mine.sort_by_key(|m| m.interval);
                (run, mine)
            })
            .filter(|(_, mine)| !mine.is_empty())
            .collect();
        let last = primary.iter().map(|m| m.time).fold(0.0, f64::max);
        let mut red = Reduction::new(&sweep, reported.len(), last, taken);
        for (run, mine) in &reported {
            let finite = mine.iter().filter(|m| m.value.is_finite()).count();
            let fed: Result<(), std::convert::Infallible> = red.run(run, finite, |feed| {
                mine.iter().for_each(|m| feed(m));
                Ok(())
            });
            let Ok(()) = fed;
        }
        let reduced = (red.curves, red.best.steps());
        ReportData::assemble(sweep, runs, reduced, params, taken)
    }
}

/// Whether a run was stopped by an early-termination policy.
pub fn policy_stopped(r: &RunRecord) -> bool {
    r.state == RunState::Canceled && matches!(r.reason, Some(EndReason::Policy(_)))
}

/// A parameter value of a run, if the run has that parameter.
pub fn param_of<'a>(r: &'a RunRecord, name: &str) -> Option<&'a serde_json::Value> {
    r.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The [`Value`] text of a JSON parameter value (used for categories).
pub fn category_of(v: &serde_json::Value) -> String {
    Value::from_json(v)
        .map(|v| value_text(&v.to_json()))
        .unwrap_or_else(|| value_text(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(params: Vec<(&str, serde_json::Value)>) -> RunRecord {
        RunRecord {
            id: "r".into(),
            seq: 0,
            state: RunState::Completed,
            reason: None,
            exit_code: Some(0),
            signal: None,
            queued: 0.0,
            started: None,
            ended: None,
            argv: vec![],
            workdir: String::new(),
            run_dir: String::new(),
            handle: None,
            params: params.into_iter().map(|(n, v)| (n.into(), v)).collect(),
            last_output: None,
            best: None,
            intervals: 0,
            detail: None,
            retry_of: None,
            restarts: 0,
        }
    }

    #[test]
    fn inference_picks_log_axes_for_wide_positive_ranges() {
        let runs = vec![
            run(vec![
                ("--lr", 1e-5.into()),
                ("--m", 0.5.into()),
                ("--opt", "adam".into()),
            ]),
            run(vec![
                ("--lr", 0.1.into()),
                ("--m", 0.9.into()),
                ("--opt", "sgd".into()),
            ]),
        ];
        let p = infer_params(&runs);
        assert_eq!(p.len(), 3);
        assert!(p[0].log && p[0].categories.is_none());
        assert!(!p[1].log);
        assert_eq!(p[2].categories, Some(vec!["adam".into(), "sgd".into()]));
        assert_eq!(p[0].label(), "lr");
    }

    #[test]
    fn the_space_file_round_trips() {
        use crate::space::{Domain, Param};
        let d = tempfile::tempdir().unwrap();
        let space = SearchSpace::new(vec![
            Param {
                name: "--lr".into(),
                domain: Domain::LogUniform {
                    low: -6.0,
                    high: -1.0,
                },
                condition: None,
            },
            Param {
                name: "--opt".into(),
                domain: Domain::Choice {
                    options: vec![Value::Str("a<b".into()), Value::Int(3)],
                },
                condition: None,
            },
        ]);
        record_space(d.path(), "sw1", &space).unwrap();
        let p = read_space(d.path(), "sw1").unwrap();
        assert!(p[0].log);
        assert_eq!(p[1].categories, Some(vec!["a<b".into(), "3".into()]));
        assert!(p[0].domain.as_deref().unwrap().starts_with("loguniform"));
    }
}
