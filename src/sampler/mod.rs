//! Candidate generation: the [`Sampler`] interface the engine drives, and the grid,
//! random/Sobol and Bayesian implementations behind it.
//!
//! Samplers work in the unit cube of the [`SearchSpace`] and let the space decode points,
//! so every sampler honours each expression's semantics the same way.

//!
//! | sampling | module | notes |
//! |---|---|---|
//! | grid | [`grid`] | [`SearchSpace::grid_point`] order, resumable by position |
//! | random | [`random`] | seeded ChaCha unit draws; no repeats in a finite discrete space |
//! | random (sobol) | [`random`] | Owen-scrambled Sobol points, seeded |
//! | bayesian | [`bayes`] | Gaussian process with log expected improvement |

pub mod bayes;
pub mod grid;
pub mod random;

use crate::space::{Params, SearchSpace, Value};
use crate::spec::{Goal, RandomRule, Sampling};

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

    /// Whether proposals depend on the runs' results (`finished`, `pending`). The engine
    /// asks a sampler that does on a blocking thread, since fitting a model can take a while;
    /// one that does not gets empty slices and is asked on the dispatcher itself, saving the
    /// history copy and two thread hops per proposal.
    fn uses_history(&self) -> bool {
        true
    }
}

/// Builds the sampler for a spec.
///
/// `goal` matters only to the Bayesian sampler; `seed` is ignored by the grid.
pub fn build(sampling: &Sampling, space: &SearchSpace, goal: Goal, seed: u64) -> Box<dyn Sampler> {
    match sampling {
        Sampling::Grid => Box::new(grid::GridSampler::new(space.clone())),
        Sampling::Random { rule } => Box::new(random::RandomSampler::new(
            space.clone(),
            match rule {
                RandomRule::Plain => random::Rule::Plain,
                RandomRule::Sobol => random::Rule::Sobol,
            },
            seed,
        )),
        Sampling::Bayesian => Box::new(bayes::BayesSampler::new(space.clone(), goal, seed)),
    }
}

/// A text key identifying a candidate exactly (names, value types and values), used to
/// detect repeats; floats are keyed by their bits so distinct values never collide.
pub(crate) fn params_key(p: &Params) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(16 * p.len());
    for (name, v) in p.iter() {
        let _ = match v {
            Value::Int(i) => write!(s, "{name}=i{i};"),
            Value::Float(f) => write!(s, "{name}=f{:x};", f.to_bits()),
            Value::Str(t) => write!(s, "{name}=s{}:{t};", t.len()),
            Value::Bool(b) => write!(s, "{name}=b{b};"),
        };
    }
    s
}

/// One coordinate of an Owen-scrambled Sobol point, for any index and dimension.
///
/// `sobol_burley` provides 256 dimensions and 2^16 points per seed. Beyond those limits
/// the sequence continues with an independently scrambled copy: dimension `j` uses
/// generator dimension `j % 256` under a seed derived from `j / 256`, and index `i` uses
/// point `i % 2^16` under a seed derived from `i / 2^16`. Each block of 256 dimensions
/// (and each run of 2^16 points) is then a proper scrambled Sobol set, while blocks are
/// only randomly associated with each other, as independent uniform draws would be.
pub(crate) fn sobol_coord(index: u64, dim: usize, seed: u64) -> f64 {
    const DIMS: u64 = sobol_burley::NUM_DIMENSIONS as u64;
    const POINTS: u64 = 1 << 16;
    let block = (dim as u64 / DIMS, index / POINTS);
    let s = mix64(seed ^ mix64(block.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ block.1));
    let x = sobol_burley::sample(
        (index % POINTS) as u32,
        (dim as u64 % DIMS) as u32,
        s as u32,
    );
    f64::from(x)
}

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash for deriving seeds.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What the samplers' unit tests share (their search spaces are in `space::testing`).
#[cfg(test)]
pub(crate) mod testing {
    use super::{Observation, Proposal, Sampler};
    use crate::space::Params;

    /// The candidates `s` proposes for `n` slots after `finished` with `pending` in flight;
    /// panics if it proposes none.
    pub(crate) fn take(
        s: &mut dyn Sampler,
        finished: &[Observation],
        pending: &[Params],
        n: usize,
    ) -> Vec<Params> {
        match s.propose(finished, pending, n) {
            Proposal::Candidates(c) => c,
            other => panic!("{other:?}"),
        }
    }
}
