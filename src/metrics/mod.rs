//! The metric protocol (docs/metrics.md): parsing `@sweep {json}` lines, plain `name=value`
//! lines for the primary metric and `$SWEEP_METRICS_FILE` JSON lines, with a line splitter
//! whose memory is bounded whatever a run prints.
//!
//! Protocol version 1:
//! - `@sweep {"metric":"accuracy","value":0.93,"step":3}` on stdout or stderr (leading
//!   whitespace allowed; unknown keys ignored; `step` optional, a non-negative integer).
//!   `value` is a JSON number, or one of the strings/bare tokens `NaN`, `Infinity`,
//!   `-Infinity`, `inf`, `-inf`, `nan` (Python's `json.dumps` writes the bare tokens).
//! - `accuracy=0.93` (also `accuracy: 0.93`) on a line of its own, for the primary metric
//!   only.
//! - The metrics file holds the same JSON objects, one per line, without the `@sweep` prefix.
//!   `{"param": NAME, "value": TEXT}`, `{"tag": NAME, "value": TEXT}` and objects with an
//!   `"other_run"` key (what sweep's `azureml.core.Run` and MLflow store write besides
//!   reports) are not reports.
//! - The real azureml-core's offline echo, two output lines per value ([`azureml`]).

use std::io::Read;

pub mod azureml;
pub mod missing;

/// The longest line kept, in bytes; the rest of a longer line is skipped (not buffered).
pub const MAX_LINE: usize = 64 * 1024;

/// The prefix that marks a metric line on stdout/stderr.
pub const PREFIX: &str = "@sweep";

/// One metric report from a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The metric's name.
    pub name: String,
    /// The value (NaN and infinities are kept: recorded, never best).
    pub value: f64,
    /// The step the run attached, if any.
    pub step: Option<i64>,
}

/// What one line of output means to the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// Not a metric line (ordinary output).
    Plain,
    /// A metric report.
    Metric(Report),
    /// A line that claims to be a metric but is not valid; the text says why.
    Malformed(String),
}

/// Parses one line of stdout/stderr (without its newline).
pub fn parse_output_line(line: &[u8], primary: &str) -> Line {
    let s = match std::str::from_utf8(line) {
        Ok(s) => s,
        // Binary noise is ordinary output unless it claims to be a metric line.
        Err(_) => {
            let trimmed = trim_ascii_start(line);
            return if trimmed.starts_with(PREFIX.as_bytes()) {
                Line::Malformed("not valid UTF-8".into())
            } else {
                Line::Plain
            };
        }
    };
    let t = s.trim();
    if let Some(rest) = t.strip_prefix(PREFIX) {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return parse_json_report(rest.trim());
        }
        return Line::Plain;
    }
    parse_plain(t, primary)
}

/// Parses one line of `$SWEEP_METRICS_FILE`; blank lines are ignored.
pub fn parse_file_line(line: &[u8]) -> Line {
    match std::str::from_utf8(line) {
        Ok(s) if s.trim().is_empty() => Line::Plain,
        Ok(s) => parse_json_report(s.trim()),
        Err(_) => Line::Malformed("not valid UTF-8".into()),
    }
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// `primary=value` or `primary: value`, nothing else on the line.
fn parse_plain(t: &str, primary: &str) -> Line {
    if primary.is_empty() {
        return Line::Plain;
    }
    let Some(rest) = t.strip_prefix(primary) else {
        return Line::Plain;
    };
    let rest = rest.trim_start();
    let Some(v) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) else {
        return Line::Plain;
    };
    match parse_number_text(v.trim()) {
        Some(value) => Line::Metric(Report {
            name: primary.to_string(),
            value,
            step: None,
        }),
        // `loss=high` style chatter about the metric is not a report.
        None => Line::Plain,
    }
}

/// A number as text, including the non-finite spellings of Python and Rust.
fn parse_number_text(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" | "NAN" => Some(f64::NAN),
        "Infinity" | "inf" | "+inf" | "+Infinity" | "INF" => Some(f64::INFINITY),
        "-Infinity" | "-inf" | "-INF" => Some(f64::NEG_INFINITY),
        _ => {
            let first = s.chars().next()?;
            // Rust's parser accepts "infinity" and the like; only plain numerals here.
            if !(first.is_ascii_digit() || first == '-' || first == '+' || first == '.') {
                return None;
            }
            s.parse::<f64>().ok()
        }
    }
}

/// Replaces bare `NaN`, `Infinity` and `-Infinity` tokens outside string literals by
/// strings, so that Python's non-standard JSON parses.
fn quote_nonfinite(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut in_str = false;
    let mut escaped = false;
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c as char);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &s[i..];
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.push('"');
            out.push_str(t);
            out.push('"');
            i += t.len();
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        // Push whole UTF-8 characters outside strings.
        let ch = rest.chars().next().expect("non-empty");
        out.push(ch);
        i += ch.len_utf8();
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

