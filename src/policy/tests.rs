//! Policy tests: the worked examples of docs/policies.md for both goals, non-finite reports,
//! runs that stop reporting, empty pools, ties, and property tests, chief among them that
//! the incremental evaluator agrees with the rescanning definition on random report streams.

use super::*;
use crate::spec::{Goal, Policy, PolicyKind};
use proptest::prelude::*;

fn policy(kind: PolicyKind, evaluation_interval: u32, delay_evaluation: u32) -> Policy {
    Policy {
        kind,
        evaluation_interval,
        delay_evaluation,
    }
}

fn bandit_factor(f: f64) -> PolicyKind {
    PolicyKind::Bandit {
        slack_factor: Some(f),
        slack_amount: None,
    }
}

fn bandit_amount(a: f64) -> PolicyKind {
    PolicyKind::Bandit {
        slack_factor: None,
        slack_amount: Some(a),
    }
}

fn truncation(pct: u32) -> PolicyKind {
    PolicyKind::TruncationSelection {
        truncation_percentage: pct,
    }
}

/// Feeds `reports` of one live run to `ev` and returns the decisions, with their run ids.
fn feed(ev: &mut Evaluator, run_id: &str, values: &[f64]) -> Vec<Decision> {
    let k = ev.register(run_id);
    values.iter().filter_map(|&v| ev.on_report(k, v)).collect()
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Ten intervals rising linearly to `last` (so the best over 1..10 is `last`).
fn rising_to(last: f64) -> Vec<f64> {
    (1..=10).map(|i| last - 0.01 * f64::from(10 - i)).collect()
}

/// Ten intervals falling linearly to `last` (the best under Minimize is `last`).
fn falling_to(last: f64) -> Vec<f64> {
    (1..=10).map(|i| last + 0.01 * f64::from(10 - i)).collect()
}

/// Ten intervals each of three runs, rising (maximize) or falling (minimize) to `ends`,
/// judged by policy `kind` at interval 10 only: the best run, one within the policy's slack
/// and one outside it. Checks that neither of the first two is stopped; returns the
/// evaluator and the decisions about the third.
fn best_inside_outside(kind: PolicyKind, goal: Goal, ends: [f64; 3]) -> (Evaluator, Vec<Decision>) {
    let mut ev = Evaluator::new(&policy(kind, 1, 10), goal).unwrap();
    let to = |v| match goal {
        Goal::Maximize => rising_to(v),
        Goal::Minimize => falling_to(v),
    };
    assert!(feed(&mut ev, "best", &to(ends[0])).is_empty());
    assert!(feed(&mut ev, "inside", &to(ends[1])).is_empty());
    let d = feed(&mut ev, "outside", &to(ends[2]));
    (ev, d)
}

// ---- Bandit: HyperDrive's example and its mirrors -------------------------------------

/// HyperDrive: evaluation_interval 1, delay_evaluation 10 here so that only interval 10 is
/// judged; best 0.8 at interval 10 with slack_factor 0.2 cuts runs below 0.8/1.2 ≈ 0.667.
#[test]
fn bandit_slack_factor_maximize_hyperdrive_example() {
    let (ev, d) = best_inside_outside(bandit_factor(0.2), Goal::Maximize, [0.8, 0.67, 0.66]);
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!((d.policy, d.interval, d.pool), ("bandit", 10, 2));
    assert_eq!(d.reason(), "policy:bandit");
    assert!(approx(d.value, 0.66));
    assert!(approx(d.threshold, 0.8 / 1.2), "{}", d.threshold);
    assert_eq!(d.detail, Detail::Bandit { best: 0.8 });
    assert_eq!(ev.table().run_id(d.run), "outside");
}

#[test]
fn bandit_slack_amount_maximize_hyperdrive_example() {
    let (_, d) = best_inside_outside(bandit_amount(0.2), Goal::Maximize, [0.8, 0.61, 0.59]);
    assert_eq!(d.len(), 1);
    assert!(approx(d[0].threshold, 0.6));
}

#[test]
fn bandit_minimize_mirrors_with_b_times_one_plus_f() {
    // Loss: best 0.5, slack_factor 0.2 → cut above 0.5 * 1.2 = 0.6; slack_amount 0.2 → 0.7.
    let (_, d) = best_inside_outside(bandit_factor(0.2), Goal::Minimize, [0.5, 0.59, 0.61]);
    assert_eq!(d.len(), 1);
    assert!(approx(d[0].threshold, 0.6));

    assert_eq!(
        best_inside_outside(bandit_amount(0.2), Goal::Minimize, [0.5, 0.69, 0.71])
            .1
            .len(),
        1
    );
}

#[test]
fn bandit_negative_metrics_keep_the_slack_pointing_away_from_the_best() {
    // Maximize, B = -0.5, f = 0.2: threshold -0.5 - 0.5*0.2/1.2 = -0.58333…
    let (_, d) = best_inside_outside(bandit_factor(0.2), Goal::Maximize, [-0.5, -0.58, -0.59]);
    assert_eq!(d.len(), 1);
    assert!(approx(d[0].threshold, -0.5 - 0.5 * 0.2 / 1.2));

    // Minimize, B = -2.0, f = 0.5: threshold -2 + 2*0.5 = -1.0 (B*(1+f) = -3 would cut
    // the best run itself).
    let (_, d) = best_inside_outside(bandit_factor(0.5), Goal::Minimize, [-2.0, -1.1, -0.9]);
    assert_eq!(d.len(), 1);
    assert!(approx(d[0].threshold, -1.0));
}

#[test]
fn bandit_schedule_skips_intervals_before_delay_and_off_the_interval() {
    // evaluation_interval 3, delay 4: judged at 6, 9, … only.
    let p = policy(bandit_amount(0.1), 3, 4);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    feed(&mut ev, "best", &[1.0; 9]);
    let k = ev.register("poor");
    for s in 1..=5 {
        assert_eq!(ev.on_report(k, 0.0), None, "interval {s} is not evaluated");
    }
    let d = ev.on_report(k, 0.0).expect("interval 6 is evaluated");
    assert_eq!(d.interval, 6);
}

// ---- MedianStopping -------------------------------------------------------------------

/// The worked example of docs/policies.md, applied through `map` (identity for Maximize,
/// `1 - v` and `-v` for Minimize), so one set of numbers checks both goals and signs.
fn median_example(goal: Goal, map: impl Fn(f64) -> f64) {
    let p = policy(PolicyKind::MedianStopping, 1, 5);
    let mut ev = Evaluator::new(&p, goal).unwrap();
    let m = |v: &[f64]| v.iter().map(|&x| map(x)).collect::<Vec<_>>();
    // Running averages at interval 5: a 0.3, b 0.4, c 0.5.
    assert!(feed(&mut ev, "a", &m(&[0.1, 0.2, 0.3, 0.4, 0.5])).is_empty());
    assert!(feed(&mut ev, "b", &m(&[0.2, 0.3, 0.4, 0.5, 0.6])).is_empty());
    assert!(feed(&mut ev, "c", &m(&[0.5; 5])).is_empty());
    // d's best 0.39 is worse than median(0.3, 0.4, 0.5) = 0.4.
    let d = feed(&mut ev, "d", &m(&[0.3, 0.35, 0.38, 0.39, 0.39]));
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!((d.policy, d.interval, d.pool), ("median_stopping", 5, 3));
    assert!(approx(d.value, map(0.39)));
    assert!(approx(d.threshold, map(0.4)), "{}", d.threshold);
    // e's best 0.41 beats median(0.3, 0.362, 0.4, 0.5) = 0.381 (d still counts).
    assert!(feed(&mut ev, "e", &m(&[0.41; 5])).is_empty());
    let e = ev.key("e").unwrap();
    assert_eq!(ev.evaluate(e), None);
}

#[test]
fn median_stopping_example_maximize() {
    median_example(Goal::Maximize, |v| v);
}

#[test]
fn median_stopping_example_minimize_and_negative() {
    median_example(Goal::Minimize, |v| 1.0 - v);
    median_example(Goal::Minimize, |v| -v);
}

#[test]
fn median_compares_best_value_against_averages_and_excludes_the_run() {
    // One other run averaging 0.5; the run's own average (0.25) would drag a median that
    // included it down to 0.375, below its best 0.45 — excluded, 0.45 < 0.5 cuts it.
    let p = policy(PolicyKind::MedianStopping, 1, 2);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    feed(&mut ev, "other", &[0.5, 0.5]);
    let d = feed(&mut ev, "r", &[0.05, 0.45]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].threshold, 0.5);
}

