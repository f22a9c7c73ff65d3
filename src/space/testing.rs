//! Search spaces for unit tests: one standard mixed space that exercises every kind of
//! coordinate a sampler handles, a small finite one, and shorthands for parameters, so
//! that the space's and the samplers' tests share them instead of each spelling them out.

use super::{Domain, Param, SearchSpace, Value};

/// An unconditional parameter.
pub(crate) fn param(name: &str, domain: Domain) -> Param {
    Param {
        name: name.into(),
        domain,
        condition: None,
    }
}

/// A parameter that exists only when the `choice` parameter at index `parent` took its
/// option number `option`.
pub(crate) fn conditional(name: &str, domain: Domain, parent: usize, option: usize) -> Param {
    Param {
        condition: Some((parent, option)),
        ..param(name, domain)
    }
}

/// An unconditional `uniform(low, high)` parameter.
pub(crate) fn uniform(name: &str, low: f64, high: f64) -> Param {
    param(name, Domain::Uniform { low, high })
}

/// An unconditional `choice` parameter over `options`.
pub(crate) fn choice(name: &str, options: impl IntoIterator<Item = Value>) -> Param {
    param(
        name,
        Domain::Choice {
            options: options.into_iter().collect(),
        },
    )
}

/// String options for [`choice`].
pub(crate) fn strs(options: &[&str]) -> Vec<Value> {
    options.iter().map(|s| Value::Str(s.to_string())).collect()
}

/// Integer options for [`choice`].
pub(crate) fn ints(options: &[i64]) -> Vec<Value> {
    options.iter().map(|&i| Value::Int(i)).collect()
}

/// The standard mixed space: a log-scale learning rate `lr`, a string choice `opt`
/// (`sgd`, `adam`), a momentum `mom` that exists only under `sgd`, an integer-valued
/// `layers` (1 to 8), an unbounded normal `w` and a quantized log-scale batch size `bs`.
pub(crate) fn mixed() -> SearchSpace {
    SearchSpace::new(vec![
        param(
            "lr",
            Domain::LogUniform {
                low: -9.0,
                high: -1.0,
            },
        ),
        choice("opt", strs(&["sgd", "adam"])),
        conditional(
            "mom",
            Domain::Uniform {
                low: 0.5,
                high: 0.99,
            },
            1,
            0,
        ),
        param(
            "layers",
            Domain::QUniform {
                low: 1.0,
                high: 8.0,
                q: 1.0,
            },
        ),
        param(
            "w",
            Domain::Normal {
                mu: 0.0,
                sigma: 1.0,
            },
        ),
        param(
            "bs",
            Domain::QLogUniform {
                low: 2.0,
                high: 6.0,
                q: 8.0,
            },
        ),
    ])
}

/// A finite space of 30 points: `a` in `randint(3)`, `b` in 0 to 1 by 0.25, `c` a boolean.
pub(crate) fn discrete() -> SearchSpace {
    SearchSpace::new(vec![
        param("a", Domain::RandInt { upper: 3 }),
        param(
            "b",
            Domain::QUniform {
                low: 0.0,
                high: 1.0,
                q: 0.25,
            },
        ),
        choice("c", [Value::Bool(true), Value::Bool(false)]),
    ])
}
