//! What every subcommand's text output shares: printing that never panics on a closed pipe,
//! making text from runs and configs (parameter values, run output, reasons) safe to show
//! on a terminal, display widths and cutting to them (the `console` crate measures by
//! Unicode width), and numbers at a fixed number of significant digits.

use std::borrow::Cow;
use std::io::{IsTerminal, Write as _};
use std::sync::OnceLock;

/// The width `sweep` lays tables out for when standard output is not a terminal.
pub const DEFAULT_WIDTH: usize = 100;

/// Whether standard output is a terminal (asked once).
pub fn stdout_is_tty() -> bool {
    static TTY: OnceLock<bool> = OnceLock::new();
    *TTY.get_or_init(|| std::io::stdout().is_terminal())
}

/// The terminal's size (rows, columns), read now (it changes when the window is resized),
/// or `None` when standard output is not a terminal.
fn terminal_size() -> Option<(usize, usize)> {
    if !stdout_is_tty() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(rows, cols)| (rows as usize, cols as usize))
        .filter(|(r, c)| *r > 0 && *c > 0)
}

/// The terminal's width in columns, read now, if standard output is one.
pub fn terminal_width() -> Option<usize> {
    terminal_size().map(|(_, cols)| cols)
}

/// The width to lay a table out for: the terminal's, else [`DEFAULT_WIDTH`].
pub fn output_width() -> usize {
    terminal_width().unwrap_or(DEFAULT_WIDTH)
}

/// The terminal's height in rows, read now, if standard output is one.
pub fn terminal_height() -> Option<usize> {
    terminal_size().map(|(rows, _)| rows)
}

/// Ends the process quietly on a closed standard output, as `head` and `grep -q` expect of
/// the commands that only print: SIGPIPE gets its default action back (Rust ignores it,
/// which turns a write into a closed pipe into an error that `println!` panics on). Only
/// for commands that write to no pipe of their own: a sweep writes to its runs and hosts,
/// where SIGPIPE must stay ignored.
pub fn die_quietly_on_closed_stdout() {
    // SAFETY: setting a signal's disposition to its default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints a line on standard output; a closed or failing standard output is ignored (a sweep
/// goes on when the terminal or pipe it was started from goes away).
pub fn outln(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints a line on standard error, ignoring a failure to write it.
pub fn errln(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// `s` with every control character (escape sequences, carriage returns, tabs, newlines,
/// C1 controls) written as a visible escape (`\e`, `\r`, `\t`, `\n`, `\u{9b}`), so text
/// from a run or a config cannot move the cursor, change colours or set the terminal's
/// title when shown.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` as shown on standard output: escaped ([`escape_controls`]) when it is a terminal,
/// unchanged when it is a file or a pipe (the data stays exact there).
pub fn shown(s: &str) -> Cow<'_, str> {
    if stdout_is_tty() {
        escape_controls(s)
    } else {
        Cow::Borrowed(s)
    }
}

/// The display width of `s` in terminal columns (wide characters count two).
pub fn width(s: &str) -> usize {
    console::measure_text_width(s)
}

/// `s` cut to at most `max` columns, its last column then `…`.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    console::truncate_str(s, max, "…")
}

/// `words` after `lead`, separated by spaces and broken between them into lines of at most
/// `max` columns, the later ones indented as far as `lead`; a word wider than the room is
/// kept whole. Kept here rather than taken from `textwrap`: the words are given whole
/// (a parameter `name=value` whose value holds spaces is one word), never split again.
pub fn wrap_words(lead: &str, words: &[String], max: usize) -> Vec<String> {
    let indent = " ".repeat(self::width(lead));
    let mut lines = Vec::new();
    let mut line = lead.to_string();
    let mut empty = true;
    for word in words {
        if !empty && self::width(&line) + 1 + self::width(word) > max {
            lines.push(std::mem::replace(&mut line, indent.clone()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// `s` padded with spaces to `w` columns (by display width).
pub fn pad(s: &str, w: usize) -> String {
    let n = width(s);
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(n)));
    out
}

/// `v` with at most `digits` significant digits, trailing zeros dropped, in scientific form
/// for very large or small magnitudes (as C's `%g`): `0.985212`, `12345.7`, `1.5e-07`.
pub fn sig(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let digits = digits.max(1);
    let exp = v.abs().log10().floor() as i32;
    // Rounding can carry into the next power of ten (999999.7 → 1e+06).
    let sci = format!("{:.*e}", digits - 1, v);
    let exp = sci
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse::<i32>().ok())
        .unwrap_or(exp);
    if exp < -5 || exp >= digits as i32 {
        let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
        let mant = trim_zeros(mant);
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (digits as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(escape_controls("plain λ"), "plain λ");
        assert_eq!(
            escape_controls("\x1b[31mred\x1b[0m\x1b]0;title\x07"),
            "\\e[31mred\\e[0m\\e]0;title\\u{7}"
        );
        assert_eq!(escape_controls("a\tb\r\nc\u{9b}"), "a\\tb\\r\\nc\\u{9b}");
    }

    #[test]
    fn cutting_counts_display_columns() {
        assert_eq!(cut("abcdef", 10), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        // Wide characters take two columns each.
        assert_eq!(width("日本語"), 6);
        assert!(width(&cut("日本語テキスト", 7)) <= 7);
        assert_eq!(pad("λ", 3), "λ  ");
    }

    #[test]
    fn six_significant_digits() {
        for (v, want) in [
            (0.985212345, "0.985212"),
            (0.9852, "0.9852"),
            (12345.678, "12345.7"),
            (1234567.0, "1.23457e+06"),
            (999999.7, "1e+06"),
            (0.0000015, "1.5e-06"),
            (0.00012345678, "0.000123457"),
            (-2.5, "-2.5"),
            (3.0, "3"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(sig(v, 6), want, "{v}");
        }
        assert_eq!(sig(0.123456789, 4), "0.1235");
    }
}
