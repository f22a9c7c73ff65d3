//! The JSON object of an `@sweep` line and of a metrics-file line:
//! `{"metric": NAME, "value": NUMBER, "step": INTEGER}`, unknown keys ignored, with the
//! non-standard `NaN`/`Infinity` tokens Python's `json.dumps` writes.

use super::number::parse_number_text;
use super::{Found, Logged};
use std::borrow::Cow;

/// What one JSON object of the protocol is.
#[derive(Debug)]
pub(super) enum Object {
    /// A report.
    Report(Found<'static>),
    /// Something a script recorded beside its reports (a parameter, a tag, a value logged
    /// to another run).
    Logged(Logged),
}

/// Parses the JSON object of one report; the error says why it is not one. The objects
/// sweep's Python integrations write besides reports are nothing here.
pub(super) fn parse_object(text: &str) -> Result<Option<Found<'static>>, String> {
    Ok(match parse_record(text)? {
        Object::Report(f) => Some(f),
        Object::Logged(_) => None,
    })
}

/// A JSON value of a parameter or tag as its text: strings as they are, anything else as
/// JSON.
fn text_of(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Parses one JSON object of the protocol: a report, or what sweep's `azureml.core.Run`
/// and MLflow store write besides reports (see docs/metrics.md): a value logged to another
/// run, a parameter or a tag the script recorded.
pub(super) fn parse_record(text: &str) -> Result<Object, String> {
    if text.is_empty() {
        return Err("no JSON object after @sweep".into());
    }
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(text).or_else(|e| {
        // Python's bare non-finite tokens, and numbers past the float range (`1e309`, which
        // serde_json refuses): as strings, the value is read as `name=1e309` reads it, ±inf.
        let quoted = quote_overflowing(&quote_nonfinite(text));
        serde_json::from_str(&quoted).map_err(|_| e)
    });
    let mut obj = match parsed {
        Ok(serde_json::Value::Object(o)) => o,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("invalid JSON: {e}")),
    };
    if let Some(run) = obj.remove("other_run") {
        let metric = match obj.remove("metric") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            _ => {
                return Err("\"metric\" of an \"other_run\" value is not a non-empty string".into())
            }
        };
        return Ok(Object::Logged(Logged::OtherRun {
            run: text_of(run),
            metric,
        }));
    }
    if !obj.contains_key("metric") {
        for (field, param) in [("param", true), ("tag", false)] {
            let Some(key) = obj.remove(field) else {
                continue;
            };
            let key = match key {
                serde_json::Value::String(s) if !s.is_empty() => s,
                _ => return Err(format!("\"{field}\" is not a non-empty string")),
            };
            let value = match obj.remove("value") {
                Some(serde_json::Value::Null) | None => {
                    return Err(format!("no \"value\" for {field} {key:?}"))
                }
                Some(v) => text_of(v),
            };
            return Ok(Object::Logged(if param {
                Logged::Param { key, value }
            } else {
                Logged::Tag { key, value }
            }));
        }
    }
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
            Some(s) if s >= 0 => Some(s),
            Some(s) => return Err(format!("\"step\" {s} is negative")),
            None => return Err("\"step\" is not an integer".into()),
        },
        Some(_) => return Err("\"step\" is not an integer".into()),
    };
    Ok(Object::Report(Found {
        name: Cow::Owned(name),
        value,
        step,
    }))
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

/// Quotes the number tokens outside string literals whose value is beyond the float range.
fn quote_overflowing(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let (mut in_str, mut escaped) = (false, false);
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_str {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        if c == '-' || c.is_ascii_digit() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            let token = &s[i..end];
            if token.parse::<f64>().is_ok_and(f64::is_infinite) {
                out.push('"');
                out.push_str(token);
                out.push('"');
            } else {
                out.push_str(token);
            }
            continue;
        }
        in_str = c == '"';
        out.push(c);
    }
    out
}
