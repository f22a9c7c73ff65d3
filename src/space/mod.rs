//! The search space: named parameters over [`Domain`]s, possibly conditional on a parent
//! `choice` (the v2 format's nested spaces), with the unit-cube map every sampler works
//! through and the deterministic grid enumeration.
//!
//! Every sampler proposes points in `[0, 1]^d`, one coordinate per parameter (active or
//! not), and [`SearchSpace::from_unit`] turns a point into concrete [`Params`]. This keeps
//! the distribution semantics in one place: random sampling of a uniform point gives exactly
//! each expression's documented distribution.

mod domain;
#[cfg(test)]
pub(crate) mod testing;
mod value;

pub use domain::{inverse_normal_cdf, normal_cdf, q_round, Domain};
pub use value::{format_float, Value};

/// How many points a grid over a space has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GridSize {
    /// Exactly this many (less than `u64::MAX`).
    Points(u64),
    /// `u64::MAX` or more: more than any budget reaches, and too many to count.
    TooLarge,
}

impl GridSize {
    /// The count, with [`GridSize::TooLarge`] as `u64::MAX`: where the grid ends for a
    /// walk that counts its position in a `u64`.
    pub fn points_saturating(self) -> u64 {
        match self {
            GridSize::Points(n) => n,
            GridSize::TooLarge => u64::MAX,
        }
    }

    /// The count if it is small enough to count.
    pub fn points(self) -> Option<u64> {
        match self {
            GridSize::Points(n) => Some(n),
            GridSize::TooLarge => None,
        }
    }
}

impl std::fmt::Display for GridSize {
    /// `24`, or `too large to count (2^64 points or more)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GridSize::Points(n) => write!(f, "{n}"),
            GridSize::TooLarge => f.write_str("too large to count (2^64 points or more)"),
        }
    }
}

/// A parameter of the space.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Param {
    /// The name as written in the config (`--lr`, `lr`, or `model.lr` inside a nested choice).
    pub name: String,
    /// Its domain.
    pub domain: Domain,
    /// `Some((parent, option))`: the parameter exists only when the `choice` parameter at
    /// index `parent` took its option number `option`.
    pub condition: Option<(usize, usize)>,
}

impl Param {
    /// An unconditional parameter.
    pub fn new(name: impl Into<String>, domain: Domain) -> Param {
        Param {
            name: name.into(),
            domain,
            condition: None,
        }
    }

    /// The same parameter, active only when the `choice` parameter at index `parent` took
    /// its option number `option`.
    pub fn when(self, parent: usize, option: usize) -> Param {
        Param {
            condition: Some((parent, option)),
            ..self
        }
    }
}

/// Concrete parameter values of one candidate, in parameter-space order, active ones only.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Params(pub Vec<(String, Value)>);

impl Params {
    /// The value of parameter `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Iterates over `(name, value)` pairs in parameter-space order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The JSON object form (`SWEEP_PARAMS`), keys in parameter-space order.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (n, v) in &self.0 {
            m.insert(n.clone(), v.to_json());
        }
        serde_json::Value::Object(m)
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An ordered set of parameters.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SearchSpace {
    params: Vec<Param>,
}

