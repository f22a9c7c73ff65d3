//! Parameter values and their one true text form (docs/run-protocol.md): what a run sees on its
//! command line, in `SWEEP_PARAMS` and in `${{search_space.x}}` substitutions.

use std::fmt;

/// One parameter value: what a sampler proposes and a run receives.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// An integer: `randint` results, integral q-expression results, integer `choice` options.
    Int(i64),
    /// A float, written in shortest round-trip form.
    Float(f64),
    /// A string `choice` option (YAML `yes`/`no` stay strings).
    Str(String),
    /// A boolean `choice` option.
    Bool(bool),
}

impl Value {
    /// The value as a number, if it is one (booleans and strings are not).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// A float that is integral (and exactly representable) becomes an `Int`; q-expressions
    /// use this so that `4` is written rather than `4.0`.
    pub fn integral_or_float(x: f64) -> Value {
        // 2^53: beyond it every float is integral but no longer exact as an i64 round trip
        // of the user's intent, so keep it a float.
        if x.is_finite() && x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
            // `-0.0` becomes `0`, which is what a user means.
            Value::Int(x as i64)
        } else {
            Value::Float(x)
        }
    }

    /// The JSON form used in `SWEEP_PARAMS`, exports and the store.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                // NaN and infinities have no JSON number; keep their text so nothing is lost.
                .unwrap_or_else(|| serde_json::Value::String(format_float(*f))),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Bool(b) => serde_json::Value::Bool(*b),
        }
    }

    /// Reads back a value written by [`Value::to_json`].
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        match v {
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .or_else(|| n.as_f64().map(Value::Float)),
            serde_json::Value::String(s) => Some(Value::Str(s.clone())),
            _ => None,
        }
    }

    /// A short name of the value's type, for diagnostics.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bool(_) => "boolean",
        }
    }
}

/// Shortest round-trip text of a float: `0.001`, `1e-10`, `2.5`, `4.0`, `nan`, `inf`.
///
/// Rust's `Debug` form is the shortest string that parses back to the same bits, and it
/// switches to exponent form for very small and very large magnitudes, which Python's
/// `float()` and every argparse reads.
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        "nan".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{x:?}")
    }
}

impl fmt::Display for Value {
    /// The command-line form: integers as integers, floats shortest round-trip, booleans as
    /// Python spells them (`True`/`False`, what HyperDrive passes), strings verbatim.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Str(s) => f.write_str(s),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_per_design() {
        assert_eq!(Value::Int(4).to_string(), "4");
        assert_eq!(Value::integral_or_float(4.0).to_string(), "4");
        assert_eq!(Value::integral_or_float(-0.0).to_string(), "0");
        assert_eq!(Value::Float(0.1).to_string(), "0.1");
        assert_eq!(Value::Float(1e-10).to_string(), "1e-10");
        assert_eq!(Value::Float(2.5).to_string(), "2.5");
        assert_eq!(Value::Bool(true).to_string(), "True");
        assert_eq!(Value::Str("yes".into()).to_string(), "yes");
        for x in [0.1, 1.0 / 3.0, 1e-300, 123456.789, -2.0e20] {
            assert_eq!(format_float(x).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn json_round_trip() {
        for v in [
            Value::Int(-3),
            Value::Float(0.25),
            Value::Str("adam".into()),
            Value::Bool(false),
        ] {
            assert_eq!(Value::from_json(&v.to_json()), Some(v));
        }
    }
}
