//! Numbers as runs write them: decimal numerals with sign, fraction and exponent, and the
//! non-finite spellings of Python, JSON and Rust (`nan`, `NaN`, `inf`, `Infinity`, signed).

/// A whole text as a number: a numeral or a non-finite spelling, nothing else.
pub(super) fn parse_number_text(s: &str) -> Option<f64> {
    match scan_number(s.as_bytes()) {
        Some((v, n)) if n == s.len() => Some(v),
        _ => None,
    }
}

/// The number at the start of `b`, and how many bytes it takes: `[+-]?` then digits with an
/// optional fraction (or a fraction alone, `.5`) and an optional exponent (`e-3`), or
/// `nan`/`inf`/`infinity` in any case. Allocates nothing.
pub(super) fn scan_number(b: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(i);
    let mut j = i + int;
    let mut frac = 0;
    if b.get(j) == Some(&b'.') {
        frac = digits(j + 1);
        if frac > 0 || int > 0 {
            j += 1 + frac;
        }
    }
    if int == 0 && frac == 0 {
        return nonfinite(&b[i..]).map(|(v, n)| (if neg { -v } else { v }, i + n));
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let k = j + 1 + usize::from(matches!(b.get(j + 1), Some(b'+' | b'-')));
        let exp = digits(k);
        if exp > 0 {
            j = k + exp;
        }
    }
    // Only ASCII was taken, so this is valid UTF-8; `parse` does the correct rounding.
    let text = std::str::from_utf8(&b[..j]).ok()?;
    text.parse::<f64>().ok().map(|v| (v, j))
}

/// `nan`, `inf` or `infinity` (any case) at the start of `b`.
fn nonfinite(b: &[u8]) -> Option<(f64, usize)> {
    let starts = |w: &[u8]| b.len() >= w.len() && b[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        Some((f64::INFINITY, 8))
    } else if starts(b"inf") {
        Some((f64::INFINITY, 3))
    } else if starts(b"nan") {
        Some((f64::NAN, 3))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerals_and_nonfinite_spellings() {
        for (t, v) in [
            ("0.93", 0.93),
            ("-1e-3", -0.001),
            ("+2", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1E5", 1e5),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("+INF", f64::INFINITY),
        ] {
            assert_eq!(parse_number_text(t), Some(v), "{t}");
        }
        assert!(parse_number_text("NaN").unwrap().is_nan());
        assert!(parse_number_text("-nan").unwrap().is_nan());
        for t in [
            "", "-", ".", "e5", "1e", "0x10", "1.2.3", "high", "1s", "infinite",
        ] {
            assert_eq!(parse_number_text(t), None, "{t}");
        }
        // A dangling exponent is not part of the number.
        assert_eq!(scan_number(b"1e+x"), Some((1.0, 1)));
    }
}
