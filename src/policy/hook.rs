//! The early-termination hook the engine and a library study drive ([`EarlyStop`]), and
//! its implementation backed by an [`Evaluator`] ([`PolicyHook`]), keeping the last
//! [`Decision`] so the engine can record its numbers next to the `policy:<name>` reason.

use super::{Decision, Evaluator, PolicyError, RunStatus};
use crate::spec::{Goal, Policy};

/// An early-termination hook: the engine (and a library study) reports every
/// primary-metric interval of every run and stops the run (`Canceled`, reason
/// `policy:<name>`) when the hook says so. [`PolicyHook`] is the policies' implementation.
pub trait EarlyStop: Send {
    /// The policy's name, recorded in the cancel reason.
    fn name(&self) -> &str;
    /// Run `run_id` reported its `interval`-th value (1-based) of the primary metric (every
    /// report is passed, including a stopping run's, so the pool stays complete); returns
    /// whether the run should be stopped now.
    fn observe(&mut self, run_id: &str, interval: u32, value: f64) -> bool;
    /// Run `run_id` ended (its values stay in the pool).
    fn finished(&mut self, _run_id: &str) {}

    /// Run `run_id` was started over by its target: its values so far no longer count
    /// (they leave every pool), and its next report is interval 1 again.
    fn restarted(&mut self, _run_id: &str) {}

    /// The decision behind the last `true` from [`EarlyStop::observe`], taken once: a
    /// sentence for the history's events and the numbers (interval, value, threshold, ...)
    /// recorded with the canceled run.
    fn decision(&mut self) -> Option<(String, serde_json::Value)> {
        None
    }
}

/// An [`EarlyStop`] hook backed by an incremental [`Evaluator`].
///
/// Exact policy semantics (docs/policies.md) need every report of the primary metric (Y and the running
/// averages cover all intervals `1..=s`, not only evaluated ones), including reports of runs
/// that are already being stopped (their metrics still count): the caller should pass them
/// all to [`EarlyStop::observe`]; the evaluator itself decides when to judge.
#[derive(Debug, Clone)]
pub struct PolicyHook {
    ev: Evaluator,
    last: Option<Decision>,
}

impl PolicyHook {
    /// A hook for `policy` on a metric with `goal`; fails on invalid parameters.
    pub fn new(policy: &Policy, goal: Goal) -> Result<PolicyHook, PolicyError> {
        Ok(PolicyHook {
            ev: Evaluator::new(policy, goal)?,
            last: None,
        })
    }

    /// The evaluator (read access to the table and pools).
    pub fn evaluator(&self) -> &Evaluator {
        &self.ev
    }

    /// The evaluator, for warm starts ([`Evaluator::preload`]) before the sweep runs.
    pub fn evaluator_mut(&mut self) -> &mut Evaluator {
        &mut self.ev
    }

    /// The decision behind the last `true` from [`EarlyStop::observe`], taken once.
    pub fn take_decision(&mut self) -> Option<Decision> {
        self.last.take()
    }
}

impl EarlyStop for PolicyHook {
    fn name(&self) -> &str {
        self.ev.policy().name()
    }

    fn observe(&mut self, run_id: &str, interval: u32, value: f64) -> bool {
        let k = self.ev.register(run_id);
        let have = self.ev.table().intervals(k);
        if interval <= have {
            // A repeated interval number: the value is already accounted for.
            return false;
        }
        // Intervals the caller did not pass are recorded as unknown (NaN: counted as
        // intervals, never as values) so interval numbers stay aligned with the engine's.
        for _ in have + 1..interval {
            self.ev.record(k, f64::NAN);
        }
        match self.ev.on_report(k, value) {
            Some(d) => {
                self.last = Some(d);
                true
            }
            None => false,
        }
    }

    fn finished(&mut self, run_id: &str) {
        let k = self.ev.register(run_id);
        self.ev.mark_stopped(k);
    }

    /// The pools only ever receive inserts, so the evaluator is rebuilt from its table
    /// without the run's values (a rare event: one pass over every report so far).
    fn restarted(&mut self, run_id: &str) {
        let old = &self.ev;
        let Ok(mut ev) = Evaluator::new(old.policy(), old.table().goal()) else {
            return;
        };
        for k in old.table().keys() {
            let id = old.table().run_id(k);
            if id == run_id {
                // Registered in the same place, so every run keeps its key.
                ev.register(id);
                continue;
            }
            let status = if old.is_stopped(k) {
                RunStatus::Stopped
            } else {
                RunStatus::Running
            };
            ev.preload(id, old.table().values(k), status);
        }
        self.ev = ev;
    }

    fn decision(&mut self) -> Option<(String, serde_json::Value)> {
        let d = self.take_decision()?;
        Some((d.to_string(), d.to_json()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PolicyKind;

    #[test]
    fn hook_reports_decisions_and_finished_runs_stay_in_pools() {
        let p = Policy {
            kind: PolicyKind::Bandit {
                slack_factor: None,
                slack_amount: Some(0.1),
            },
            evaluation_interval: 2,
            delay_evaluation: 0,
        };
        let mut h = PolicyHook::new(&p, Goal::Maximize).unwrap();
        assert_eq!(h.name(), "bandit");
        assert!(!h.observe("a", 1, 0.9));
        assert!(!h.observe("a", 2, 0.9));
        h.finished("a");
        assert!(!h.observe("b", 1, 0.5));
        assert!(h.observe("b", 2, 0.5));
        let d = h.take_decision().unwrap();
        assert_eq!((d.interval, d.reason().as_str()), (2, "policy:bandit"));
        assert!(h.take_decision().is_none());
        // A skipped interval is recorded as unknown: c's interval 2 is judged on 0.85 alone.
        assert!(!h.observe("c", 2, 0.85));
        assert_eq!(
            h.evaluator()
                .table()
                .intervals(h.evaluator().key("c").unwrap()),
            2
        );
        assert!(!h.observe("c", 2, 0.0), "a repeated interval is ignored");
    }

    #[test]
    fn a_restarted_run_leaves_the_pools_and_counts_from_interval_one() {
        let p = Policy {
            kind: PolicyKind::Bandit {
                slack_factor: None,
                slack_amount: Some(0.1),
            },
            evaluation_interval: 1,
            delay_evaluation: 0,
        };
        let mut h = PolicyHook::new(&p, Goal::Maximize).unwrap();
        assert!(!h.observe("a", 1, 0.9));
        assert!(!h.observe("b", 1, 0.85));
        // Against a's 0.9, 0.5 is far behind ...
        let mut probe = h.clone();
        assert!(probe.observe("c", 1, 0.5));
        // ... but a restarted: its 0.9 no longer counts, b's 0.85 does.
        h.restarted("a");
        let ev = h.evaluator();
        assert_eq!(ev.table().intervals(ev.key("a").unwrap()), 0);
        assert_eq!(ev.table().values(ev.key("b").unwrap()), [0.85]);
        assert!(!h.observe("c", 1, 0.8));
        assert!(h.observe("d", 1, 0.5));
        // a's rerun reports interval 1 again and is judged against b and c.
        assert!(!h.observe("a", 1, 0.84));
    }
}