#[test]
fn median_equal_to_median_is_not_worse() {
    let p = policy(PolicyKind::MedianStopping, 1, 1);
    let mut ev = Evaluator::new(&p, Goal::Minimize).unwrap();
    feed(&mut ev, "a", &[2.0]);
    feed(&mut ev, "b", &[4.0]);
    assert!(feed(&mut ev, "tie", &[3.0]).is_empty());
    assert_eq!(feed(&mut ev, "worse", &[3.5]).len(), 1);
}

// ---- TruncationSelection --------------------------------------------------------------

/// Nine finished runs whose best at interval 5 is 0.50, 0.55, …, 0.90, then a live run
/// with best `y` at interval 5 (HyperDrive: pct 20, evaluation_interval 1, delay 5).
fn truncation_example(goal: Goal, map: impl Fn(f64) -> f64, y: f64) -> Vec<Decision> {
    let p = policy(truncation(20), 1, 5);
    let mut ev = Evaluator::new(&p, goal).unwrap();
    for i in 0..9 {
        let best = 0.5 + 0.05 * f64::from(i);
        let vals: Vec<f64> = [0.1, 0.2, 0.3, 0.4]
            .iter()
            .map(|&x| map(x))
            .chain([map(best)])
            .collect();
        ev.preload(&format!("done{i}"), &vals, RunStatus::Stopped);
    }
    let vals: Vec<f64> = [0.0, 0.0, 0.0, 0.0, y].iter().map(|&x| map(x)).collect();
    feed(&mut ev, "r", &vals)
}