fn parse_json_report(text: &str) -> Line {
    if text.is_empty() {
        return Line::Malformed("no JSON object after @sweep".into());
    }
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(text).or_else(|e| {
        // Python's bare non-finite tokens, and numbers past the float range (`1e309`, which
        // serde_json refuses): as strings, the value is read as `name=1e309` reads it, ±inf.
        let quoted = quote_overflowing(&quote_nonfinite(text));
        serde_json::from_str(&quoted).map_err(|_| e)
    });
    let obj = match parsed {
        Ok(serde_json::Value::Object(o)) => o,
        Ok(_) => return Line::Malformed("not a JSON object".into()),
        Err(e) => return Line::Malformed(format!("invalid JSON: {e}")),
    };
    // What the Python integrations write besides reports (see docs/metrics.md): a value
    // logged to another run than this one, a parameter or a tag the script recorded.
    if obj.contains_key("other_run")
        || (!obj.contains_key("metric") && (obj.contains_key("param") || obj.contains_key("tag")))
    {
        return Line::Plain;
    }
    let name = match obj.get("metric") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Line::Malformed("\"metric\" is not a non-empty string".into()),
        None => return Line::Malformed("no \"metric\" key".into()),
    };
    let value = match obj.get("value") {
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(v) => v,
            None => return Line::Malformed("\"value\" is not a number".into()),
        },
        Some(serde_json::Value::String(s)) => match parse_number_text(s.trim()) {
            Some(v) => v,
            None => return Line::Malformed(format!("\"value\" {s:?} is not a number")),
        },
        Some(_) => return Line::Malformed("\"value\" is not a number".into()),
        None => return Line::Malformed("no \"value\" key".into()),
    };
    let step = match obj.get("step") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(s) if s >= 0 => Some(s),
            Some(s) => return Line::Malformed(format!("\"step\" {s} is negative")),
            None => return Line::Malformed("\"step\" is not an integer".into()),
        },
        Some(_) => return Line::Malformed("\"step\" is not an integer".into()),
    };
    Line::Metric(Report { name, value, step })
}

/// Splits a byte stream into lines while holding at most [`MAX_LINE`] bytes of a pending
/// line: a longer line is cut at the cap (its head is returned, flagged) and the rest of it,
/// up to the next newline, is skipped without being stored.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Inside an over-long line whose head was already emitted.
    skipping: bool,
    cap: usize,
}

/// A line from a [`LineSplitter`].
#[derive(Debug, PartialEq)]
pub struct SplitLine<'a> {
    /// The bytes of the line (without the newline), at most the cap.
    pub bytes: &'a [u8],
    /// Whether the line was longer than the cap and cut.
    pub truncated: bool,
}

impl LineSplitter {
    /// A splitter with the default cap [`MAX_LINE`].
    pub fn new() -> LineSplitter {
        LineSplitter::with_cap(MAX_LINE)
    }

