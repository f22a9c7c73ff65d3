//! Early-termination policies (docs/policies.md) as pure functions over a [`MetricTable`], plus the
//! incremental [`Evaluator`] the engine's dispatcher drives one report at a time.
//!
//! Two implementations of every policy live here on purpose. [`rescan`] is the definition:
//! it reads the table and rebuilds the pool from scratch (`O(runs × s)` per decision). The
//! [`Evaluator`] keeps per-interval structures that only ever receive inserts (a run that
//! reaches interval `s` joins the pool at `s` with values over `1..=s` that never change
//! again), so one decision costs `O(1)` (Bandit) or a rank/select query (MedianStopping,
//! TruncationSelection). Tests check that the two agree on random report streams.
//!
//! Semantics in brief (docs/policies.md has the full text and worked examples):
//! - run `r` is evaluated at interval `s` iff `s % evaluation_interval == 0 && s >=
//!   delay_evaluation`, when it reports its `s`-th value;
//! - Y is `r`'s best finite value over `1..=s`; the pool at `s` is every other run, live or
//!   stopped, that has reported at least `s` values and has a finite value over `1..=s`;
//! - a run with no finite value yet is never terminated and is not in any pool;
//! - an empty pool never terminates anything.

pub mod bandit;
pub mod hook;
pub mod median;
pub mod ordstat;
pub mod table;
pub mod truncation;

#[cfg(test)]
mod tests;

use crate::spec::{Goal, Policy, PolicyKind};
pub use bandit::Slack;
pub use hook::{EarlyStop, PolicyHook};
use table::score;
pub use table::{MetricTable, RunKey};

/// The name Bandit decisions carry (matches [`Policy::name`]).
pub const NAME_BANDIT: &str = "bandit";
/// The name MedianStopping decisions carry (matches [`Policy::name`]).
pub const NAME_MEDIAN: &str = "median_stopping";
/// The name TruncationSelection decisions carry (matches [`Policy::name`]).
pub const NAME_TRUNCATION: &str = "truncation_selection";

/// A policy's parameters that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// Bandit needs exactly one of `slack_factor` and `slack_amount`.
    #[error("bandit policy needs exactly one of slack_factor and slack_amount")]
    SlackArity,
    /// A slack must be finite and not negative.
    #[error("bandit slack must be a finite number >= 0, got {0}")]
    SlackValue(f64),
    /// The truncation percentage must be in 1..=99.
    #[error("truncation_percentage must be in 1..=99, got {0}")]
    Percentage(u32),
}

/// A policy's rule with validated parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Never terminate.
    NoTermination,
    /// Bandit with its slack.
    Bandit(Slack),
    /// MedianStopping.
    Median,
    /// TruncationSelection with its percentage.
    Truncation(u32),
}

impl Rule {
    /// Validates a policy's parameters (the config layer checks them too; the library does
    /// not rely on that).
    pub fn from_policy(policy: &Policy) -> Result<Rule, PolicyError> {
        Ok(match policy.kind {
            PolicyKind::NoTermination => Rule::NoTermination,
            PolicyKind::Bandit {
                slack_factor,
                slack_amount,
            } => {
                let slack = match (slack_factor, slack_amount) {
                    (Some(f), None) => Slack::Factor(f),
                    (None, Some(a)) => Slack::Amount(a),
                    _ => return Err(PolicyError::SlackArity),
                };
                let (Slack::Factor(x) | Slack::Amount(x)) = slack;
                if !(x.is_finite() && x >= 0.0) {
                    return Err(PolicyError::SlackValue(x));
                }
                Rule::Bandit(slack)
            }
            PolicyKind::MedianStopping => Rule::Median,
            PolicyKind::TruncationSelection {
                truncation_percentage: p,
            } => {
                if !(1..=99).contains(&p) {
                    return Err(PolicyError::Percentage(p));
                }
                Rule::Truncation(p)
            }
        })
    }
}

/// What a policy found, per policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detail {
    /// Bandit: the best value in the pool at the interval, the run included.
    Bandit {
        /// That best value (B).
        best: f64,
    },
    /// MedianStopping: `threshold` is the median of the pool's running averages.
    Median,
    /// TruncationSelection: where the run ranked.
    Truncation {
        /// Runs no better than this one, itself included (1 = strictly the lowest).
        rank: u32,
        /// How many of the lowest are cut: `floor(ranked * pct / 100)`.
        cut: u32,
        /// Runs ranked at the interval, this one included.
        ranked: u32,
    },
}

