//! One parameter expression as a domain: its exact sampling semantics (HyperDrive's, which
//! are hyperopt's), its map to and from the unit interval, q-rounding, grid values and
//! membership.

use super::value::Value;

/// A parameter expression, with its positional arguments already validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Domain {
    /// `choice [v1, v2, ...]`: one of the listed options.
    Choice {
        /// The options, in the order given (at least one).
        options: Vec<Value>,
    },
    /// `randint [upper]`: an integer in `[0, upper)`.
    RandInt {
        /// Exclusive upper bound (> 0).
        upper: i64,
    },
    /// `uniform [min, max]`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (> low).
        high: f64,
    },
    /// `quniform [min, max, q]`: `round(uniform(min, max) / q) * q`.
    QUniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Quantum (> 0).
        q: f64,
    },
    /// `loguniform [min, max]`: `exp(uniform(min, max))`; the bounds are exponents.
    LogUniform {
        /// Lower exponent.
        low: f64,
        /// Upper exponent.
        high: f64,
    },
    /// `qloguniform [min, max, q]`: `round(exp(uniform(min, max)) / q) * q`.
    QLogUniform {
        /// Lower exponent.
        low: f64,
        /// Upper exponent.
        high: f64,
        /// Quantum (> 0).
        q: f64,
    },
    /// `normal [mu, sigma]`.
    Normal {
        /// Mean.
        mu: f64,
        /// Standard deviation (>= 0).
        sigma: f64,
    },
    /// `qnormal [mu, sigma, q]`: `round(normal(mu, sigma) / q) * q`.
    QNormal {
        /// Mean.
        mu: f64,
        /// Standard deviation.
        sigma: f64,
        /// Quantum.
        q: f64,
    },
    /// `lognormal [mu, sigma]`: `exp(normal(mu, sigma))`.
    LogNormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm.
        sigma: f64,
    },
    /// `qlognormal [mu, sigma, q]`: `round(exp(normal(mu, sigma)) / q) * q`.
    QLogNormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm.
        sigma: f64,
        /// Quantum.
        q: f64,
    },
}

/// Keeps the inverse normal CDF finite: a unit coordinate of exactly 0 or 1 maps to
/// about ±8.2 standard deviations rather than infinity.
const UNIT_EPS: f64 = 1e-16;

/// `round(x / q) * q` with ties to even, as numpy's `round` (which hyperopt and so
/// HyperDrive use) does.
pub fn q_round(x: f64, q: f64) -> f64 {
    (x / q).round_ties_even() * q
}

impl Domain {
    /// The ten expression names, in HyperDrive's documented order: what
    /// [`Domain::expression`] returns, and what a config may name.
    pub const EXPRESSIONS: [&'static str; 10] = [
        "choice",
        "randint",
        "uniform",
        "quniform",
        "loguniform",
        "qloguniform",
        "normal",
        "qnormal",
        "lognormal",
        "qlognormal",
    ];

