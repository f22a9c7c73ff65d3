//! The HTML report (`sweep report`): one self-contained page, no network, no external
//! scripts or fonts. Plots are SVG drawn here; a few lines of inline JavaScript sort the runs
//! table. Every user string (names, parameters, reasons, ids) is escaped with [`esc`].
//!
//! Each plot is an `<svg class="plot" data-plot="KIND">`; the marks inside carry classes the
//! tests (and anyone scripting the page) can count: `best-step`, `run-point`, `run-curve`,
//! `stop-mark`, `pc-line`, `slice-point`, `imp-bar`.

use super::data::{category_of, param_of, policy_stopped, value_num, ParamInfo, ReportData};
use super::format_duration;
use super::importance::{importance, Feature};
use super::svg::{color, esc, fmt_num, svg_open, Frame, Scale};
use crate::store::{RunRecord, RunState, SweepState};
use std::fmt::Write as _;

const CSS: &str = r#"
:root{--fg:#1d2433;--muted:#5b6475;--line:#d9dee7;--bg:#fff;--panel:#f6f8fb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1280px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:1.15em;margin:28px 0 8px}
.sub{color:var(--muted);margin:0 0 12px;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;background:var(--panel);padding:10px 12px;border-radius:6px}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.note{background:#fff7e0;border:1px solid #f0d48a;padding:6px 10px;border-radius:6px;margin:10px 0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:14px}
figure{margin:0;padding:8px;border:1px solid var(--line);border-radius:6px;overflow-x:auto;min-width:0}
figure.wide{grid-column:1/-1}
figcaption{font-weight:600;margin:0 0 4px}
figcaption small{font-weight:400;color:var(--muted)}
svg.plot{display:block;width:100%;height:auto}
svg .grid{stroke:#edf0f5;stroke-width:1}
svg .border{fill:none;stroke:#b8c0cc}
svg .tick{font-size:11px;fill:#5b6475}
svg .label{font-size:12px;fill:#1d2433}
svg .empty{font-size:14px;fill:#5b6475}
svg .axis{stroke:#8a93a3;stroke-width:1}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:var(--muted);margin-top:4px}
.legend i{display:inline-block;width:18px;height:0;border-top:2px solid;vertical-align:middle;margin-right:4px}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{position:sticky;top:0;background:var(--panel);cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}
th[aria-sort=descending]::after{content:" \25BC"}
tr.failed td{color:#8a93a3}
tr.policy td:nth-child(3){color:#c0392b}
footer{color:var(--muted);font-size:12.5px;margin:28px 0 8px}
@media (max-width:600px){main{padding:8px}h1{font-size:1.25em}dl.facts{grid-template-columns:1fr}dl.facts dt{margin-top:4px}svg .tick{font-size:15px}svg .label{font-size:16px}}
"#;

const SORT_JS: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('thead th').forEach(function(th, i){
    th.addEventListener('click', function(){
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      table.querySelectorAll('thead th').forEach(function(h){ h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      var num = th.getAttribute('data-type') === 'num';
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = a.cells[i].getAttribute('data-v'), y = b.cells[i].getAttribute('data-v');
        if (num) {
          x = x === '' ? NaN : Number(x); y = y === '' ? NaN : Number(y);
          if (isNaN(x)) return isNaN(y) ? 0 : 1;
          if (isNaN(y)) return -1;
          return (x - y) * dir;
        }
        if (x === '') return y === '' ? 0 : 1;
        if (y === '') return -1;
        return x.localeCompare(y) * dir;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"#;

/// Colours of run curves by how the run ended.
const C_DONE: &str = "#3b6fb6";
const C_POLICY: &str = "#d1495b";
const C_FAILED: &str = "#a3aab5";
const C_LIVE: &str = "#2a9d8f";
const C_OTHER: &str = "#e89f3c";

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

fn minimize(d: &ReportData) -> bool {
    d.sweep.goal == "minimize"
}

/// Whether `a` is better than `b` for the sweep's goal.
fn better(min: bool, a: f64, b: f64) -> bool {
    if min {
        a < b
    } else {
        a > b
    }
}

/// Runs that count for "best": not failed, with a finite best value.
fn scored(d: &ReportData) -> Vec<(&RunRecord, f64)> {
    d.runs
        .iter()
        .filter(|r| r.state != RunState::Failed)
        .filter_map(|r| r.best.filter(|b| b.is_finite()).map(|b| (r, b)))
        .collect()
}

fn empty_plot(kind: &str, title: &str, why: &str) -> String {
    let f = Frame::new(
        Scale::Linear { lo: 0.0, hi: 1.0 },
        Scale::Linear { lo: 0.0, hi: 1.0 },
    );
    format!(
        r#"{}<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></svg>"#,
        plot_open(&f, kind, title),
        f.w / 2.0,
        f.h / 2.0,
        esc(why)
    )
}

fn plot_open(f: &Frame, kind: &str, title: &str) -> String {
    f.open(kind, title)
}

fn figure(caption: &str, note: &str, svg: &str, extra: &str, wide: bool) -> String {
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

/// Best so far against run number: each run's best as a point, the running best as a step.
fn plot_best_by_run(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("best {metric} so far by run number");
    let pts = scored(d);
    if pts.is_empty() {
        let e = empty_plot("best-by-run", &title, "no run has a value yet");
        return figure("Best so far by run", "", &e, "", false);
    }
    let min = minimize(d);
    let n = d.runs.len().max(1) as f64;
    let f = Frame::new(
        Scale::Linear {
            lo: 0.5,
            hi: n + 0.5,
        },
        Scale::fit(pts.iter().map(|p| p.1), false),
    );
    let mut s = plot_open(&f, "best-by-run", &title);
    s.push_str(&f.axes("run number", metric));
    let mut path = String::new();
    let mut best: Option<f64> = None;
    for (r, v) in &pts {
        let x = r.seq as f64 + 1.0;
        match best {
            None => {
                let _ = write!(path, "M{} {}", f1(f.px(x)), f1(f.py(*v)));
                best = Some(*v);
            }
            Some(b) => {
                let _ = write!(path, " H{}", f1(f.px(x)));
                if better(min, *v, b) {
                    let _ = write!(path, " V{}", f1(f.py(*v)));
                    best = Some(*v);
                }
            }
        }
    }
    let _ = write!(path, " H{}", f1(f.px(n)));
    for (r, v) in &pts {
        let _ = write!(
            s,
            r#"<circle class="run-point" cx="{}" cy="{}" r="3" fill="{C_DONE}" fill-opacity="0.45"><title>{}</title></circle>"#,
            f1(f.px(r.seq as f64 + 1.0)),
            f1(f.py(*v)),
            esc(&format!(
                "run {} (#{}): {metric}={}",
                r.id,
                r.seq + 1,
                fmt_num(*v)
            ))
        );
    }
    let _ = write!(
        s,
        r#"<path class="best-step" d="{path}" fill="none" stroke="{C_POLICY}" stroke-width="2"/></svg>"#
    );
    figure(
        "Best so far by run",
        &format!("{} ({})", metric, d.sweep.goal),
        &s,
        &format!(
            r#"<div class="legend"><span><i style="border-color:{C_POLICY}"></i>best so far</span><span><i style="border-color:{C_DONE};border-top-style:dotted"></i>a run's best</span></div>"#
        ),
        false,
    )
}

/// Best so far against time since the sweep started, from every reported value.
fn plot_best_by_time(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("best {metric} so far over time");
    let failed: std::collections::HashSet<&str> = d
        .runs
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .map(|r| r.id.as_str())
        .collect();
    let mut pts: Vec<(f64, f64)> = d
        .metrics
        .iter()
        .filter(|m| m.value.is_finite() && !failed.contains(m.run_id.as_str()))
        .map(|m| (m.time - d.sweep.created, m.value))
        .collect();
    if pts.is_empty() {
        let e = empty_plot("best-by-time", &title, "no values reported yet");
        return figure("Best so far over time", "", &e, "", false);
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let min = minimize(d);
    let mut steps: Vec<(f64, f64)> = Vec::new();
    for (t, v) in pts {
        match steps.last() {
            Some((_, b)) if !better(min, v, *b) => {}
            _ => steps.push((t, v)),
        }
    }
    let end = (d.sweep.ended.unwrap_or(d.taken) - d.sweep.created)
        .max(steps.last().map(|s| s.0).unwrap_or(0.0));
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
        Scale::fit(steps.iter().map(|s| s.1), false),
    );
    let mut s = plot_open(&f, "best-by-time", &title);
    s.push_str(&f.axes(&format!("{unit} since the sweep started"), metric));
    let mut path = String::new();
    for (i, (t, v)) in steps.iter().enumerate() {
        if i == 0 {
            let _ = write!(path, "M{} {}", f1(f.px(t / div)), f1(f.py(*v)));
        } else {
            let _ = write!(path, " H{} V{}", f1(f.px(t / div)), f1(f.py(*v)));
        }
    }
    let _ = write!(path, " H{}", f1(f.px(end / div)));
    let _ = write!(
        s,
        r#"<path class="best-step" d="{path}" fill="none" stroke="{C_POLICY}" stroke-width="2"/>"#
    );
    for (t, v) in &steps {
        let _ = write!(
            s,
            r#"<circle class="improvement" cx="{}" cy="{}" r="3" fill="{C_POLICY}"><title>{}</title></circle>"#,
            f1(f.px(t / div)),
            f1(f.py(*v)),
            esc(&format!(
                "{metric}={} at {}",
                fmt_num(*v),
                format_duration(*t)
            ))
        );
    }
    s.push_str("</svg>");
    figure(
        "Best so far over time",
        &format!("{} improvements", steps.len()),
        &s,
        "",
        false,
    )
}

/// The primary metric per run over intervals; runs a policy stopped are dashed and marked
/// with a cross where they stopped.
fn plot_curves(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("{metric} per interval, one line per run");
    let finite: Vec<f64> = d
        .metrics
        .iter()
        .map(|m| m.value)
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        let e = empty_plot("curves", &title, "no values reported yet");
        return figure("Learning curves", "", &e, "", false);
    }
    let max_i = d
        .metrics
        .iter()
        .map(|m| m.interval)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let f = Frame::new(
        Scale::Linear {
            lo: if max_i > 1.0 { 1.0 } else { 0.5 },
            hi: if max_i > 1.0 { max_i } else { 1.5 },
        },
        Scale::fit(finite.iter().copied(), false),
    );
    let mut s = plot_open(&f, "curves", &title);
    let xt: Vec<(f64, String)> =
        f.x.ticks(6)
            .into_iter()
            .filter(|t| t.fract() == 0.0 && *t >= 1.0)
            .map(|t| (t, fmt_num(t)))
            .collect();
    s.push_str(&f.axes_with("interval", metric, &xt));
    let by_id: std::collections::HashMap<&str, &RunRecord> =
        d.runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut marks = String::new();
    let mut i = 0;
    let ms = &d.metrics;
    let mut counts = [0usize; 5];
    while i < ms.len() {
        let mut j = i;
        while j < ms.len() && ms[j].run_id == ms[i].run_id {
            j += 1;
        }
        let run = by_id.get(ms[i].run_id.as_str());
        let stopped = run.is_some_and(|r| policy_stopped(r));
        let state = run.map(|r| r.state);
        let (colour, dash, k) = if stopped {
            (C_POLICY, r#" stroke-dasharray="5 3""#, 1)
        } else {
            match state {
                Some(RunState::Completed) => (C_DONE, "", 0),
                Some(RunState::Failed) => (C_FAILED, "", 2),
                Some(RunState::Running | RunState::Starting | RunState::Queued) => (C_LIVE, "", 3),
                Some(RunState::Canceled) | None => (C_OTHER, "", 4),
            }
        };
        counts[k] += 1;
        let mut pts = String::new();
        let mut last: Option<(f64, f64, i64)> = None;
        for m in &ms[i..j] {
            if m.value.is_finite() {
                let (x, y) = (f.px(m.interval as f64), f.py(m.value));
                let _ = write!(pts, "{},{} ", f1(x), f1(y));
                last = Some((x, y, m.interval));
            }
        }
        let label = match run {
            Some(r) => format!(
                "run {} ({}{}): {} intervals",
                r.id,
                r.state,
                r.reason
                    .as_ref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default(),
                j - i
            ),
            None => format!("run {}", ms[i].run_id),
        };
        let _ = write!(
            s,
            r#"<polyline class="run-curve" data-state="{}" points="{}" fill="none" stroke="{colour}" stroke-width="1.4" stroke-opacity="0.75"{dash}><title>{}</title></polyline>"#,
            esc(if stopped {
                "policy"
            } else {
                state.map_or("", RunState::as_str)
            }),
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
                        ms[i].run_id,
                        run.and_then(|r| r.reason.as_ref())
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ))
                );
            } else if j - i == 1 {
                let _ = write!(
                    marks,
                    r#"<circle class="single" cx="{}" cy="{}" r="2.5" fill="{colour}"/>"#,
                    f1(x),
                    f1(y)
                );
            }
        }
        i = j;
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

/// A parameter's axis: the position in `[0, 1]` of each run's value, and tick labels.
struct Axis {
    pos: Vec<Option<f64>>,
    ticks: Vec<(f64, String)>,
    log: bool,
}

fn axis_for(p: &ParamInfo, runs: &[&RunRecord]) -> Axis {
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

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Parallel coordinates: one vertical axis per parameter and one for the metric, one line per
/// run coloured by its result (yellow is better).
fn plot_parallel(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let title = format!("parallel coordinates of the parameters, coloured by {metric}");
    let pts = scored(d);
    if pts.is_empty() || d.params.is_empty() {
        return figure(
            "Parallel coordinates",
            "",
            &empty_plot("parallel", &title, "no run has a value yet"),
            "",
            false,
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
                r.params
                    .iter()
                    .map(|(n, v)| format!("{}={}", n.trim_start_matches('-'), category_of(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
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

/// One slice plot per parameter: its value against each run's best, coloured by run number.
fn plot_slices(d: &ReportData) -> Vec<String> {
    let metric = &d.sweep.primary_metric;
    let pts = scored(d);
    let runs: Vec<&RunRecord> = pts.iter().map(|p| p.0).collect();
    let n_runs = d.runs.len().max(2) as f64;
    d.params
        .iter()
        .map(|p| {
            let title = format!("{metric} against {}", p.label());
            if pts.is_empty() {
                return figure(
                    &format!("Slice: {}", p.label()),
                    "",
                    &empty_plot("slice", &title, "no run has a value yet"),
                    "",
                    false,
                );
            }
            let a = axis_for(p, &runs);
            let cat = p.categories.is_some();
            let f = Frame::new(
                Scale::Linear { lo: 0.0, hi: 1.0 },
                Scale::fit(pts.iter().map(|p| p.1), false),
            );
            let mut s = plot_open(&f, "slice", &title);
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

/// The importance estimate's inputs: one feature column per parameter for the scored runs.
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

fn plot_importance(d: &ReportData) -> String {
    let imp = importance_of(d);
    let title = "parameter importance (epsilon squared of binned means of the result ranks)";
    if d.params.is_empty() || imp.iter().all(|v| v.is_none()) {
        return figure(
            "Parameter importance",
            "",
            &empty_plot("importance", title, "needs at least 4 runs with a value"),
            "",
            false,
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

fn runs_table(d: &ReportData) -> String {
    let metric = &d.sweep.primary_metric;
    let mut s =
        String::from(r#"<div class="table-wrap"><table id="runs" class="sortable"><thead><tr>"#);
    let mut head: Vec<(String, bool)> = vec![
        ("run".into(), false),
        ("#".into(), true),
        ("state".into(), false),
        ("reason".into(), false),
        (format!("best {metric}"), true),
        ("intervals".into(), true),
        ("duration s".into(), true),
    ];
    for p in &d.params {
        head.push((p.label().to_string(), p.categories.is_none()));
    }
    for (h, num) in &head {
        let _ = write!(
            s,
            r#"<th data-type="{}">{}</th>"#,
            if *num { "num" } else { "text" },
            esc(h)
        );
    }
    s.push_str("</tr></thead><tbody>");
    for r in &d.runs {
        let class = if policy_stopped(r) {
            "policy"
        } else {
            r.state.as_str()
        };
        let _ = write!(s, r#"<tr class="{}">"#, esc(class));
        let best = r.best.filter(|b| b.is_finite());
        let dur = match (r.started, r.ended) {
            (Some(a), Some(b)) => Some(b - a),
            (Some(a), None) if !r.state.is_terminal() => Some(d.taken - a),
            _ => None,
        };
        let cells: Vec<(String, String, bool)> = vec![
            (r.id.clone(), r.id.clone(), false),
            ((r.seq + 1).to_string(), (r.seq + 1).to_string(), true),
            (r.state.to_string(), r.state.to_string(), false),
            {
                let reason = r.reason.as_ref().map(ToString::to_string);
                let reason = reason.unwrap_or_default();
                (reason.clone(), reason, false)
            },
            (
                best.map(fmt_num).unwrap_or_default(),
                best.map(|b| b.to_string()).unwrap_or_default(),
                true,
            ),
            (r.intervals.to_string(), r.intervals.to_string(), true),
            (
                dur.map(|x| format!("{x:.1}")).unwrap_or_default(),
                dur.map(|x| format!("{x:.3}")).unwrap_or_default(),
                true,
            ),
        ];
        for (text, key, num) in cells {
            let _ = write!(
                s,
                r#"<td{} data-v="{}">{}</td>"#,
                if num { r#" class="num""# } else { "" },
                esc(&key),
                esc(&text)
            );
        }
        for p in &d.params {
            let v = param_of(r, &p.name);
            let num = p.categories.is_none();
            // Numbers read better cut to 6 significant digits; the cell's sort key and
            // tooltip keep the exact value.
            let text = match v.and_then(value_num) {
                Some(x) if num && x.fract() != 0.0 => format!("{}", Sig6(x)),
                _ => v.map(category_of).unwrap_or_default(),
            };
            let key = if num {
                v.and_then(value_num)
                    .map(|x| x.to_string())
                    .unwrap_or_default()
            } else {
                text.clone()
            };
            let _ = write!(
                s,
                r#"<td{} data-v="{}" title="{}">{}</td>"#,
                if num { r#" class="num""# } else { "" },
                esc(&key),
                esc(&v.map(category_of).unwrap_or_default()),
                esc(&text)
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    s
}

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
    rows.push((
        "runs".into(),
        format!(
            "{} of {} ({}){}",
            d.runs.len(),
            sw.max_total_runs.unwrap_or(0),
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
            format_duration(sw.ended.unwrap_or(d.taken) - sw.created),
            sw.max_duration_minutes
                .map(|m| format_duration(m * 60.0))
                .unwrap_or_else(|| "-".into())
        ),
    ));
    let min = minimize(d);
    let best = scored(d)
        .into_iter()
        .fold(None::<(&RunRecord, f64)>, |acc, (r, v)| match acc {
            Some((_, b)) if !better(min, v, b) => acc,
            _ => Some((r, v)),
        });
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
                esc(&r
                    .params
                    .iter()
                    .map(|(n, v)| format!("{}={}", n.trim_start_matches('-'), category_of(v)))
                    .collect::<Vec<_>>()
                    .join(" "))
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
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"><title>{} · sweep report</title><style>{CSS}</style></head><body><main>"#,
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
    s.push_str(&plot_best_by_run(d));
    s.push_str(&plot_best_by_time(d));
    s.push_str(&plot_curves(d));
    s.push_str("</section>");
    s.push_str(r#"<h2>Parameters</h2><section class="plots">"#);
    s.push_str(&plot_parallel(d));
    s.push_str(&plot_importance(d));
    for f in plot_slices(d) {
        s.push_str(&f);
    }
    s.push_str("</section>");
    let _ = write!(
        s,
        r#"<h2>Runs</h2><p class="sub">{} runs; click a column to sort.</p>"#,
        d.runs.len()
    );
    s.push_str(&runs_table(d));
    s.push_str(r#"<footer>Importance: each parameter's epsilon squared (the share of the variance of the runs' result ranks explained by the mean rank in bins of the parameter's value, corrected for the number of bins); a main-effect estimate that ignores interactions. Runs that failed never count as best. Generated by sweep; this file needs no network.</footer>"#);
    let _ = writeln!(s, "</main><script>{SORT_JS}</script></body></html>");
    s
}

/// A float with at most 6 significant digits, trailing zeros dropped.
struct Sig6(f64);

impl std::fmt::Display for Sig6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        let a = x.abs();
        if a != 0.0 && !(1e-4..1e9).contains(&a) {
            return write!(f, "{x:.5e}");
        }
        let digits = if a == 0.0 {
            0
        } else {
            (5 - a.log10().floor() as i32).clamp(0, 12) as usize
        };
        let s = format!("{x:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        f.write_str(s)
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn unix_utc(t: f64) -> String {
    let secs = t.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MetricRecord, SweepRecord};

    fn sweep(name: &str) -> SweepRecord {
        SweepRecord {
            id: "sw_1".into(),
            name: name.into(),
            experiment: None,
            created: 1_700_000_000.0,
            ended: Some(1_700_000_100.0),
            state: SweepState::Completed,
            reason: Some("budget <done>".into()),
            primary_metric: "acc".into(),
            goal: "maximize".into(),
            seed: Some(1),
            sampling: Some("random".into()),
            policy: Some("bandit".into()),
            max_total_runs: Some(6),
            max_concurrent_runs: Some(2),
            max_duration_minutes: Some(10.0),
            max_run_duration_seconds: None,
            source_dir: Some("/src".into()),
            git_commit: None,
            git_dirty: None,
            target: Some("local".into()),
            active_seconds: 0.0,
        }
    }

    fn run(seq: i64, state: &str, reason: Option<&str>, values: &[f64], opt: &str) -> RunRecord {
        RunRecord {
            id: format!("sw_1_{seq}"),
            seq,
            state: state.parse().unwrap(),
            reason: reason.map(Into::into),
            exit_code: None,
            signal: None,
            queued: 1_700_000_000.0 + seq as f64,
            started: Some(1_700_000_001.0 + seq as f64),
            ended: Some(1_700_000_010.0 + seq as f64),
            argv: vec!["python".into(), "t.py".into()],
            workdir: String::new(),
            run_dir: String::new(),
            handle: None,
            params: vec![
                (
                    "--lr".into(),
                    serde_json::json!(10f64.powi(-(seq as i32) - 1)),
                ),
                ("--opt".into(), serde_json::json!(opt)),
            ],
            last_output: None,
            best: values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .reduce(f64::max),
            intervals: values.len() as i64,
            detail: None,
            retry_of: None,
            restarts: 0,
        }
    }

    fn data() -> ReportData {
        let hostile = r#"<img src=x onerror="alert(1)">"#;
        let runs = vec![
            run(0, "completed", None, &[0.1, 0.5, 0.7], "adam"),
            run(
                1,
                "canceled",
                Some("policy:bandit <slack>"),
                &[0.1, 0.2],
                hostile,
            ),
            run(2, "failed", Some("exit code 1"), &[0.05], "sgd"),
            run(3, "completed", None, &[0.3, 0.6, 0.8], "adam"),
            run(4, "completed", None, &[0.2, f64::NAN, 0.4], "sgd"),
            run(5, "running", None, &[0.25], "sgd"),
        ];
        let mut metrics = Vec::new();
        for r in &runs {
            for i in 0..r.intervals {
                let v = [
                    [0.1, 0.5, 0.7],
                    [0.1, 0.2, 0.0],
                    [0.05, 0.0, 0.0],
                    [0.3, 0.6, 0.8],
                    [0.2, f64::NAN, 0.4],
                    [0.25, 0.0, 0.0],
                ][r.seq as usize][i as usize];
                metrics.push(MetricRecord {
                    run_id: r.id.clone(),
                    name: "acc".into(),
                    interval: i + 1,
                    step: None,
                    value: v,
                    time: 1_700_000_002.0 + r.seq as f64 * 3.0 + i as f64,
                });
            }
        }
        let params = vec![
            ParamInfo {
                name: "--lr".into(),
                categories: None,
                log: true,
                domain: Some("loguniform(-14, -2)".into()),
            },
            ParamInfo {
                name: "--opt".into(),
                categories: Some(vec!["adam".into(), "sgd".into()]),
                log: false,
                domain: None,
            },
        ];
        ReportData {
            sweep: sweep(r#"my "sweep" <b>"#),
            runs,
            metrics,
            params,
            taken: 1_700_000_200.0,
        }
    }

    #[test]
    fn user_strings_never_become_markup() {
        let page = render(&data());
        assert!(!page.contains("<img"), "an option became an element");
        assert!(!page.contains("<b>"), "the sweep name became an element");
        assert!(!page.contains("<slack>"));
        assert!(page.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"));
        assert!(page.contains("my &quot;sweep&quot; &lt;b&gt;"));
        // Only the report's own script, nothing fetched.
        assert_eq!(page.matches("<script").count(), 1);
        assert!(
            !page.contains("http://")
                || page.matches("http://").count()
                    == page.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(!page.contains("https://"));
    }

    #[test]
    fn every_plot_is_drawn_with_its_marks() {
        let d = data();
        let page = render(&d);
        // best-by-run, best-by-time, curves, parallel, importance, one slice per parameter.
        assert_eq!(
            page.matches(r#"<svg class="plot""#).count(),
            5 + d.params.len()
        );
        assert_eq!(page.matches(r#"class="run-curve""#).count(), 6);
        assert_eq!(page.matches(r#"class="stop-mark""#).count(), 1);
        // Runs with a value that did not fail: 0, 1, 3, 4, 5.
        assert_eq!(page.matches(r#"class="pc-line""#).count(), 5);
        assert_eq!(page.matches(r#"class="slice-point""#).count(), 10);
        assert_eq!(page.matches(r#"class="imp-bar""#).count(), 2);
        assert_eq!(page.matches(r#"class="run-point""#).count(), 5);
        assert_eq!(page.matches("<tr class=").count(), 6);
        assert!(page.contains("lr (log axis)"));
        assert!(page.contains("reproduce"));
    }

    #[test]
    fn best_so_far_follows_the_goal() {
        let mut d = data();
        let max_page = render(&d);
        assert!(max_page.contains("best run</dt><dd>sw_1_3 with acc=0.8"));
        d.sweep.goal = "minimize".into();
        for r in &mut d.runs {
            r.best = d
                .metrics
                .iter()
                .filter(|m| m.run_id == r.id && m.value.is_finite())
                .map(|m| m.value)
                .reduce(f64::min);
        }
        let min_page = render(&d);
        // The failed run's 0.05 never counts: the best is 0.1 (run 0, the earlier of a tie).
        assert!(
            min_page.contains("best run</dt><dd>sw_1_0 with acc=0.1"),
            "{min_page}"
        );
    }

    #[test]
    fn an_empty_sweep_still_renders_every_plot() {
        let mut d = data();
        d.runs.clear();
        d.metrics.clear();
        let page = render(&d);
        assert_eq!(
            page.matches(r#"<svg class="plot""#).count(),
            5 + d.params.len()
        );
        assert!(page.contains("no run has a value yet"));
        assert!(page.contains("best run</dt><dd>none yet"));
    }

    #[test]
    fn table_numbers_are_cut_to_six_digits() {
        assert_eq!(Sig6(0.000128297150495).to_string(), "0.000128297");
        assert_eq!(Sig6(0.86181234).to_string(), "0.861812");
        assert_eq!(Sig6(123.5).to_string(), "123.5");
        assert_eq!(Sig6(1.5e-7).to_string(), "1.50000e-7");
        let page = render(&data());
        // The exact value stays the sort key.
        assert!(
            page.contains(r#"data-v="0.0001" title="0.0001">0.0001<"#),
            "{page}"
        );
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(unix_utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(unix_utc(1_700_000_000.0), "2023-11-14 22:13:20 UTC");
        assert_eq!(unix_utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }
}