/// A decision to terminate a run, with the numbers that justify it, for the engine to record
/// as `Canceled` with reason [`Decision::reason`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The policy's name (`bandit`, `median_stopping`, `truncation_selection`).
    pub policy: &'static str,
    /// The run to terminate.
    pub run: RunKey,
    /// The interval at which it was evaluated.
    pub interval: u32,
    /// Its best value over intervals `1..=interval` (Y).
    pub value: f64,
    /// The value it had to beat: Bandit's `B ∓ slack`, the median, or the value at the top
    /// of the truncation cut.
    pub threshold: f64,
    /// How many other runs it was compared with.
    pub pool: u32,
    /// Per-policy numbers.
    pub detail: Detail,
}

impl Decision {
    /// The cancel reason the engine records: `policy:<name>`.
    pub fn reason(&self) -> String {
        format!("policy:{}", self.policy)
    }

    /// The numbers recorded with the canceled run (its `detail`, shown by `sweep runs`):
    /// `policy`, `interval`, `value`, `threshold`, `pool`, and per policy Bandit's `best`
    /// or TruncationSelection's `rank`, `cut` and `ranked`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut j = serde_json::json!({
            "policy": self.policy,
            "interval": self.interval,
            "value": self.value,
            "threshold": self.threshold,
            "pool": self.pool,
        });
        match self.detail {
            Detail::Bandit { best } => j["best"] = best.into(),
            Detail::Median => {}
            Detail::Truncation { rank, cut, ranked } => {
                j["rank"] = rank.into();
                j["cut"] = cut.into();
                j["ranked"] = ranked.into();
            }
        }
        j
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (v, s, t, n) = (self.value, self.interval, self.threshold, self.pool);
        match self.detail {
            Detail::Bandit { best } => write!(
                f,
                "policy:bandit: best value {v} at interval {s} is worse than {t} \
                 (best {best} among this run and {n} others, less the slack)"
            ),
            Detail::Median => write!(
                f,
                "policy:median_stopping: best value {v} at interval {s} is worse than {t}, \
                 the median of {n} other runs' running averages"
            ),
            Detail::Truncation { rank, cut, ranked } => write!(
                f,
                "policy:truncation_selection: value {v} at interval {s} is among the lowest \
                 {rank} of {ranked} runs; the lowest {cut} are cut (cutoff value {t})"
            ),
        }
    }
}

/// The decision for `run` at interval `s` by rescanning `table`, per docs/policies.md: the pool is
/// every other run in the table that has reached `s`. `None` if the policy does not evaluate
/// at `s`, the run has not reached `s`, or it is not terminated.
pub fn rescan(
    policy: &Policy,
    table: &MetricTable,
    run: RunKey,
    s: u32,
) -> Result<Option<Decision>, PolicyError> {
    let rule = Rule::from_policy(policy)?;
    if !policy.evaluates_at(s) || table.intervals(run) < s {
        return Ok(None);
    }
    Ok(match rule {
        Rule::NoTermination => None,
        Rule::Bandit(slack) => bandit::rescan(table, slack, run, s),
        Rule::Median => median::rescan(table, run, s),
        Rule::Truncation(pct) => truncation::rescan(table, pct, run, s),
    })
}

/// Whether a run already loaded into an [`Evaluator`] may still be terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Still running: its future reports are evaluated.
    Running,
    /// Finished, failed or canceled: its reports stay in the pools, it is never evaluated.
    Stopped,
}

/// The incremental structures of the chosen policy.
#[derive(Debug, Clone)]
enum Index {
    None,
    Bandit(bandit::Index),
    Median(median::Index),
    Truncation(truncation::Index),
}

/// The incremental policy evaluator: owns the metric table and per-interval pools, and
/// answers each report of the primary metric with a decision. Meant to be owned by the
/// engine's single dispatcher (it is `Send`, not shared).
#[derive(Debug, Clone)]
pub struct Evaluator {
    policy: Policy,
    rule: Rule,
    table: MetricTable,
    index: Index,
    stopped: Vec<bool>,
}