    /// The expression's name as written in a config.
    pub fn expression(&self) -> &'static str {
        match self {
            Domain::Choice { .. } => "choice",
            Domain::RandInt { .. } => "randint",
            Domain::Uniform { .. } => "uniform",
            Domain::QUniform { .. } => "quniform",
            Domain::LogUniform { .. } => "loguniform",
            Domain::QLogUniform { .. } => "qloguniform",
            Domain::Normal { .. } => "normal",
            Domain::QNormal { .. } => "qnormal",
            Domain::LogNormal { .. } => "lognormal",
            Domain::QLogNormal { .. } => "qlognormal",
        }
    }

    /// Whether the domain is sampled on a log scale (plots use log axes for these): the
    /// expressions whose HyperDrive name says `log` (`loguniform`, `qlognormal`, ...).
    pub fn is_log(&self) -> bool {
        self.expression().contains("log")
    }

    /// Whether the values are a finite or countable set: `choice`, `randint`, and the
    /// quantized expressions, whose HyperDrive name starts with `q` (`quniform`, ...).
    pub fn is_discrete(&self) -> bool {
        matches!(self, Domain::Choice { .. } | Domain::RandInt { .. })
            || self.expression().starts_with('q')
    }

    /// Whether the values are numbers ordered on a line (everything but `choice`).
    pub fn is_numeric(&self) -> bool {
        !matches!(self, Domain::Choice { .. })
    }

    /// The values a grid enumerates, in order, or `None` where the domain cannot be
    /// enumerated (continuous, or a q-expression over an unbounded distribution).
    ///
    /// `quniform [lo, hi, q]` enumerates `k*q` for `k` from `round(lo/q)` to `round(hi/q)`:
    /// exactly the values random sampling can produce.
    ///
    /// Every value is built: for small domains only (tests, summaries); the grid itself
    /// takes one value at a time with [`Domain::grid_value`].
    pub fn grid_values(&self) -> Option<Vec<Value>> {
        let n = self.grid_len()?;
        Some((0..n).map_while(|i| self.grid_value(i)).collect())
    }

    /// The grid's `index`-th value of this domain (in [`Domain::grid_values`] order),
    /// computed alone, so that a grid over `randint [50000000]` never holds its values;
    /// `None` past the end or where the domain cannot be enumerated.
    pub fn grid_value(&self, index: u64) -> Option<Value> {
        if index >= self.grid_len()? {
            return None;
        }
        let multiple = |lo: f64, q: f64| {
            // `k * q` for the index-th `k` from `round(lo/q)`; exact while k < 2^53.
            let k = (lo / q).round_ties_even() + index as f64;
            Value::integral_or_float(clean(k * q, q))
        };
        match self {
            Domain::Choice { options } => options.get(usize::try_from(index).ok()?).cloned(),
            Domain::RandInt { .. } => Some(Value::Int(i64::try_from(index).ok()?)),
            Domain::QUniform { low, q, .. } => Some(multiple(*low, *q)),
            Domain::QLogUniform { low, q, .. } => Some(multiple(low.exp(), *q)),
            _ => None,
        }
    }

    /// How many values a grid over this domain has, without building them; saturates at
    /// `u64::MAX` (which the space reports as too large to count).
    pub fn grid_len(&self) -> Option<u64> {
        let span = |lo: f64, hi: f64, q: f64| {
            let a = (lo / q).round_ties_even();
            let b = (hi / q).round_ties_even();
            if b >= a {
                // `as` saturates, and so does a NaN (0) or infinite width, past u64.
                let width = b - a;
                if width.is_finite() && width < u64::MAX as f64 {
                    (width as u64).saturating_add(1)
                } else {
                    u64::MAX
                }
            } else {
                0
            }
        };
        match self {
            Domain::Choice { options } => Some(options.len() as u64),
            Domain::RandInt { upper } => Some(*upper as u64),
            Domain::QUniform { low, high, q } => Some(span(*low, *high, *q)),
            Domain::QLogUniform { low, high, q } => Some(span(low.exp(), high.exp(), *q)),
            _ => None,
        }
    }

    /// The smallest and largest values the domain can produce, for a numeric domain
    /// (`None` for `choice`). A bound that is not finite means the domain can give a run
    /// `inf` (or `-inf`): `lognormal [1000, 1]`, `loguniform [0, 1000]`, a `q` so small
    /// that `x / q` overflows. The normal families reach about ±8.2 standard deviations
    /// (the unit map's clamp).
    pub fn value_range(&self) -> Option<(f64, f64)> {
        if !self.is_numeric() {
            return None;
        }
        // `from_unit` is monotone in `u`, so its ends are the extremes.
        let (a, b) = (self.from_unit(0.0).as_f64()?, self.from_unit(1.0).as_f64()?);
        // Rounding to q happens at the ends too: `x / q` overflowing there shows as `inf`.
        // (Compared so that a NaN end stays in the answer.)
        Some(if a <= b { (a, b) } else { (b, a) })
    }

    /// Why the domain can give a run a value that is not finite, if it can: the problem
    /// and what to change, in one sentence (`None` for every usable domain).
    pub fn overflows(&self) -> Option<String> {
        let (lo, hi) = self.value_range()?;
        if lo.is_finite() && hi.is_finite() {
            return None;
        }
        let (pos, neg) = (
            [lo, hi].contains(&f64::INFINITY),
            [lo, hi].contains(&f64::NEG_INFINITY),
        );
        let reach = match (pos, neg, lo.is_nan() || hi.is_nan()) {
            (true, false, false) => "`inf`",
            (false, true, false) => "`-inf`",
            (true, true, false) => "`-inf` and `inf`",
            _ => "values that are not numbers",
        };
        let fix = match self {
            Domain::LogUniform { .. } | Domain::QLogUniform { .. } => {
                "the bounds are exponents and exp(x) overflows above 709.78: lower `max`"
            }
            Domain::LogNormal { .. } | Domain::QLogNormal { .. } => {
                "values reach exp(mu + 8.2 sigma), which overflows above 709.78: lower mu or sigma"
            }
            _ if matches!(self, Domain::QUniform { .. } | Domain::QNormal { .. }) => {
                "the values, or the values divided by q, pass the largest float (about 1.8e308): raise `q` or narrow the range"
            }
            _ => "values reach mu ± 8.2 sigma, past the largest float: lower sigma",
        };
        Some(format!(
            "{} would give runs {reach}; {fix}",
            self.describe()
        ))
    }

    /// Maps a unit coordinate `u` in `[0, 1]` to a value, with the exact distribution of the
    /// expression when `u` is uniform: linear for uniform, exponent-linear for the log
    /// families, the inverse normal CDF for the normal families, ordinal cells for choice
    /// and randint, then q-rounding.
    pub fn from_unit(&self, u: f64) -> Value {
        let u = if u.is_nan() { 0.5 } else { u.clamp(0.0, 1.0) };
        let cell = |n: usize| ((u * n as f64) as usize).min(n - 1);
        let normal = |mu: f64, sigma: f64| {
            mu + sigma * inverse_normal_cdf(u.clamp(UNIT_EPS, 1.0 - UNIT_EPS))
        };
        match self {
            Domain::Choice { options } => options[cell(options.len())].clone(),
            Domain::RandInt { upper } => Value::Int(cell(*upper as usize) as i64),
            Domain::Uniform { low, high } => Value::Float(lerp(*low, *high, u)),
            Domain::QUniform { low, high, q } => q_value(lerp(*low, *high, u), *q),
            Domain::LogUniform { low, high } => Value::Float(lerp(*low, *high, u).exp()),
            Domain::QLogUniform { low, high, q } => q_value(lerp(*low, *high, u).exp(), *q),
            Domain::Normal { mu, sigma } => Value::Float(normal(*mu, *sigma)),
            Domain::QNormal { mu, sigma, q } => q_value(normal(*mu, *sigma), *q),
            Domain::LogNormal { mu, sigma } => Value::Float(normal(*mu, *sigma).exp()),
            Domain::QLogNormal { mu, sigma, q } => q_value(normal(*mu, *sigma).exp(), *q),
        }
    }

    /// Maps a value back to the unit interval: the inverse of [`Domain::from_unit`] for
    /// continuous domains, the centre of the value's cell for discrete ones. `None` when the
    /// value is not of this domain's kind.
    pub fn to_unit(&self, v: &Value) -> Option<f64> {
        let inv_normal = |x: f64, mu: f64, sigma: f64| {
            if sigma == 0.0 {
                0.5
            } else {
                normal_cdf((x - mu) / sigma)
            }
        };
        let unlerp = |lo: f64, hi: f64, x: f64| {
            match hi > lo {
                true if (hi - lo).is_finite() => ((x - lo) / (hi - lo)).clamp(0.0, 1.0),
                // A range wider than the largest float: halve everything first.
                true => ((x / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0)).clamp(0.0, 1.0),
                false => 0.5,
            }
        };
        let ln = |x: f64| if x > 0.0 { x.ln() } else { f64::NEG_INFINITY };
        let u = match self {
            Domain::Choice { options } => {
                let i = options.iter().position(|o| o == v)?;
                (i as f64 + 0.5) / options.len() as f64
            }
            Domain::RandInt { upper } => {
                let i = match v {
                    Value::Int(i) => *i,
                    Value::Float(f) if f.fract() == 0.0 => *f as i64,
                    _ => return None,
                };
                (i.clamp(0, upper - 1) as f64 + 0.5) / *upper as f64
            }
            Domain::Uniform { low, high } | Domain::QUniform { low, high, .. } => {
                unlerp(*low, *high, v.as_f64()?)
            }
            Domain::LogUniform { low, high } | Domain::QLogUniform { low, high, .. } => {
                unlerp(*low, *high, ln(v.as_f64()?))
            }
            Domain::Normal { mu, sigma } | Domain::QNormal { mu, sigma, .. } => {
                inv_normal(v.as_f64()?, *mu, *sigma)
            }
            Domain::LogNormal { mu, sigma } | Domain::QLogNormal { mu, sigma, .. } => {
                inv_normal(ln(v.as_f64()?), *mu, *sigma)
            }
        };
        Some(u.clamp(0.0, 1.0))
    }

    /// Whether `v` is a value this domain can produce.
    pub fn contains(&self, v: &Value) -> bool {
        let is_q_multiple = |x: f64, q: f64| {
            let k = (x / q).round_ties_even();
            (k * q - x).abs() <= 1e-9 * x.abs().max(q)
        };
        let num = v.as_f64();
        match (self, num) {
            (Domain::Choice { options }, _) => options.contains(v),
            (Domain::RandInt { upper }, _) => matches!(v, Value::Int(i) if (0..*upper).contains(i)),
            (_, None) => false,
            (Domain::Uniform { low, high }, Some(x)) => *low <= x && x <= *high,
            (Domain::LogUniform { low, high }, Some(x)) => low.exp() <= x && x <= high.exp(),
            (Domain::QUniform { low, high, q }, Some(x)) => {
                is_q_multiple(x, *q)
                    && q_round(*low, *q) <= x + 1e-9
                    && x <= q_round(*high, *q) + 1e-9
            }
            (Domain::QLogUniform { low, high, q }, Some(x)) => {
                is_q_multiple(x, *q)
                    && q_round(low.exp(), *q) <= x + 1e-9
                    && x <= q_round(high.exp(), *q) + 1e-9
            }
            (Domain::Normal { .. }, Some(x)) => x.is_finite(),
            (Domain::LogNormal { .. }, Some(x)) => x.is_finite() && x > 0.0,
            (Domain::QNormal { q, .. }, Some(x)) => x.is_finite() && is_q_multiple(x, *q),
            (Domain::QLogNormal { q, .. }, Some(x)) => {
                x.is_finite() && x >= 0.0 && is_q_multiple(x, *q)
            }
        }
    }

    /// A one-line human description: `uniform(0.05, 0.1)`, `choice(16, 32, 64)`.
    pub fn describe(&self) -> String {
        // Integral bounds read as written (`4`, not `4.0`).
        let f = |x: f64| super::value::Value::integral_or_float(x).to_string();
        match self {
            Domain::Choice { options } => {
                let opts: Vec<String> = options
                    .iter()
                    .map(|o| match o {
                        Value::Str(s) => format!("{s:?}"),
                        other => other.to_string(),
                    })
                    .collect();
                format!("choice({})", opts.join(", "))
            }
            Domain::RandInt { upper } => format!("randint({upper}) → integers 0..={}", upper - 1),
            Domain::Uniform { low, high } => format!("uniform({}, {})", f(*low), f(*high)),
            Domain::QUniform { low, high, q } => {
                format!("quniform({}, {}, {})", f(*low), f(*high), f(*q))
            }
            Domain::LogUniform { low, high } => format!(
                "loguniform({}, {}) → [{}, {}]",
                f(*low),
                f(*high),
                short(low.exp()),
                short(high.exp())
            ),
            Domain::QLogUniform { low, high, q } => format!(
                "qloguniform({}, {}, {}) → [{}, {}]",
                f(*low),
                f(*high),
                f(*q),
                short(low.exp()),
                short(high.exp())
            ),
            Domain::Normal { mu, sigma } => format!("normal({}, {})", f(*mu), f(*sigma)),
            Domain::QNormal { mu, sigma, q } => {
                format!("qnormal({}, {}, {})", f(*mu), f(*sigma), f(*q))
            }
            Domain::LogNormal { mu, sigma } => format!("lognormal({}, {})", f(*mu), f(*sigma)),
            Domain::QLogNormal { mu, sigma, q } => {
                format!("qlognormal({}, {}, {})", f(*mu), f(*sigma), f(*q))
            }
        }
    }
}

