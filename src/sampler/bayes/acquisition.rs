//! Log expected improvement (for minimisation), computed stably far into the tail
//! where plain EI underflows to zero and gives the optimiser no gradient (Ament et al.,
//! "Unexpected Improvements to Expected Improvement", 2023).
//!
//! `EI(x) = σ · h(z)` with `z = (best − μ)/σ` and `h(z) = φ(z) + z Φ(z)`. For `z > −1`,
//! `log h` is computed directly. Below, with `t = −z`, `h = φ(t) · (1 − t R(t))` where
//! `R(t) = Φ(−t)/φ(t)` is Mills' ratio, evaluated from `erfc` (accurate in relative
//! terms) up to `t = 30`; beyond that the asymptotic `1 − tR(t) ≈ t⁻²(1 − 3t⁻²)` is used.

use crate::space::normal_cdf;

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

fn ln_phi(z: f64) -> f64 {
    -0.5 * z * z - LN_SQRT_2PI
}

/// `log h(z)` and its derivative `Φ(z)/h(z)`.
pub fn log_h(z: f64) -> (f64, f64) {
    if z > -1.0 {
        let phi = ln_phi(z).exp();
        let cdf = normal_cdf(z);
        let h = phi + z * cdf;
        return (h.ln(), cdf / h);
    }
    let t = -z;
    if t <= 30.0 {
        // R(t) = Φ(−t)/φ(t); both factors are finite for t ≤ 30 (φ(30) ≈ 1e-196).
        let r = normal_cdf(-t) / ln_phi(t).exp();
        let one_minus = 1.0 - t * r;
        (ln_phi(t) + one_minus.ln(), r / one_minus)
    } else {
        let t2 = t * t;
        let one_minus = (1.0 - 3.0 / t2) / t2;
        // Mills' ratio from the same expansion, R = (1 − (1 − tR))/t; Φ(z)/h(z) = R/(1 − tR).
        let r = (1.0 - one_minus) / t;
        (ln_phi(t) + one_minus.ln(), r / one_minus)
    }
}

/// `log EI` at a point with posterior mean `mu` and standard deviation `sigma`, below the
/// incumbent `best`, and its partial derivatives with respect to `mu` and `sigma`.
pub fn log_ei(mu: f64, sigma: f64, best: f64) -> (f64, f64, f64) {
    let sigma = sigma.max(1e-12);
    let z = (best - mu) / sigma;
    let (lh, dlh) = log_h(z);
    // d/dμ: dz/dμ = −1/σ. d/dσ: 1/σ + dlh · (−z/σ).
    (sigma.ln() + lh, -dlh / sigma, (1.0 - dlh * z) / sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h_direct(z: f64) -> f64 {
        (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() + z * normal_cdf(z)
    }

    #[test]
    fn matches_direct_formula_where_it_is_accurate() {
        for z in [3.0, 1.0, 0.0, -0.5, -0.99, -1.0, -1.5, -3.0, -6.0] {
            let (lh, _) = log_h(z);
            let d = h_direct(z).ln();
            assert!(
                (lh - d).abs() < 1e-9 * d.abs().max(1.0),
                "z={z}: {lh} vs {d}"
            );
        }
    }

    #[test]
    fn finite_monotone_and_differentiable_in_the_tail() {
        let mut prev = f64::NEG_INFINITY;
        let mut z = -60.0;
        while z < 5.0 {
            let (lh, dlh) = log_h(z);
            assert!(lh.is_finite() && dlh.is_finite() && dlh > 0.0, "z={z}");
            assert!(lh > prev, "log h must increase, z={z}");
            let e = 1e-5;
            let fd = (log_h(z + e).0 - log_h(z - e).0) / (2.0 * e);
            assert!(
                (fd - dlh).abs() < 1e-4 * dlh.max(1.0),
                "z={z}: {fd} vs {dlh}"
            );
            prev = lh;
            z += 0.37;
        }
        // Continuity across the branch switches.
        for b in [-1.0, -30.0] {
            let (l, r) = (log_h(b - 1e-9).0, log_h(b + 1e-9).0);
            assert!(
                (l - r).abs() < 1e-6 * l.abs().max(1.0),
                "at {b}: {l} vs {r}"
            );
        }
    }

    #[test]
    fn ei_is_tiny_at_a_known_optimum_and_larger_elsewhere() {
        // At an observed optimum the posterior has μ = best and σ near zero.
        let (at_opt, _, _) = log_ei(0.0, 1e-6, 0.0);
        let (elsewhere, _, _) = log_ei(0.5, 0.8, 0.0);
        assert!(at_opt.exp() < 1e-6);
        assert!(elsewhere.exp() > 1e-3);
        assert!(elsewhere > at_opt);
        // Gradients match finite differences.
        let (mu, s, best) = (0.3, 0.2, 0.0);
        let (_, dmu, ds) = log_ei(mu, s, best);
        let e = 1e-6;
        let fmu = (log_ei(mu + e, s, best).0 - log_ei(mu - e, s, best).0) / (2.0 * e);
        let fs = (log_ei(mu, s + e, best).0 - log_ei(mu, s - e, best).0) / (2.0 * e);
        assert!((fmu - dmu).abs() < 1e-5 && (fs - ds).abs() < 1e-5);
    }
}
