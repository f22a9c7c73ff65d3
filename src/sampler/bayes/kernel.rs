//! The Matérn-5/2 kernel with automatic relevance determination: one inverse squared
//! length scale per input dimension, times a signal variance.
//!
//! With `r² = Σ_i λ_i (a_i − b_i)²`, `k(a, b) = s · (1 + √5 r + 5r²/3) · exp(−√5 r)`.
//! Derivatives are taken with respect to `r²`, where `dk/d(r²) = −(5/6) s (1 + √5 r)
//! exp(−√5 r)` has no singularity at `r = 0`, which keeps the gradients of the marginal
//! likelihood and of the acquisition smooth at training points.

const SQRT5: f64 = 2.236_067_977_499_79;

/// Matérn-5/2 ARD kernel parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Matern52 {
    /// `λ_i = 1 / ℓ_i²`, one per input dimension.
    pub inv_sq_lengthscales: Vec<f64>,
    /// Signal variance `s` (the kernel's value at distance 0).
    pub signal_var: f64,
}

/// The unit-variance correlation `(1 + √5 r + 5r²/3) exp(−√5 r)` as a function of `r²`.
#[inline]
pub fn corr(r2: f64) -> f64 {
    let r = r2.max(0.0).sqrt();
    (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * (-SQRT5 * r).exp()
}

/// The derivative of [`corr`] with respect to `r²`: `−(5/6)(1 + √5 r) exp(−√5 r)`.
#[inline]
pub fn dcorr_dr2(r2: f64) -> f64 {
    let r = r2.max(0.0).sqrt();
    -5.0 / 6.0 * (1.0 + SQRT5 * r) * (-SQRT5 * r).exp()
}

/// Both [`corr`] and [`dcorr_dr2`], sharing the square root and the exponential.
#[inline]
pub fn corr_and_deriv(r2: f64) -> (f64, f64) {
    let r = r2.max(0.0).sqrt();
    let e = (-SQRT5 * r).exp();
    (
        (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e,
        -5.0 / 6.0 * (1.0 + SQRT5 * r) * e,
    )
}

impl Matern52 {
    /// The scaled squared distance `r²` between two points.
    #[inline]
    pub fn r2(&self, a: &[f64], b: &[f64]) -> f64 {
        self.inv_sq_lengthscales
            .iter()
            .zip(a.iter().zip(b))
            .map(|(l, (x, y))| l * (x - y) * (x - y))
            .sum()
    }

    /// `k(a, b)`.
    #[inline]
    pub fn eval(&self, a: &[f64], b: &[f64]) -> f64 {
        self.signal_var * corr(self.r2(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivative_matches_finite_difference() {
        for r2 in [0.0, 1e-6, 0.3, 2.0, 9.0] {
            let h = 1e-6;
            let fd = (corr(r2 + h) - corr((r2 - h).max(0.0))) / (r2 + h - (r2 - h).max(0.0));
            assert!((fd - dcorr_dr2(r2)).abs() < 1e-5, "r2={r2}");
            let (c, d) = corr_and_deriv(r2);
            assert_eq!(c, corr(r2));
            assert_eq!(d, dcorr_dr2(r2));
        }
        assert_eq!(corr(0.0), 1.0);
        let k = Matern52 {
            inv_sq_lengthscales: vec![4.0, 1.0],
            signal_var: 2.0,
        };
        assert_eq!(k.eval(&[0.1, 0.2], &[0.1, 0.2]), 2.0);
        assert!(k.eval(&[0.0, 0.0], &[1.0, 0.0]) < k.eval(&[0.0, 0.0], &[0.0, 1.0]));
    }
}
