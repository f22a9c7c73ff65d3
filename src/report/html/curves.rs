//! The learning curves: the primary metric at each interval, one line per run, coloured by
//! how the run ended; runs a policy stopped are dashed with a cross where they stopped.

use super::plot::{empty_figure, f1, figure, C_DONE, C_FAILED, C_LIVE, C_OTHER, C_POLICY};
use crate::report::data::{policy_stopped, Curve, ReportData};
use crate::report::svg::{esc, fmt_num, Frame, Scale};
use crate::store::RunRecord;
use std::fmt::Write as _;

/// The primary metric per run over intervals; runs a policy stopped are dashed and marked
/// with a cross where they stopped.
pub(super) fn plot_curves(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("{metric} per interval, one line per run");
    let finite: Vec<f64> = d
        .curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .collect();
    if finite.is_empty() {
        return empty_figure(
            "Learning curves",
            "curves",
            &title,
            "no values reported yet",
        );
    }
    let by_id: std::collections::HashMap<&str, &RunRecord> =
        d.runs.iter().map(|r| (r.id.as_str(), r)).collect();
    // How many values each run reported: its curve may keep fewer.
    let reported = |c: &Curve| {
        by_id
            .get(c.run_id.as_str())
            .map_or(c.points.last().map_or(0, |p| p.0), |r| r.intervals)
    };
    let max_i = d.curves.iter().map(reported).max().unwrap_or(1).max(1) as f64;
    let f = Frame::new(
        Scale::Linear {
            lo: if max_i > 1.0 { 1.0 } else { 0.5 },
            hi: if max_i > 1.0 { max_i } else { 1.5 },
        },
        Scale::fit(finite.iter().copied(), false),
    );
    let mut s = f.open("curves", &title);
    let xt: Vec<(f64, String)> =
        f.x.ticks(6)
            .into_iter()
            .filter(|t| t.fract() == 0.0 && *t >= 1.0)
            .map(|t| (t, fmt_num(t)))
            .collect();
    s.push_str(&f.axes_with("interval", metric, &xt));
    let mut marks = String::new();
    let mut counts = [0usize; 5];
    for c in &d.curves {
        let run = by_id.get(c.run_id.as_str());
        let stopped = run.is_some_and(|r| policy_stopped(r));
        let state = run.map(|r| r.state.as_str()).unwrap_or("");
        let (colour, dash, k) = if stopped {
            (C_POLICY, r#" stroke-dasharray="5 3""#, 1)
        } else {
            match state {
                "completed" => (C_DONE, "", 0),
                "failed" => (C_FAILED, "", 2),
                "running" | "starting" | "queued" => (C_LIVE, "", 3),
                _ => (C_OTHER, "", 4),
            }
        };
        counts[k] += 1;
        let mut pts = String::new();
        let mut last: Option<(f64, f64, i64)> = None;
        for &(interval, value) in &c.points {
            let (x, y) = (f.px(interval as f64), f.py(value));
            let _ = write!(pts, "{},{} ", f1(x), f1(y));
            last = Some((x, y, interval));
        }
        let n = reported(c);
        let label = match run {
            Some(r) => format!(
                "run {} ({}{}): {} intervals",
                r.id,
                r.state,
                r.reason
                    .as_ref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default(),
                n
            ),
            None => format!("run {}", c.run_id),
        };
        let _ = write!(
            s,
            r#"<polyline class="run-curve" data-state="{}" points="{}" fill="none" stroke="{colour}" stroke-width="1.4" stroke-opacity="0.75"{dash}><title>{}</title></polyline>"#,
            esc(if stopped { "policy" } else { state }),
            pts.trim_end(),
            esc(&label)
        );
        if let Some((x, y, at)) = last {
            if stopped {
                let _ = write!(
                    marks,
                    r#"<path class="stop-mark" d="M{} {}L{} {}M{} {}L{} {}" stroke="{C_POLICY}" stroke-width="2"><title>{}</title></path>"#,
                    f1(x - 4.0),
                    f1(y - 4.0),
                    f1(x + 4.0),
                    f1(y + 4.0),
                    f1(x - 4.0),
                    f1(y + 4.0),
                    f1(x + 4.0),
                    f1(y - 4.0),
                    esc(&format!(
                        "run {} stopped at interval {at}: {}",
                        c.run_id,
                        run.and_then(|r| r.reason.as_ref())
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ))
                );
            } else if n == 1 {
                let _ = write!(
                    marks,
                    r#"<circle class="single" cx="{}" cy="{}" r="2.5" fill="{colour}"/>"#,
                    f1(x),
                    f1(y)
                );
            }
        }
    }
    s.push_str(&marks);
    s.push_str("</svg>");
    let names = [
        (C_DONE, "", "completed"),
        (
            C_POLICY,
            "dashed",
            "stopped by the policy (× where it stopped)",
        ),
        (C_FAILED, "", "failed"),
        (C_LIVE, "", "still running"),
        (C_OTHER, "", "canceled otherwise"),
    ];
    let mut legend = String::from(r#"<div class="legend">"#);
    for (k, (c, style, name)) in names.iter().enumerate() {
        if counts[k] > 0 {
            let _ = write!(
                legend,
                r#"<span><i style="border-color:{c}{}"></i>{} {}</span>"#,
                if style.is_empty() {
                    String::new()
                } else {
                    format!(";border-top-style:{style}")
                },
                counts[k],
                esc(name)
            );
        }
    }
    legend.push_str("</div>");
    figure(
        "Learning curves",
        &format!("{metric} at each interval"),
        &s,
        &legend,
        false,
    )
}
