//! Gaussian-process regression on the encoded unit cube: a zero-mean GP over
//! standardised outputs with the Matérn-5/2 ARD kernel and Gaussian noise; hyperparameters
//! by maximum a posteriori marginal likelihood, optimised with argmin's L-BFGS over
//! log-parameters with analytic gradients.
//!
//! Parameter vector `θ = (log λ_1 … log λ_d, log s, log(σ²_n − σ²_min))` with `λ_i`
//! the inverse squared length scales, `s` the signal variance and `σ²_n` the noise
//! variance, never below [`MIN_NOISE`]. Weak priors keep the fit sane with few points:
//! `−(0.1/λ + 0.1λ)` per length scale (a mode at `ℓ = 1`, the cube's width), a
//! Gamma(2, 1) on `s` and a Gamma(1.1, 30) on the noise, which favours nearly
//! noise-free fits as hyperparameter objectives usually are.

use super::kernel::{corr_and_deriv, Matern52};
use super::linalg::{Cholesky, Matrix};
use argmin::core::{CostFunction, Error, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use std::cell::RefCell;

/// The noise variance floor in standardised units. Low, because hyperparameter
/// objectives are often deterministic and a higher floor blurs the model exactly where
/// precision matters (near the optimum); the Cholesky facade adds jitter when nearly
/// coincident points make the kernel matrix singular.
pub const MIN_NOISE: f64 = 1e-8;

/// Bounds on every log-parameter: wide enough for the noise to reach its floor, they
/// only stop the line search from wandering into overflow.
const THETA_BOUND: f64 = 20.0;

/// The default starting point of the hyperparameter search for `d` inputs.
pub fn default_theta(d: usize) -> Vec<f64> {
    let mut t = vec![0.0; d + 2];
    t[d] = 0.0;
    t[d + 1] = (1e-3f64).ln();
    t
}

/// A second starting point with shorter length scales (`ℓ = 0.3`), for surfaces with
/// more structure than the default assumes.
pub fn short_theta(d: usize) -> Vec<f64> {
    let mut t = vec![(1.0f64 / 0.09).ln(); d + 2];
    t[d] = 0.0;
    t[d + 1] = (1e-4f64).ln();
    t
}

fn kernel_of(theta: &[f64], d: usize) -> (Matern52, f64) {
    let c = |v: f64| v.clamp(-THETA_BOUND, THETA_BOUND);
    let k = Matern52 {
        inv_sq_lengthscales: theta[..d].iter().map(|t| c(*t).exp()).collect(),
        signal_var: c(theta[d]).exp(),
    };
    (k, MIN_NOISE + c(theta[d + 1]).exp())
}

/// A fitted GP: the training inputs, the factorised kernel matrix and `α = K⁻¹y`.
#[derive(Debug, Clone)]
pub struct Gp {
    d: usize,
    kernel: Matern52,
    noise: f64,
    /// Training inputs, row-major `n × d`.
    x: Vec<f64>,
    chol: Cholesky,
    alpha: Vec<f64>,
}

impl Gp {
    /// Conditions the GP with hyperparameters `theta` on inputs `x` (row-major `n × d`)
    /// and outputs `y`. `None` if the kernel matrix cannot be factored.
    pub fn new(x: Vec<f64>, d: usize, y: &[f64], theta: &[f64]) -> Option<Gp> {
        let (kernel, noise) = kernel_of(theta, d);
        let n = y.len();
        debug_assert_eq!(x.len(), n * d);
        let mut k = Matrix::zeros(n, n);
        for a in 0..n {
            k[(a, a)] = kernel.signal_var + noise;
            for b in 0..a {
                let v = kernel.eval(&x[a * d..a * d + d], &x[b * d..b * d + d]);
                k[(a, b)] = v;
                k[(b, a)] = v;
            }
        }
        let chol = Cholesky::new(&k)?;
        let alpha = chol.solve_vec(y);
        if alpha.iter().any(|v| !v.is_finite()) {
            return None;
        }
        Some(Gp {
            d,
            kernel,
            noise,
            x,
            chol,
            alpha,
        })
    }

    /// The number of training points.
    pub fn n(&self) -> usize {
        self.alpha.len()
    }

    /// The fitted kernel.
    pub fn kernel(&self) -> &Matern52 {
        &self.kernel
    }

    /// The fitted noise variance.
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// Posterior means and latent-function variances at `m` points (row-major `m × d`),
    /// with the triangular solve done for all points at once.
    pub fn predict(&self, xs: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d = self.d;
        let m = xs.len() / d.max(1);
        let n = self.n();
        let mut kc = Matrix::zeros(n, m);
        for j in 0..m {
            let c = &xs[j * d..j * d + d];
            for i in 0..n {
                kc[(i, j)] = self.kernel.eval(&self.x[i * d..i * d + d], c);
            }
        }
        let mu: Vec<f64> = (0..m)
            .map(|j| (0..n).map(|i| kc[(i, j)] * self.alpha[i]).sum())
            .collect();
        self.chol.solve_l_in_place(&mut kc);
        let var = (0..m)
            .map(|j| {
                let q: f64 = (0..n).map(|i| kc[(i, j)] * kc[(i, j)]).sum();
                (self.kernel.signal_var - q).max(0.0)
            })
            .collect();
        (mu, var)
    }

    /// Posterior mean and variance at one point with their gradients in `x`.
    pub fn predict_grad(&self, x: &[f64]) -> (f64, f64, Vec<f64>, Vec<f64>) {
        let d = self.d;
        let n = self.n();
        let lam = &self.kernel.inv_sq_lengthscales;
        let s = self.kernel.signal_var;
        let mut kstar = vec![0.0; n];
        let mut g = vec![0.0; n];
        for i in 0..n {
            let xi = &self.x[i * d..i * d + d];
            let (c, dc) = corr_and_deriv(self.kernel.r2(xi, x));
            kstar[i] = s * c;
            g[i] = s * dc;
        }
        let mu: f64 = kstar.iter().zip(&self.alpha).map(|(k, a)| k * a).sum();
        let mut w = kstar.clone();
        self.chol.forward_vec(&mut w);
        self.chol.backward_vec(&mut w);
        let var = (s - kstar.iter().zip(&w).map(|(k, w)| k * w).sum::<f64>()).max(0.0);
        let mut dmu = vec![0.0; d];
        let mut dvar = vec![0.0; d];
        // dk_i/dx_j = g_i · 2λ_j (x_j − x_ij).
        for i in 0..n {
            let xi = &self.x[i * d..i * d + d];
            let (ca, cw) = (g[i] * self.alpha[i], -2.0 * g[i] * w[i]);
            for j in 0..d {
                let dk = 2.0 * lam[j] * (x[j] - xi[j]);
                dmu[j] += ca * dk;
                dvar[j] += cw * dk;
            }
        }
        (mu, var, dmu, dvar)
    }
}

/// The negative log marginal likelihood plus negative log prior of `theta`, and its
/// gradient; `None` if the kernel matrix cannot be factored.
pub fn neg_log_posterior(theta: &[f64], x: &[f64], d: usize, y: &[f64]) -> Option<(f64, Vec<f64>)> {
    let n = y.len();
    let (kernel, noise) = kernel_of(theta, d);
    let s = kernel.signal_var;
    let lam = &kernel.inv_sq_lengthscales;
    let mut k = Matrix::zeros(n, n);
    // dcorr/dr² per pair (a > b), kept for the gradient pass.
    let mut dcs = vec![0.0; n * n.saturating_sub(1) / 2];
    let mut p = 0;
    for a in 0..n {
        k[(a, a)] = s + noise;
        for b in 0..a {
            let (c, dc) = corr_and_deriv(kernel.r2(&x[a * d..a * d + d], &x[b * d..b * d + d]));
            k[(a, b)] = s * c;
            k[(b, a)] = s * c;
            dcs[p] = dc;
            p += 1;
        }
    }
    let chol = Cholesky::new(&k)?;
    let alpha = chol.solve_vec(y);
    let fit = 0.5 * y.iter().zip(&alpha).map(|(y, a)| y * a).sum::<f64>();
    let mut cost = fit + 0.5 * chol.log_det();
    let kinv = chol.inverse();
    let mut grad = vec![0.0; d + 2];
    // ∂(−log p)/∂θ_j = ½ Σ_ab W_ab ∂K_ab/∂θ_j with W = K⁻¹ − ααᵀ; each off-diagonal pair
    // appears twice, cancelling the ½.
    let mut p = 0;
    for a in 0..n {
        let xa = &x[a * d..a * d + d];
        for b in 0..a {
            let w = kinv[(a, b)] - alpha[a] * alpha[b];
            grad[d] += w * k[(a, b)];
            let gc = w * s * dcs[p];
            p += 1;
            let xb = &x[b * d..b * d + d];
            for i in 0..d {
                let diff = xa[i] - xb[i];
                grad[i] += gc * lam[i] * diff * diff;
            }
        }
    }
    let noise_excess = noise - MIN_NOISE;
    for a in 0..n {
        let w = kinv[(a, a)] - alpha[a] * alpha[a];
        grad[d] += 0.5 * w * s;
        grad[d + 1] += 0.5 * w * noise_excess;
    }
    // Priors (their negative logs added to the cost).
    for i in 0..d {
        cost += 0.1 / lam[i] + 0.1 * lam[i];
        grad[i] += -0.1 / lam[i] + 0.1 * lam[i];
    }
    cost -= s.ln() - s;
    grad[d] -= 1.0 - s;
    cost -= 0.1 * noise.ln() - 30.0 * noise;
    grad[d + 1] -= (0.1 / noise - 30.0) * noise_excess;
    // Past the bounds the parameters are clamped; a steep wall brings the search back.
    for (t, g) in theta.iter().zip(grad.iter_mut()) {
        let over = t.abs() - THETA_BOUND;
        if over > 0.0 {
            cost += over * over;
            *g = 2.0 * over * t.signum();
        }
    }
    if !cost.is_finite() || grad.iter().any(|g| !g.is_finite()) {
        return None;
    }
    Some((cost, grad))
}

/// A point with its cost and gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// The hyperparameter objective as argmin sees it, memoising the last evaluation because
/// L-BFGS asks for the cost and the gradient of the same point separately.
struct Objective<'a> {
    x: &'a [f64],
    d: usize,
    y: &'a [f64],
    last: RefCell<Option<Evaluation>>,
    /// The best point evaluated, shared with the caller (the executor owns the problem).
    best: &'a RefCell<Option<(f64, Vec<f64>)>>,
}

