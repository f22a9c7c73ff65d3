//! Parameter expressions: turning `expression` + arguments (positional in the v1 format,
//! named in v2) into a [`Domain`], with a located error for every bad argument.

use super::diag::{did_you_mean, Sink};
use super::fields::describe;
use super::yaml::{Node, Scalar, Span};
use crate::space::{Domain, Value};

/// The expressions, as HyperDrive names them.
pub const EXPRESSIONS: [&str; 10] = Domain::EXPRESSIONS;

/// The positional arguments of each expression (the v1 `values` list).
pub fn positional(expr: &str) -> &'static [&'static str] {
    match expr {
        "randint" => &["upper"],
        "uniform" | "loguniform" => &["min", "max"],
        "quniform" | "qloguniform" => &["min", "max", "q"],
        "normal" | "lognormal" => &["mu", "sigma"],
        "qnormal" | "qlognormal" => &["mu", "sigma", "q"],
        _ => &[],
    }
}

/// Resolves an expression name case-insensitively; reports unknown ones with a suggestion.
pub fn expression_name(sink: &mut Sink, name: &str, span: Span) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(e) = EXPRESSIONS.iter().find(|e| **e == lower) {
        return Some(e);
    }
    let hint = match did_you_mean(name, &EXPRESSIONS) {
        Some(e) => format!("did you mean `{e}`?"),
        None => format!("expressions: {}", EXPRESSIONS.join(", ")),
    };
    sink.error(span, format!("unknown expression `{name}`"), Some(hint));
    None
}

/// A choice option from a scalar node: numbers, strings and booleans; null is an error.
pub fn choice_value(sink: &mut Sink, node: &Node, param: &str) -> Option<Value> {
    match node.scalar() {
        Some(Scalar::Int(i)) => Some(Value::Int(*i)),
        Some(Scalar::Float(f)) if f.is_finite() => Some(Value::Float(*f)),
        Some(Scalar::Bool(b)) => Some(Value::Bool(*b)),
        Some(Scalar::Str(s)) => {
            let what = format!("choice option of `{param}`");
            passable(sink, node.span, &what, s).then(|| Value::Str(s.clone()))
        }
        Some(Scalar::Float(_)) => {
            sink.error(
                node.span,
                format!("choice option of `{param}` is not a finite number"),
                None,
            );
            None
        }
        Some(Scalar::Null) => {
            sink.error(
                node.span,
                format!("choice option of `{param}` is empty (null)"),
                Some("write the value, or quote it (\"null\") if you mean the text".into()),
            );
            None
        }
        None => {
            sink.wrong_type(
                node,
                format!("choice options of `{param}` must be numbers, strings or booleans"),
                None,
            );
            None
        }
    }
}

/// The most bytes one command-line argument can hold (Linux's `MAX_ARG_STRLEN`).
pub const MAX_ARGUMENT_BYTES: usize = 128 * 1024;

/// Whether `text` can be passed to a run as one command-line argument (no NUL byte, within
/// [`MAX_ARGUMENT_BYTES`]); reports `what` at `span` if not. Checked here because the
/// launch would fail otherwise, for every run that draws it.
pub fn passable(sink: &mut Sink, span: Span, what: &str, text: &str) -> bool {
    if text.contains('\0') {
        sink.error(
            span,
            format!("{what} contains a NUL character, which no command-line argument can carry"),
            Some("remove the `\\0`".into()),
        );
        false
    } else if text.len() > MAX_ARGUMENT_BYTES {
        sink.error(
            span,
            format!(
                "{what} is {} bytes long; one command-line argument holds at most {MAX_ARGUMENT_BYTES}",
                text.len()
            ),
            Some("shorten it, or pass a file name instead".into()),
        );
        false
    } else {
        true
    }
}

/// Checks the options of a choice (non-empty; duplicates warned).
pub fn finish_choice(
    sink: &mut Sink,
    param: &str,
    options: Vec<(Value, Span)>,
    list_span: Span,
) -> Option<Domain> {
    if options.is_empty() {
        sink.error(
            list_span,
            format!("`choice` for `{param}` has no options"),
            Some("list at least one value".into()),
        );
        return None;
    }
    for (i, (v, span)) in options.iter().enumerate() {
        if options[..i].iter().any(|(w, _)| w == v) {
            sink.warn(
                *span,
                format!("`{param}` lists the option `{v}` twice"),
                Some("it is drawn twice as often".into()),
            );
        }
    }
    Some(Domain::Choice {
        options: options.into_iter().map(|(v, _)| v).collect(),
    })
}

