//! The two best-so-far plots: the running best of the primary metric against run number
//! (with each run's own best as a point) and against time since the sweep started (one
//! step per improvement). Both draw their y axis over the robust range of
//! [`robust_range`], values beyond it on its edge and marked.

use super::plot::{
    better, beyond, clipped_mark, empty_figure, f1, figure, minimize, range_scale, robust_range,
    scored, C_DONE, C_POLICY,
};
use crate::human::format_duration;
use crate::report::data::ReportData;
use crate::report::svg::{esc, fmt_num, Frame, Scale};
use std::fmt::Write as _;

/// Best so far against run number: each run's best as a point, the running best as a step.
pub(super) fn plot_best_by_run(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("best {metric} so far by run number");
    let pts = scored(d);
    if pts.is_empty() {
        return empty_figure(
            "Best so far by run",
            "best-by-run",
            &title,
            "no run has a value yet",
        );
    }
    let min = minimize(d);
    let n = d.runs.len().max(1) as f64;
    let values: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let range = robust_range(d, &values);
    let at = |v: f64| if beyond(d, range, v) { range.0 } else { v };
    let f = Frame::new(
        Scale::Linear {
            lo: 0.5,
            hi: n + 0.5,
        },
        range_scale(range),
    );
    let mut s = f.open("best-by-run", &title);
    s.push_str(&f.axes("run number", metric));
    let mut path = String::new();
    let mut best: Option<f64> = None;
    for (r, v) in &pts {
        let x = r.seq as f64 + 1.0;
        match best {
            None => {
                let _ = write!(path, "M{} {}", f1(f.px(x)), f1(f.py(at(*v))));
                best = Some(*v);
            }
            Some(b) => {
                let _ = write!(path, " H{}", f1(f.px(x)));
                if better(min, *v, b) {
                    let _ = write!(path, " V{}", f1(f.py(at(*v))));
                    best = Some(*v);
                }
            }
        }
    }
    let _ = write!(path, " H{}", f1(f.px(n)));
    let mut clipped = 0;
    for (r, v) in &pts {
        let x = r.seq as f64 + 1.0;
        let tip = format!("run {} (#{}): {metric}={}", r.id, r.seq + 1, fmt_num(*v));
        let _ = write!(
            s,
            r#"<circle class="run-point" cx="{}" cy="{}" r="3" fill="{C_DONE}" fill-opacity="0.45"><title>{}</title></circle>"#,
            f1(f.px(x)),
            f1(f.py(at(*v))),
            esc(&tip)
        );
        if beyond(d, range, *v) {
            clipped += 1;
            s.push_str(&clipped_mark(&f, d, x, range.0, &tip));
        }
    }
    let _ = write!(
        s,
        r#"<path class="best-step" d="{path}" fill="none" stroke="{C_POLICY}" stroke-width="2"/></svg>"#
    );
    figure(
        "Best so far by run",
        &format!("{} ({}){}", metric, d.sweep.goal, clipped_note(d, clipped)),
        &s,
        &format!(
            r#"<div class="legend"><span><i style="border-color:{C_POLICY}"></i>best so far</span><span><i style="border-color:{C_DONE};border-top-style:dotted"></i>a run's best</span></div>"#
        ),
        false,
    )
}

/// Best so far against time since the sweep started, from every reported value of the runs
/// that did not fail.
pub(super) fn plot_best_by_time(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("best {metric} so far over time");
    // Improvements only, at most one per pixel-sized bucket of time (see `ReportData`).
    let steps = &d.best_over_time;
    if steps.is_empty() {
        return empty_figure(
            "Best so far over time",
            "best-by-time",
            &title,
            "no values reported yet",
        );
    }
    let end = (d.sweep.ended.unwrap_or(d.taken) - d.sweep.created)
        .max(steps.last().map(|s| s.0).unwrap_or(0.0));
    let values: Vec<f64> = steps.iter().map(|s| s.1).collect();
    let range = robust_range(d, &values);
    let at = |v: f64| if beyond(d, range, v) { range.0 } else { v };
    // Minutes read better than thousands of seconds.
    let (unit, div) = if end > 180.0 {
        ("minutes", 60.0)
    } else {
        ("seconds", 1.0)
    };
    let f = Frame::new(
        Scale::Linear {
            lo: 0.0,
            hi: (end / div).max(1e-9) * 1.02,
        },
        range_scale(range),
    );
    let mut s = f.open("best-by-time", &title);
    s.push_str(&f.axes(&format!("{unit} since the sweep started"), metric));
    let mut path = String::new();
    for (i, (t, v)) in steps.iter().enumerate() {
        if i == 0 {
            let _ = write!(path, "M{} {}", f1(f.px(t / div)), f1(f.py(at(*v))));
        } else {
            let _ = write!(path, " H{} V{}", f1(f.px(t / div)), f1(f.py(at(*v))));
        }
    }
    let _ = write!(path, " H{}", f1(f.px(end / div)));
    let _ = write!(
        s,
        r#"<path class="best-step" d="{path}" fill="none" stroke="{C_POLICY}" stroke-width="2"/>"#
    );
    let mut clipped = 0;
    for (t, v) in steps {
        let tip = format!("{metric}={} at {}", fmt_num(*v), format_duration(*t));
        let _ = write!(
            s,
            r#"<circle class="improvement" cx="{}" cy="{}" r="3" fill="{C_POLICY}"><title>{}</title></circle>"#,
            f1(f.px(t / div)),
            f1(f.py(at(*v))),
            esc(&tip)
        );
        if beyond(d, range, *v) {
            clipped += 1;
            s.push_str(&clipped_mark(&f, d, t / div, range.0, &tip));
        }
    }
    s.push_str("</svg>");
    figure(
        "Best so far over time",
        &format!("{} improvements{}", steps.len(), clipped_note(d, clipped)),
        &s,
        "",
        false,
    )
}

/// The caption's note about values drawn on the worst edge of the range, if any: the
/// bottom one maximizing, the top one minimizing.
fn clipped_note(d: &ReportData, clipped: usize) -> String {
    let (side, edge) = if minimize(d) {
        ("above", "top edge ▲")
    } else {
        ("below", "bottom edge ▼")
    };
    match clipped {
        0 => String::new(),
        1 => format!("; 1 value {side} the axis, drawn on its {edge}"),
        n => format!("; {n} values {side} the axis, drawn on its {edge}"),
    }
}
