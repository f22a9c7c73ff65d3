//! Candidate generation: the [`Sampler`] interface the engine drives, and the grid,
//! random/Sobol and Bayesian implementations behind it.
//!
//! Samplers work in the unit cube of the [`SearchSpace`] and let the space decode points,
//! so every sampler honours each expression's semantics the same way.

use crate::space::{Params, SearchSpace};
use crate::spec::{Goal, Sampling};

/// One finished run as the sampler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The candidate's parameters.
    pub params: Params,
    /// Its best reported primary-metric value (a run stopped by a policy counts at its best
    /// value so far); `None` for a failed run or one that never reported a finite value.
    pub value: Option<f64>,
}

/// What a sampler answers when asked for candidates.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    /// New candidates (at most the number asked for, at least one).
    Candidates(Vec<Params>),
    /// Nothing now, but maybe after more results arrive.
    Wait,
    /// The space is exhausted (a finished grid, or a small discrete space fully drawn).
    Exhausted,
}

/// Proposes candidates from the history of finished and pending runs.
///
/// `Send` so the engine can run a proposal on a worker thread: a slow Gaussian-process fit
/// must never block the dispatcher.
pub trait Sampler: Send {
    /// Proposes up to `n` new candidates, given every finished run so far and the candidates
    /// still running (which a Bayesian sampler must account for so that concurrent proposals
    /// differ).
    fn propose(&mut self, finished: &[Observation], pending: &[Params], n: usize) -> Proposal;

    /// Replays candidates already proposed (in proposal order) by an earlier sampler built
    /// with the same spec and seed, so that a resumed sweep continues the same sequence:
    /// after `replay(first_k)`, `propose` returns what the original would have returned next.
    fn replay(&mut self, proposed: &[Params]);

    /// How many candidates this sampler has proposed (or replayed) so far.
    fn proposed(&self) -> u64;
}

/// Builds the sampler for a spec.
pub fn build(sampling: &Sampling, space: &SearchSpace, goal: Goal, seed: u64) -> Box<dyn Sampler> {
    let _ = (sampling, space, goal, seed);
    unimplemented!("samplers are built in sampler::{{grid, random, bayes}}")
}