#[test]
fn truncation_example_both_goals() {
    for (goal, map) in [
        (Goal::Maximize, (|v| v) as fn(f64) -> f64),
        (Goal::Minimize, |v| 1.0 - v),
        (Goal::Minimize, |v| -v),
    ] {
        // 0.0 at intervals 1..4 is the lowest, but the delay protects it until interval 5.
        // At 5: n = 10, floor(10 * 20 / 100) = 2 cut; 0.52 ranks 2nd lowest.
        let d = truncation_example(goal, map, 0.52);
        assert_eq!(d.len(), 1, "{goal:?}");
        assert_eq!(d[0].interval, 5);
        assert_eq!(
            d[0].detail,
            Detail::Truncation {
                rank: 2,
                cut: 2,
                ranked: 10
            }
        );
        assert!(approx(d[0].threshold, map(0.52)));
        assert_eq!(d[0].reason(), "policy:truncation_selection");
        // 0.56 ranks 3rd: survives. 0.55 ties the 2nd-lowest finished run: both would
        // straddle the cut, so neither is cut (rank counts ties: 3 > 2).
        assert!(truncation_example(goal, map, 0.56).is_empty());
        assert!(truncation_example(goal, map, 0.55).is_empty());
        // 0.50 ties the lowest: the two tied runs fit inside the cut of 2.
        assert_eq!(truncation_example(goal, map, 0.50).len(), 1);
    }
}

#[test]
fn truncation_all_tied_cuts_nobody() {
    let p = policy(truncation(50), 1, 0);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    for i in 0..10 {
        assert!(feed(&mut ev, &format!("r{i}"), &[1.0, 1.0]).is_empty());
    }
}