    /// A splitter with a given cap (at least 1 byte).
    pub fn with_cap(cap: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            skipping: false,
            cap: cap.max(1),
        }
    }

    /// Bytes currently held for an unfinished line (bounded by the cap).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes, calling `f` for every complete (or cut) line.
    pub fn feed(&mut self, mut data: &[u8], mut f: impl FnMut(SplitLine<'_>)) {
        while !data.is_empty() {
            let nl = data.iter().position(|&c| c == b'\n');
            if self.skipping {
                match nl {
                    Some(i) => {
                        self.skipping = false;
                        data = &data[i + 1..];
                    }
                    None => return,
                }
                continue;
            }
            match nl {
                Some(i) => {
                    let piece = &data[..i];
                    if self.buf.is_empty() && piece.len() <= self.cap {
                        // Fast path: no copy.
                        f(SplitLine {
                            bytes: strip_cr(piece),
                            truncated: false,
                        });
                    } else {
                        let room = self.cap - self.buf.len();
                        let truncated = piece.len() > room;
                        self.buf.extend_from_slice(&piece[..piece.len().min(room)]);
                        // A cut line keeps its first `cap` bytes as they are, as when it is
                        // cut before its newline arrives; only a whole line loses its `\r`.
                        f(SplitLine {
                            bytes: if truncated {
                                &self.buf
                            } else {
                                strip_cr(&self.buf)
                            },
                            truncated,
                        });
                        self.buf.clear();
                    }
                    data = &data[i + 1..];
                }
                None => {
                    let room = self.cap - self.buf.len();
                    if data.len() <= room {
                        self.buf.extend_from_slice(data);
                    } else {
                        self.buf.extend_from_slice(&data[..room]);
                        f(SplitLine {
                            bytes: &self.buf,
                            truncated: true,
                        });
                        self.buf.clear();
                        self.skipping = true;
                    }
                    return;
                }
            }
        }
    }

    /// Ends the stream: a final line without a newline is emitted.
    pub fn finish(&mut self, mut f: impl FnMut(SplitLine<'_>)) {
        if !self.buf.is_empty() {
            f(SplitLine {
                bytes: strip_cr(&self.buf),
                truncated: false,
            });
            self.buf.clear();
        }
        self.skipping = false;
    }
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Reads everything new from `r` into the splitter in fixed-size chunks; returns the number
/// of bytes read. Memory stays bounded by the chunk plus the splitter's cap.
pub fn pump(
    r: &mut impl Read,
    chunk: &mut [u8],
    splitter: &mut LineSplitter,
    mut f: impl FnMut(SplitLine<'_>),
) -> std::io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.read(chunk) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        splitter.feed(&chunk[..n], &mut f);
    }
}

/// Metric reports read from runs but not yet committed to the store, in this process. Readers
/// wait while it is above [`MAX_IN_FLIGHT`], so a run printing metrics faster than the store
/// can write them fills its log file on disk, not sweep's memory.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Most metric reports queued between the readers and the store.
pub const MAX_IN_FLIGHT: usize = 100_000;

/// Counts `n` reports handed to the engine.
pub fn produced(n: usize) {
    IN_FLIGHT.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// Counts `n` reports committed (or dropped) by the store.
pub fn committed(n: usize) {
    let _ = IN_FLIGHT.fetch_update(
        std::sync::atomic::Ordering::Relaxed,
        std::sync::atomic::Ordering::Relaxed,
        |v| Some(v.saturating_sub(n)),
    );
}

/// Blocks the calling (reader) thread while too many reports are in flight.
pub fn wait_for_room() {
    while IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed) > MAX_IN_FLIGHT {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Whether `v` can be a best value (finite).
pub fn is_rankable(v: f64) -> bool {
    v.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, value: f64, step: Option<i64>) -> Line {
        Line::Metric(Report {
            name: name.into(),
            value,
            step,
        })
    }

    #[test]
    fn json_line_with_step_and_unknown_keys() {
        assert_eq!(
            parse_output_line(
                br#"  @sweep {"metric":"acc","value":0.93,"step":3,"extra":[1]}"#,
                "acc"
            ),
            metric("acc", 0.93, Some(3))
        );
    }

    #[test]
    fn python_nonfinite_tokens_parse() {
        let Line::Metric(r) = parse_output_line(br#"@sweep {"metric":"l","value":NaN}"#, "x")
        else {
            panic!("NaN should parse");
        };
        assert!(r.value.is_nan());
        assert_eq!(
            parse_output_line(br#"@sweep {"metric":"l","value":-Infinity}"#, "x"),
            metric("l", f64::NEG_INFINITY, None)
        );
        assert_eq!(
            parse_file_line(br#"{"metric":"l","value":"inf"}"#),
            metric("l", f64::INFINITY, None)
        );
        // A token inside a string is left alone.
        assert_eq!(
            parse_output_line(br#"@sweep {"metric":"NaN","value":1}"#, "x"),
            metric("NaN", 1.0, None)
        );
    }

    #[test]
    fn numbers_past_the_float_range_are_infinite_in_both_forms() {
        // The rule: a number beyond the float range is ±inf, however it is reported.
        for (line, want) in [
            (
                &br#"@sweep {"metric":"loss","value":1e309}"#[..],
                f64::INFINITY,
            ),
            (
                br#"@sweep {"metric":"loss","value":-1e309,"step":2}"#,
                f64::NEG_INFINITY,
            ),
            (b"loss=1e309", f64::INFINITY),
            (b"loss: -1e309", f64::NEG_INFINITY),
        ] {
            match parse_output_line(line, "loss") {
                Line::Metric(r) => assert_eq!(r.value, want, "{line:?}"),
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(line)),
            }
        }
        // Digits inside strings are left alone.
        let l = br#"@sweep {"metric":"1e309","value":2}"#;
        assert!(
            matches!(parse_output_line(l, "x"), Line::Metric(r) if r.name == "1e309" && r.value == 2.0)
        );
    }

    #[test]
    fn params_tags_and_other_runs_values_are_not_reports_nor_malformed() {
        for line in [
            &br#"{"param":"lr","value":"0.1"}"#[..],
            br#"{"tag":"team","value":"x"}"#,
            br#"{"other_run":"abc","metric":"acc","value":0.5,"step":1}"#,
        ] {
            assert_eq!(parse_file_line(line), Line::Plain);
        }
        // A `metric` key with `param` beside it is still a report.
        assert!(matches!(
            parse_file_line(br#"{"metric":"a","value":1,"param":"p"}"#),
            Line::Metric(_)
        ));
        assert!(matches!(
            parse_file_line(br#"{"value":1}"#),
            Line::Malformed(_)
        ));
    }

    #[test]
    fn malformed_lines_say_why() {
        for (line, why) in [
            (&b"@sweep {not json"[..], "invalid JSON"),
            (br#"@sweep {"value":1}"#, "no \"metric\""),
            (br#"@sweep {"metric":"a"}"#, "no \"value\""),
            (br#"@sweep {"metric":"a","value":"high"}"#, "not a number"),
            (br#"@sweep {"metric":"a","value":1,"step":1.5}"#, "integer"),
            (br#"@sweep {"metric":"a","value":1,"step":-2}"#, "negative"),
            (
                br#"@sweep {"metric":"a","value":1,"step":1e400}"#,
                "integer",
            ),
            (b"@sweep [1]", "not a JSON object"),
            (b"@sweep", "no JSON"),
        ] {
            match parse_output_line(line, "a") {
                Line::Malformed(m) => assert!(m.contains(why), "{m} should contain {why}"),
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(line)),
            }
        }
    }

    #[test]
    fn plain_primary_lines() {
        assert_eq!(
            parse_output_line(b"acc=0.5", "acc"),
            metric("acc", 0.5, None)
        );
        assert_eq!(
            parse_output_line(b"  acc: 1e-3 ", "acc"),
            metric("acc", 0.001, None)
        );
        assert_eq!(parse_output_line(b"acc=high", "acc"), Line::Plain);
        assert_eq!(parse_output_line(b"accuracy=0.5", "acc"), Line::Plain);
        assert_eq!(parse_output_line(b"other=0.5", "acc"), Line::Plain);
        assert_eq!(parse_output_line(b"@sweepy text", "acc"), Line::Plain);
        assert_eq!(parse_output_line(b"acc=infinity", "acc"), Line::Plain);
    }

    #[test]
    fn splitter_caps_long_lines_and_skips_the_rest() {
        let mut s = LineSplitter::with_cap(4);
        let mut got: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut push = |l: SplitLine<'_>| got.push((l.bytes.to_vec(), l.truncated));
        s.feed(b"ab\r\nabcdefgh", &mut push);
        assert!(s.pending() <= 4);
        s.feed(b"ijk\nxy", &mut push);
        s.feed(b"z\n", &mut push);
        s.finish(&mut push);
        assert_eq!(
            got,
            vec![
                (b"ab".to_vec(), false),
                (b"abcd".to_vec(), true),
                (b"xyz".to_vec(), false)
            ]
        );
    }

    #[test]
    fn splitter_handles_a_long_line_ending_in_the_same_chunk() {
        let mut s = LineSplitter::with_cap(3);
        let mut got = Vec::new();
        s.feed(b"abcdef\nok\n", |l| {
            got.push((l.bytes.to_vec(), l.truncated))
        });
        assert_eq!(got, vec![(b"abc".to_vec(), true), (b"ok".to_vec(), false)]);
    }

    proptest::proptest! {
        #[test]
        fn splitter_never_holds_more_than_the_cap(
            chunks in proptest::collection::vec(proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(b'\n'), 0u8..255], 0..50), 0..20),
            cap in 1usize..16,
        ) {
            let mut s = LineSplitter::with_cap(cap);
            let whole: Vec<u8> = chunks.concat();
            let mut lines = Vec::new();
            for c in &chunks {
                s.feed(c, |l| { assert!(l.bytes.len() <= cap); lines.push(l.bytes.to_vec()); });
                proptest::prop_assert!(s.pending() <= cap);
            }
            s.finish(|l| lines.push(l.bytes.to_vec()));
            // Every line short enough comes out intact.
            let expect: Vec<Vec<u8>> = whole.split(|&c| c == b'\n').map(|l| l.to_vec()).collect();
            let n_expected = if whole.ends_with(b"\n") || whole.is_empty() { expect.len() - 1 } else { expect.len() };
            proptest::prop_assert_eq!(lines.len(), n_expected);
            // Emitted lines are already without their `\r`; cut ones are the first `cap` bytes.
            for (got, want) in lines.iter().zip(&expect) {
                let want = if want.len() <= cap { strip_cr(want) } else { &want[..cap] };
                proptest::prop_assert_eq!(&got[..], want);
            }
        }
    }
}
