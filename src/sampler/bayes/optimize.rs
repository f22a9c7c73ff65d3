//! Maximising the acquisition: score many quasi-random (Sobol) candidates plus
//! perturbations of the best observed points, then refine the best few (and the best
//! observed point) with a bounded local optimiser (argmin's L-BFGS on the problem clamped
//! to the unit box).
//!
//! Candidates are scored at the point that would really be evaluated: when the space has
//! discrete parameters, a relaxed point is decoded (one-hot by argmax, integers and
//! q-values rounded) and encoded again before scoring.

use super::acquisition::log_ei;
use super::encode::Encoder;
use super::gp::Gp;
use crate::sampler::{mix64, sobol_coord};
use argmin::core::{CostFunction, Error, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rand::Rng;
use rand_chacha::ChaCha12Rng;
use std::cell::RefCell;

/// Sobol candidates scored per proposal.
pub const SOBOL_CANDIDATES: usize = 2048;
/// Observed points whose neighbourhoods are searched.
pub const ANCHORS: usize = 5;
/// Perturbations per anchor (Gaussian, scales cycling from 0.5% to 20% of the box).
pub const PERTURBATIONS: usize = 36;
/// Best candidates refined by the local optimiser (besides the best observed point).
pub const REFINED: usize = 5;
/// Iterations of the local optimiser per start.
pub const LOCAL_ITERS: u64 = 100;

const SCALES: [f64; 6] = [0.0002, 0.001, 0.005, 0.02, 0.08, 0.2];

/// The acquisition problem of one pick: a GP and the incumbent (best standardised value).
pub struct Acquisition<'a> {
    /// The posterior (possibly with fantasised pending points).
    pub gp: &'a Gp,
    /// The incumbent in the GP's standardised units.
    pub best: f64,
}

impl Acquisition<'_> {
    /// log EI at many points (row-major).
    pub fn score_batch(&self, xs: &[f64]) -> Vec<f64> {
        let (mu, var) = self.gp.predict(xs);
        mu.iter()
            .zip(&var)
            .map(|(m, v)| log_ei(*m, v.sqrt(), self.best).0)
            .collect()
    }

    /// log EI at one point and its gradient.
    pub fn value_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
        let (mu, var, dmu, dvar) = self.gp.predict_grad(x);
        let sd = var.max(1e-24).sqrt();
        let (v, dl_dmu, dl_dsd) = log_ei(mu, sd, self.best);
        // dσ/dx = dvar/dx / (2σ).
        let g = dmu
            .iter()
            .zip(&dvar)
            .map(|(dm, dv)| dl_dmu * dm + dl_dsd * dv / (2.0 * sd))
            .collect();
        (v, g)
    }
}

/// Maximises log EI from `x0` within `[0, 1]^D` with argmin's L-BFGS on the clamped
/// problem: the objective is evaluated at the clamped point, and a coordinate beyond a
/// bound has zero gradient (the clamped function is flat there), so the search stays
/// inside the box in effect. Returns the clamped end point, or `x0` if no step improved.
///
/// The search runs in `z = x / ℓ` (ℓ the kernel's length scales), where the acquisition
/// varies about equally fast along every coordinate; in `x` a short length scale would
/// make the problem badly conditioned.
pub fn local_ascent(acq: &Acquisition<'_>, x0: &[f64], iters: u64) -> Vec<f64> {
    let scale: Vec<f64> = acq
        .gp
        .kernel()
        .inv_sq_lengthscales
        .iter()
        .map(|l| 1.0 / l.sqrt())
        .collect();
    let z0: Vec<f64> = x0.iter().zip(&scale).map(|(x, l)| x / l).collect();
    let problem = Clamped {
        acq,
        scale,
        best: RefCell::new(None),
        last: RefCell::new(None),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 6)
        .with_tolerance_grad(1e-8)
        .and_then(|s| s.with_tolerance_cost(1e-12));
    let found = {
        let p = &problem;
        if let Ok(solver) = solver {
            let _ = Executor::new(p, solver)
                .configure(|state| state.param(z0).max_iters(iters))
                .run();
        }
        p.best.borrow().clone()
    };
    match found {
        Some((_, x)) => x,
        None => x0.to_vec(),
    }
}

