//! Grid sampling: every point of the Cartesian product, in [`SearchSpace::grid_point`]
//! order (last parameter fastest, options as written), once each.

use super::{Observation, Proposal, Sampler};
use crate::space::{Params, SearchSpace};

/// Walks the grid in order; the position is the number of points proposed so far, so a
/// resumed sweep continues exactly where it stopped.
#[derive(Debug, Clone)]
pub struct GridSampler {
    space: SearchSpace,
    /// `None` when the space cannot be enumerated (the config validator rejects grid
    /// sampling over such spaces; here the sampler is simply exhausted at once).
    size: Option<u64>,
    position: u64,
}

impl GridSampler {
    /// A grid sampler at position 0.
    pub fn new(space: SearchSpace) -> GridSampler {
        let size = space.grid_size().map(|g| g.points_saturating());
        GridSampler {
            space,
            size,
            position: 0,
        }
    }

    /// The number of grid points (`None` if the space has a continuous parameter;
    /// `u64::MAX` for a grid too large to count).
    pub fn size(&self) -> Option<u64> {
        self.size
    }
}

impl Sampler for GridSampler {
    fn propose(&mut self, _finished: &[Observation], _pending: &[Params], n: usize) -> Proposal {
        let size = self.size.unwrap_or(0);
        if self.position >= size {
            return Proposal::Exhausted;
        }
        if n == 0 {
            return Proposal::Wait;
        }
        let end = self.position.saturating_add(n as u64).min(size);
        let out: Vec<Params> = (self.position..end)
            .filter_map(|i| self.space.grid_point(i))
            .collect();
        self.position = end;
        Proposal::Candidates(out)
    }

    fn replay(&mut self, proposed: &[Params]) {
        // Grid points are a pure function of the position, so advancing it is enough.
        self.position = self.position.saturating_add(proposed.len() as u64);
    }

    fn proposed(&self) -> u64 {
        self.position
    }

    fn uses_history(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::testing::{choice, param, strs, uniform};
    use crate::space::Domain;

    fn space() -> SearchSpace {
        SearchSpace::new(vec![
            choice("a", strs(&["x", "y"])),
            param(
                "b",
                Domain::QUniform {
                    low: 0.0,
                    high: 2.0,
                    q: 1.0,
                },
            ),
        ])
    }

    #[test]
    fn order_matches_grid_point_and_exhausts() {
        let s = space();
        let mut g = GridSampler::new(s.clone());
        let mut got = Vec::new();
        loop {
            match g.propose(&[], &[], 4) {
                Proposal::Candidates(c) => {
                    assert!(!c.is_empty() && c.len() <= 4);
                    got.extend(c);
                }
                Proposal::Exhausted => break,
                Proposal::Wait => panic!("grid never waits"),
            }
        }
        assert_eq!(got.len(), 6);
        for (i, p) in got.iter().enumerate() {
            assert_eq!(Some(p), s.grid_point(i as u64).as_ref());
            assert!(s.contains(p));
        }
        let rendered: Vec<String> = got
            .iter()
            .map(|p| format!("{}{}", p.get("a").unwrap(), p.get("b").unwrap()))
            .collect();
        assert_eq!(rendered, ["x0", "x1", "x2", "y0", "y1", "y2"]);
        // A budget larger than the grid still ends in Exhausted.
        assert_eq!(g.propose(&[], &[], 100), Proposal::Exhausted);
        assert_eq!(g.proposed(), 6);
    }

    #[test]
    fn replay_continues_from_position() {
        let s = space();
        let mut a = GridSampler::new(s.clone());
        let first = match a.propose(&[], &[], 4) {
            Proposal::Candidates(c) => c,
            other => panic!("{other:?}"),
        };
        let next_a = a.propose(&[], &[], 2);
        let mut b = GridSampler::new(s);
        b.replay(&first);
        assert_eq!(b.proposed(), 4);
        assert_eq!(b.propose(&[], &[], 2), next_a);
    }

    #[test]
    fn continuous_space_is_exhausted() {
        let s = SearchSpace::new(vec![uniform("lr", 0.0, 1.0)]);
        let mut g = GridSampler::new(s);
        assert_eq!(g.propose(&[], &[], 1), Proposal::Exhausted);
    }
}