/// Four significant digits, for human summaries only.
fn short(x: f64) -> String {
    format!("{x:.4e}")
        .parse::<f64>()
        .map(super::value::format_float)
        .unwrap_or_default()
}

/// `lo + (hi - lo) * u`, kept within the bounds: at `u = 1` the sum can round past `hi`
/// (`ln 1e-5 + (ln 0.1 - ln 1e-5)` is a hair above `ln 0.1`), and a value the domain
/// produces must be one [`Domain::contains`] accepts, or a reopened sweep would reject it.
fn lerp(lo: f64, hi: f64, u: f64) -> f64 {
    let width = hi - lo;
    let x = if width.is_finite() {
        lo + width * u
    } else {
        // `uniform [-1.7e308, 1.7e308]`: the width overflows, the weighted sum does not.
        lo * (1.0 - u) + hi * u
    };
    x.clamp(lo.min(hi), lo.max(hi))
}

fn q_value(x: f64, q: f64) -> Value {
    Value::integral_or_float(clean(q_round(x, q), q))
}

/// `k * q` in floating point can land a hair off the decimal the user meant (`3 * 0.1`
/// is `0.30000000000000004`); snapping to the shortest decimal at q's own precision keeps
/// command lines readable without changing which multiple was chosen.
fn clean(x: f64, q: f64) -> f64 {
    let digits = decimals_of(q);
    if digits == 0 || digits > 15 {
        return x;
    }
    let s = format!("{x:.digits$}");
    s.parse().unwrap_or(x)
}

