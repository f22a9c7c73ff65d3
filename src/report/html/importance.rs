//! The parameter-importance plot: one bar per parameter, longest first, from the estimate of
//! [`crate::report::importance`] over the scored runs.

use super::plot::{empty_figure, figure, scored, short, C_DONE};
use crate::report::data::{category_of, param_of, value_num, ParamInfo, ReportData};
use crate::report::importance::{importance, Feature};
use crate::report::svg::{esc, svg_open};
use std::fmt::Write as _;

/// Each parameter's importance (see [`importance`]) over the runs that count for "best",
/// in parameter order: one feature column per parameter, log10 of the value on a log axis;
/// `None` where there is too little to estimate.
pub fn importance_of(d: &ReportData) -> Vec<Option<f64>> {
    let pts = scored(d);
    let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let cols: Vec<Vec<Feature>> = d
        .params
        .iter()
        .map(|p| {
            pts.iter()
                .map(|(r, _)| match param_of(r, &p.name) {
                    None => Feature::Absent,
                    Some(v) if p.categories.is_some() => Feature::Cat(category_of(v)),
                    Some(v) => match value_num(v) {
                        Some(x) if p.log && x > 0.0 => Feature::Num(x.log10()),
                        Some(x) => Feature::Num(x),
                        None => Feature::Cat(category_of(v)),
                    },
                })
                .collect()
        })
        .collect();
    importance(&cols, &y)
}

/// The importance plot: one bar per parameter, the most important first.
pub(super) fn plot_importance(d: &ReportData) -> String {
    let imp = importance_of(d);
    let title = "parameter importance (epsilon squared of binned means of the result ranks)";
    if d.params.is_empty() || imp.iter().all(|v| v.is_none()) {
        return empty_figure(
            "Parameter importance",
            "importance",
            title,
            "needs at least 4 runs with a value",
        );
    }
    let mut rows: Vec<(&ParamInfo, f64)> = d
        .params
        .iter()
        .zip(&imp)
        .map(|(p, v)| (p, v.unwrap_or(0.0)))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (w, left, right, row) = (480.0, 130.0, 60.0, 26.0);
    let h = 30.0 + row * rows.len() as f64;
    let scale = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(0.05);
    let mut s = svg_open(w, h, "importance", title, "");
    for (i, (p, v)) in rows.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let bw = (w - left - right) * v / scale;
        let _ = write!(
            s,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}<title>{}</title></text><rect class="imp-bar" x="{left:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{C_DONE}"><title>{}</title></rect><text class="tick" x="{:.1}" y="{:.1}">{}</text>"#,
            left - 6.0,
            y + row * 0.5 + 1.0,
            esc(&short(p.label(), 18)),
            esc(&p.name),
            bw.max(0.5),
            row - 8.0,
            esc(&format!("{}: {:.3}", p.name, v)),
            left + bw.max(0.5) + 4.0,
            y + row * 0.5 + 1.0,
            esc(&format!("{v:.2}"))
        );
    }
    s.push_str("</svg>");
    figure(
        "Parameter importance",
        &format!(
            "share of the result-rank variance each parameter explains alone, from {} runs",
            scored(d).len()
        ),
        &s,
        "",
        false,
    )
}