/// Builds a numeric domain from named arguments (already arity-checked). `args[i]` is the
/// node of `positional(expr)[i]`.
pub fn numeric(sink: &mut Sink, param: &str, expr: &'static str, args: &[&Node]) -> Option<Domain> {
    let names = positional(expr);
    debug_assert_eq!(names.len(), args.len());
    let mut nums = Vec::with_capacity(args.len());
    let mut ok = true;
    for (name, node) in names.iter().zip(args) {
        match node.as_f64() {
            Some(x) if x.is_finite() => nums.push(x),
            Some(_) => {
                sink.error(
                    node.span,
                    format!("`{name}` of `{param}` must be finite"),
                    None,
                );
                ok = false;
            }
            None => {
                sink.error(
                    node.span,
                    format!(
                        "`{name}` of `{param}` ({expr}) should be a number, found {}",
                        describe(node)
                    ),
                    None,
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let q_ok = |sink: &mut Sink, i: usize| {
        if nums[i] <= 0.0 {
            sink.error(
                args[i].span,
                format!(
                    "`q` of `{param}` must be greater than 0, got {}",
                    args[i].raw().unwrap_or("?")
                ),
                Some("q is the step values are rounded to, e.g. 1 for integers".into()),
            );
            false
        } else {
            true
        }
    };
    let bounds_ok = |sink: &mut Sink| {
        if nums[0] >= nums[1] {
            sink.error(
                args[0].span,
                format!(
                    "`{param}` ({expr}) needs min < max, got min {} and max {}",
                    args[0].raw().unwrap_or("?"),
                    args[1].raw().unwrap_or("?")
                ),
                Some(if nums[0] > nums[1] {
                    "swap the two bounds".into()
                } else {
                    "for a fixed value use `choice` with one option".into()
                }),
            );
            false
        } else {
            true
        }
    };
    let sigma_ok = |sink: &mut Sink| {
        if nums[1] < 0.0 {
            sink.error(
                args[1].span,
                format!(
                    "`sigma` of `{param}` must not be negative, got {}",
                    args[1].raw().unwrap_or("?")
                ),
                Some("sigma is a standard deviation".into()),
            );
            false
        } else {
            true
        }
    };
    let (lo, hi) = (nums[0], nums.get(1).copied().unwrap_or(0.0));
    let domain = match expr {
        "randint" => {
            let node = args[0];
            match node.as_i64() {
                Some(u) if u > 0 && node.as_f64() == Some(u as f64) => Domain::RandInt { upper: u },
                Some(u) if u <= 0 => {
                    sink.error(
                        node.span,
                        format!("`upper` of `{param}` (randint) must be at least 1, got {u}"),
                        Some("randint(upper) draws integers in [0, upper)".into()),
                    );
                    return None;
                }
                _ => {
                    sink.error(
                        node.span,
                        format!("`upper` of `{param}` (randint) must be a whole number, got {}", node.raw().unwrap_or("?")),
                        Some("randint(upper) draws integers in [0, upper); for a float range use quniform".into()),
                    );
                    return None;
                }
            }
        }
        _ => {
            // The uniform family has bounds, the normal one a mean and a deviation; the
            // q-variants add the rounding step.
            let pair = if expr.contains("uniform") {
                bounds_ok(sink)
            } else {
                sigma_ok(sink)
            };
            let q_valid = !expr.starts_with('q') || q_ok(sink, 2);
            if !(pair && q_valid) {
                return None;
            }
            let q = nums.get(2).copied().unwrap_or(0.0);
            match expr {
                "uniform" => Domain::Uniform { low: lo, high: hi },
                "quniform" => Domain::QUniform {
                    low: lo,
                    high: hi,
                    q,
                },
                "loguniform" => Domain::LogUniform { low: lo, high: hi },
                "qloguniform" => Domain::QLogUniform {
                    low: lo,
                    high: hi,
                    q,
                },
                "normal" => Domain::Normal { mu: lo, sigma: hi },
                "qnormal" => Domain::QNormal {
                    mu: lo,
                    sigma: hi,
                    q,
                },
                "lognormal" => Domain::LogNormal { mu: lo, sigma: hi },
                _ => Domain::QLogNormal {
                    mu: lo,
                    sigma: hi,
                    q,
                },
            }
        }
    };
    if let Some(why) = domain.overflows() {
        // Point at the argument to change.
        let at = match expr {
            "loguniform" | "qloguniform" => 1,
            "lognormal" | "qlognormal" => 0,
            "quniform" | "qnormal" => 2,
            _ => 1,
        };
        sink.error(
            args[at].span,
            format!("`{param}` ({expr}) can produce values that are not finite"),
            Some(why),
        );
        return None;
    }
    if matches!(expr, "loguniform" | "qloguniform") {
        warn_log_bounds(sink, param, expr, lo, hi, args[0].span);
    }
    Some(domain)
}

/// loguniform's bounds are exponents; `[0.0001, 0.1]` is a common slip for `[ln 1e-4, ln 0.1]`.
fn warn_log_bounds(sink: &mut Sink, param: &str, expr: &str, lo: f64, hi: f64, span: Span) {
    if hi > 30.0 {
        sink.warn(
            span,
            format!(
                "`{param}` ({expr}) samples up to exp({hi}) ≈ {:.3e}",
                hi.exp()
            ),
            Some("the bounds of loguniform are exponents (natural log of the values)".into()),
        );
    } else if lo > 0.0 && hi <= 1.0 {
        sink.warn(
            span,
            format!(
                "`{param}` ({expr}) samples exp({lo})..exp({hi}) ≈ {:.4}..{:.4}; the bounds are exponents",
                lo.exp(),
                hi.exp()
            ),
            Some(format!(
                "for values between {lo} and {hi} write [{:.4}, {:.4}] (their natural logs)",
                lo.ln(),
                hi.ln()
            )),
        );
    }
}
