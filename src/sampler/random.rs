//! Random sampling: unit-cube points from a seeded ChaCha stream (plain) or an
//! Owen-scrambled Sobol sequence (sobol), decoded by [`SearchSpace::from_unit`] so that
//! each parameter follows its expression's distribution.
//!
//! In a finite discrete space (every parameter enumerable, [`SearchSpace::grid_size`] is
//! `Some`) no candidate repeats: a draw that repeats an earlier proposal is redrawn, and
//! once redraws keep failing the remaining unproposed grid points are enumerated and one
//! is picked uniformly. When every point has been proposed the sampler is
//! [`Proposal::Exhausted`].

use super::{mix64, params_key, sobol_coord, Observation, Proposal, Sampler};
use crate::space::{Params, SearchSpace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use std::collections::HashSet;

/// How unit points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Independent uniform coordinates from ChaCha12 seeded with the sweep seed.
    Plain,
    /// Owen-scrambled Sobol points (scramble seeded with the sweep seed).
    Sobol,
}

/// Redraws before falling back to enumerating the unproposed grid points.
const MAX_REDRAWS: usize = 32;

/// Grids up to this size may be enumerated for the fallback; larger discrete spaces keep
/// redrawing (with more than 16 million points, being nearly full is not a practical case).
const MAX_ENUMERATE: u64 = 1 << 24;

/// Random or Sobol sampling, reproducible from the seed on every platform: the ChaCha
/// stream and the Sobol scramble are defined bit for bit, and doubles are drawn with
/// `rand`'s portable 53-bit conversion.
#[derive(Debug, Clone)]
pub struct RandomSampler {
    space: SearchSpace,
    rule: Rule,
    seed: u64,
    rng: ChaCha12Rng,
    /// Next Sobol index.
    sobol_index: u64,
    /// The number of grid points, if the space is finite and discrete.
    finite: Option<u64>,
    /// Keys of candidates already proposed (kept only for finite spaces).
    seen: HashSet<String>,
    proposed: u64,
}

impl RandomSampler {
    /// A sampler with nothing proposed yet.
    pub fn new(space: SearchSpace, rule: Rule, seed: u64) -> RandomSampler {
        // A grid too large to count is still finite: its size is a bound never reached.
        let finite = space.grid_size().map(|g| g.points_saturating());
        RandomSampler {
            rng: ChaCha12Rng::seed_from_u64(seed),
            sobol_index: 0,
            finite,
            seen: HashSet::new(),
            proposed: 0,
            space,
            rule,
            seed,
        }
    }

    fn draw_unit(&mut self) -> Vec<f64> {
        let d = self.space.dim();
        match self.rule {
            Rule::Plain => (0..d).map(|_| self.rng.random::<f64>()).collect(),
            Rule::Sobol => {
                let i = self.sobol_index;
                self.sobol_index += 1;
                let s = mix64(self.seed);
                (0..d).map(|j| sobol_coord(i, j, s)).collect()
            }
        }
    }

    /// The next candidate, or `None` when a finite space is exhausted.
    fn next_candidate(&mut self) -> Option<Params> {
        let Some(size) = self.finite else {
            let u = self.draw_unit();
            return Some(self.space.from_unit(&u));
        };
        if self.seen.len() as u64 >= size {
            return None;
        }
        let mut tries = 0usize;
        loop {
            let u = self.draw_unit();
            let p = self.space.from_unit(&u);
            if self.seen.insert(params_key(&p)) {
                return Some(p);
            }
            tries += 1;
            if tries >= MAX_REDRAWS && size <= MAX_ENUMERATE {
                return self.pick_unseen(size);
            }
        }
    }

    /// Picks uniformly among the grid points not yet proposed: counts them, draws a rank,
    /// walks to it. Two passes over the grid rather than a list of up to
    /// [`MAX_ENUMERATE`] candidates held at once.
    fn pick_unseen(&mut self, size: u64) -> Option<Params> {
        let count = (0..size)
            .filter_map(|i| self.space.grid_point(i))
            .filter(|p| !self.seen.contains(&params_key(p)))
            .count();
        if count == 0 {
            return None;
        }
        let k = self.rng.random_range(0..count);
        let p = (0..size)
            .filter_map(|i| self.space.grid_point(i))
            .filter(|p| !self.seen.contains(&params_key(p)))
            .nth(k)?;
        self.seen.insert(params_key(&p));
        Some(p)
    }
}

