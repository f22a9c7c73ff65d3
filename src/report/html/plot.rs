//! What the plots share: the colours of how a run ended, the runs that count for "best" and
//! the best run, a plot's `<figure>` with its caption, the empty plot drawn when there is
//! nothing to show, the robust y range of the best-so-far plots with its marks for values
//! beyond it, and the axis of a parameter (used by the parallel-coordinates and slice
//! plots).

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

/// The ids of the runs that failed: their values never count for "best".
pub(super) fn failed_ids(d: &ReportData) -> std::collections::HashSet<&str> {
    d.runs
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .map(|r| r.id.as_str())
        .collect()
}

/// The best run: the best value among [`scored`] runs, for the sweep's goal (the first of
/// equal ones).
pub(super) fn best_run(d: &ReportData) -> Option<(&RunRecord, f64)> {
    let min = minimize(d);
    scored(d).into_iter().fold(None, |acc, (r, v)| match acc {
        Some((_, b)) if !better(min, v, b) => acc,
        _ => Some((r, v)),
    })
}

/// The share of the values after the first interval below which (above which, minimizing)
/// a best-so-far plot's y axis does not reach: see [`robust_range`].
const ROBUST_QUANTILE: f64 = 0.1;

/// At least this many values after the first interval before a plot's range is narrowed.
const ROBUST_MIN_VALUES: usize = 5;

/// The y range of a best-so-far plot, `(worst, best)` edges, with `shown` (the running
/// best's steps or each run's best) drawn within it. A first interval's value is often far
/// worse than anything after it (an untrained model's accuracy), and an axis stretched to
/// it squashes the region that matters into a few pixels; so the worst edge is the 10th
/// percentile (90th, minimizing) of the finite values reported after each run's first
/// interval (as the learning curves draw them: a long curve is reduced), when a shown value is worse than it (and there are at least
/// [`ROBUST_MIN_VALUES`] such values). The best edge is the best shown value. Values
/// beyond the worst edge are drawn on it, marked (see [`clipped_mark`]).
pub(super) fn robust_range(d: &ReportData, shown: &[f64]) -> (f64, f64) {
    let min = minimize(d);
    let worst_of = |a: f64, b: f64| if better(min, a, b) { b } else { a };
    let best_of = |a: f64, b: f64| if better(min, a, b) { a } else { b };
    let Some(first) = shown.first().copied() else {
        return (0.0, 1.0);
    };
    let best = shown.iter().copied().fold(first, best_of);
    let worst = shown.iter().copied().fold(first, worst_of);
    let failed = failed_ids(d);
    // The learning curves as drawn (long ones reduced, their extremes kept): the report
    // does not hold every value a long sweep recorded.
    let mut later: Vec<f64> = d
        .curves
        .iter()
        .filter(|c| !failed.contains(c.run_id.as_str()))
        .flat_map(|c| c.points.iter())
        .filter(|(interval, v)| *interval > 1 && v.is_finite())
        .map(|&(_, v)| v)
        .collect();
    if later.len() < ROBUST_MIN_VALUES {
        return (worst, best);
    }
    later.sort_by(f64::total_cmp);
    // Nearest rank, counted from the worst end.
    let rank = ((later.len() as f64 * ROBUST_QUANTILE).ceil() as usize).clamp(1, later.len()) - 1;
    let edge = if min {
        later[later.len() - 1 - rank]
    } else {
        later[rank]
    };
    if better(min, worst, edge) || worst == edge || !better(min, best, edge) {
        (worst, best)
    } else {
        (edge, best)
    }
}

/// The y scale for a `(worst, best)` range.
pub(super) fn range_scale((worst, best): (f64, f64)) -> Scale {
    Scale::fit([worst, best], false)
}

/// Whether `v` lies beyond the worst edge of a plot's range.
pub(super) fn beyond(d: &ReportData, (worst, _): (f64, f64), v: f64) -> bool {
    better(minimize(d), worst, v)
}

/// A value beyond the worst edge of a plot's range, drawn on the edge: a small triangle
/// pointing off the plot (down when the worst values are low), with the real value in its
/// tooltip.
pub(super) fn clipped_mark(f: &Frame, d: &ReportData, x: f64, y: f64, tip: &str) -> String {
    // Maximizing, the worst values are below the axis: the triangle points down.
    let dir = if minimize(d) { -1.0 } else { 1.0 };
    let (px, py) = (f.px(x), f.py(y));
    format!(
        r#"<path class="clipped" d="M{} {} L{} {} L{} {} Z" fill="{C_POLICY}"><title>{}</title></path>"#,
        f1(px - 4.0),
        f1(py),
        f1(px + 4.0),
        f1(py),
        f1(px),
        f1(py + 6.0 * dir),
        esc(tip)
    )
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
