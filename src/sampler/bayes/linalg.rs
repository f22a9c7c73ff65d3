//! The dense linear algebra the Gaussian process needs, behind one small facade over
//! faer: a jittered Cholesky factorisation, solves with it, the inverse and the log
//! determinant. Matrices are faer's column-major [`Mat`].

use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::{Mat, Par, Side};

/// A square matrix of `f64`.
pub type Matrix = Mat<f64>;

/// The Cholesky factor `L` (lower) of a symmetric positive-definite matrix.
#[derive(Debug, Clone)]
pub struct Cholesky {
    l: Matrix,
    /// `L` row-major, for the per-vector solves whose rows must be contiguous to be fast.
    rows: Vec<f64>,
}

impl Cholesky {
    /// Factors `a`, adding growing diagonal jitter when rounding makes it indefinite
    /// (duplicate training points with a tiny noise term do that). `None` only if even a
    /// large jitter fails, which means the matrix holds non-finite values.
    pub fn new(a: &Matrix) -> Option<Cholesky> {
        let n = a.nrows();
        if n == 0 {
            return Some(Cholesky {
                l: Mat::zeros(0, 0),
                rows: Vec::new(),
            });
        }
        let scale = (0..n).map(|i| a[(i, i)].abs()).sum::<f64>() / n as f64;
        let mut jitter = 0.0;
        for _ in 0..6 {
            let mut m = a.clone();
            if jitter > 0.0 {
                for i in 0..n {
                    m[(i, i)] += jitter;
                }
            }
            if let Ok(llt) = m.llt(Side::Lower) {
                let l = llt.L().to_owned();
                let mut rows = vec![0.0; n * n];
                for i in 0..n {
                    for k in 0..=i {
                        rows[i * n + k] = l[(i, k)];
                    }
                }
                return Some(Cholesky { l, rows });
            }
            jitter = if jitter == 0.0 {
                1e-10 * scale.max(1e-300)
            } else {
                jitter * 100.0
            };
        }
        None
    }

    /// The order of the matrix.
    pub fn n(&self) -> usize {
        self.l.nrows()
    }

    /// The lower-triangular factor.
    pub fn l(&self) -> &Matrix {
        &self.l
    }

    /// `log det A = 2 Σ log L_ii`.
    pub fn log_det(&self) -> f64 {
        (0..self.n()).map(|i| self.l[(i, i)].ln()).sum::<f64>() * 2.0
    }

    /// Solves `L X = B` in place (columns of `b` are right-hand sides).
    pub fn solve_l_in_place(&self, b: &mut Matrix) {
        solve_lower_triangular_in_place(self.l.as_ref(), b.as_mut(), Par::Seq);
    }

    /// Solves `A x = b` for one vector.
    pub fn solve_vec(&self, b: &[f64]) -> Vec<f64> {
        let mut m = Mat::from_fn(b.len(), 1, |i, _| b[i]);
        solve_lower_triangular_in_place(self.l.as_ref(), m.as_mut(), Par::Seq);
        solve_upper_triangular_in_place(self.l.transpose(), m.as_mut(), Par::Seq);
        (0..b.len()).map(|i| m[(i, 0)]).collect()
    }

    /// Solves `L x = b` for one vector (forward substitution), written out because it
    /// runs per candidate in the acquisition's inner loop where allocation would dominate.
    pub fn forward_vec(&self, b: &mut [f64]) {
        let n = self.n();
        for i in 0..n {
            let row = &self.rows[i * n..i * n + i + 1];
            let s: f64 = row[..i].iter().zip(&b[..i]).map(|(l, x)| l * x).sum();
            b[i] = (b[i] - s) / row[i];
        }
    }

    /// Solves `Lᵀ x = b` for one vector (back substitution).
    pub fn backward_vec(&self, b: &mut [f64]) {
        // Column-oriented: once x_i is known, remove its share from the earlier entries,
        // walking row i of L (column i of Lᵀ) contiguously.
        let n = self.n();
        for i in (0..n).rev() {
            let row = &self.rows[i * n..i * n + i + 1];
            b[i] /= row[i];
            let xi = b[i];
            for (bk, l) in b[..i].iter_mut().zip(&row[..i]) {
                *bk -= l * xi;
            }
        }
    }

    /// `A⁻¹`.
    pub fn inverse(&self) -> Matrix {
        let n = self.n();
        let mut x = Mat::<f64>::identity(n, n);
        solve_lower_triangular_in_place(self.l.as_ref(), x.as_mut(), Par::Seq);
        solve_upper_triangular_in_place(self.l.transpose(), x.as_mut(), Par::Seq);
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_inverts() {
        let a = Mat::from_fn(3, 3, |i, j| {
            [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]][i][j]
        });
        let c = Cholesky::new(&a).unwrap();
        let x = c.solve_vec(&[1.0, 2.0, 3.0]);
        for i in 0..3 {
            let ax: f64 = (0..3).map(|j| a[(i, j)] * x[j]).sum();
            assert!((ax - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        let inv = c.inverse();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[(i, k)] * inv[(k, j)]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let mut y = vec![1.0, 2.0, 3.0];
        c.forward_vec(&mut y);
        c.backward_vec(&mut y);
        for i in 0..3 {
            assert!((y[i] - x[i]).abs() < 1e-12);
        }
        let det = 4.0 * (3.0 * 2.0 - 0.04) - 1.0 * (2.0 - 0.1) + 0.5 * (0.2 - 1.5);
        assert!((c.log_det() - f64::ln(det)).abs() < 1e-12);
    }

    #[test]
    fn jitter_rescues_a_singular_matrix() {
        // Two identical rows: singular, which duplicate points without noise produce.
        let a = Mat::from_fn(2, 2, |_, _| 1.0);
        assert!(Cholesky::new(&a).is_some());
    }
}
