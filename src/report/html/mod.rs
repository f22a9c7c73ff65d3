//! The HTML report (`sweep report`): one self-contained page, no network, no external
//! scripts or fonts. This module assembles the page (head, facts, sections, footer); each plot
//! is drawn as SVG by its own module (`best`, `curves`, `parallel`, `slices`, `importance`),
//! the runs table by `table`, with the pieces they share in `plot`; the page's stylesheet and
//! table-sorting script are the files of `src/report/assets/`, included at build time. Every user string (names, parameters,
//! reasons, ids) is escaped with [`esc`].
//!
//! Each plot is an `<svg class="plot" data-plot="KIND">`; the marks inside carry classes the
//! tests (and anyone scripting the page) can count: `best-step`, `run-point`, `run-curve`,
//! `stop-mark`, `pc-line`, `slice-point`, `imp-bar`, `clipped`.

mod best;
mod curves;
mod importance;
mod parallel;
mod plot;
mod slices;
mod table;
#[cfg(test)]
mod tests;

pub use importance::importance_of;

use super::data::{policy_stopped, ReportData};
use super::svg::{esc, fmt_num};
use crate::human::format_duration;
use crate::store::{RunState, SweepState};
use jiff::Timestamp;
use std::fmt::Write as _;

/// The page's `<style>` element. The newline after the tag is part of the page as it has
/// always been rendered.
const STYLE: &str = concat!(
    "<style>\n",
    include_str!("../assets/report.css"),
    "</style>"
);

/// The page's one `<script>`: sorting the runs table by a clicked column.
const SCRIPT: &str = concat!(
    "<script>\n",
    include_str!("../assets/report.js"),
    "</script>"
);

/// The facts list at the top: the sweep, its state and limits, run counts, the best run with
/// its parameters and the command that reproduces it, and the source it ran from.
fn facts(d: &ReportData) -> String {
    let sw = &d.sweep;
    let mut rows: Vec<(String, String)> = Vec::new();
    rows.push(("sweep".into(), sw.id.clone()));
    rows.push((
        "state".into(),
        match &sw.reason {
            Some(r) => format!("{}: {r}", sw.state),
            None => sw.state.to_string(),
        },
    ));
    if let Some(e) = &sw.experiment {
        rows.push(("experiment".into(), e.clone()));
    }
    rows.push((
        "primary metric".into(),
        format!("{} ({})", sw.primary_metric, sw.goal),
    ));
    if let Some(x) = &sw.sampling {
        rows.push(("sampling".into(), x.clone()));
    }
    if let Some(x) = &sw.policy {
        rows.push(("early termination".into(), x.clone()));
    }
    let mut counts: Vec<(RunState, usize)> = Vec::new();
    for r in &d.runs {
        match counts.iter_mut().find(|c| c.0 == r.state) {
            Some(c) => c.1 += 1,
            None => counts.push((r.state, 1)),
        }
    }
    let stopped = d.runs.iter().filter(|r| policy_stopped(r)).count();
    // Candidates against `max_total_runs`, as `sweep status` counts them.
    let retries = d.runs.iter().filter(|r| r.retry_of.is_some()).count();
    rows.push((
        "runs".into(),
        format!(
            "{} of {}{} ({}){}",
            d.runs.len() - retries,
            sw.max_total_runs.unwrap_or(0),
            super::retries_note(retries),
            counts
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", "),
            if stopped > 0 {
                format!("; {stopped} stopped by the policy")
            } else {
                String::new()
            }
        ),
    ));
    rows.push((
        "elapsed".into(),
        format!(
            "{} (limit {})",
            format_duration(super::elapsed_seconds(sw, d.taken)),
            sw.max_duration_minutes
                .map(|m| format_duration(m * 60.0))
                .unwrap_or_else(|| "-".into())
        ),
    ));
    let best = plot::best_run(d);
    let mut out = String::from(r#"<dl class="facts">"#);
    for (k, v) in rows {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
    }
    match best {
        Some((r, v)) => {
            let _ = write!(
                out,
                "<dt>best run</dt><dd>{} with {}={}</dd><dt>its parameters</dt><dd><code>{}</code></dd>",
                esc(&r.id),
                esc(&sw.primary_metric),
                esc(&fmt_num(v)),
                esc(&plot::params_text(r))
            );
            if let Some(src) = &sw.source_dir {
                let _ = write!(
                    out,
                    "<dt>reproduce</dt><dd><code>{}</code></dd>",
                    esc(&crate::engine::argv::reproduce_command(src, &r.argv))
                );
            }
        }
        None => {
            let _ = write!(out, "<dt>best run</dt><dd>none yet</dd>");
        }
    }
    if let Some(c) = &sw.git_commit {
        let _ = write!(
            out,
            "<dt>source</dt><dd>{} at {}{}</dd>",
            esc(sw.source_dir.as_deref().unwrap_or("?")),
            esc(c),
            if sw.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        );
    }
    out.push_str("</dl>");
    out
}

/// Renders the whole report page.
pub fn render(d: &ReportData) -> String {
    let sw = &d.sweep;
    let mut s = String::with_capacity(64 * 1024 + d.runs.len() * 2048);
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"><title>{} · sweep report</title>{STYLE}</head><body><main>"#,
        esc(&sw.name)
    );
    let _ = write!(
        s,
        r#"<h1>{}</h1><p class="sub">sweep {} · {} · report of {}</p>"#,
        esc(&sw.name),
        esc(&sw.id),
        esc(sw.state.as_str()),
        esc(&unix_utc(d.taken))
    );
    if sw.state == SweepState::Running {
        s.push_str(r#"<p class="note">The sweep was still running: this is a snapshot. Run <code>sweep report</code> again for newer results.</p>"#);
    }
    s.push_str(&facts(d));
    s.push_str(r#"<h2>Progress</h2><section class="plots">"#);
    s.push_str(&best::plot_best_by_run(d));
    s.push_str(&best::plot_best_by_time(d));
    s.push_str(&curves::plot_curves(d));
    s.push_str("</section>");
    s.push_str(r#"<h2>Parameters</h2><section class="plots">"#);
    s.push_str(&parallel::plot_parallel(d));
    s.push_str(&importance::plot_importance(d));
    for f in slices::plot_slices(d) {
        s.push_str(&f);
    }
    s.push_str("</section>");
    let _ = write!(
        s,
        r#"<h2>Runs</h2><p class="sub">{} runs; click a column to sort.</p>"#,
        d.runs.len()
    );
    s.push_str(&table::runs_table(d));
    s.push_str(r#"<footer>Importance: each parameter's epsilon squared (the share of the variance of the runs' result ranks explained by the mean rank in bins of the parameter's value, corrected for the number of bins); a main-effect estimate that ignores interactions. Runs that failed never count as best. Generated by sweep; this file needs no network.</footer>"#);
    let _ = writeln!(s, "</main>{SCRIPT}</body></html>");
    s
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`, fractions of a second cut; a time outside the
/// years -9999 to 9999 shows as the earliest or latest one `jiff` represents.
pub fn unix_utc(t: f64) -> String {
    let secs = t.floor() as i64;
    let ts = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}
