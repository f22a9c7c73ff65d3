//! TruncationSelection policy (docs/policies.md): at interval `s`, rank the pool plus the run by
//! value at `s` (best over `1..=s`, the same Y the other policies use) and terminate the run
//! if it is among the lowest `floor(n * pct / 100)`, `n` counting the run.
//!
//! Ties: the run is cut only if every run tied with it also fits inside the cut, i.e. if
//! `#{runs whose value is worse than or equal to the run's} <= floor(n * pct / 100)`. Ties at
//! the boundary are all spared, so at one interval and one snapshot of the table the runs
//! cut form a bottom set of at most `floor(n * pct / 100)` runs; the rule does not depend on
//! run ids or arrival order.
//!
//! The incremental index keeps, per evaluated interval, an [`OrdMultiset`] of the best
//! scores over `1..=s` of the runs that reached `s`; a decision is one rank query.

use super::ordstat::OrdMultiset;
use super::table::{score, MetricTable, PerInterval, RunKey};
use super::{Decision, Detail, NAME_TRUNCATION};
use crate::spec::Goal;

/// How many of `n` ranked runs fall in the lowest `pct` percent: `floor(n * pct / 100)`.
pub fn cut(n: u32, pct: u32) -> u32 {
    (u64::from(n) * u64::from(pct) / 100) as u32
}

/// The incremental TruncationSelection index: one multiset of best scores per interval.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    sets: PerInterval<OrdMultiset>,
}

impl Index {
    /// Adds a run that just reached `s` with best score `best` over `1..=s`.
    pub(crate) fn insert(&mut self, s: u32, best: f64) {
        self.sets.at(s).insert(best);
    }

    /// The decision for `run` at `s` with best value `y` (already inserted).
    pub(crate) fn decide(
        &self,
        goal: Goal,
        pct: u32,
        run: RunKey,
        s: u32,
        y: f64,
    ) -> Option<Decision> {
        let set = self.sets.get(s)?;
        let n = set.len() as u32;
        let ys = score(goal, y);
        let at_or_below = set.count_le(ys) as u32;
        decide(goal, pct, run, s, y, n, at_or_below, |k| {
            set.select(k).expect("k < n")
        })
    }
}

/// The rule, shared by the index and the rescan: `n` ranked runs (the run included),
/// `at_or_below` of them no better than the run, `nth` the k-th lowest score.
#[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
fn decide(
    goal: Goal,
    pct: u32,
    run: RunKey,
    s: u32,
    y: f64,
    n: u32,
    at_or_below: u32,
    nth: impl Fn(usize) -> f64,
) -> Option<Decision> {
    if n < 2 {
        return None;
    }
    let k = cut(n, pct);
    if k == 0 || at_or_below > k {
        return None;
    }
    Some(Decision {
        policy: NAME_TRUNCATION,
        run,
        interval: s,
        value: y,
        // The value at the top of the cut: the k-th lowest.
        threshold: score(goal, nth(k as usize - 1)),
        pool: n - 1,
        detail: Detail::Truncation {
            rank: at_or_below,
            cut: k,
            ranked: n,
        },
    })
}

/// The TruncationSelection decision for `run` at `s` by rescanning the table: the
/// specification the incremental index is tested against.
pub fn rescan(table: &MetricTable, pct: u32, run: RunKey, s: u32) -> Option<Decision> {
    let goal = table.goal();
    let y = table.best_over(run, s)?;
    let mut scores = table.peer_scores(run, |t, p| t.best_over(p, s));
    let ys = score(goal, y);
    let at = scores.partition_point(|v| v.total_cmp(&ys).is_lt());
    scores.insert(at, ys);
    let at_or_below = scores.iter().filter(|&&v| v <= ys).count() as u32;
    decide(
        goal,
        pct,
        run,
        s,
        y,
        scores.len() as u32,
        at_or_below,
        |k| scores[k],
    )
}
