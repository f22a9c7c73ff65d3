//! The metric table: every run's reports of the primary metric, in order, plus the O(1)
//! running summaries (best so far, finite sum and count) the policies read at a run's latest
//! interval. It is goal-aware because "best" depends on the goal.
//!
//! The i-th report of a run is its interval i (docs/metrics.md). NaN and ±inf reports are kept
//! and count as intervals, but never count as a best value or toward an average.

use crate::spec::Goal;
use std::collections::HashMap;

/// A dense handle for a run inside one table (its registration order), so the hot path
/// indexes a `Vec` instead of hashing run-id strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey(pub u32);

impl RunKey {
    /// The position of the run in registration order.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One entry per interval of an incremental policy index (interval `s` at position `s`),
/// made with `T::default()` the first time a run reaches that interval.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerInterval<T>(Vec<T>);

impl<T: Default> PerInterval<T> {
    /// The entry of interval `s`, made (with every one before it) if none reached it yet.
    pub(crate) fn at(&mut self, s: u32) -> &mut T {
        let s = s as usize;
        if self.0.len() <= s {
            self.0.resize_with(s + 1, T::default);
        }
        &mut self.0[s]
    }

    /// The entry of interval `s`, if a run reached it.
    pub(crate) fn get(&self, s: u32) -> Option<&T> {
        self.0.get(s as usize)
    }
}

/// One run's reports and running summaries.
#[derive(Debug, Clone)]
struct RunRecord {
    id: String,
    values: Vec<f64>,
    /// Best finite value over all intervals so far, if any.
    best: Option<f64>,
    /// Sum and count of the finite values so far, for the running average.
    sum: f64,
    finite: u32,
}

/// Reports of the primary metric, per run, with running best and average.
#[derive(Debug, Clone)]
pub struct MetricTable {
    goal: Goal,
    runs: Vec<RunRecord>,
    index: HashMap<String, RunKey>,
}

/// The score of a value: larger is better under either goal, so one ordering serves both.
/// Negation is exact in IEEE arithmetic, so nothing is lost by working in scores.
pub fn score(goal: Goal, value: f64) -> f64 {
    match goal {
        Goal::Maximize => value,
        Goal::Minimize => -value,
    }
}

/// The running average from a finite sum and count, clamped so it is never better than the
/// run's best value. Mathematically a mean never exceeds its maximum; in floating point
/// `(0.1 + 0.1 + 0.1) / 3` does, and without the clamp the best run could find itself
/// "worse than the median" of a run that only ever tied it.
pub fn running_average(goal: Goal, sum: f64, count: u32, best: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let avg = sum / f64::from(count);
    if !avg.is_finite() {
        // A sum that overflowed carries no usable average.
        return None;
    }
    Some(if goal.better(avg, best) { best } else { avg })
}

impl MetricTable {
    /// An empty table for a metric with this goal.
    pub fn new(goal: Goal) -> MetricTable {
        MetricTable {
            goal,
            runs: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The goal the table ranks by.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// Registers a run (idempotent) and returns its key.
    pub fn register(&mut self, run_id: &str) -> RunKey {
        if let Some(&k) = self.index.get(run_id) {
            return k;
        }
        let k = RunKey(u32::try_from(self.runs.len()).expect("fewer than 2^32 runs"));
        self.runs.push(RunRecord {
            id: run_id.to_string(),
            values: Vec::new(),
            best: None,
            sum: 0.0,
            finite: 0,
        });
        self.index.insert(run_id.to_string(), k);
        k
    }

    /// The key of a registered run.
    pub fn key(&self, run_id: &str) -> Option<RunKey> {
        self.index.get(run_id).copied()
    }

    /// The run id a key stands for.
    pub fn run_id(&self, run: RunKey) -> &str {
        &self.runs[run.index()].id
    }

    /// Number of registered runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no run is registered.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// All keys, in registration order.
    pub fn keys(&self) -> impl Iterator<Item = RunKey> + '_ {
        (0..self.runs.len()).map(|i| RunKey(i as u32))
    }

    /// Appends a report of the primary metric to `run` and returns its interval (1-based).
    /// Panics if `run` was not registered in this table.
    pub fn record(&mut self, run: RunKey, value: f64) -> u32 {
        let goal = self.goal;
        let r = &mut self.runs[run.index()];
        r.values.push(value);
        if value.is_finite() {
            r.sum += value;
            r.finite += 1;
            r.best = Some(match r.best {
                Some(b) if !goal.better(value, b) => b,
                _ => value,
            });
        }
        r.values.len() as u32
    }

    /// Number of intervals `run` has reported.
    pub fn intervals(&self, run: RunKey) -> u32 {
        self.runs[run.index()].values.len() as u32
    }

    /// Every value `run` reported, interval 1 first.
    pub fn values(&self, run: RunKey) -> &[f64] {
        &self.runs[run.index()].values
    }

    /// The run's best finite value over all its intervals so far (`None` if none is finite).
    pub fn best(&self, run: RunKey) -> Option<f64> {
        self.runs[run.index()].best
    }

    /// The run's running average over all its intervals so far (finite values only).
    pub fn average(&self, run: RunKey) -> Option<f64> {
        let r = &self.runs[run.index()];
        running_average(self.goal, r.sum, r.finite, r.best?)
    }

    /// The run's best finite value over intervals `1..=s`, by rescanning (`O(s)`); `None` if
    /// the run has not reached `s` or has no finite value there.
    pub fn best_over(&self, run: RunKey, s: u32) -> Option<f64> {
        let v = self.runs[run.index()].values.get(..s as usize)?;
        v.iter().copied().filter(|x| x.is_finite()).reduce(|b, x| {
            if self.goal.better(x, b) {
                x
            } else {
                b
            }
        })
    }

    /// The [`score`]s of every run but `run`, each from `value(table, run)` (skipping runs
    /// it gives nothing for), sorted ascending: the pool a rescan compares `run` against.
    pub fn peer_scores(
        &self,
        run: RunKey,
        value: impl Fn(&MetricTable, RunKey) -> Option<f64>,
    ) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .keys()
            .filter(|&p| p != run)
            .filter_map(|p| value(self, p))
            .map(|x| score(self.goal, x))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The run's running average over intervals `1..=s`, by rescanning (`O(s)`), computed
    /// exactly as the running summary is (same order of additions, same clamp).
    pub fn average_over(&self, run: RunKey, s: u32) -> Option<f64> {
        let v = self.runs[run.index()].values.get(..s as usize)?;
        let best = self.best_over(run, s)?;
        let (mut sum, mut n) = (0.0, 0u32);
        for &x in v.iter().filter(|x| x.is_finite()) {
            sum += x;
            n += 1;
        }
        running_average(self.goal, sum, n, best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_reports_count_as_intervals_but_not_values() {
        let mut t = MetricTable::new(Goal::Maximize);
        let r = t.register("a");
        assert_eq!(t.record(r, f64::NAN), 1);
        assert_eq!(t.best(r), None);
        assert_eq!(t.average(r), None);
        assert_eq!(t.record(r, f64::INFINITY), 2);
        assert_eq!(t.record(r, 0.5), 3);
        assert_eq!(t.record(r, f64::NEG_INFINITY), 4);
        assert_eq!(t.best(r), Some(0.5));
        assert_eq!(t.average(r), Some(0.5));
        assert_eq!(t.best_over(r, 2), None);
        assert_eq!(t.best_over(r, 4), Some(0.5));
        assert_eq!(t.best_over(r, 5), None, "the run never reached interval 5");
        assert_eq!(t.intervals(r), 4);
    }

    #[test]
    fn best_follows_the_goal_and_average_is_clamped() {
        let mut t = MetricTable::new(Goal::Minimize);
        let r = t.register("a");
        for v in [0.3, 0.1, 0.2] {
            t.record(r, v);
        }
        assert_eq!(t.best(r), Some(0.1));
        assert_eq!(t.best_over(r, 1), Some(0.3));
        let avg = t.average(r).unwrap();
        assert!((avg - 0.2).abs() < 1e-12);
        assert_eq!(t.average_over(r, 3), Some(avg));

        let mut t = MetricTable::new(Goal::Maximize);
        let r = t.register("b");
        for _ in 0..3 {
            t.record(r, 0.1);
        }
        // (0.1 + 0.1 + 0.1) / 3 rounds above 0.1; the clamp keeps it at the best.
        let raw = t.values(r).iter().sum::<f64>() / 3.0;
        assert!(
            raw > 0.1,
            "the premise: the plain mean rounds above the best"
        );
        assert_eq!(t.average(r), Some(0.1));
        assert_eq!(t.register("b"), r, "registration is idempotent");
    }
}