/// A point with its cost and gradient.
type Memo = (Vec<f64>, f64, Vec<f64>);

/// The negated acquisition over the clamped box, remembering the best point evaluated.
/// Like the hyperparameter objective, it memoises the last point because L-BFGS asks for
/// the cost and the gradient of the same point separately.
struct Clamped<'a, 'b> {
    acq: &'a Acquisition<'b>,
    /// Length scales: the point is `x = z · ℓ`.
    scale: Vec<f64>,
    best: RefCell<Option<(f64, Vec<f64>)>>,
    last: RefCell<Option<Memo>>,
}

impl Clamped<'_, '_> {
    fn eval(&self, p: &[f64]) -> (f64, Vec<f64>) {
        if let Some((q, v, g)) = &*self.last.borrow() {
            if q.as_slice() == p {
                return (*v, g.clone());
            }
        }
        let r = self.eval_fresh(p);
        *self.last.borrow_mut() = Some((p.to_vec(), r.0, r.1.clone()));
        r
    }

    fn eval_fresh(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let raw: Vec<f64> = p.iter().zip(&self.scale).map(|(z, l)| z * l).collect();
        let x: Vec<f64> = raw.iter().map(|v| v.clamp(0.0, 1.0)).collect();
        let (v, g) = self.acq.value_grad(&x);
        if !v.is_finite() {
            return (f64::MAX / 4.0, vec![0.0; p.len()]);
        }
        let mut best = self.best.borrow_mut();
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            *best = Some((v, x));
        }
        let g = raw
            .iter()
            .zip(g.iter().zip(&self.scale))
            .map(|(xi, (gi, l))| {
                if (0.0..=1.0).contains(xi) {
                    -gi * l
                } else {
                    0.0
                }
            })
            .collect();
        (-v, g)
    }
}

impl CostFunction for &Clamped<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(self.eval(p).0)
    }
}

impl Gradient for &Clamped<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        Ok(self.eval(p).1)
    }
}

/// Candidate points (row-major, width `enc.width()`): Sobol points scrambled by `rng`,
/// then Gaussian perturbations of each anchor.
pub fn candidates(enc: &Encoder, anchors: &[Vec<f64>], rng: &mut ChaCha12Rng) -> Vec<f64> {
    let w = enc.width();
    let seed = mix64(rng.random::<u64>());
    let mut xs = Vec::with_capacity((SOBOL_CANDIDATES + anchors.len() * PERTURBATIONS) * w);
    for i in 0..SOBOL_CANDIDATES {
        for j in 0..w {
            xs.push(sobol_coord(i as u64, j, seed));
        }
    }
    for a in anchors {
        for k in 0..PERTURBATIONS {
            let scale = SCALES[k % SCALES.len()];
            for v in a.iter() {
                let z: f64 = standard_normal(rng);
                xs.push((v + scale * z).clamp(0.0, 1.0));
            }
        }
    }
    xs
}