/// Cost of a point the kernel matrix cannot be factored at: high enough that the line
/// search backs off, finite so that it can.
const FAILED_COST: f64 = 1e12;

impl Objective<'_> {
    fn eval(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((t, c, g)) = &*self.last.borrow() {
            if t.as_slice() == theta {
                return (*c, g.clone());
            }
        }
        let (c, g) = neg_log_posterior(theta, self.x, self.d, self.y)
            .unwrap_or_else(|| (FAILED_COST, vec![0.0; theta.len()]));
        if c < FAILED_COST {
            let mut best = self.best.borrow_mut();
            if best.as_ref().is_none_or(|(bc, _)| c < *bc) {
                *best = Some((c, theta.to_vec()));
            }
        }
        *self.last.borrow_mut() = Some((theta.to_vec(), c, g.clone()));
        (c, g)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(self.eval(p).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        Ok(self.eval(p).1)
    }
}

/// Fits the hyperparameters from each starting point with L-BFGS (at most `max_iters`
/// iterations each) and returns the best point found with its objective value.
pub fn fit(x: &[f64], d: usize, y: &[f64], starts: &[Vec<f64>], max_iters: u64) -> (Vec<f64>, f64) {
    let mut best: Option<(f64, Vec<f64>)> = None;
    for start in starts {
        let found = RefCell::new(None);
        let obj = Objective {
            x,
            d,
            y,
            last: RefCell::new(None),
            best: &found,
        };
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            .with_tolerance_grad(1e-3)
            .and_then(|s| s.with_tolerance_cost(1e-7));
        if let Ok(solver) = solver {
            // A line-search failure ends the run early; the best point seen still counts.
            let _ = Executor::new(obj, solver)
                .configure(|state| state.param(start.clone()).max_iters(max_iters))
                .run();
        } else {
            let _ = obj.eval(start);
        }
        if let Some((c, t)) = found.into_inner() {
            if best.as_ref().is_none_or(|(bc, _)| c < *bc) {
                best = Some((c, t));
            }
        }
    }
    match best {
        Some((c, t)) => (t, c),
        None => (
            starts.first().cloned().unwrap_or_else(|| default_theta(d)),
            f64::INFINITY,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<f64>, Vec<f64>) {
        let xs: Vec<[f64; 2]> = (0..12)
            .map(|i| {
                let t = i as f64 / 11.0;
                [t, (t * 7.3).fract()]
            })
            .collect();
        let y: Vec<f64> = xs
            .iter()
            .map(|p| (6.0 * p[0]).sin() + 0.5 * p[1] * p[1])
            .collect();
        (xs.concat(), y)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = data();
        let theta = vec![0.7, -0.4, 0.2, (1e-3f64).ln()];
        let (_, g) = neg_log_posterior(&theta, &x, 2, &y).unwrap();
        for j in 0..theta.len() {
            let e = 1e-6;
            let mut a = theta.clone();
            let mut b = theta.clone();
            a[j] += e;
            b[j] -= e;
            let fd = (neg_log_posterior(&a, &x, 2, &y).unwrap().0
                - neg_log_posterior(&b, &x, 2, &y).unwrap().0)
                / (2.0 * e);
            assert!(
                (fd - g[j]).abs() < 1e-4 * fd.abs().max(1.0),
                "j={j}: {fd} vs {}",
                g[j]
            );
        }
    }

    #[test]
    fn posterior_interpolates_training_points() {
        let (x, y) = data();
        let (theta, _) = fit(&x, 2, &y, &[default_theta(2), short_theta(2)], 100);
        let gp = Gp::new(x.clone(), 2, &y, &theta).unwrap();
        assert!(gp.noise() < 1e-2, "noise {}", gp.noise());
        let (mu, var) = gp.predict(&x);
        for i in 0..y.len() {
            assert!((mu[i] - y[i]).abs() < 0.05, "{i}: {} vs {}", mu[i], y[i]);
            assert!(var[i] < 1e-2);
        }
        // Far from the data the variance grows back towards the signal variance.
        let (_, far) = gp.predict(&[0.5, 3.0]);
        assert!(far[0] > 10.0 * var.iter().cloned().fold(0.0, f64::max));
        // The single-point path agrees with the batch path, gradients with differences.
        let p = [0.33, 0.61];
        let (m1, v1, dm, dv) = gp.predict_grad(&p);
        let (mb, vb) = gp.predict(&p);
        assert!((m1 - mb[0]).abs() < 1e-9 && (v1 - vb[0]).abs() < 1e-9);
        for j in 0..2 {
            let e = 1e-6;
            let mut a = p;
            let mut b = p;
            a[j] += e;
            b[j] -= e;
            let (ma, va, _, _) = gp.predict_grad(&a);
            let (mb, vb, _, _) = gp.predict_grad(&b);
            assert!(((ma - mb) / (2.0 * e) - dm[j]).abs() < 1e-4);
            assert!(((va - vb) / (2.0 * e) - dv[j]).abs() < 1e-4);
        }
    }

    #[test]
    fn survives_duplicates_and_constant_outputs() {
        let x = vec![0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.7, 0.1];
        let y = vec![0.0, 0.0, 0.0, 0.0];
        let (theta, c) = fit(&x, 2, &y, &[default_theta(2)], 50);
        assert!(c.is_finite());
        assert!(theta.iter().all(|t| t.is_finite()));
        let gp = Gp::new(x, 2, &y, &theta).unwrap();
        let (mu, var) = gp.predict(&[0.5, 0.5]);
        assert!(mu[0].is_finite() && var[0].is_finite());
        let y2 = vec![1.0, -1.0, 1.0, 0.5];
        let x2 = vec![0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.7, 0.1];
        let (theta2, c2) = fit(&x2, 2, &y2, &[default_theta(2)], 50);
        assert!(c2.is_finite());
        assert!(Gp::new(x2, 2, &y2, &theta2).is_some());
    }
}
