//! SVG building blocks for the HTML report: escaping, linear and log scales with readable
//! ticks, number formatting, a colour map and a plot frame with axes.
//!
//! Hand-written, not a plotting crate: the page is one self-contained file of inline SVG whose
//! marks carry the classes, tooltips and escaping this report needs, which plain strings give
//! directly. Every piece of user text goes through [`esc`] before it reaches the markup.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG (element content and double- or single-quoted attribute
/// values): `& < > " '`. Control characters other than tab and newline are dropped, since XML
/// (inline SVG) does not allow them.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Formats a number compactly for labels: up to 4 significant digits, exponent form for
/// very large or very small magnitudes.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{v:.3e}");
        // `1.000e-4` → `1e-4`, `2.500e7` → `2.5e7`.
        if let Some((m, e)) = s.split_once('e') {
            let m = if m.contains('.') {
                m.trim_end_matches('0').trim_end_matches('.')
            } else {
                m
            };
            return format!("{m}e{e}");
        }
        return s;
    }
    let digits = (4 - 1 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A map from data values to the unit interval, linear or base-10 logarithmic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// `lo..hi` linearly.
    Linear {
        /// Value at 0.
        lo: f64,
        /// Value at 1.
        hi: f64,
    },
    /// `lo..hi` logarithmically (both > 0).
    Log {
        /// Value at 0.
        lo: f64,
        /// Value at 1.
        hi: f64,
    },
}

impl Scale {
    /// A scale covering `values` (non-finite ones ignored; non-positive ones too on a log
    /// scale), padded by 5% on each side; a single value gets a unit-wide range around it.
    pub fn fit(values: impl IntoIterator<Item = f64>, log: bool) -> Scale {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            if v.is_finite() && (!log || v > 0.0) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if log {
            if !lo.is_finite() {
                return Scale::Log { lo: 1.0, hi: 10.0 };
            }
            let (a, b) = (lo.log10(), hi.log10());
            let pad = if b > a { (b - a) * 0.05 } else { 0.5 };
            Scale::Log {
                lo: 10f64.powf(a - pad),
                hi: 10f64.powf(b + pad),
            }
        } else {
            if !lo.is_finite() {
                return Scale::Linear { lo: 0.0, hi: 1.0 };
            }
            let pad = if hi > lo {
                (hi - lo) * 0.05
            } else if lo != 0.0 {
                lo.abs() * 0.1
            } else {
                0.5
            };
            Scale::Linear {
                lo: lo - pad,
                hi: hi + pad,
            }
        }
    }

    /// Whether the scale is logarithmic.
    pub fn is_log(&self) -> bool {
        matches!(self, Scale::Log { .. })
    }

    /// The position of `v` in `[0, 1]` (outside for values outside the range; NaN for values
    /// a log scale cannot show).
    pub fn unit(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { lo, hi } => (v - lo) / (hi - lo),
            Scale::Log { lo, hi } => {
                if v <= 0.0 {
                    f64::NAN
                } else {
                    (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
                }
            }
        }
    }

    /// Tick values inside the range: "nice" steps (1, 2, 5 × 10^k) on a linear scale, about
    /// `n` of them; powers of ten on a log scale (with 2 and 5 between them when the range
    /// spans few decades, thinned when it spans many).
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        let n = n.max(2);
        match *self {
            Scale::Linear { lo, hi } => {
                let span = hi - lo;
                if span.is_nan() || span <= 0.0 || !span.is_finite() {
                    return vec![lo];
                }
                let raw = span / n as f64;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .map(|m| m * mag)
                    .find(|s| span / s <= n as f64)
                    .unwrap_or(10.0 * mag);
                let first = (lo / step).ceil() as i64;
                let last = (hi / step).floor() as i64;
                // Rounded to the step's decimals: 0.6, not 0.6000000000000001.
                let p = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
                (first..=last)
                    .map(|i| (i as f64 * step * p).round() / p)
                    .collect()
            }
            Scale::Log { lo, hi } => {
                let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
                let decades = (b - a + 1).max(0) as usize;
                if decades <= 2 {
                    // Few decades: 1, 2, 5 steps keep the axis readable.
                    let mut out = Vec::new();
                    for e in (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32) {
                        for m in [1.0, 2.0, 5.0] {
                            let t = m * 10f64.powi(e);
                            if t >= lo && t <= hi {
                                out.push(t);
                            }
                        }
                    }
                    out
                } else {
                    let every = decades.div_ceil(n).max(1);
                    (a..=b)
                        .filter(|e| (e - a) as usize % every == 0)
                        .map(|e| 10f64.powi(e))
                        .collect()
                }
            }
        }
    }
}

/// A colour for `t` in `[0, 1]` on a viridis-like map (dark purple → teal → yellow), as
/// `#rrggbb`. NaN gets grey.
pub fn color(t: f64) -> String {
    if t.is_nan() {
        return "#999999".into();
    }
    const STOPS: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// One plot's canvas: its size in SVG units, margins and the two axes' scales.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Width of the view box.
    pub w: f64,
    /// Height of the view box.
    pub h: f64,
    /// Left margin (room for y tick labels).
    pub left: f64,
    /// Right margin.
    pub right: f64,
    /// Top margin.
    pub top: f64,
    /// Bottom margin (room for x tick labels and the x label).
    pub bottom: f64,
    /// The x axis.
    pub x: Scale,
    /// The y axis.
    pub y: Scale,
}

impl Frame {
    /// A frame of the report's usual size for these scales.
    pub fn new(x: Scale, y: Scale) -> Frame {
        Frame {
            w: 480.0,
            h: 300.0,
            left: 58.0,
            right: 14.0,
            top: 12.0,
            bottom: 44.0,
            x,
            y,
        }
    }

