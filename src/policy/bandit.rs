//! Bandit policy (docs/policies.md): terminate a run whose best value is more than a slack behind
//! the best run at the same interval.
//!
//! The incremental index keeps, per evaluated interval `s`, the best score among the runs
//! that reached `s` and how many of them have a finite value; both only ever grow, so an
//! update and a decision are `O(1)`.

use super::table::{score, MetricTable, PerInterval, RunKey};
use super::{Decision, Detail, NAME_BANDIT};
use crate::spec::Goal;

/// The validated slack of a Bandit policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slack {
    /// Relative slack `f >= 0`.
    Factor(f64),
    /// Absolute slack `a >= 0`.
    Amount(f64),
}

/// The termination threshold given the best value `best` in the pool (the run included):
/// maximize `B - |B|*f/(1+f)` or `B - a`; minimize `B + |B|*f` or `B + a`. The absolute value
/// keeps the slack pointing away from the best run when the metric is negative.
pub fn threshold(goal: Goal, best: f64, slack: Slack) -> f64 {
    match (goal, slack) {
        (Goal::Maximize, Slack::Factor(f)) => best - best.abs() * f / (1.0 + f),
        (Goal::Maximize, Slack::Amount(a)) => best - a,
        (Goal::Minimize, Slack::Factor(f)) => best + best.abs() * f,
        (Goal::Minimize, Slack::Amount(a)) => best + a,
    }
}

/// Whether a run with best value `y` is terminated against `threshold` (strictly worse).
pub fn terminates(goal: Goal, y: f64, threshold: f64) -> bool {
    goal.better(threshold, y)
}

/// Per-interval best score and count of runs with a finite value.
#[derive(Debug, Clone, Copy)]
struct Slot {
    best: f64,
    ranked: u32,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            best: f64::NEG_INFINITY,
            ranked: 0,
        }
    }
}

/// The incremental Bandit index: one [`Slot`] per evaluated interval.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    slots: PerInterval<Slot>,
}

impl Index {
    /// Adds a run that just reached interval `s` with best score `best` over `1..=s`.
    pub(crate) fn insert(&mut self, s: u32, best: f64) {
        let slot = self.slots.at(s);
        slot.best = slot.best.max(best);
        slot.ranked += 1;
    }

    /// The decision for run `run` at `s`, whose best value is `y` and which has been inserted.
    pub(crate) fn decide(
        &self,
        goal: Goal,
        slack: Slack,
        run: RunKey,
        s: u32,
        y: f64,
    ) -> Option<Decision> {
        let slot = self.slots.get(s)?;
        // The run itself is one of `ranked`; fewer than two means an empty pool.
        if slot.ranked < 2 {
            return None;
        }
        let best = score(goal, slot.best);
        decide(goal, slack, run, s, y, best, slot.ranked - 1)
    }
}

/// The rule itself, shared by the index and the rescan so both round identically.
fn decide(
    goal: Goal,
    slack: Slack,
    run: RunKey,
    s: u32,
    y: f64,
    best: f64,
    pool: u32,
) -> Option<Decision> {
    let t = threshold(goal, best, slack);
    terminates(goal, y, t).then_some(Decision {
        policy: NAME_BANDIT,
        run,
        interval: s,
        value: y,
        threshold: t,
        pool,
        detail: Detail::Bandit { best },
    })
}

/// The Bandit decision for `run` at `s` by rescanning the table (`O(runs × s)`): the
/// specification the incremental index is tested against.
pub fn rescan(table: &MetricTable, slack: Slack, run: RunKey, s: u32) -> Option<Decision> {
    let goal = table.goal();
    let y = table.best_over(run, s)?;
    let mut best = y;
    let mut pool = 0;
    for p in table.keys().filter(|&p| p != run) {
        if let Some(v) = table.best_over(p, s) {
            pool += 1;
            if goal.better(v, best) {
                best = v;
            }
        }
    }
    if pool == 0 {
        return None;
    }
    decide(goal, slack, run, s, y, best, pool)
}