impl Evaluator {
    /// An evaluator for `policy` on a metric with `goal`; fails on invalid parameters.
    pub fn new(policy: &Policy, goal: Goal) -> Result<Evaluator, PolicyError> {
        let rule = Rule::from_policy(policy)?;
        let index = match rule {
            Rule::NoTermination => Index::None,
            Rule::Bandit(_) => Index::Bandit(Default::default()),
            Rule::Median => Index::Median(Default::default()),
            Rule::Truncation(_) => Index::Truncation(Default::default()),
        };
        Ok(Evaluator {
            policy: policy.clone(),
            rule,
            table: MetricTable::new(goal),
            index,
            stopped: Vec::new(),
        })
    }

    /// The policy evaluated.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The validated rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The metric table (read-only: changes go through the evaluator so pools stay in step).
    pub fn table(&self) -> &MetricTable {
        &self.table
    }

    /// Registers a run (idempotent) and returns its key.
    pub fn register(&mut self, run_id: &str) -> RunKey {
        let k = self.table.register(run_id);
        if self.stopped.len() <= k.index() {
            self.stopped.resize(k.index() + 1, false);
        }
        k
    }

    /// The key of a registered run.
    pub fn key(&self, run_id: &str) -> Option<RunKey> {
        self.table.key(run_id)
    }

    /// Records a report of the primary metric without evaluating it, adds the run to the
    /// pool at the new interval (if the policy evaluates there), and returns the interval.
    pub fn record(&mut self, run: RunKey, value: f64) -> u32 {
        let s = self.table.record(run, value);
        if !self.policy.evaluates_at(s) {
            return s;
        }
        let goal = self.table.goal();
        // The run's running summaries are exactly its values over 1..=s now, and stay so
        // for interval s forever: this is the one insert the pool at s receives from it.
        let Some(best) = self.table.best(run) else {
            return s;
        };
        match &mut self.index {
            Index::None => {}
            Index::Bandit(ix) => ix.insert(s, score(goal, best)),
            Index::Median(ix) => {
                if let Some(avg) = self.table.average(run) {
                    ix.insert(s, score(goal, avg));
                }
            }
            Index::Truncation(ix) => ix.insert(s, score(goal, best)),
        }
        s
    }

    /// The decision for `run` at its latest interval against the pools as they are now,
    /// without changing anything. Stopped runs are evaluated too (the caller decides).
    pub fn evaluate(&self, run: RunKey) -> Option<Decision> {
        let s = self.table.intervals(run);
        if !self.policy.evaluates_at(s) {
            return None;
        }
        let goal = self.table.goal();
        let y = self.table.best(run)?;
        match (&self.index, self.rule) {
            (Index::Bandit(ix), Rule::Bandit(slack)) => ix.decide(goal, slack, run, s, y),
            (Index::Median(ix), Rule::Median) => {
                let own = self.table.average(run).map(|a| score(goal, a));
                ix.decide(goal, run, s, y, own)
            }
            (Index::Truncation(ix), Rule::Truncation(pct)) => ix.decide(goal, pct, run, s, y),
            _ => None,
        }
    }

    /// The dispatcher's entry point: records the report, evaluates the run unless it is
    /// stopped, and on a decision marks it stopped so it is terminated once (its later
    /// reports, printed while it shuts down, are still recorded and still count in pools).
    pub fn on_report(&mut self, run: RunKey, value: f64) -> Option<Decision> {
        self.record(run, value);
        if self.stopped[run.index()] {
            return None;
        }
        let d = self.evaluate(run)?;
        self.stopped[run.index()] = true;
        Some(d)
    }

    /// Marks a run finished, failed or canceled: it stays in every pool it reached and is
    /// never evaluated again.
    pub fn mark_stopped(&mut self, run: RunKey) {
        self.stopped[run.index()] = true;
    }

    /// Whether the run is stopped (or was terminated by a decision).
    pub fn is_stopped(&self, run: RunKey) -> bool {
        self.stopped[run.index()]
    }

    /// Loads a run's earlier reports (warm start, or resuming a sweep) without evaluating
    /// them: the run joins the pools at every interval it reached. A `Running` run is
    /// evaluated from its next report on.
    pub fn preload(&mut self, run_id: &str, values: &[f64], status: RunStatus) -> RunKey {
        let k = self.register(run_id);
        for &v in values {
            self.record(k, v);
        }
        if status == RunStatus::Stopped {
            self.mark_stopped(k);
        }
        k
    }
}
