//! The runs table: one row per run (id, number, state, reason, best value, intervals,
//! duration, then one column per parameter), each cell with the exact value as its sort key
//! for the page's sorting script; the best run's row is highlighted (`tr.best`, a `best`
//! tag after its id), so it is found again whatever the order.

use crate::report::data::{category_of, param_of, policy_stopped, value_num, ReportData};
use crate::report::svg::{esc, fmt_num};
use std::fmt::Write as _;

/// The runs table, sortable by any column (see `report.js`).
pub(super) fn runs_table(d: &ReportData) -> String {
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
    let best_id = super::plot::best_run(d).map(|(r, _)| r.id.as_str());
    for r in &d.runs {
        let class = if policy_stopped(r) {
            "policy"
        } else {
            r.state.as_str()
        };
        let is_best = best_id == Some(r.id.as_str());
        let _ = write!(
            s,
            r#"<tr class="{}{}">"#,
            esc(class),
            if is_best { " best" } else { "" }
        );
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
        for (i, (text, key, num)) in cells.into_iter().enumerate() {
            let _ = write!(
                s,
                r#"<td{} data-v="{}">{}{}</td>"#,
                if num { r#" class="num""# } else { "" },
                esc(&key),
                esc(&text),
                if i == 0 && is_best {
                    r#" <span class="best-tag">best</span>"#
                } else {
                    ""
                }
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

/// A float with at most 6 significant digits, trailing zeros dropped.
pub(super) struct Sig6(pub(super) f64);

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
