//! Parameter importance for the report: how much of the spread of the runs' results each
//! parameter explains on its own.
//!
//! Method (documented in docs/report.md): the runs' best values are replaced by their ranks
//! (so one diverged run cannot dominate); for each parameter the runs are grouped into bins
//! of its value (each option of a `choice`; up to `clamp(round(sqrt(n)), 2, 10)` bins of
//! equal count along a numeric axis, on the log axis for log-scale parameters, equal values
//! always in one bin; runs where a conditional parameter is absent form their own bin). The
//! importance is epsilon squared of the binned means:
//! `max(0, (SS_between - (k - 1) * MS_within) / SS_total)`, the share of the rank variance
//! explained by the bins, corrected for the share `k` bins explain by chance. It is a
//! one-parameter-at-a-time (main-effect) estimate, like the first-order terms of fANOVA;
//! interactions are not attributed.

/// One run's value of one parameter, as the importance estimate sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Feature {
    /// A number (already on the log axis for log-scale parameters).
    Num(f64),
    /// A category (a `choice` option).
    Cat(String),
    /// The parameter was not active in this run.
    Absent,
}

/// Ranks of `y` (1-based, ties get their mean rank).
pub fn ranks(y: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
    let mut out = vec![0.0; y.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && y[idx[j + 1]] == y[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
}

/// The bin of each run for one parameter's values.
fn bins(x: &[Feature]) -> Vec<usize> {
    let n = x.len();
    let mut bin = vec![0usize; n];
    // Categories and absence: one bin each, numbered after the numeric bins.
    let mut cats: Vec<&str> = Vec::new();
    let mut nums: Vec<(f64, usize)> = Vec::new();
    for (i, f) in x.iter().enumerate() {
        if let Feature::Num(v) = f {
            if v.is_finite() {
                nums.push((*v, i));
            }
        }
    }
    nums.sort_by(|a, b| a.0.total_cmp(&b.0));
    let k = ((n as f64).sqrt().round() as usize).clamp(2, 10);
    let mut last: Option<(f64, usize)> = None;
    let mut max_num_bin = 0;
    for (pos, (v, i)) in nums.iter().enumerate() {
        let b = match last {
            // Equal values stay together, whatever their position.
            Some((lv, lb)) if lv == *v => lb,
            _ => pos * k / nums.len().max(1),
        };
        bin[*i] = b;
        max_num_bin = max_num_bin.max(b);
        last = Some((*v, b));
    }
    let base = max_num_bin + 1;
    for (i, f) in x.iter().enumerate() {
        let key = match f {
            Feature::Num(v) if v.is_finite() => continue,
            Feature::Num(_) => "\u{0}nonfinite",
            Feature::Cat(c) => c.as_str(),
            Feature::Absent => "\u{0}absent",
        };
        let j = match cats.iter().position(|c| *c == key) {
            Some(j) => j,
            None => {
                cats.push(key);
                cats.len() - 1
            }
        };
        bin[i] = base + j;
    }
    bin
}

/// Epsilon squared of `y` grouped by `bin`: the between-group share of the variance,
/// corrected for the number of groups; 0 when it cannot be estimated.
pub fn epsilon_squared(y: &[f64], bin: &[usize]) -> f64 {
    let n = y.len();
    if n < 3 {
        return 0.0;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if sst <= 0.0 {
        return 0.0;
    }
    let nb = bin.iter().copied().max().unwrap_or(0) + 1;
    let mut sum = vec![0.0; nb];
    let mut cnt = vec![0usize; nb];
    for (v, b) in y.iter().zip(bin) {
        sum[*b] += v;
        cnt[*b] += 1;
    }
    let k = cnt.iter().filter(|c| **c > 0).count();
    if k < 2 || n <= k {
        return 0.0;
    }
    let ssb: f64 = (0..nb)
        .filter(|b| cnt[*b] > 0)
        .map(|b| cnt[b] as f64 * (sum[b] / cnt[b] as f64 - mean).powi(2))
        .sum();
    let ssw = sst - ssb;
    let msw = ssw / (n - k) as f64;
    ((ssb - (k - 1) as f64 * msw) / sst).clamp(0.0, 1.0)
}

/// The importance of each parameter: `columns[p][i]` is run i's value of parameter p and
/// `y[i]` its result. At least 4 runs are needed; with fewer every importance is `None`.
pub fn importance(columns: &[Vec<Feature>], y: &[f64]) -> Vec<Option<f64>> {
    if y.len() < 4 {
        return vec![None; columns.len()];
    }
    let r = ranks(y);
    columns
        .iter()
        .map(|x| Some(epsilon_squared(&r, &bins(x))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0, 1.0]), vec![4.0, 1.5, 3.0, 1.5]);
    }

    #[test]
    fn numeric_bins_keep_equal_values_together() {
        let x: Vec<Feature> = [1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .map(|v| Feature::Num(*v))
            .collect();
        let b = bins(&x);
        assert!(b[..4].iter().all(|v| *v == b[0]), "{b:?}");
        assert_ne!(b[0], b[8]);
    }

    #[test]
    fn the_parameter_that_decides_the_result_ranks_first() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 200;
        let mut lr = Vec::new();
        let mut noise = Vec::new();
        let mut opt = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let a: f64 = rng.random_range(-5.0..-1.0); // log10 of a learning rate
            let b: f64 = rng.random_range(0.0..1.0);
            let c = if rng.random_bool(0.5) { "adam" } else { "sgd" };
            // The result depends strongly on lr, a little on the optimizer, not on noise.
            y.push(-(a + 3.0).powi(2) + if c == "adam" { 0.3 } else { 0.0 });
            lr.push(Feature::Num(a));
            noise.push(Feature::Num(b));
            opt.push(Feature::Cat(c.into()));
        }
        let imp = importance(&[lr, noise, opt], &y);
        let (lr, noise, opt) = (imp[0].unwrap(), imp[1].unwrap(), imp[2].unwrap());
        assert!(lr > 0.6, "lr {lr}");
        assert!(noise < 0.05, "noise {noise}");
        assert!(opt > noise && opt < lr, "opt {opt}");
    }

    #[test]
    fn too_few_runs_give_no_estimate_and_constant_results_give_zero() {
        let x = vec![vec![
            Feature::Num(1.0),
            Feature::Num(2.0),
            Feature::Num(3.0),
        ]];
        assert_eq!(importance(&x, &[1.0, 2.0, 3.0]), vec![None]);
        let x = vec![(0..8).map(|i| Feature::Num(i as f64)).collect::<Vec<_>>()];
        assert_eq!(importance(&x, &[5.0; 8]), vec![Some(0.0)]);
    }

    #[test]
    fn absent_values_form_their_own_bin() {
        // A conditional parameter: absent in half the runs, and its absence decides y.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..20 {
            if i % 2 == 0 {
                x.push(Feature::Absent);
                y.push(0.0 + i as f64 * 0.001);
            } else {
                x.push(Feature::Num(i as f64));
                y.push(1.0 + i as f64 * 0.001);
            }
        }
        assert!(importance(&[x], &y)[0].unwrap() > 0.5);
    }
}