    /// The x pixel of a data value.
    pub fn px(&self, v: f64) -> f64 {
        self.left + self.x.unit(v) * (self.w - self.left - self.right)
    }

    /// The y pixel of a data value (up is larger).
    pub fn py(&self, v: f64) -> f64 {
        self.h - self.bottom - self.y.unit(v) * (self.h - self.top - self.bottom)
    }

    /// Opens the plot's `<svg>` element (see [`svg_open`]).
    pub fn open(&self, kind: &str, title: &str) -> String {
        svg_open(self.w, self.h, kind, title, "")
    }

    /// The plot area's border, grid lines, tick labels and axis labels.
    pub fn axes(&self, x_label: &str, y_label: &str) -> String {
        let xt: Vec<(f64, String)> = self
            .x
            .ticks(6)
            .into_iter()
            .map(|t| (t, fmt_num(t)))
            .collect();
        self.axes_with(x_label, y_label, &xt)
    }

    /// [`Frame::axes`] with the x ticks given as `(value, label)` (categories, durations).
    pub fn axes_with(&self, x_label: &str, y_label: &str, x_ticks: &[(f64, String)]) -> String {
        let mut s = String::new();
        let (x0, x1) = (self.left, self.w - self.right);
        let (y0, y1) = (self.h - self.bottom, self.top);
        for t in self.y.ticks(5) {
            let y = self.py(t);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                x0 - 4.0,
                y + 4.0,
                esc(&fmt_num(t))
            );
        }
        for (t, label) in x_ticks {
            let x = self.px(*t);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                y0 + 15.0,
                esc(label)
            );
        }
        let _ = write!(
            s,
            r#"<rect class="border" x="{x0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}"/>"#,
            x1 - x0,
            y0 - y1
        );
        let _ = write!(
            s,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            self.h - 6.0,
            esc(x_label)
        );
        let _ = write!(
            s,
            r#"<text class="label" transform="translate(13 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (y0 + y1) / 2.0,
            esc(y_label)
        );
        s
    }
}

/// Opens a plot's `<svg class="plot" data-plot="KIND">` with a view box (the page's CSS
/// scales it to the column width) and an accessible title. `style` is inline CSS (trusted,
/// built by the caller), empty for none.
pub fn svg_open(w: f64, h: f64, kind: &str, title: &str, style: &str) -> String {
    format!(
        r#"<svg class="plot" data-plot="{}" viewBox="0 0 {w:.0} {h:.0}"{} role="img" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(kind),
        if style.is_empty() {
            String::new()
        } else {
            format!(r#" style="{}""#, esc(style))
        },
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            esc(r#"<script>alert("x&'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}[1mc\td"), "ab[1mc\td");
        assert_eq!(esc("λ=0.1 → ok"), "λ=0.1 → ok");
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(0.123456), "0.1235");
        assert_eq!(fmt_num(1234.5678), "1235");
        assert_eq!(fmt_num(1e-4), "1e-4");
        assert_eq!(fmt_num(2.5e7), "2.5e7");
        assert_eq!(fmt_num(-3.0), "-3");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(f64::NAN), "NaN");
    }

    #[test]
    fn linear_scale_maps_and_ticks_nicely() {
        let s = Scale::Linear { lo: 0.0, hi: 1.0 };
        assert_eq!(s.unit(0.25), 0.25);
        assert_eq!(s.ticks(5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let s = Scale::Linear { lo: -3.0, hi: 47.0 };
        assert_eq!(s.ticks(5), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        // A fitted scale pads by 5% and a single value gets a range around it.
        let f = Scale::fit([1.0, 3.0, f64::NAN], false);
        assert_eq!(f, Scale::Linear { lo: 0.9, hi: 3.1 });
        let one = Scale::fit([2.0], false);
        assert!(one.unit(2.0) > 0.0 && one.unit(2.0) < 1.0);
    }

    #[test]
    fn log_scale_is_logarithmic() {
        let s = Scale::Log { lo: 1e-4, hi: 1.0 };
        assert!((s.unit(1e-2) - 0.5).abs() < 1e-12);
        assert!(s.unit(0.0).is_nan());
        assert_eq!(s.ticks(5), vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0]);
        // Few decades get 1-2-5 ticks.
        let s = Scale::Log { lo: 1.0, hi: 20.0 };
        assert_eq!(s.ticks(5), vec![1.0, 2.0, 5.0, 10.0, 20.0]);
        // Many decades are thinned to about n ticks.
        let s = Scale::Log { lo: 1e-12, hi: 1.0 };
        assert!(s.ticks(5).len() <= 7);
        // Fitting ignores non-positive values and pads in log space.
        let f = Scale::fit([1e-3, 1e-1, 0.0, -1.0], true);
        assert!(f.is_log());
        assert!((f.unit(1e-2) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn frame_puts_larger_values_up() {
        let f = Frame::new(
            Scale::Linear { lo: 0.0, hi: 10.0 },
            Scale::Linear { lo: 0.0, hi: 1.0 },
        );
        assert!(f.py(1.0) < f.py(0.0));
        assert_eq!(f.px(0.0), f.left);
        assert_eq!(f.px(10.0), f.w - f.right);
        let axes = f.axes("run <number>", "acc");
        assert!(axes.contains("run &lt;number&gt;"));
    }

    #[test]
    fn colours_span_the_map() {
        assert_eq!(color(0.0), "#440154");
        assert_eq!(color(1.0), "#fde725");
        assert_eq!(color(f64::NAN), "#999999");
        assert_eq!(color(2.0), color(1.0));
    }
}
