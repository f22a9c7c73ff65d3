//! The pair grammar: every `name=value` and `name: value` on a line.
//!
//! - A **name** is a run of ASCII letters, digits, `_`, `-`, `/` and `.` that starts with a
//!   letter or `_` and is not preceded by such a character (`val_loss`, `train/acc`,
//!   `top-1.acc`); it may be quoted with `'` or `"` (Python dict reprs, JSON:
//!   `'eval_loss': 0.41`).
//! - The **separator** is `=` or `:` with optional spaces or tabs around it. After `:`,
//!   at least one space is required (`00:05`, `localhost:8080` and `http://` are not
//!   pairs), except after a quoted name (`{"loss":0.5}`) and when the pair is the whole
//!   line (`accuracy:0.93`).
//! - The **value** is a number (see [`super::number`]: sign, fraction, exponent, `nan`,
//!   `inf`), optionally quoted with the name's kind of quote, and must end there: the next
//!   character is not a letter, digit, `_` or `%`, nor a `.` followed by one of those (so
//!   `2s`, `93%`, `1.2.3` and `0x1f` are not values, while `loss=0.2.` ending a sentence is).
//!
//! Each separator is looked at once, left to right, and a value is never the start of
//! the next name, so every pair is read exactly once. Scanning allocates nothing.

use super::number::scan_number;

/// A character of a name.
fn name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'/' | b'.')
}

/// A character that may not follow a value.
fn value_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'%')
}

fn space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Calls `f(name, value)` for every pair of `line`, left to right; returns how many.
pub(super) fn scan(line: &[u8], mut f: impl FnMut(&str, f64)) -> usize {
    let trimmed_start = line.iter().take_while(|&&c| space(c)).count();
    let trimmed_end = line.len() - line.iter().rev().take_while(|&&c| space(c)).count();
    let mut found = 0;
    let mut from = 0;
    while let Some(k) = memchr::memchr2(b'=', b':', &line[from..]) {
        let sep = from + k;
        from = sep + 1;
        let Some((name, start, quote)) = name_before(line, sep) else {
            continue;
        };
        let mut v = sep + 1;
        let gap = line[v..].iter().take_while(|&&c| space(c)).count();
        v += gap;
        let vquote = match (quote, line.get(v)) {
            (Some(q), Some(&c)) if c == q => {
                v += 1;
                Some(q)
            }
            (None, Some(&c)) if c == b'\'' || c == b'"' => {
                v += 1;
                Some(c)
            }
            _ => None,
        };
        let Some((value, n)) = scan_number(&line[v..]) else {
            continue;
        };
        let mut end = v + n;
        if let Some(q) = vquote {
            if line.get(end) != Some(&q) {
                continue;
            }
            end += 1;
        }
        let next_ok = match line.get(end) {
            None => true,
            Some(&c) if value_char(c) => false,
            Some(b'.') => !line.get(end + 1).is_some_and(|&c| value_char(c)),
            Some(_) => true,
        };
        if !next_ok {
            continue;
        }
        if line[sep] == b':' && gap == 0 && quote.is_none() {
            // `name:value` only as a whole line.
            let whole = start == trimmed_start && end == trimmed_end;
            if !whole {
                continue;
            }
        }
        // Names are ASCII, so this cannot fail.
        if let Ok(name) = std::str::from_utf8(name) {
            f(name, value);
            found += 1;
        }
        from = end;
    }
    found
}