/// How many decimals the shortest text of `q` has (`0.25` → 2, `5` → 0).
fn decimals_of(q: f64) -> usize {
    let s = super::value::format_float(q);
    if s.contains('e') {
        return 16;
    }
    s.split_once('.')
        .map_or(0, |(_, d)| d.trim_end_matches('0').len())
}

/// The standard normal CDF, through libm's `erfc` for accuracy in the tails.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// The inverse standard normal CDF (Wichura's AS241, about 1e-16 relative accuracy).
// The coefficients are quoted as published, digits beyond f64 included.
#[allow(clippy::excessive_precision)]
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q
            * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                + 67265.770927008700853)
                * r
                + 45921.953931549871457)
                * r
                + 13731.693765509461125)
                * r
                + 1971.5909503065514427)
                * r
                + 133.14166789178437745)
                * r
                + 3.387132872796366608)
            / (((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                + 39307.89580009271061)
                * r
                + 21213.794301586595867)
                * r
                + 5394.1960214247511077)
                * r
                + 687.1870074920579083)
                * r
                + 42.313330701600911252)
                * r
                + 1.0);
    }
    let mut r = if q < 0.0 { p } else { 1.0 - p };
    r = (-r.ln()).sqrt();
    let val = if r <= 5.0 {
        r -= 1.6;
        (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
            + 0.24178072517745061177)
            * r
            + 1.27045825245236838258)
            * r
            + 3.64784832476320460504)
            * r
            + 5.7694972214606914055)
            * r
            + 4.6303378461565452959)
            * r
            + 1.42343711074968357734)
            / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                + 0.0151986665636164571966)
                * r
                + 0.14810397642748007459)
                * r
                + 0.68976733498510000455)
                * r
                + 1.6763848301838038494)
                * r
                + 2.05319162663775882187)
                * r
                + 1.0)
    } else {
        r -= 5.0;
        (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
            + 0.0012426609473880784386)
            * r
            + 0.026532189526576123093)
            * r
            + 0.29656057182850489123)
            * r
            + 1.7848265399172913358)
            * r
            + 5.4637849111641143699)
            * r
            + 6.6579046435011037772)
            / (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                + 1.8463183175100546818e-5)
                * r
                + 7.868691311456132591e-4)
                * r
                + 0.0148753612908506148525)
                * r
                + 0.13692988092273580531)
                * r
                + 0.59983220655588793769)
                * r
                + 1.0)
    };
    if q < 0.0 {
        -val
    } else {
        val
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expression_says_whether_it_is_on_a_log_scale_and_discrete() {
        let (low, high, q, mu, sigma) = (1.0, 2.0, 0.5, 0.0, 1.0);
        let cases = [
            (Domain::Choice { options: vec![] }, false, true),
            (Domain::RandInt { upper: 3 }, false, true),
            (Domain::Uniform { low, high }, false, false),
            (Domain::QUniform { low, high, q }, false, true),
            (Domain::LogUniform { low, high }, true, false),
            (Domain::QLogUniform { low, high, q }, true, true),
            (Domain::Normal { mu, sigma }, false, false),
            (Domain::QNormal { mu, sigma, q }, false, true),
            (Domain::LogNormal { mu, sigma }, true, false),
            (Domain::QLogNormal { mu, sigma, q }, true, true),
        ];
        assert_eq!(cases.len(), Domain::EXPRESSIONS.len());
        for (d, log, discrete) in cases {
            assert_eq!(
                (d.is_log(), d.is_discrete()),
                (log, discrete),
                "{}",
                d.expression()
            );
        }
    }

    #[test]
    fn values_at_the_ends_of_the_unit_interval_are_contained() {
        let (lo, hi) = (1e-5f64.ln(), 0.1f64.ln());
        for d in [
            Domain::LogUniform { low: lo, high: hi },
            Domain::Uniform { low: lo, high: hi },
            Domain::QLogUniform {
                low: lo,
                high: hi,
                q: 1e-6,
            },
        ] {
            for u in [0.0, 1.0] {
                let v = d.from_unit(u);
                assert!(
                    d.contains(&v),
                    "{} at u = {u} gives {v}, not contained",
                    d.describe()
                );
            }
        }
    }

    #[test]
    fn normal_cdf_inverts() {
        for p in [1e-12, 1e-6, 0.01, 0.2, 0.5, 0.7, 0.99, 1.0 - 1e-9] {
            let z = inverse_normal_cdf(p);
            assert!(
                (normal_cdf(z) - p).abs() < 1e-12 * p.max(1e-3),
                "p={p} z={z}"
            );
        }
        assert!((inverse_normal_cdf(0.975) - 1.959963984540054).abs() < 1e-12);
    }

    #[test]
    fn q_values_are_clean_and_integral() {
        let d = Domain::QUniform {
            low: 0.0,
            high: 1.0,
            q: 0.1,
        };
        assert_eq!(d.from_unit(0.3), Value::Float(0.3));
        let d = Domain::QUniform {
            low: 2.0,
            high: 10.0,
            q: 2.0,
        };
        assert_eq!(d.from_unit(0.26), Value::Int(4));
        assert_eq!(d.grid_values().unwrap().len(), 5);
        assert_eq!(d.grid_len(), Some(5));
    }

    #[test]
    fn loguniform_bounds_are_exponents() {
        let d = Domain::LogUniform {
            low: -3.0,
            high: 0.0,
        };
        let lo = d.from_unit(0.0).as_f64().unwrap();
        assert!((lo - (-3.0f64).exp()).abs() < 1e-15);
        assert!(d.contains(&Value::Float(0.5)));
        assert!(!d.contains(&Value::Float(2.0)));
    }

    #[test]
    fn the_widest_uniform_stays_finite_and_overflowing_domains_are_named() {
        let d = Domain::Uniform {
            low: -f64::MAX,
            high: f64::MAX,
        };
        for u in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let x = d.from_unit(u).as_f64().unwrap();
            assert!(x.is_finite(), "{u} -> {x}");
            assert!(
                (d.to_unit(&Value::Float(x)).unwrap() - u).abs() < 1e-12,
                "{u}"
            );
        }
        assert_eq!(d.overflows(), None);
        let lognormal = Domain::LogNormal {
            mu: 1000.0,
            sigma: 1.0,
        };
        assert!(lognormal.overflows().unwrap().contains("lower mu or sigma"));
        let qnormal = Domain::QNormal {
            mu: 0.0,
            sigma: 1e300,
            q: 1e-300,
        };
        assert!(qnormal.overflows().unwrap().contains("raise `q`"));
        let loguniform = Domain::LogUniform {
            low: 0.0,
            high: 1000.0,
        };
        let why = loguniform.overflows().unwrap();
        assert!(why.contains("would give runs `inf`"), "{why}");
        // Large but finite: fine.
        let q = Domain::QLogUniform {
            low: 0.0,
            high: 40.0,
            q: 1.0,
        };
        assert_eq!(q.overflows(), None);
        // About e^40 multiples of 1 (counted in floats: within one of it).
        let last = 40f64.exp().round_ties_even() as u64;
        assert!(
            q.grid_len().unwrap().abs_diff(last) <= 1,
            "{:?}",
            q.grid_len()
        );
        assert_eq!(q.grid_value(3), Some(Value::Int(4)));
    }

    #[test]
    fn choice_ordinal_cells() {
        let d = Domain::Choice {
            options: vec![Value::Int(1), Value::Str("a".into()), Value::Bool(true)],
        };
        assert_eq!(d.from_unit(0.0), Value::Int(1));
        assert_eq!(d.from_unit(0.5), Value::Str("a".into()));
        assert_eq!(d.from_unit(1.0), Value::Bool(true));
        assert_eq!(d.to_unit(&Value::Bool(true)), Some(2.5 / 3.0));
    }
}
