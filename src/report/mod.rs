//! Showing results: the live progress view of `sweep run` (a redrawn block on a terminal:
//! runs by state, best so far with its parameters, elapsed time and limits; or one line per
//! event otherwise), and the self-contained HTML report of `sweep report` ([`html`], drawn
//! from a [`data::ReportData`] snapshot with the SVG pieces of [`svg`] and the parameter
//! importance estimate of [`importance`]).

pub mod data;
pub mod html;
pub mod importance;
pub mod svg;

pub use data::{record_space, ReportData};

use crate::engine::Progress;
use crate::space::Params;
use crate::store::RunState;
use std::collections::HashMap;
use std::time::Instant;

/// Formats a parameter list as `name=value name=value`.
pub fn format_params(p: &Params) -> String {
    p.iter()
        .map(|(n, v)| format!("{}={v}", n.trim_start_matches('-')))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Formats seconds as `1h02m03s` / `2m03s` / `4.2s`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{secs:.1}s")
    }
}

/// The state the view is drawn from.
#[derive(Debug)]
pub struct ProgressView {
    metric: String,
    max_total: u64,
    max_concurrent: u64,
    max_minutes: f64,
    started: Instant,
    states: HashMap<String, RunState>,
    best: Option<(String, f64, Params)>,
    last_warning: Option<String>,
    stopping: Option<String>,
    waiting: Option<String>,
    sweep_id: String,
}

impl ProgressView {
    /// A view for a sweep with these limits.
    pub fn new(metric: &str, max_total: u64, max_concurrent: u64, max_minutes: f64) -> Self {
        ProgressView {
            metric: metric.into(),
            max_total,
            max_concurrent,
            max_minutes,
            started: Instant::now(),
            states: HashMap::new(),
            best: None,
            last_warning: None,
            stopping: None,
            waiting: None,
            sweep_id: String::new(),
        }
    }

    /// Applies an event; returns the line to print for it in line-per-event mode.
    pub fn apply(&mut self, p: &Progress) -> Option<String> {
        match p {
            Progress::Started { sweep_id } => {
                self.sweep_id = sweep_id.clone();
                Some(format!("sweep {sweep_id} started"))
            }
            Progress::RunState {
                run_id,
                params,
                state,
                reason,
            } => {
                self.states.insert(run_id.clone(), *state);
                match state {
                    RunState::Running => {
                        Some(format!("run {run_id} running: {}", format_params(params)))
                    }
                    s if s.is_terminal() => Some(format!(
                        "run {run_id} {}: {}",
                        s.as_str(),
                        reason.as_ref().map(ToString::to_string).unwrap_or_default()
                    )),
                    _ => None,
                }
            }
            Progress::NewBest {
                run_id,
                value,
                params,
            } => {
                self.best = Some((run_id.clone(), *value, params.clone()));
                Some(format!(
                    "new best {}={value} from run {run_id} ({})",
                    self.metric,
                    format_params(params)
                ))
            }
            Progress::Warning(w) => {
                self.last_warning = Some(w.clone());
                Some(format!("warning: {w}"))
            }
            Progress::Stopping(why) => {
                self.stopping = Some(why.clone());
                Some(format!("stopping: {why}"))
            }
            // It changes with every run that starts or ends: the block shows it, a line per
            // change would only repeat the run lines.
            Progress::Waiting(w) => {
                self.waiting = w.as_ref().map(ToString::to_string);
                None
            }
        }
    }

    /// The block drawn on a terminal.
    pub fn render(&self) -> Vec<String> {
        let count = |s: RunState| self.states.values().filter(|x| **x == s).count();
        let mut lines = vec![format!(
            "sweep {}  elapsed {} / {}  runs {}/{} (max {} at once)",
            self.sweep_id,
            format_duration(self.started.elapsed().as_secs_f64()),
            format_duration(self.max_minutes * 60.0),
            self.states.len(),
            self.max_total,
            self.max_concurrent,
        )];
        lines.push(format!(
            "  running {}  starting {}  completed {}  failed {}  canceled {}",
            count(RunState::Running),
            count(RunState::Starting) + count(RunState::Queued),
            count(RunState::Completed),
            count(RunState::Failed),
            count(RunState::Canceled)
        ));
        lines.push(match &self.best {
            Some((id, v, p)) => format!(
                "  best {}={v} (run {id}: {})",
                self.metric,
                format_params(p)
            ),
            None => format!("  best {}: none yet", self.metric),
        });
        if let Some(s) = &self.stopping {
            lines.push(format!("  stopping: {s}"));
        } else {
            if let Some(w) = &self.waiting {
                lines.push(format!("  waiting: {w}"));
            }
            if let Some(w) = &self.last_warning {
                lines.push(format!("  warning: {w}"));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Value;

    #[test]
    fn view_counts_states_and_tracks_best() {
        let mut v = ProgressView::new("acc", 10, 2, 1.0);
        let p = Params(vec![("--lr".into(), Value::Float(0.5))]);
        v.apply(&Progress::RunState {
            run_id: "r0".into(),
            params: p.clone(),
            state: RunState::Running,
            reason: None,
        });
        let line = v
            .apply(&Progress::RunState {
                run_id: "r0".into(),
                params: p.clone(),
                state: RunState::Failed,
                reason: Some("exit code 1".into()),
            })
            .unwrap();
        assert_eq!(line, "run r0 failed: exit code 1");
        v.apply(&Progress::NewBest {
            run_id: "r1".into(),
            value: 0.9,
            params: p,
        });
        let r = v.render();
        assert!(r[1].contains("failed 1"), "{r:?}");
        assert_eq!(r[2], "  best acc=0.9 (run r1: lr=0.5)");
    }

    #[test]
    fn view_shows_why_nothing_is_launched_until_it_stops() {
        let mut v = ProgressView::new("acc", 10, 4, 1.0);
        let w = crate::engine::Waiting::TargetFull {
            target: "pool".into(),
            live: 2,
            starting: 0,
            capacity: 2,
        };
        // Not a line of its own: it changes with every run.
        assert_eq!(v.apply(&Progress::Waiting(Some(w))), None);
        assert_eq!(
            v.render().last().unwrap(),
            "  waiting: target full (pool: 2 of 2 slots)"
        );
        v.apply(&Progress::Waiting(None));
        assert!(!v.render().iter().any(|l| l.contains("waiting")));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(4.24), "4.2s");
        assert_eq!(format_duration(123.0), "2m03s");
        assert_eq!(format_duration(3723.0), "1h02m03s");
    }
}
