//! What the plots share: the colours of how a run ended, the runs that count for "best",
//! a plot's `<figure>` with its caption, the empty plot drawn when there is nothing to show,
//! and the axis of a parameter (used by the parallel-coordinates and slice plots).

use crate::report::data::{category_of, param_of, value_num, ParamInfo, ReportData};
use crate::report::svg::{esc, fmt_num, Frame, Scale};
use crate::store::{RunRecord, RunState};

/// Colours of run curves by how the run ended.
pub(super) const C_DONE: &str = "#3b6fb6";
pub(super) const C_POLICY: &str = "#d1495b";
pub(super) const C_FAILED: &str = "#a3aab5";
pub(super) const C_LIVE: &str = "#2a9d8f";
pub(super) const C_OTHER: &str = "#e89f3c";

/// A coordinate as the plots write it: one decimal.
pub(super) fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// Whether the sweep minimizes its primary metric.
pub(super) fn minimize(d: &ReportData) -> bool {
    d.sweep.goal == "minimize"
}

/// Whether `a` is better than `b` for the sweep's goal.
pub(super) fn better(min: bool, a: f64, b: f64) -> bool {
    if min {
        a < b
    } else {
        a > b
    }
}

/// Runs that count for "best": not failed, with a finite best value.
pub(super) fn scored(d: &ReportData) -> Vec<(&RunRecord, f64)> {
    d.runs
        .iter()
        .filter(|r| r.state != RunState::Failed)
        .filter_map(|r| r.best.filter(|b| b.is_finite()).map(|b| (r, b)))
        .collect()
}

/// An empty plot frame with a line saying why there is nothing to draw.
pub(super) fn empty_plot(kind: &str, title: &str, why: &str) -> String {
    let f = Frame::new(
        Scale::Linear { lo: 0.0, hi: 1.0 },
        Scale::Linear { lo: 0.0, hi: 1.0 },
    );
    format!(
        r#"{}<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></svg>"#,
        f.open(kind, title),
        f.w / 2.0,
        f.h / 2.0,
        esc(why)
    )
}

/// A plot in its `<figure>`: a caption with an optional note, the SVG, then `extra` (a
/// legend). A wide figure spans the whole grid row.
pub(super) fn figure(caption: &str, note: &str, svg: &str, extra: &str, wide: bool) -> String {
    format!(
        r#"<figure{}><figcaption>{}{}</figcaption>{svg}{extra}</figure>"#,
        if wide { r#" class="wide""# } else { "" },
        esc(caption),
        if note.is_empty() {
            String::new()
        } else {
            format!(" <small>{}</small>", esc(note))
        }
    )
}

/// A figure holding only an empty plot: what a plot shows when there is nothing to draw.
pub(super) fn empty_figure(caption: &str, kind: &str, title: &str, why: &str) -> String {
    figure(caption, "", &empty_plot(kind, title, why), "", false)
}

/// A run's parameters as `name=value` pairs, names without leading dashes, for tooltips.
pub(super) fn params_text(r: &RunRecord) -> String {
    r.params
        .iter()
        .map(|(n, v)| format!("{}={}", n.trim_start_matches('-'), category_of(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parameter's axis: the position in `[0, 1]` of each run's value, and tick labels.
pub(super) struct Axis {
    pub(super) pos: Vec<Option<f64>>,
    pub(super) ticks: Vec<(f64, String)>,
    pub(super) log: bool,
}

/// The axis of parameter `p` for `runs`: its categories in config order, then any other value
/// seen; or a linear or log scale fitted to the numbers (log only where all are positive).
pub(super) fn axis_for(p: &ParamInfo, runs: &[&RunRecord]) -> Axis {
    if let Some(cats) = &p.categories {
        let mut cats = cats.clone();
        for r in runs {
            if let Some(v) = param_of(r, &p.name) {
                let c = category_of(v);
                if !cats.contains(&c) {
                    cats.push(c);
                }
            }
        }
        let n = cats.len().max(1) as f64;
        let at = |i: usize| (i as f64 + 0.5) / n;
        let pos = runs
            .iter()
            .map(|r| {
                param_of(r, &p.name).map(|v| {
                    let c = category_of(v);
                    at(cats.iter().position(|x| *x == c).unwrap_or(0))
                })
            })
            .collect();
        let ticks = cats
            .iter()
            .enumerate()
            .map(|(i, c)| (at(i), c.clone()))
            .collect();
        return Axis {
            pos,
            ticks,
            log: false,
        };
    }
    let vals: Vec<Option<f64>> = runs
        .iter()
        .map(|r| param_of(r, &p.name).and_then(value_num))
        .collect();
    let log = p.log && vals.iter().flatten().all(|v| *v > 0.0);
    let sc = Scale::fit(vals.iter().flatten().copied(), log);
    Axis {
        pos: vals
            .iter()
            .map(|v| v.map(|v| sc.unit(v)).filter(|u| u.is_finite()))
            .collect(),
        ticks: sc
            .ticks(5)
            .into_iter()
            .map(|t| (sc.unit(t), fmt_num(t)))
            .collect(),
        log,
    }
}

/// `s` cut to `n` characters, the last one an ellipsis when cut.
pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
