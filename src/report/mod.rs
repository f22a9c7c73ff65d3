//! The self-contained HTML report of `sweep report` ([`html`], drawn from a
//! [`data::ReportData`] snapshot with the SVG pieces of [`svg`] and the parameter importance
//! estimate of [`importance`]; long metric series are cut to a bounded size by [`reduce`]).

pub mod data;
pub mod html;
pub mod importance;
pub mod reduce;
pub mod svg;

pub use data::{record_space, ReportData};

/// Formats seconds as `1h02m03s` / `2m03s` / `4.2s`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{secs:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(4.24), "4.2s");
        assert_eq!(format_duration(123.0), "2m03s");
        assert_eq!(format_duration(3723.0), "1h02m03s");
    }
}