impl SearchSpace {
    /// Builds a space. Conditions must point at an earlier `choice` parameter and one of its
    /// options (violations are programming errors: the config validator reports problems
    /// with locations). Names are unique among parameters that can be active together; a
    /// nested space may reuse a name under different options of one choice.
    pub fn new(params: Vec<Param>) -> SearchSpace {
        for (i, p) in params.iter().enumerate() {
            if let Some((parent, opt)) = p.condition {
                assert!(parent < i, "condition must point at an earlier parameter");
                match &params[parent].domain {
                    Domain::Choice { options } => assert!(opt < options.len()),
                    _ => panic!("condition must point at a choice parameter"),
                }
            }
        }
        SearchSpace { params }
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The dimension of the unit cube: one coordinate per parameter.
    pub fn dim(&self) -> usize {
        self.params.len()
    }

    /// Whether some parameter is conditional.
    pub fn is_conditional(&self) -> bool {
        self.params.iter().any(|p| p.condition.is_some())
    }

    /// Walks the parameters in order, asking `value_of` for the value of each active one,
    /// and returns the active ones with their values. A parameter is active when it has no
    /// condition, or its parent choice is active and took the option it depends on; walking
    /// in order resolves nested conditions, and a name reused under several options (`lr` in
    /// two branches) is only asked for under the active branch.
    fn walk(
        &self,
        mut value_of: impl FnMut(usize, &Param) -> Option<Value>,
    ) -> Vec<(usize, Value)> {
        let mut chosen: Vec<Option<usize>> = vec![None; self.params.len()];
        let mut active = vec![false; self.params.len()];
        let mut out = Vec::with_capacity(self.params.len());
        for (i, p) in self.params.iter().enumerate() {
            active[i] = match p.condition {
                None => true,
                Some((parent, opt)) => active[parent] && chosen[parent] == Some(opt),
            };
            if !active[i] {
                continue;
            }
            if let Some(v) = value_of(i, p) {
                if let Domain::Choice { options } = &p.domain {
                    chosen[i] = options.iter().position(|o| *o == v);
                }
                out.push((i, v));
            }
        }
        out
    }

    /// Decodes a point of the unit cube (length [`SearchSpace::dim`]) into parameters.
    /// Coordinates of inactive parameters are ignored.
    pub fn from_unit(&self, u: &[f64]) -> Params {
        assert_eq!(
            u.len(),
            self.params.len(),
            "unit point has the wrong dimension"
        );
        Params(
            self.walk(|i, p| Some(p.domain.from_unit(u[i])))
                .into_iter()
                .map(|(i, v)| (self.params[i].name.clone(), v))
                .collect(),
        )
    }

    /// Encodes parameters into the unit cube; inactive or missing parameters get 0.5.
    /// `None` if a present value does not fit its parameter's domain kind.
    pub fn to_unit(&self, params: &Params) -> Option<Vec<f64>> {
        let mut u = vec![0.5; self.params.len()];
        for (i, v) in self.walk(|_, p| params.get(&p.name).cloned()) {
            u[i] = self.params[i].domain.to_unit(&v)?;
        }
        Some(u)
    }

    /// Whether every parameter of `params` exists, is active and lies in its domain, and
    /// every active parameter is present.
    pub fn contains(&self, params: &Params) -> bool {
        let mut all_present = true;
        let active = self.walk(|_, p| {
            let v = params.get(&p.name).cloned();
            all_present &= v.is_some();
            v
        });
        all_present
            && active.len() == params.len()
            && active
                .iter()
                .all(|(i, v)| self.params[*i].domain.contains(v))
    }

    /// The parameters that a grid cannot enumerate (continuous, or unbounded q-expressions).
    pub fn non_gridable(&self) -> Vec<&Param> {
        self.params
            .iter()
            .filter(|p| p.domain.grid_len().is_none())
            .collect()
    }

    /// The number of grid points, `None` if some parameter cannot be enumerated.
    pub fn grid_size(&self) -> Option<GridSize> {
        if !self.non_gridable().is_empty() {
            return None;
        }
        // The saturating count reaches u64::MAX only past what a u64 counts.
        Some(match self.block_size(&self.roots()) {
            u64::MAX => GridSize::TooLarge,
            n => GridSize::Points(n),
        })
    }

    /// The grid point at `index`, `None` past the end (or if the space cannot be
    /// enumerated). Each parameter's value is computed from the index alone, so a point of
    /// a grid of any size costs the same.
    ///
    /// Order: the Cartesian product with the last parameter varying fastest, options in the
    /// order written (what Python's `itertools.product` gives). A conditional parameter's
    /// values vary fastest within the option that enables it.
    pub fn grid_point(&self, index: u64) -> Option<Params> {
        if index >= self.grid_size()?.points_saturating() {
            return None;
        }
        let mut picks: Vec<Option<Value>> = vec![None; self.params.len()];
        self.decode_block(&self.roots(), index, &mut picks);
        Some(Params(
            self.params
                .iter()
                .zip(picks)
                .filter_map(|(p, v)| v.map(|v| (p.name.clone(), v)))
                .collect(),
        ))
    }

    fn roots(&self) -> Vec<usize> {
        (0..self.params.len())
            .filter(|&i| self.params[i].condition.is_none())
            .collect()
    }

    fn children(&self, parent: usize, option: usize) -> Vec<usize> {
        (0..self.params.len())
            .filter(|&i| self.params[i].condition == Some((parent, option)))
            .collect()
    }

    /// Grid points contributed by one parameter, counting its conditional children.
    fn param_size(&self, i: usize) -> u64 {
        match &self.params[i].domain {
            Domain::Choice { options } => (0..options.len())
                .map(|o| self.block_size(&self.children(i, o)))
                .fold(0u64, u64::saturating_add),
            d => d.grid_len().unwrap_or(0),
        }
    }

    fn block_size(&self, block: &[usize]) -> u64 {
        block
            .iter()
            .map(|&i| self.param_size(i))
            .fold(1u64, u64::saturating_mul)
    }

    fn decode_block(&self, block: &[usize], mut index: u64, picks: &mut [Option<Value>]) {
        // Mixed radix with the last parameter least significant.
        for &i in block.iter().rev() {
            let radix = self.param_size(i);
            self.decode_param(i, index % radix, picks);
            index /= radix;
        }
    }

    fn decode_param(&self, i: usize, mut index: u64, picks: &mut [Option<Value>]) {
        match &self.params[i].domain {
            Domain::Choice { options } => {
                for (o, opt) in options.iter().enumerate() {
                    let kids = self.children(i, o);
                    let n = self.block_size(&kids);
                    if index < n {
                        picks[i] = Some(opt.clone());
                        self.decode_block(&kids, index, picks);
                        return;
                    }
                    index -= n;
                }
            }
            d => picks[i] = d.grid_value(index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{choice, conditional, ints, param};
    use super::*;

    fn flat() -> SearchSpace {
        SearchSpace::new(vec![
            choice("a", ints(&[1, 2])),
            param("b", Domain::RandInt { upper: 3 }),
        ])
    }

    #[test]
    fn grid_order_last_fastest() {
        let s = flat();
        assert_eq!(s.grid_size(), Some(GridSize::Points(6)));
        let pts: Vec<String> = (0..6)
            .map(|i| {
                let p = s.grid_point(i).unwrap();
                format!("{}{}", p.get("a").unwrap(), p.get("b").unwrap())
            })
            .collect();
        assert_eq!(pts, ["10", "11", "12", "20", "21", "22"]);
        assert!(s.grid_point(6).is_none());
    }

    #[test]
    fn huge_grids_are_decoded_point_by_point_and_too_large_is_said() {
        // 2^63-1 values in one parameter: the old enumeration allocated them all.
        let s = SearchSpace::new(vec![param("n", Domain::RandInt { upper: i64::MAX })]);
        assert_eq!(s.grid_size(), Some(GridSize::Points(i64::MAX as u64)));
        let last = s.grid_point(i64::MAX as u64 - 1).unwrap();
        assert_eq!(last.get("n"), Some(&Value::Int(i64::MAX - 1)));
        let q = Domain::QUniform {
            low: 0.0,
            high: 1e18,
            q: 1.0,
        };
        let s = SearchSpace::new(vec![param("q", q.clone()), param("r", q)]);
        assert_eq!(s.grid_size(), Some(GridSize::TooLarge));
        assert_eq!(
            s.grid_size().unwrap().to_string(),
            "too large to count (2^64 points or more)"
        );
        let p = s.grid_point(3).unwrap();
        assert_eq!(
            (p.get("q"), p.get("r")),
            (Some(&Value::Int(0)), Some(&Value::Int(3)))
        );
    }

    #[test]
    fn conditional_grid_and_decode() {
        let s = SearchSpace::new(vec![
            choice("model", ints(&[0, 1])),
            conditional(
                "model.c",
                Domain::Choice {
                    options: ints(&[10, 20, 30]),
                },
                0,
                0,
            ),
            conditional("model.depth", Domain::RandInt { upper: 2 }, 0, 1),
        ]);
        assert_eq!(s.grid_size(), Some(GridSize::Points(5)));
        let p = s.grid_point(4).unwrap();
        assert_eq!(p.get("model"), Some(&Value::Int(1)));
        assert_eq!(p.get("model.depth"), Some(&Value::Int(1)));
        assert!(p.get("model.c").is_none());
        assert!(s.contains(&p));
        let q = s.from_unit(&[0.1, 0.9, 0.9]);
        assert_eq!(q.len(), 2);
        assert!(s.contains(&q));
    }
}