#[test]
fn truncation_small_pools_cut_nobody() {
    // floor(4 * 20 / 100) = 0: four runs are too few for a 20% cut.
    let p = policy(truncation(20), 1, 0);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    for (i, v) in [4.0, 3.0, 2.0, 1.0].iter().enumerate() {
        assert!(feed(&mut ev, &format!("r{i}"), &[*v]).is_empty());
    }
    assert_eq!(feed(&mut ev, "r4", &[0.0]).len(), 1, "n = 5 cuts one");
}

// ---- Non-finite reports, stopped runs, empty pools ------------------------------------

#[test]
fn nan_and_inf_count_as_intervals_but_never_as_values() {
    let p = policy(bandit_amount(0.1), 1, 0);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    // +inf must not become B (that would cut every run); NaN is not a value either.
    feed(&mut ev, "wild", &[f64::INFINITY, f64::NAN, 0.5]);
    let k = ev.register("r");
    assert_eq!(
        ev.on_report(k, f64::NAN),
        None,
        "no finite value: never cut"
    );
    assert_eq!(ev.on_report(k, f64::NEG_INFINITY), None);
    // Interval 3: wild's best over 1..3 is 0.5; r's first finite value is 0.45.
    assert_eq!(ev.on_report(k, 0.45), None);
    let l = ev.register("low");
    assert_eq!(
        ev.on_report(l, 0.3),
        None,
        "wild has no value at 1: pool empty"
    );
    assert_eq!(
        ev.on_report(l, f64::NAN),
        None,
        "low has 0.3, pool still empty"
    );
    let d = ev
        .on_report(l, 0.35)
        .expect("interval 3: B = 0.5, threshold 0.4");
    assert_eq!((d.interval, d.pool, d.value), (3, 2, 0.35));
}

#[test]
fn all_non_finite_runs_stay_out_of_every_pool() {
    for kind in [
        bandit_factor(0.0),
        PolicyKind::MedianStopping,
        truncation(50),
    ] {
        let p = policy(kind, 1, 0);
        let mut ev = Evaluator::new(&p, Goal::Minimize).unwrap();
        feed(&mut ev, "nan", &[f64::NAN, f64::NAN]);
        feed(&mut ev, "inf", &[f64::INFINITY, f64::NEG_INFINITY]);
        // A lone finite run: the pool of finite runs is empty.
        assert!(feed(&mut ev, "r", &[5.0, 5.0]).is_empty(), "{:?}", p.kind);
        assert!(feed(&mut ev, "nan2", &[f64::NAN]).is_empty());
    }
}

#[test]
fn a_run_that_stops_reporting_stays_in_pools_it_reached() {
    // Judged at intervals 3, 6, ….
    let p = policy(bandit_amount(0.1), 3, 0);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    let a = ev.register("a");
    for _ in 0..3 {
        ev.on_report(a, 0.9);
    }
    ev.mark_stopped(a);
    assert!(ev.is_stopped(a));
    let d = feed(&mut ev, "b", &[0.75; 3]);
    assert_eq!(d.len(), 1, "a still counts at interval 3 after it stopped");
    assert_eq!((d[0].interval, d[0].pool), (3, 1));
    // Nobody else reached interval 6: c is alone there, so its drop is not judged.
    let c = ev.register("c");
    for v in [0.85, 0.85, 0.85, 0.1, 0.1, 0.1] {
        assert_eq!(ev.on_report(c, v), None);
    }
    // A stopped run's late reports are recorded but never judged.
    assert_eq!(ev.on_report(a, -100.0), None);
    assert_eq!(ev.table().intervals(a), 4);
}

