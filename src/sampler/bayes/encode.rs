//! The GP's input encoding of a search space: one coordinate per numeric parameter (its
//! unit-cube coordinate, so log and normal domains are modelled on their natural scale)
//! and a one-hot block per `choice`, decoded by argmax.
//!
//! Inactive parameters of a conditional space get fixed coordinates (0.5 for a numeric
//! parameter, all zeros for a choice), so points that differ only in parameters that do
//! not exist look identical to the GP.

use crate::space::{Domain, Params, SearchSpace};

#[derive(Debug, Clone, Copy)]
enum Slot {
    Scalar { col: usize },
    OneHot { col: usize, k: usize },
}

/// Maps parameters to GP inputs in `[0, 1]^width` and back.
#[derive(Debug, Clone)]
pub struct Encoder {
    space: SearchSpace,
    slots: Vec<Slot>,
    width: usize,
    discrete: bool,
}

impl Encoder {
    /// The encoder of a space.
    pub fn new(space: &SearchSpace) -> Encoder {
        let mut slots = Vec::with_capacity(space.dim());
        let mut col = 0;
        for p in space.params() {
            match &p.domain {
                Domain::Choice { options } => {
                    slots.push(Slot::OneHot {
                        col,
                        k: options.len(),
                    });
                    col += options.len();
                }
                _ => {
                    slots.push(Slot::Scalar { col });
                    col += 1;
                }
            }
        }
        Encoder {
            discrete: space.params().iter().any(|p| p.domain.is_discrete()),
            space: space.clone(),
            slots,
            width: col,
        }
    }

    /// The number of GP input coordinates.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether relaxed points must be rounded to evaluable ones before scoring.
    pub fn needs_projection(&self) -> bool {
        self.discrete
    }

    /// The GP input of concrete parameters; `None` if a value does not fit its domain kind.
    pub fn encode(&self, params: &Params) -> Option<Vec<f64>> {
        let u = self.space.to_unit(params)?;
        let mut x = vec![0.0; self.width];
        for ((slot, p), ui) in self.slots.iter().zip(self.space.params()).zip(&u) {
            let active = params.get(&p.name).is_some();
            match *slot {
                Slot::Scalar { col } => x[col] = if active { *ui } else { 0.5 },
                Slot::OneHot { col, k } => {
                    if active {
                        let idx = ((ui * k as f64) as usize).min(k - 1);
                        x[col + idx] = 1.0;
                    }
                }
            }
        }
        Some(x)
    }

    /// The unit-cube point of a (relaxed) GP input: argmax for one-hot blocks.
    pub fn to_unit(&self, x: &[f64]) -> Vec<f64> {
        self.slots
            .iter()
            .map(|slot| match *slot {
                Slot::Scalar { col } => x[col].clamp(0.0, 1.0),
                Slot::OneHot { col, k } => {
                    let block = &x[col..col + k];
                    let idx = (0..k)
                        .max_by(|a, b| block[*a].total_cmp(&block[*b]).then(b.cmp(a)))
                        .unwrap_or(0);
                    (idx as f64 + 0.5) / k as f64
                }
            })
            .collect()
    }

    /// The parameters a (relaxed) GP input stands for.
    pub fn decode(&self, x: &[f64]) -> Params {
        self.space.from_unit(&self.to_unit(x))
    }

    /// The GP input of the point that would really be evaluated for `x`.
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        let p = self.decode(x);
        self.encode(&p).unwrap_or_else(|| x.to_vec())
    }
}
