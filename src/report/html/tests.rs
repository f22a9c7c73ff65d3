//! The report page against fixed histories: escaping, the marks of every plot, best-so-far
//! by goal, empty sweeps, number formatting, dates, and the whole page byte for byte.

use super::table::Sig6;
use super::*;
use crate::report::data::ParamInfo;
use crate::report::svg::{Frame, Scale};
use crate::store::{MetricRecord, RunRecord, SweepRecord, SweepState};

/// `demo`, a random sweep with a Bandit policy maximizing `accuracy`, that completed after
/// 100 s of running: at most 4 runs, 2 at a time, for at most 10 minutes, from `/src`.
fn finished_sweep() -> SweepRecord {
    SweepRecord {
        id: "sw_6b15cc4b_7919".into(),
        name: "demo".into(),
        experiment: None,
        created: 1_700_000_000.0,
        ended: Some(1_700_000_100.0),
        state: SweepState::Completed,
        reason: Some("max_total_runs (4) reached".into()),
        primary_metric: "accuracy".into(),
        goal: "maximize".into(),
        seed: Some(1),
        sampling: Some("random".into()),
        policy: Some("bandit".into()),
        max_total_runs: Some(4),
        max_concurrent_runs: Some(2),
        max_duration_minutes: Some(10.0),
        max_run_duration_seconds: None,
        source_dir: Some("/src".into()),
        git_commit: None,
        git_dirty: None,
        target: Some("local".into()),
        active_seconds: 100.0,
    }
}