#[test]
fn empty_pool_does_nothing_for_every_policy() {
    for kind in [
        bandit_factor(0.0),
        bandit_amount(0.0),
        PolicyKind::MedianStopping,
        truncation(99),
        PolicyKind::NoTermination,
    ] {
        let p = policy(kind, 1, 0);
        let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
        assert!(feed(&mut ev, "only", &[-1e9, f64::NAN, 3.0]).is_empty());
    }
}

#[test]
fn decisions_happen_once_per_run() {
    let p = policy(bandit_amount(0.0), 1, 0);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    feed(&mut ev, "best", &[1.0; 4]);
    let d = feed(&mut ev, "low", &[0.0; 4]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].interval, 1);
    let low = ev.key("low").unwrap();
    assert!(ev.is_stopped(low));
    assert!(ev.evaluate(low).is_some(), "evaluate is a pure query");
}

#[test]
fn invalid_parameters_are_rejected() {
    let bad = [
        (
            PolicyKind::Bandit {
                slack_factor: Some(0.1),
                slack_amount: Some(0.1),
            },
            PolicyError::SlackArity,
        ),
        (
            PolicyKind::Bandit {
                slack_factor: None,
                slack_amount: None,
            },
            PolicyError::SlackArity,
        ),
        (bandit_factor(-0.1), PolicyError::SlackValue(-0.1)),
        (truncation(0), PolicyError::Percentage(0)),
        (truncation(100), PolicyError::Percentage(100)),
    ];
    for (kind, err) in bad {
        let e = Evaluator::new(&policy(kind, 1, 0), Goal::Maximize).unwrap_err();
        assert_eq!(e, err);
    }
    assert!(matches!(
        Rule::from_policy(&policy(bandit_amount(f64::NAN), 1, 0)),
        Err(PolicyError::SlackValue(_))
    ));
}

#[test]
fn decision_text_names_the_numbers() {
    let p = policy(bandit_factor(0.2), 1, 10);
    let mut ev = Evaluator::new(&p, Goal::Maximize).unwrap();
    feed(&mut ev, "best", &rising_to(0.8));
    let d = feed(&mut ev, "low", &rising_to(0.5)).remove(0);
    let text = d.to_string();
    assert!(text.starts_with("policy:bandit: best value 0.5 at interval 10"));
    assert!(text.contains("best 0.8"), "{text}");
}

// ---- Property tests -------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Event {
    Report(usize, f64),
    Stop(usize),
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        12 => (-6i32..=6).prop_map(|x| f64::from(x) / 4.0),
        3 => (-1000i32..1000).prop_map(|x| f64::from(x) / 97.0),
        1 => Just(0.1),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn events(max_runs: usize) -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec(
        prop_oneof![
            30 => (0..max_runs, value()).prop_map(|(r, v)| Event::Report(r, v)),
            1 => (0..max_runs).prop_map(Event::Stop),
        ],
        0..160,
    )
}

fn kind() -> impl Strategy<Value = PolicyKind> {
    prop_oneof![
        Just(PolicyKind::NoTermination),
        (0u32..=8).prop_map(|f| bandit_factor(f64::from(f) / 4.0)),
        (0u32..=8).prop_map(|a| bandit_amount(f64::from(a) / 4.0)),
        Just(PolicyKind::MedianStopping),
        (1u32..=99).prop_map(truncation),
    ]
}

fn goal() -> impl Strategy<Value = Goal> {
    prop_oneof![Just(Goal::Maximize), Just(Goal::Minimize)]
}

