//! What a report is drawn from: one consistent snapshot of a sweep's history (the sweep, its
//! runs, its primary-metric values) plus what is known about each parameter's axis.
//!
//! The axis of a parameter (numeric or categorical, linear or log) comes from the sweep's
//! search space, recorded by `sweep run` as `sweeps/<id>/space.json` in the workspace. A sweep
//! without that file (an older one, or one driven through the library) gets axes inferred
//! from the values: numbers are numeric, anything else categorical, and a positive numeric
//! parameter spanning at least three decades is drawn on a log axis.

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
    /// Its primary-metric values, by run then interval.
    pub metrics: Vec<MetricRecord>,
    /// Its parameters, in parameter-space order.
    pub params: Vec<ParamInfo>,
    /// When the snapshot was taken, Unix seconds.
    pub taken: f64,
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
    /// report of a running sweep is a consistent snapshot.
    pub fn load(workspace: &Path, key: &str) -> Result<ReportData, StoreError> {
        let reader = Reader::open(workspace)?;
        let (sweep, runs, metrics) = reader.snapshot(|r| {
            let sweep = r.resolve(key)?;
            let runs = r.runs(&sweep)?;
            let metrics = r.metrics(&sweep)?;
            Ok((sweep, runs, metrics))
        })?;
        let metrics = metrics
            .into_iter()
            .filter(|m| m.name == sweep.primary_metric)
            .collect();
        let mut params = read_space(workspace, &sweep.id).unwrap_or_default();
        // Parameters the runs have but the space file lacks (or no file): inferred.
        let inferred = infer_params(&runs);
        for p in inferred {
            if !params.iter().any(|q| q.name == p.name) {
                params.push(p);
            }
        }
        Ok(ReportData {
            sweep,
            runs,
            metrics,
            params,
            taken: crate::store::now(),
        })
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
