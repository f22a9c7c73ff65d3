//! The parallel-coordinates plot: one vertical axis per parameter and one for the primary
//! metric, one line per scored run coloured by its result.

use super::plot::{axis_for, empty_figure, f1, figure, minimize, params_text, scored, short, Axis};
use crate::report::data::ReportData;
use crate::report::svg::{color, esc, fmt_num, svg_open, Scale};
use crate::store::RunRecord;
use std::fmt::Write as _;

/// Parallel coordinates: one vertical axis per parameter and one for the metric, one line per
/// run coloured by its result (yellow is better).
pub(super) fn plot_parallel(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("parallel coordinates of the parameters, coloured by {metric}");
    let pts = scored(d);
    if pts.is_empty() || d.params.is_empty() {
        return empty_figure(
            "Parallel coordinates",
            "parallel",
            &title,
            "no run has a value yet",
        );
    }
    let runs: Vec<&RunRecord> = pts.iter().map(|p| p.0).collect();
    let mut axes: Vec<(String, String, Axis)> = d
        .params
        .iter()
        .map(|p| {
            let a = axis_for(p, &runs);
            (p.label().to_string(), p.name.clone(), a)
        })
        .collect();
    let msc = Scale::fit(pts.iter().map(|p| p.1), false);
    axes.push((
        metric.clone(),
        metric.clone(),
        Axis {
            pos: pts.iter().map(|p| Some(msc.unit(p.1))).collect(),
            ticks: msc
                .ticks(5)
                .into_iter()
                .map(|t| (msc.unit(t), fmt_num(t)))
                .collect(),
            log: false,
        },
    ));
    let n = axes.len();
    let w = (110.0 * n as f64).max(480.0);
    let h = 300.0;
    let (top, bottom, side) = (34.0, 16.0, 50.0);
    let ax_x = |i: usize| side + (w - 2.0 * side) * i as f64 / (n - 1).max(1) as f64;
    let ax_y = |u: f64| h - bottom - u.clamp(0.0, 1.0) * (h - top - bottom);
    // Many axes: keep them legible on a phone by scrolling sideways instead of shrinking.
    let style = if n > 5 {
        format!("min-width:{:.0}px", w * 0.7)
    } else {
        String::new()
    };
    let mut s = svg_open(w, h, "parallel", &title, &style);
    let min = minimize(d);
    let mut order: Vec<usize> = (0..pts.len()).collect();
    // The best runs are drawn last, on top.
    order.sort_by(|a, b| {
        let (x, y) = (pts[*a].1, pts[*b].1);
        if min {
            y.total_cmp(&x)
        } else {
            x.total_cmp(&y)
        }
    });
    for k in order {
        let (r, v) = pts[k];
        let t = msc.unit(v);
        let c = color(if min { 1.0 - t } else { t });
        let mut path = String::new();
        let mut pen = false;
        for (i, (_, _, a)) in axes.iter().enumerate() {
            match a.pos[k] {
                Some(u) => {
                    let _ = write!(
                        path,
                        "{}{} {}",
                        if pen { "L" } else { "M" },
                        f1(ax_x(i)),
                        f1(ax_y(u))
                    );
                    pen = true;
                }
                None => pen = false,
            }
        }
        let _ = write!(
            s,
            r#"<path class="pc-line" d="{path}" fill="none" stroke="{c}" stroke-width="1.3" stroke-opacity="0.8"><title>{}</title></path>"#,
            esc(&format!(
                "run {}: {metric}={} {}",
                r.id,
                fmt_num(v),
                params_text(r)
            ))
        );
    }
    for (i, (label, full, a)) in axes.iter().enumerate() {
        let x = ax_x(i);
        let _ = write!(
            s,
            r#"<line class="axis" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/><text class="label" x="{x:.1}" y="14" text-anchor="middle">{}<title>{}</title></text>"#,
            ax_y(0.0),
            ax_y(1.0),
            esc(&short(label, 16)),
            esc(&format!("{full}{}", if a.log { " (log axis)" } else { "" }))
        );
        if a.log {
            let _ = write!(
                s,
                r#"<text class="tick" x="{x:.1}" y="27" text-anchor="middle">log</text>"#
            );
        }
        for (u, t) in &a.ticks {
            let _ = write!(
                s,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="start" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"#,
                x + 3.0,
                ax_y(*u) + 4.0,
                esc(&short(t, 12))
            );
        }
    }
    s.push_str("</svg>");
    let legend = format!(
        r#"<div class="legend"><span style="display:inline-block;width:120px;height:10px;background:linear-gradient(90deg,{},{},{},{})"></span><span>worse {metric} → better</span></div>"#,
        color(0.0),
        color(0.33),
        color(0.66),
        color(1.0),
        metric = esc(metric)
    );
    // Up to 5 axes fit a plot of the usual size; more get the page's full width.
    figure(
        "Parallel coordinates",
        &format!("{} runs with a value", pts.len()),
        &s,
        &legend,
        n > 5,
    )
}