fn id(i: usize) -> String {
    format!("run{i}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The key correctness test: the incremental evaluator and the rescanning definition
    /// make the same decisions, with the same numbers, on every report of a random stream.
    #[test]
    fn incremental_agrees_with_rescan(
        kind in kind(), goal in goal(), interval in 1u32..4, delay in 0u32..6,
        evs in events(7),
    ) {
        let p = policy(kind, interval, delay);
        let mut ev = Evaluator::new(&p, goal).unwrap();
        let mut table = MetricTable::new(goal);
        let mut stopped = [false; 7];
        for e in evs {
            match e {
                Event::Stop(r) => {
                    stopped[r] = true;
                    let k = ev.register(&id(r));
                    prop_assert_eq!(table.register(&id(r)), k);
                    ev.mark_stopped(k);
                }
                Event::Report(r, v) => {
                    let k = table.register(&id(r));
                    let s = table.record(k, v);
                    let want = if stopped[r] { None } else { rescan(&p, &table, k, s).unwrap() };
                    if want.is_some() {
                        stopped[r] = true;
                    }
                    let ke = ev.register(&id(r));
                    let got = ev.on_report(ke, v);
                    prop_assert_eq!(ke, k);
                    prop_assert_eq!(got, want);
                }
            }
        }
    }

    /// Bandit and MedianStopping never terminate a run at least as good as every run it is
    /// compared with.
    #[test]
    fn the_best_run_is_never_terminated(
        kind in prop_oneof![
            (0u32..=8).prop_map(|f| bandit_factor(f64::from(f) / 4.0)),
            (0u32..=8).prop_map(|a| bandit_amount(f64::from(a) / 4.0)),
            Just(PolicyKind::MedianStopping),
        ],
        goal in goal(), evs in events(6),
    ) {
        let p = policy(kind, 1, 0);
        let mut ev = Evaluator::new(&p, goal).unwrap();
        for e in evs {
            if let Event::Report(r, v) = e {
                let k = ev.register(&id(r));
                ev.record(k, v);
                if let Some(d) = ev.evaluate(k) {
                    let t = ev.table();
                    let beaten = t.keys().filter(|&o| o != k).any(|o| {
                        t.best_over(o, d.interval).is_some_and(|b| goal.better(b, d.value))
                    });
                    prop_assert!(beaten, "{d}");
                }
            }
        }
    }

    /// A larger slack never terminates a run a smaller one spares.
    #[test]
    fn larger_slack_terminates_no_more(
        small in 0u32..8, extra in 0u32..8, factor in any::<bool>(), goal in goal(),
        interval in 1u32..3, evs in events(6),
    ) {
        let mk = |x: u32| {
            let x = f64::from(x) / 4.0;
            policy(if factor { bandit_factor(x) } else { bandit_amount(x) }, interval, 0)
        };
        let mut tight = Evaluator::new(&mk(small), goal).unwrap();
        let mut loose = Evaluator::new(&mk(small + extra), goal).unwrap();
        for e in evs {
            if let Event::Report(r, v) = e {
                let (kt, kl) = (tight.register(&id(r)), loose.register(&id(r)));
                let dt = tight.on_report(kt, v);
                let dl = loose.on_report(kl, v);
                // Same table, same B: a cut under the loose slack is a cut under the tight
                // one, now or at an earlier interval.
                if dl.is_some() {
                    prop_assert!(dt.is_some() || tight.is_stopped(kt));
                }
                prop_assert!(!loose.is_stopped(kl) || tight.is_stopped(kt));
            }
        }
    }

    /// At one interval of one table, truncation cuts at most floor(n * pct / 100) runs.
    #[test]
    fn truncation_cuts_at_most_its_share(
        pct in 1u32..=99, goal in goal(), s in 1usize..4,
        curves in proptest::collection::vec(proptest::collection::vec(value(), 4), 1..40),
    ) {
        let p = policy(truncation(pct), 1, 0);
        let mut ev = Evaluator::new(&p, goal).unwrap();
        let keys: Vec<RunKey> = curves
            .iter()
            .enumerate()
            .map(|(i, c)| ev.preload(&id(i), &c[..s], RunStatus::Running))
            .collect();
        let ranked = keys.iter().filter(|&&k| ev.table().best(k).is_some()).count() as u32;
        let cut = keys.iter().filter(|&&k| ev.evaluate(k).is_some()).count() as u32;
        prop_assert!(cut <= truncation::cut(ranked, pct), "{cut} of {ranked} at {pct}%");
    }
}
