//! MedianStopping policy (docs/policies.md): terminate a run whose best value is strictly worse than
//! the median of the other runs' running averages at the same interval.
//!
//! The run itself is left out of the median: the policy asks whether the run is behind the
//! *others*, and counting the run's own average would pull the median toward it (with one
//! other run, the run would be compared against the midpoint of itself and that run).
//!
//! The incremental index keeps, per evaluated interval `s`, an [`OrdMultiset`] of the
//! running-average scores over `1..=s` of the runs that reached `s`; the run's own copy is
//! skipped at query time by [`OrdMultiset::select_without`].

use super::ordstat::OrdMultiset;
use super::table::{score, MetricTable, PerInterval, RunKey};
use super::{Decision, Detail, NAME_MEDIAN};
use crate::spec::Goal;

/// The midpoint of two values, written so that it never overflows and is exactly mirrored
/// under negation (so the median of scores is the negated median of values for `Minimize`).
pub fn midpoint(a: f64, b: f64) -> f64 {
    a * 0.5 + b * 0.5
}

/// The median of `m >= 1` sorted values given by `nth` (0-based); the midpoint of the two
/// middle values when `m` is even.
fn median_of(m: usize, nth: impl Fn(usize) -> f64) -> f64 {
    if m % 2 == 1 {
        nth(m / 2)
    } else {
        midpoint(nth(m / 2 - 1), nth(m / 2))
    }
}

/// The incremental MedianStopping index: one multiset of average scores per interval.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    sets: PerInterval<OrdMultiset>,
}

impl Index {
    /// Adds a run that just reached `s` with running-average score `avg` over `1..=s`.
    pub(crate) fn insert(&mut self, s: u32, avg: f64) {
        self.sets.at(s).insert(avg);
    }

    /// The decision for `run` at `s` with best value `y`; `own_avg` is the run's average
    /// score if it was inserted (it is skipped, so the median is over the pool only).
    pub(crate) fn decide(
        &self,
        goal: Goal,
        run: RunKey,
        s: u32,
        y: f64,
        own_avg: Option<f64>,
    ) -> Option<Decision> {
        let set = self.sets.get(s)?;
        let m = set.len() - usize::from(own_avg.is_some());
        if m == 0 {
            return None;
        }
        let med = median_of(m, |k| {
            match own_avg {
                Some(a) => set.select_without(k, a),
                None => set.select(k),
            }
            .expect("k < pool size")
        });
        decide(goal, run, s, y, med, m as u32)
    }
}

/// The rule on scores (`median` is a score), shared by the index and the rescan.
fn decide(goal: Goal, run: RunKey, s: u32, y: f64, median: f64, pool: u32) -> Option<Decision> {
    (score(goal, y) < median).then(|| Decision {
        policy: NAME_MEDIAN,
        run,
        interval: s,
        value: y,
        // Scores are values negated for Minimize, so `score` maps back as well.
        threshold: score(goal, median),
        pool,
        detail: Detail::Median,
    })
}

/// The MedianStopping decision for `run` at `s` by rescanning the table: the specification
/// the incremental index is tested against.
pub fn rescan(table: &MetricTable, run: RunKey, s: u32) -> Option<Decision> {
    let goal = table.goal();
    let y = table.best_over(run, s)?;
    let avgs = table.peer_scores(run, |t, p| t.average_over(p, s));
    if avgs.is_empty() {
        return None;
    }
    let med = median_of(avgs.len(), |k| avgs[k]);
    decide(goal, run, s, y, med, avgs.len() as u32)
}
