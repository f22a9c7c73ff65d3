//! The line grammar of a run's output: what one line (its final state, see
//! [`super::split`]) reports. In order, the first that applies:
//!
//! 0. **azureml-core's offline echo** ([`super::azureml`]): an `Attempted to log scalar
//!    metric NAME:` line reports nothing and makes the next line its value, read as that
//!    only.
//! 1. An **`@sweep` line** (`@sweep {"metric": …}`) is one report, or malformed; nothing
//!    else of it is read, so the pairs inside its JSON are never counted again.
//! 2. A line the **configured pattern** matches reports what the pattern captures, and
//!    only that.
//! 3. A **Keras epoch line**, `Epoch 3/10` alone on its line, reports nothing and makes 3
//!    the step of the lines after it (until the next one).
//! 4. Otherwise every **pair** of the line (`metrics::pairs`: `loss=0.21`,
//!    `accuracy: 0.93`, `'eval_loss': 0.41`) is a report, for every name. That covers Katib's
//!    `name=value` lines, Keras's `- loss: 0.2104 - accuracy: 0.9312`, tqdm and PyTorch
//!    Lightning postfixes (`[00:05<00:00, loss=0.21, v_num=0, val_acc=0.93]`) and Hugging
//!    Face's dict reprs (`{'eval_loss': 0.41, 'epoch': 3.0}`).
//!
//! The **step** of a line's reports is, first found: its `global_step`, `step` or `epoch`
//! pair (in that order) when that value is a non-negative integer (`3` or `3.0`); those
//! three names are steps, never metrics. Else a leading `epoch N` / `step N` (any case, as
//! Lightning's `Epoch 3: 100%|…` and `epoch 3: loss=…` start). Else the last Keras epoch
//! line's number. Else none.
//!
//! A line that reports nothing allocates nothing.

use super::pairs;
use super::pattern::Pattern;
use super::Found;
use regex::bytes::CaptureLocations;
use std::borrow::Cow;

/// The prefix that marks a JSON report line.
pub const PREFIX: &str = "@sweep";

/// Names that are a line's step, not metrics.
const STEP_NAMES: [&str; 3] = ["global_step", "step", "epoch"];

/// Reads a run's output lines; holds what one line leaves for the next (the Keras epoch).
#[derive(Debug, Clone)]
pub struct OutputGrammar {
    pattern: Option<(Pattern, CaptureLocations)>,
    /// The step the last `Epoch N/M` line set.
    keras_epoch: Option<i64>,
    /// azureml-core's offline echo, whose value is on the line after its header.
    echo: super::azureml::Echo,
}

/// What a line was to the grammar, besides its reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Read (with or without reports).
    Read,
    /// An `@sweep` line that is not a valid report; the text says why.
    Malformed(String),
}

impl OutputGrammar {
    /// A grammar with the configured pattern, if any.
    pub fn new(pattern: Option<&Pattern>) -> OutputGrammar {
        OutputGrammar {
            pattern: pattern.map(|p| (p.clone(), p.locations())),
            keras_epoch: None,
            echo: Default::default(),
        }
    }

    /// The tags the lines read since the last call recorded (azureml-core's echo of
    /// `run.tag`, `set_tags`, `add_properties`), in order.
    pub fn take_logged(&mut self) -> Vec<super::Logged> {
        self.echo.take_tags()
    }

    /// Reads one line, calling `f` for each of its reports in the order written.
    pub fn line(&mut self, line: &[u8], mut f: impl FnMut(Found<'_>)) -> Verdict {
        if self.echo.line(line, &mut f) {
            return Verdict::Read;
        }
        let t = line.trim_ascii();
        if let Some(rest) = t.strip_prefix(PREFIX.as_bytes()) {
            if rest.is_empty() || rest[0].is_ascii_whitespace() {
                return match std::str::from_utf8(rest) {
                    Ok(json) => match super::json::parse_object(json.trim()) {
                        Ok(found) => {
                            if let Some(found) = found {
                                f(found);
                            }
                            Verdict::Read
                        }
                        Err(why) => Verdict::Malformed(why),
                    },
                    Err(_) => Verdict::Malformed("not valid UTF-8".into()),
                };
            }
        }
        if let Some((p, locs)) = &mut self.pattern {
            let n = p.scan(line, locs, |name, value, step| {
                f(Found {
                    name: Cow::Borrowed(name),
                    value,
                    step,
                })
            });
            if n > 0 {
                return Verdict::Read;
            }
        }
        if let Some(epoch) = keras_epoch_line(t) {
            self.keras_epoch = Some(epoch);
            return Verdict::Read;
        }
        // First pass: are there pairs, and which is the step? (No allocation either way.)
        let mut steps: [Option<i64>; 3] = [None; 3];
        let mut metrics = 0;
        pairs::scan(line, |name, value| match step_rank(name) {
            Some(i) => steps[i] = steps[i].or(as_step(value)),
            None => metrics += 1,
        });
        if metrics == 0 {
            return Verdict::Read;
        }
        let step = steps
            .into_iter()
            .flatten()
            .next()
            .or_else(|| leading_step(t))
            .or(self.keras_epoch);
        pairs::scan(line, |name, value| {
            if step_rank(name).is_none() {
                f(Found {
                    name: Cow::Borrowed(name),
                    value,
                    step,
                });
            }
        });
        Verdict::Read
    }
}

/// Which of [`STEP_NAMES`] `name` is.
fn step_rank(name: &str) -> Option<usize> {
    STEP_NAMES.iter().position(|s| *s == name)
}

/// A value as a step: a non-negative integer, written as one or as `3.0`.
fn as_step(v: f64) -> Option<i64> {
    (v >= 0.0 && v.fract() == 0.0 && v < 9.0e15).then_some(v as i64)
}

/// The integer at the start of `b` and its length.
fn integer(b: &[u8]) -> Option<(i64, usize)> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 15 {
        return None;
    }
    let v = std::str::from_utf8(&b[..n]).ok()?.parse().ok()?;
    Some((v, n))
}

