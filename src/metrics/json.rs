//! The JSON object of an `@sweep` line and of a metrics-file line:
//! `{"metric": NAME, "value": NUMBER, "step": INTEGER}`, unknown keys ignored, with the
//! non-standard `NaN`/`Infinity` tokens Python's `json.dumps` writes.

use super::number::parse_number_text;
use super::Found;
use std::borrow::Cow;

/// Parses the JSON object of one report; the error says why it is not one.
pub(super) fn parse_object(text: &str) -> Result<Found<'static>, String> {
    if text.is_empty() {
        return Err("no JSON object after @sweep".into());
    }
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(text).or_else(|e| {
        if text.contains("NaN") || text.contains("Infinity") {
            serde_json::from_str(&quote_nonfinite(text))
        } else {
            Err(e)
        }
    });
    let mut obj = match parsed {
        Ok(serde_json::Value::Object(o)) => o,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("invalid JSON: {e}")),
    };
    let name = match obj.remove("metric") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(_) => return Err("\"metric\" is not a non-empty string".into()),
        None => return Err("no \"metric\" key".into()),
    };
    let value = match obj.get("value") {
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(v) => v,
            None => return Err("\"value\" is not a number".into()),
        },
        Some(serde_json::Value::String(s)) => match parse_number_text(s.trim()) {
            Some(v) => v,
            None => return Err(format!("\"value\" {s:?} is not a number")),
        },
        Some(_) => return Err("\"value\" is not a number".into()),
        None => return Err("no \"value\" key".into()),
    };
    let step = match obj.get("step") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(s) => Some(s),
            None => return Err("\"step\" is not an integer".into()),
        },
        Some(_) => return Err("\"step\" is not an integer".into()),
    };
    Ok(Found {
        name: Cow::Owned(name),
        value,
        step,
    })
}

/// Replaces bare `NaN`, `Infinity` and `-Infinity` tokens outside string literals by
/// strings, so that Python's non-standard JSON parses.
fn quote_nonfinite(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut in_str = false;
    let mut escaped = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if !in_str {
            let token = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|t| rest.starts_with(t));
            if let Some(t) = token {
                out.push('"');
                out.push_str(t);
                out.push('"');
                rest = &rest[t.len()..];
                continue;
            }
            in_str = c == '"';
        } else if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_str = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