impl Sampler for RandomSampler {
    fn propose(&mut self, _finished: &[Observation], _pending: &[Params], n: usize) -> Proposal {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            match self.next_candidate() {
                Some(p) => out.push(p),
                None => break,
            }
        }
        self.proposed += out.len() as u64;
        if !out.is_empty() {
            Proposal::Candidates(out)
        } else if self.finite.is_some_and(|s| self.seen.len() as u64 >= s) {
            Proposal::Exhausted
        } else {
            Proposal::Wait
        }
    }

    fn replay(&mut self, proposed: &[Params]) {
        // The stream is a pure function of the seed and of which points were already
        // proposed, so regenerating reproduces the original sequence and its state.
        for p in proposed {
            let _ = self.next_candidate();
            if self.finite.is_some() {
                // Keeps the no-repeat promise even if the recorded history differs.
                self.seen.insert(params_key(p));
            }
        }
        self.proposed += proposed.len() as u64;
    }

    fn proposed(&self) -> u64 {
        self.proposed
    }

    fn uses_history(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::testing;
    use crate::space::testing::{discrete, mixed};

    fn take(s: &mut dyn Sampler, n: usize) -> Vec<Params> {
        testing::take(s, &[], &[], n)
    }

    #[test]
    fn same_seed_same_candidates_and_in_domain() {
        for rule in [Rule::Plain, Rule::Sobol] {
            let s = mixed();
            let a = take(&mut RandomSampler::new(s.clone(), rule, 7), 50);
            let b = take(&mut RandomSampler::new(s.clone(), rule, 7), 50);
            let c = take(&mut RandomSampler::new(s.clone(), rule, 8), 50);
            assert_eq!(a, b);
            assert_ne!(a, c);
            assert!(a.iter().all(|p| s.contains(p)), "{rule:?}");
        }
    }

    #[test]
    fn batching_does_not_change_the_sequence() {
        let s = mixed();
        let all = take(&mut RandomSampler::new(s.clone(), Rule::Plain, 3), 12);
        let mut r = RandomSampler::new(s, Rule::Plain, 3);
        let mut parts = take(&mut r, 5);
        parts.extend(take(&mut r, 7));
        assert_eq!(all, parts);
    }

    #[test]
    fn discrete_space_never_repeats_then_exhausts() {
        for rule in [Rule::Plain, Rule::Sobol] {
            let s = discrete();
            let size = s.grid_size().unwrap().points().unwrap() as usize;
            assert_eq!(size, 30);
            let mut r = RandomSampler::new(s.clone(), rule, 11);
            let mut got = take(&mut r, 7);
            got.extend(take(&mut r, 100));
            assert_eq!(got.len(), size);
            let keys: HashSet<String> = got.iter().map(params_key).collect();
            assert_eq!(keys.len(), size, "{rule:?}");
            assert!(got.iter().all(|p| s.contains(p)));
            assert_eq!(r.propose(&[], &[], 1), Proposal::Exhausted);
        }
    }

    #[test]
    fn replay_gives_the_same_continuation() {
        for rule in [Rule::Plain, Rule::Sobol] {
            for s in [mixed(), discrete()] {
                let mut a = RandomSampler::new(s.clone(), rule, 5);
                let first = take(&mut a, 9);
                let next = a.propose(&[], &[], 4);
                let mut b = RandomSampler::new(s, rule, 5);
                b.replay(&first);
                assert_eq!(b.proposed(), 9);
                assert_eq!(b.propose(&[], &[], 4), next);
            }
        }
    }

    #[test]
    fn sobol_beyond_generator_limits_stays_valid() {
        // 300 dimensions exceed the generator's 256; coordinates must stay in [0, 1) and
        // the extra block must not simply copy the first one.
        let xs: Vec<f64> = (0..300).map(|j| sobol_coord(3, j, 42)).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(xs[0], xs[256]);
        let far = sobol_coord(70_000, 1, 42);
        assert!((0.0..1.0).contains(&far));
    }
}
