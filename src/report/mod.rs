//! The self-contained HTML report of `sweep report` ([`html`], drawn from a
//! [`data::ReportData`] snapshot with the SVG pieces of [`svg`] and the parameter importance
//! estimate of [`importance`]; long metric series are cut to a bounded size by [`reduce`]).

pub mod data;
pub mod html;
pub mod importance;
pub mod reduce;
pub mod svg;

pub use data::{record_space, ReportData};

/// A sweep's elapsed time at `now`, seconds, as every view shows it (`sweep run`'s live
/// block and summary, `sweep status`, the report): the running time it has used across
/// every session that ran it (`active_seconds`, what `max_duration_minutes` counts), not
/// the wall time since it was created. A sweep that never recorded running time (a library
/// study, a history older than it) gets the wall time from its creation to its end or `now`.
pub fn elapsed_seconds(s: &crate::store::SweepRecord, now: f64) -> f64 {
    if s.active_seconds > 0.0 {
        s.active_seconds
    } else {
        s.ended.unwrap_or(now) - s.created
    }
}

/// What follows a count of candidates when some were run again (`, plus 2 retries`): a
/// retry stands for the candidate it retries, which `max_total_runs` counts once.
pub fn retries_note(retries: usize) -> String {
    match retries {
        0 => String::new(),
        1 => ", plus 1 retry".into(),
        n => format!(", plus {n} retries"),
    }
}