fn sweep(name: &str) -> SweepRecord {
    SweepRecord {
        id: "sw_1".into(),
        name: name.into(),
        reason: Some("budget <done>".into()),
        primary_metric: "acc".into(),
        max_total_runs: Some(6),
        active_seconds: 0.0,
        ..finished_sweep()
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

/// What a report is built from, before its values are reduced.
struct Fixture {
    sweep: SweepRecord,
    runs: Vec<RunRecord>,
    values: Vec<MetricRecord>,
    params: Vec<ParamInfo>,
    taken: f64,
}

impl Fixture {
    fn report(&self) -> ReportData {
        ReportData::from_values(
            self.sweep.clone(),
            self.runs.clone(),
            &self.values,
            self.params.clone(),
            self.taken,
        )
    }
}

fn data() -> ReportData {
    fixture().report()
}

fn fixture() -> Fixture {
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
    Fixture {
        sweep: sweep(r#"my "sweep" <b>"#),
        runs,
        values: metrics,
        params,
        taken: 1_700_000_200.0,
    }
}

/// Makes the sweep a minimizing one: each run's best becomes its smallest value.
fn minimizing(d: &mut Fixture) {
    d.sweep.goal = "minimize".into();
    for r in &mut d.runs {
        r.best = d
            .values
            .iter()
            .filter(|m| m.run_id == r.id && m.value.is_finite())
            .map(|m| m.value)
            .reduce(f64::min);
    }
}

/// A sweep that takes the other branches of every plot: minimize, still running, over
/// three minutes (a minutes axis), six parameters (a full-width parallel plot), a
/// parameter with no recorded axis, a value outside the recorded categories, a git source.
fn wide() -> ReportData {
    let mut d = fixture();
    d.sweep.state = SweepState::Running;
    d.sweep.ended = None;
    d.sweep.reason = None;
    d.sweep.git_commit = Some("0123abc".into());
    d.sweep.git_dirty = Some(true);
    d.sweep.experiment = Some("exp <1>".into());
    d.taken = d.sweep.created + 400.0;
    for m in &mut d.values {
        m.time += 60.0 * m.interval as f64;
    }
    for r in &mut d.runs {
        let s = r.seq as f64;
        r.params.extend([
            ("--momentum".into(), serde_json::json!(0.5 + s / 10.0)),
            ("--batch".into(), serde_json::json!(16 << r.seq)),
            ("--layers".into(), serde_json::json!(r.seq % 3)),
            ("--drop".into(), serde_json::json!(0.1 * s)),
        ]);
    }
    minimizing(&mut d);
    d.runs[4].params[1].1 = serde_json::json!("rmsprop");
    d.runs[5].started = Some(d.sweep.created + 300.0);
    d.runs[5].ended = None;
    for (name, log) in [
        ("--momentum", false),
        ("--batch", true),
        ("--layers", false),
    ] {
        d.params.push(ParamInfo {
            name: name.into(),
            categories: None,
            log,
            domain: Some(format!("{name} domain")),
        });
    }
    d.params.push(ParamInfo {
        name: "--drop".into(),
        categories: None,
        log: false,
        domain: None,
    });
    d.report()
}

/// The whole page, byte for byte, so that moving code around cannot change what a user
/// gets. Insta compares without the final newline: the page's last bytes are checked here.
#[test]
fn the_page_is_exactly_as_recorded() {
    let full = render(&data());
    assert!(full.ends_with("</script></body></html>\n"));
    insta::assert_snapshot!("page", full);
    let mut empty = fixture();
    empty.runs.clear();
    empty.values.clear();
    insta::assert_snapshot!("empty_page", render(&empty.report()));
    insta::assert_snapshot!("wide_page", render(&wide()));
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
    let mut d = fixture();
    let max_page = render(&d.report());
    assert!(max_page.contains("best run</dt><dd>sw_1_3 with acc=0.8"));
    minimizing(&mut d);
    let min_page = render(&d.report());
    // The failed run's 0.05 never counts: the best is 0.1 (run 0, the earlier of a tie).
    assert!(
        min_page.contains("best run</dt><dd>sw_1_0 with acc=0.1"),
        "{min_page}"
    );
}

/// A sweep whose runs all start far worse than they end: every first interval reports 0.01
/// (an untrained model), the later intervals 0.90 to 0.99.
fn slow_starters() -> Fixture {
    let mut d = fixture();
    d.runs.truncate(4);
    d.runs[2].state = RunState::Completed;
    d.runs[2].reason = None;
    d.values.clear();
    for (k, r) in d.runs.iter_mut().enumerate() {
        let values = [0.01, 0.90 + 0.02 * k as f64, 0.91 + 0.02 * k as f64];
        for (i, v) in values.iter().enumerate() {
            d.values.push(MetricRecord {
                run_id: r.id.clone(),
                name: "acc".into(),
                interval: i as i64 + 1,
                step: None,
                value: *v,
                time: 1_700_000_002.0 + k as f64 * 3.0 + i as f64,
            });
        }
        r.intervals = 3;
        r.best = Some(values[2]);
    }
    d
}

#[test]
fn the_best_so_far_range_leaves_out_first_interval_outliers_and_marks_them() {
    let d = slow_starters().report();
    // The 10th percentile of the 8 values after the first interval (nearest rank: the
    // lowest), up to the best.
    assert_eq!(plot::robust_range(&d, &[0.01, 0.91, 0.97]), (0.90, 0.97));
    let svg = best::plot_best_by_time(&d);
    // The running best starts at the first report, 0.01: drawn on the bottom edge, marked.
    assert_eq!(svg.matches(r#"class="clipped""#).count(), 1, "{svg}");
    assert!(svg.contains("<title>acc=0.01 at 2.0s</title>"), "{svg}");
    assert!(svg.contains("1 value below the axis, drawn on its bottom edge ▼"));
    // The axis is fitted to 0.90..0.97 (5% padding), not stretched down to 0.01.
    let f = Frame::new(
        Scale::Linear { lo: 0.0, hi: 1.0 },
        plot::range_scale((0.90, 0.97)),
    );
    let edge = format!(r#"cy="{}""#, plot::f1(f.py(0.90)));
    assert!(svg.contains(&edge), "{edge} in {svg}");
    // Each run's best is above the edge: nothing clipped in the plot by run.
    assert!(!best::plot_best_by_run(&d).contains("clipped"));
    // Minimizing, the worst values are high: the range stops at the 90th percentile.
    let mut m = slow_starters();
    for x in &mut m.values {
        x.value = 1.0 - x.value;
    }
    m.sweep.goal = "minimize".into();
    let m = m.report();
    let (worst, best) = plot::robust_range(&m, &[0.99, 0.09, 0.03]);
    assert!(
        (worst - 0.10).abs() < 1e-12 && best == 0.03,
        "{worst} {best}"
    );
    assert!(best::plot_best_by_time(&m).contains("drawn on its top edge ▲"));
    // Too few values after the first interval to say what is typical: the whole range.
    let mut few = slow_starters();
    few.values
        .retain(|x| x.interval == 1 || x.run_id == "sw_1_0");
    let few = few.report();
    assert_eq!(plot::robust_range(&few, &[0.01, 0.91]), (0.01, 0.91));
}

#[test]
fn elapsed_is_the_running_time_used_and_retries_are_not_candidates() {
    let mut d = data();
    // Created 100 s before it ended, but run for 42 s of those (it was killed, then
    // resumed later).
    d.sweep.active_seconds = 42.0;
    d.runs[5].retry_of = Some("sw_1_1".into());
    let page = render(&d);
    assert!(
        page.contains("<dt>elapsed</dt><dd>42.0s (limit 10m00s)</dd>"),
        "{page}"
    );
    assert!(
        page.contains("<dt>runs</dt><dd>5 of 6, plus 1 retry ("),
        "{page}"
    );
}

#[test]
fn the_best_run_is_highlighted_in_the_runs_table() {
    let page = render(&data());
    assert_eq!(page.matches(r#"<tr class="completed best">"#).count(), 1);
    assert!(page.contains(
        r#"<tr class="completed best"><td data-v="sw_1_3">sw_1_3 <span class="best-tag">best</span></td>"#
    ));
    assert_eq!(
        page.matches("best-tag").count(),
        2,
        "the rule and the one row"
    );
    // No best run, no highlight.
    let mut d = fixture();
    d.values.clear();
    for r in &mut d.runs {
        r.best = None;
    }
    assert!(!render(&d.report()).contains(r#" best">"#));
}

#[test]
fn an_empty_sweep_still_renders_every_plot() {
    let mut d = fixture();
    d.runs.clear();
    d.values.clear();
    let page = render(&d.report());
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
    let cases = [
        (0.0, "1970-01-01 00:00:00 UTC"),
        (1_700_000_000.0, "2023-11-14 22:13:20 UTC"),
        (951_782_400.0, "2000-02-29 00:00:00 UTC"),
        // Fractions of a second are cut, not rounded; times before 1970 count backwards.
        (1_700_000_000.9, "2023-11-14 22:13:20 UTC"),
        (-1.0, "1969-12-31 23:59:59 UTC"),
        // 2100 is not a leap year.
        (4_107_456_000.0, "2100-02-28 00:00:00 UTC"),
        (4_107_542_400.0, "2100-03-01 00:00:00 UTC"),
        // Far outside any real clock: the latest time the date library represents.
        (1e300, "9999-12-30 22:00:00 UTC"),
        (f64::NAN, "1970-01-01 00:00:00 UTC"),
    ];
    for (t, want) in cases {
        assert_eq!(unix_utc(t), want, "{t}");
    }
}