/// A standard normal draw (Box–Muller), portable and reproducible from the stream.
fn standard_normal(rng: &mut ChaCha12Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Ranks candidates by log EI after projecting them onto evaluable points and refining
/// the best few, plus `incumbent` (the best observed point) when given. Returns
/// `(log EI, projected point)` pairs, best first.
pub fn ranked(
    acq: &Acquisition<'_>,
    enc: &Encoder,
    mut xs: Vec<f64>,
    incumbent: Option<&[f64]>,
    rng: &mut ChaCha12Rng,
) -> Vec<(f64, Vec<f64>)> {
    let w = enc.width();
    if enc.needs_projection() {
        for c in xs.chunks_mut(w) {
            let p = enc.project(c);
            c.copy_from_slice(&p);
        }
    }
    let scores = acq.score_batch(&xs);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let mut out: Vec<(f64, Vec<f64>)> = order
        .iter()
        .map(|&i| (scores[i], xs[i * w..i * w + w].to_vec()))
        .collect();
    // Starts: the best candidate, then others drawn with probability ∝ EI (a roulette, so
    // that several promising basins get refined rather than one basin several times).
    let mut starts: Vec<&[f64]> = Vec::with_capacity(REFINED + 1);
    if let Some((best, x)) = out.first() {
        starts.push(x);
        let mut weights: Vec<f64> = out[1..].iter().map(|(v, _)| (v - best).exp()).collect();
        for _ in 1..REFINED {
            let total: f64 = weights.iter().sum();
            if total.is_nan() || total <= 0.0 {
                break;
            }
            let mut r = rng.random::<f64>() * total;
            let mut k = weights.len() - 1;
            for (i, wt) in weights.iter().enumerate() {
                if r < *wt {
                    k = i;
                    break;
                }
                r -= wt;
            }
            weights[k] = 0.0;
            starts.push(&out[k + 1].1);
        }
    }
    starts.extend(incumbent);
    let mut refined = Vec::new();
    for x0 in starts {
        let x = local_ascent(acq, x0, LOCAL_ITERS);
        let x = if enc.needs_projection() {
            enc.project(&x)
        } else {
            x
        };
        refined.push(x);
    }
    if !refined.is_empty() {
        let flat: Vec<f64> = refined.concat();
        let s = acq.score_batch(&flat);
        out.extend(s.into_iter().zip(refined));
        out.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::bayes::gp;
    use rand::SeedableRng;

    #[test]
    fn ei_vanishes_at_the_observed_optimum_and_is_positive_elsewhere() {
        // A bowl with its minimum at 0.25, observed only on [0, 0.5].
        let x: Vec<f64> = (0..9).map(|i| i as f64 / 16.0).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| (v - 0.25) * (v - 0.25) * 8.0 - 0.5)
            .collect();
        let (theta, _) = gp::fit(&x, 1, &y, &[gp::default_theta(1)], 100);
        let g = Gp::new(x, 1, &y, &theta).unwrap();
        let best = y.iter().cloned().fold(f64::INFINITY, f64::min);
        let acq = Acquisition { gp: &g, best };
        let s = acq.score_batch(&[0.25, 0.44, 0.75, 0.95]);
        // Near zero on the scale of the outputs (which span 0.5); not exactly zero because
        // the fitted noise leaves some doubt about the observed value.
        assert!(s[0].exp() < 1e-2, "EI at the optimum: {}", s[0].exp());
        // Elsewhere EI is strictly positive (a finite logarithm), however unlikely the
        // model thinks improvement is: that is what keeps the optimiser's gradient alive.
        assert!(s[1..].iter().all(|v| v.is_finite()), "{s:?}");
        // And in the unexplored half it grows with the distance from the data.
        assert!(s[3] > s[2], "{s:?}");
        // The gradient path agrees with the batch path.
        let (v, _) = acq.value_grad(&[0.95]);
        assert!((v - s[3]).abs() < 1e-6 * s[3].abs().max(1.0));
        // Refining never returns a point worse than its start.
        let refined = local_ascent(&acq, &[0.75], LOCAL_ITERS);
        assert!(acq.score_batch(&refined)[0] >= s[2]);
    }

    #[test]
    fn candidates_fill_the_box() {
        let space = crate::space::SearchSpace::new(vec![crate::space::Param::new(
            "x",
            crate::space::Domain::Uniform {
                low: -1.0,
                high: 1.0,
            },
        )]);
        let enc = Encoder::new(&space);
        let mut rng = ChaCha12Rng::seed_from_u64(3);
        let xs = candidates(&enc, &[vec![0.999]], &mut rng);
        assert_eq!(xs.len(), SOBOL_CANDIDATES + PERTURBATIONS);
        assert!(xs.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