/// `Epoch N/M`, the whole (trimmed) line: Keras's epoch header.
fn keras_epoch_line(t: &[u8]) -> Option<i64> {
    let rest = t.strip_prefix(b"Epoch ")?;
    let (n, len) = integer(rest)?;
    let rest = rest[len..].strip_prefix(b"/")?;
    let (_, len) = integer(rest)?;
    (len == rest.len()).then_some(n)
}

/// A leading `epoch N` or `step N` (any case), followed by `:`, `/`, a space or the end.
fn leading_step(t: &[u8]) -> Option<i64> {
    let word = t.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let w = &t[..word];
    if !(w.eq_ignore_ascii_case(b"epoch") || w.eq_ignore_ascii_case(b"step")) {
        return None;
    }
    let rest = &t[word..];
    let gap = rest.iter().take_while(|&&c| c == b' ').count();
    if gap == 0 {
        return None;
    }
    let (n, len) = integer(&rest[gap..])?;
    match rest.get(gap + len) {
        None | Some(b':' | b'/' | b' ' | b'\t') => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<(String, f64, Option<i64>)>;

    fn read(g: &mut OutputGrammar, line: &str) -> (Got, Verdict) {
        let mut got = Vec::new();
        let v = g.line(line.as_bytes(), |f| {
            got.push((f.name.into_owned(), f.value, f.step))
        });
        (got, v)
    }

    fn reports(g: &mut OutputGrammar, line: &str) -> Got {
        let (got, v) = read(g, line);
        assert_eq!(v, Verdict::Read, "{line}");
        got
    }

    fn r(list: &[(&str, f64, Option<i64>)]) -> Got {
        list.iter()
            .map(|(n, v, s)| (n.to_string(), *v, *s))
            .collect()
    }

    #[test]
    fn sweep_lines_are_read_as_json_only() {
        let mut g = OutputGrammar::new(None);
        assert_eq!(
            reports(
                &mut g,
                r#"  @sweep {"metric":"acc","value":0.93,"step":3,"loss":1}"#
            ),
            r(&[("acc", 0.93, Some(3))])
        );
        for (line, why) in [
            ("@sweep {not json", "invalid JSON"),
            (r#"@sweep {"value":1}"#, "no \"metric\""),
            (r#"@sweep {"metric":"a"}"#, "no \"value\""),
            (r#"@sweep {"metric":"a","value":"high"}"#, "not a number"),
            (r#"@sweep {"metric":"a","value":1,"step":1.5}"#, "integer"),
            (r#"@sweep {"metric":"a","value":1,"step":-2}"#, "negative"),
            (r#"@sweep {"metric":"a","value":1,"step":1e400}"#, "integer"),
            ("@sweep [1]", "not a JSON object"),
            ("@sweep", "no JSON"),
        ] {
            match read(&mut g, line) {
                (got, Verdict::Malformed(m)) => {
                    assert!(got.is_empty());
                    assert!(m.contains(why), "{m} should contain {why}");
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        assert!(matches!(
            g.line(b"@sweep {\xff}", |_| {}),
            Verdict::Malformed(m) if m.contains("UTF-8")
        ));
        // `@sweeping` is an ordinary line, read for pairs.
        assert_eq!(reports(&mut g, "@sweeping x=1"), r(&[("x", 1.0, None)]));
    }

    #[test]
    fn numbers_past_the_float_range_are_infinite_in_both_forms() {
        // The rule: a number beyond the float range is ±inf, however it is reported.
        let mut g = OutputGrammar::new(None);
        for (line, want) in [
            (r#"@sweep {"metric":"loss","value":1e309}"#, f64::INFINITY),
            (
                r#"@sweep {"metric":"loss","value":-1e309,"step":2}"#,
                f64::NEG_INFINITY,
            ),
            ("loss=1e309", f64::INFINITY),
            ("loss: -1e309", f64::NEG_INFINITY),
        ] {
            assert_eq!(reports(&mut g, line)[0].1, want, "{line}");
        }
        // Digits inside strings are left alone.
        assert_eq!(
            reports(&mut g, r#"@sweep {"metric":"1e309","value":2}"#),
            r(&[("1e309", 2.0, None)])
        );
    }

    #[test]
    fn python_nonfinite_tokens_parse() {
        let mut g = OutputGrammar::new(None);
        let got = reports(&mut g, r#"@sweep {"metric":"l","value":NaN}"#);
        assert!(got[0].1.is_nan());
        assert_eq!(
            reports(&mut g, r#"@sweep {"metric":"l","value":-Infinity}"#),
            r(&[("l", f64::NEG_INFINITY, None)])
        );
        // A token inside a string is left alone, and so is text outside ASCII.
        assert_eq!(
            reports(&mut g, r#"@sweep {"metric":"NaN é","value":1}"#),
            r(&[("NaN é", 1.0, None)])
        );
    }

    #[test]
    fn every_pair_with_the_step_of_the_line() {
        let mut g = OutputGrammar::new(None);
        assert_eq!(
            reports(&mut g, "epoch=3 accuracy=0.9244"),
            r(&[("accuracy", 0.9244, Some(3))])
        );
        assert_eq!(
            reports(&mut g, "epoch 3: loss=0.21 accuracy=0.93"),
            r(&[("loss", 0.21, Some(3)), ("accuracy", 0.93, Some(3))])
        );
        assert_eq!(
            reports(&mut g, "step=300 lr=0.001 val_loss=0.4 epoch=2"),
            r(&[("lr", 0.001, Some(300)), ("val_loss", 0.4, Some(300))])
        );
        assert_eq!(
            reports(&mut g, "{'loss': 0.69, 'epoch': 0.5}"),
            r(&[("loss", 0.69, None)])
        );
        assert_eq!(
            reports(
                &mut g,
                "{'eval_loss': 0.41, 'eval_accuracy': 0.93, 'epoch': 3.0}"
            ),
            r(&[
                ("eval_loss", 0.41, Some(3)),
                ("eval_accuracy", 0.93, Some(3))
            ])
        );
        assert_eq!(
            reports(
                &mut g,
                "Epoch 3: 100%|██████| 469/469 [00:05<00:00, 85.3it/s, loss=0.21, v_num=0, val_acc=0.93]"
            ),
            r(&[("loss", 0.21, Some(3)), ("v_num", 0.0, Some(3)), ("val_acc", 0.93, Some(3))])
        );
        // Steps alone are no reports; chatter is nothing.
        assert_eq!(reports(&mut g, "epoch=3 step=4"), r(&[]));
        assert_eq!(reports(&mut g, "accuracy=high, see http://x:1"), r(&[]));
    }

    #[test]
    fn keras_epoch_lines_give_the_step() {
        let mut g = OutputGrammar::new(None);
        assert_eq!(reports(&mut g, "loss: 1.0"), r(&[("loss", 1.0, None)]));
        assert_eq!(reports(&mut g, "Epoch 3/10"), r(&[]));
        assert_eq!(
            reports(
                &mut g,
                "469/469 [==============================] - 2s 4ms/step - loss: 0.2104 - accuracy: 0.9312 - val_loss: 0.2551 - val_accuracy: 0.9201"
            ),
            r(&[
                ("loss", 0.2104, Some(3)),
                ("accuracy", 0.9312, Some(3)),
                ("val_loss", 0.2551, Some(3)),
                ("val_accuracy", 0.9201, Some(3))
            ])
        );
        // A step of the line's own wins.
        assert_eq!(reports(&mut g, "step=7 x=1"), r(&[("x", 1.0, Some(7))]));
        assert_eq!(reports(&mut g, "Epoch 4/10"), r(&[]));
        assert_eq!(reports(&mut g, "x=2"), r(&[("x", 2.0, Some(4))]));
    }

    #[test]
    fn a_pattern_reads_the_lines_it_matches_and_only_those_pairs() {
        let p = Pattern::new(r"Top-1 (?P<value>[\d.]+)%", Some("top1")).unwrap();
        let mut g = OutputGrammar::new(Some(&p));
        assert_eq!(
            reports(&mut g, "Top-1 93.5% loss=0.2"),
            r(&[("top1", 93.5, None)])
        );
        assert_eq!(reports(&mut g, "loss=0.2"), r(&[("loss", 0.2, None)]));
    }

    #[test]
    fn leading_steps() {
        assert_eq!(leading_step(b"Epoch 3: 100%"), Some(3));
        assert_eq!(leading_step(b"step 12 loss=1"), Some(12));
        assert_eq!(leading_step(b"epochs 3: x"), None);
        assert_eq!(leading_step(b"Epoch 3x"), None);
        assert_eq!(keras_epoch_line(b"Epoch 10/10"), Some(10));
        assert_eq!(keras_epoch_line(b"Epoch 10/10 extra"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut g = OutputGrammar::new(None);
            let _ = g.line(&line, |_| {});
        }
    }
}
