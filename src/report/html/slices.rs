//! The slice plots: one per parameter, its value against each scored run's best, the points
//! coloured by run number.

use super::plot::{axis_for, empty_figure, f1, figure, scored, short};
use crate::report::data::{category_of, param_of, ReportData};
use crate::report::svg::{color, esc, fmt_num, Frame, Scale};
use crate::store::RunRecord;
use std::fmt::Write as _;

/// One slice plot per parameter: its value against each run's best, coloured by run number.
pub(super) fn plot_slices(d: &ReportData) -> Vec<String> {
    let metric = &d.sweep.primary_metric;
    let pts = scored(d);
    let runs: Vec<&RunRecord> = pts.iter().map(|p| p.0).collect();
    let n_runs = d.runs.len().max(2) as f64;
    d.params
        .iter()
        .map(|p| {
            let title = format!("{metric} against {}", p.label());
            if pts.is_empty() {
                return empty_figure(&format!("Slice: {}", p.label()), "slice", &title, "no run has a value yet");
            }
            let a = axis_for(p, &runs);
            let cat = p.categories.is_some();
            let f = Frame::new(
                Scale::Linear { lo: 0.0, hi: 1.0 },
                Scale::fit(pts.iter().map(|p| p.1), false),
            );
            let mut s = f.open("slice", &title);
            let ticks: Vec<(f64, String)> = a
                .ticks
                .iter()
                .map(|(u, t)| (*u, short(t, 12)))
                .collect();
            let xl = format!(
                "{}{}",
                p.label(),
                if a.log { " (log axis)" } else { "" }
            );
            s.push_str(&f.axes_with(&xl, metric, &ticks));
            for (k, (r, v)) in pts.iter().enumerate() {
                let Some(mut u) = a.pos[k] else { continue };
                if cat {
                    // Spread a category's points sideways (deterministically) so they do
                    // not hide each other.
                    let width = 0.5 / a.ticks.len().max(1) as f64;
                    u += ((r.seq as f64 * 0.618_034).fract() - 0.5) * width;
                }
                let value = param_of(r, &p.name).map(category_of).unwrap_or_default();
                let _ = write!(
                    s,
                    r#"<circle class="slice-point" cx="{}" cy="{}" r="3.5" fill="{}" fill-opacity="0.85"><title>{}</title></circle>"#,
                    f1(f.px(u)),
                    f1(f.py(*v)),
                    color(r.seq as f64 / (n_runs - 1.0)),
                    esc(&format!(
                        "run {} (#{}): {}={value}, {metric}={}",
                        r.id,
                        r.seq + 1,
                        p.label(),
                        fmt_num(*v)
                    ))
                );
            }
            s.push_str("</svg>");
            figure(
                &format!("Slice: {}", p.label()),
                p.domain.as_deref().unwrap_or(""),
                &s,
                r#"<div class="legend"><span>colour: earlier runs dark, later runs yellow</span></div>"#,
                false,
            )
        })
        .collect()
}
