//! Maximising the acquisition: score many quasi-random (Sobol) candidates plus
//! perturbations of the best observed points, then refine the best few with a bounded
//! local optimiser (projected gradient ascent with Barzilai–Borwein steps and an Armijo
//! backtracking line search, clamped to the unit box).
//!
//! Candidates are scored at the point that would really be evaluated: when the space has
//! discrete parameters, a relaxed point is decoded (one-hot by argmax, integers and
//! q-values rounded) and encoded again before scoring.

use super::acquisition::log_ei;
use super::encode::Encoder;
use super::gp::Gp;
use crate::sampler::{mix64, sobol_coord};
use rand::Rng;
use rand_chacha::ChaCha12Rng;

/// Sobol candidates scored per proposal.
pub const SOBOL_CANDIDATES: usize = 1024;
/// Observed points whose neighbourhoods are searched.
pub const ANCHORS: usize = 5;
/// Perturbations per anchor (Gaussian, scales cycling from 0.5% to 20% of the box).
pub const PERTURBATIONS: usize = 32;
/// Best candidates refined by the local optimiser.
pub const REFINED: usize = 5;
/// Iterations of the local optimiser per start.
pub const LOCAL_ITERS: usize = 40;

const SCALES: [f64; 4] = [0.005, 0.02, 0.08, 0.2];

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

/// Projected gradient ascent from `x0` within `[0, 1]^D`; returns the end point.
pub fn local_ascent(acq: &Acquisition<'_>, x0: &[f64], iters: usize) -> Vec<f64> {
    let clamp = |v: f64| v.clamp(0.0, 1.0);
    let mut x = x0.to_vec();
    let (mut f, mut g) = acq.value_grad(&x);
    let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if !f.is_finite() || gmax == 0.0 || !gmax.is_finite() {
        return x;
    }
    // First step moves at most 5% of the box along the steepest coordinate.
    let mut step = 0.05 / gmax;
    for _ in 0..iters {
        let mut accepted = None;
        let mut a = step;
        for _ in 0..12 {
            let xn: Vec<f64> = x
                .iter()
                .zip(&g)
                .map(|(xi, gi)| clamp(xi + a * gi))
                .collect();
            let dir: f64 = xn
                .iter()
                .zip(&x)
                .zip(&g)
                .map(|((n, o), gi)| (n - o) * gi)
                .sum();
            if dir <= 0.0 {
                break;
            }
            let (fn_, gn) = acq.value_grad(&xn);
            if fn_.is_finite() && fn_ >= f + 1e-4 * dir {
                accepted = Some((xn, fn_, gn));
                break;
            }
            a *= 0.25;
        }
        let Some((xn, fn_, gn)) = accepted else { break };
        // Barzilai–Borwein step for the next iteration (for ascent: s·s / −s·Δg).
        let s: Vec<f64> = xn.iter().zip(&x).map(|(n, o)| n - o).collect();
        let ss: f64 = s.iter().map(|v| v * v).sum();
        let sy: f64 = s
            .iter()
            .zip(gn.iter().zip(&g))
            .map(|(si, (a, b))| si * (a - b))
            .sum();
        step = if sy < 0.0 {
            (ss / -sy).min(1e3)
        } else {
            a * 2.0
        };
        let moved = ss.sqrt();
        x = xn;
        f = fn_;
        g = gn;
        if moved < 1e-9 {
            break;
        }
    }
    x
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
/// the best few. Returns `(log EI, projected point)` pairs, best first.
pub fn ranked(acq: &Acquisition<'_>, enc: &Encoder, mut xs: Vec<f64>) -> Vec<(f64, Vec<f64>)> {
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
    let mut refined = Vec::new();
    for (_, x0) in out.iter().take(REFINED) {
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