/// The name that ends right before the separator at `sep` (spaces between allowed): the
/// name, where it (or its opening quote) starts, and its quote.
fn name_before(line: &[u8], sep: usize) -> Option<(&[u8], usize, Option<u8>)> {
    let mut e = sep;
    while e > 0 && space(line[e - 1]) {
        e -= 1;
    }
    let quote = match e.checked_sub(1).map(|i| line[i]) {
        Some(q @ (b'\'' | b'"')) => {
            e -= 1;
            Some(q)
        }
        _ => None,
    };
    let mut s = e;
    while s > 0 && name_char(line[s - 1]) {
        s -= 1;
    }
    let name = &line[s..e];
    let first = *name.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    match quote {
        Some(q) => (s > 0 && line[s - 1] == q).then(|| (name, s - 1, Some(q))),
        None => Some((name, s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str) -> Vec<(String, f64)> {
        let mut v = Vec::new();
        let n = scan(line.as_bytes(), |k, x| v.push((k.to_string(), x)));
        assert_eq!(n, v.len());
        v
    }

    fn p(list: &[(&str, f64)]) -> Vec<(String, f64)> {
        list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn every_pair_of_a_line() {
        assert_eq!(
            pairs("epoch=3 accuracy=0.9244"),
            p(&[("epoch", 3.0), ("accuracy", 0.9244)])
        );
        assert_eq!(
            pairs("epoch 3: loss=0.21 accuracy=0.93"),
            p(&[("loss", 0.21), ("accuracy", 0.93)])
        );
        assert_eq!(
            pairs("step = 300 lr=1e-3 val_loss= -0.4"),
            p(&[("step", 300.0), ("lr", 0.001), ("val_loss", -0.4)])
        );
        assert_eq!(
            pairs("train/loss: 0.5, top-1.acc: 0.25; x.y=2"),
            p(&[("train/loss", 0.5), ("top-1.acc", 0.25), ("x.y", 2.0)])
        );
        assert_eq!(
            pairs("{'eval_loss': 0.41, 'eval_accuracy': '0.93', \"epoch\": 3.0}"),
            p(&[("eval_loss", 0.41), ("eval_accuracy", 0.93), ("epoch", 3.0)])
        );
        assert_eq!(
            pairs(r#"{"loss":0.5,"n":2}"#),
            p(&[("loss", 0.5), ("n", 2.0)])
        );
    }

    #[test]
    fn what_is_not_a_pair() {
        for line in [
            "00:05<00:00, 85.3it/s",
            "Epoch 3: 100%|#####| 469/469",
            "connecting to localhost:8080 at http://x:1",
            "ETA: 1s - eta=3s - acc=93% - v=1.2.3 - h=0x1f",
            "3=4 -x=1",
            "accuracy=high",
            "a==b",
            "loss:0.5 (no space after the colon, not alone)",
            // A closing quote with no opening one, at the line's start.
            "a'=1",
        ] {
            assert_eq!(pairs(line), [], "{line}");
        }
    }

    #[test]
    fn a_lone_pair_may_omit_the_space_and_a_sentence_may_end_after_a_value() {
        assert_eq!(pairs("  accuracy:0.93 "), p(&[("accuracy", 0.93)]));
        assert_eq!(pairs("done, loss=0.25."), p(&[("loss", 0.25)]));
        let nan = pairs("loss=nan acc=-inf");
        assert!(nan[0].1.is_nan());
        assert_eq!(nan[1], ("acc".to_string(), f64::NEG_INFINITY));
    }

    #[test]
    fn a_value_never_starts_the_next_name() {
        // After `a=1`, the scan goes on after the value: `b=2` is one pair, read once.
        assert_eq!(
            pairs("a=1 b=2 a=1"),
            p(&[("a", 1.0), ("b", 2.0), ("a", 1.0)])
        );
        assert_eq!(pairs("a=b=1"), p(&[("b", 1.0)]));
    }

    proptest::proptest! {
        /// A line built from pairs, in any of the written forms and with any separators
        /// between them, reads back as exactly those pairs, each once, in order.
        #[test]
        fn built_lines_read_back_exactly(
            pairs in proptest::collection::vec(
                ("[a-z_][a-z0-9_/.-]{0,8}[a-z0-9_]", -1.0e6f64..1.0e6, 0usize..5),
                1..8,
            ),
            seps in proptest::collection::vec(
                proptest::sample::select(vec![" ", ", ", " - ", " | ", "\t", "; "]),
                8,
            ),
        ) {
            let mut line = String::new();
            for (i, (name, value, form)) in pairs.iter().enumerate() {
                if i > 0 {
                    line.push_str(seps[i]);
                }
                line.push_str(&match form {
                    0 => format!("{name}={value}"),
                    1 => format!("{name}: {value}"),
                    2 => format!("{name} = {value:e}"),
                    3 => format!("'{name}': {value}"),
                    _ => format!("\"{name}\":\"{value}\""),
                });
            }
            let got = super::tests::pairs(&line);
            let want: Vec<(String, f64)> =
                pairs.iter().map(|(n, v, _)| (n.clone(), *v)).collect();
            proptest::prop_assert_eq!(got, want, "{}", line);
        }

        /// Arbitrary bytes never panic, and every pair reported is really in the line as
        /// `name`, separator, value.
        #[test]
        fn arbitrary_bytes(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut names = Vec::new();
            scan(&line, |k, _| names.push(k.to_string()));
            for n in names {
                let hay = String::from_utf8_lossy(&line);
                proptest::prop_assert!(hay.contains(&n));
            }
        }
    }
}
