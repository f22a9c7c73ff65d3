//! Property tests of config parsing and the search space: the parser never panics on any
//! input, every sampled value lies in its domain, and the unit-cube maps round-trip.

use proptest::prelude::*;
use std::path::Path;
use sweep::space::{Domain, Param, SearchSpace, Value};

fn domain() -> impl Strategy<Value = Domain> {
    let bound = -20.0f64..20.0;
    let q = prop_oneof![Just(0.1), Just(0.25), Just(1.0), Just(5.0), 0.01f64..3.0];
    prop_oneof![
        prop::collection::vec(-100i64..100, 1..6).prop_map(|v| Domain::Choice {
            options: v.into_iter().map(Value::Int).collect()
        }),
        (1i64..1000).prop_map(|upper| Domain::RandInt { upper }),
        (bound.clone(), 0.001f64..30.0).prop_map(|(l, w)| Domain::Uniform {
            low: l,
            high: l + w
        }),
        (bound.clone(), 0.001f64..30.0, q.clone()).prop_map(|(l, w, q)| Domain::QUniform {
            low: l,
            high: l + w,
            q
        }),
        (-10.0f64..3.0, 0.01f64..6.0).prop_map(|(l, w)| Domain::LogUniform {
            low: l,
            high: l + w
        }),
        (-5.0f64..3.0, 0.01f64..4.0, q.clone()).prop_map(|(l, w, q)| Domain::QLogUniform {
            low: l,
            high: l + w,
            q
        }),
        (bound.clone(), 0.0f64..10.0).prop_map(|(mu, sigma)| Domain::Normal { mu, sigma }),
        (bound.clone(), 0.0f64..10.0, q.clone()).prop_map(|(mu, sigma, q)| Domain::QNormal {
            mu,
            sigma,
            q
        }),
        (-5.0f64..3.0, 0.0f64..2.0).prop_map(|(mu, sigma)| Domain::LogNormal { mu, sigma }),
        (-3.0f64..3.0, 0.0f64..1.5, q).prop_map(|(mu, sigma, q)| Domain::QLogNormal {
            mu,
            sigma,
            q
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = sweep::config::load_str("fuzz.yml", &text, Path::new("fuzz.yml"), None);
    }

    #[test]
    fn parser_never_panics_on_yaml_like_text(
        lines in prop::collection::vec(
            (0usize..4, prop::sample::select(vec![
                "sampling:", "type: random", "type: grid", "type: bayesian", "parameter_space:",
                "- name: --x", "expression: uniform", "expression: choice", "expression: randint",
                "expression: qlognormal", "values: [1, 2]", "values: [2, 1, 0]", "values: []",
                "values: {a: 1}", "policy:", "type: BanditPolicy", "slack_factor: 0.1",
                "slack_amount: -1", "truncation_percentage: 120", "primary_metric_name: a",
                "primary_metric_goal: Maximize", "max_total_runs: 3", "max_total_runs: -1",
                "max_concurrent_runs: 0", "search_space:", "x: {type: choice, values: [{a: {type: uniform, min_value: 0, max_value: 1}}]}",
                "trial: {command: \"p ${{search_space.x}}\"}", "objective: {primary_metric: a, goal: min}",
                "- [", "&a b", "*a", "? x", "--- ", "'unterminated", "key: \"\\u12\"",
            ])),
            0..25,
        )
    ) {
        let text: String = lines.iter().map(|(indent, l)| format!("{}{}\n", "  ".repeat(*indent), l)).collect();
        let _ = sweep::config::load_str("fuzz.yml", &text, Path::new("fuzz.yml"), None);
    }

    #[test]
    fn sampled_values_lie_in_their_domain(d in domain(), u in 0.0f64..=1.0) {
        let v = d.from_unit(u);
        prop_assert!(d.contains(&v), "{:?} gave {:?} not in its domain", d, v);
        match (&d, &v) {
            (Domain::RandInt { upper }, Value::Int(i)) => prop_assert!(*i >= 0 && i < upper),
            (Domain::RandInt { .. }, _) => prop_assert!(false, "randint gave {:?}", v),
            (Domain::LogUniform { low, high }, Value::Float(x)) => {
                prop_assert!(*x >= low.exp() * (1.0 - 1e-12) && *x <= high.exp() * (1.0 + 1e-12));
            }
            (Domain::QUniform { q, .. } | Domain::QLogUniform { q, .. } | Domain::QNormal { q, .. } | Domain::QLogNormal { q, .. }, _) => {
                let x = v.as_f64().unwrap();
                let k = (x / q).round();
                prop_assert!((k * q - x).abs() <= 1e-9 * x.abs().max(*q), "{} is not a multiple of {}", x, q);
            }
            _ => {}
        }
    }

    #[test]
    fn continuous_unit_maps_round_trip(d in domain(), u in 0.001f64..0.999) {
        let v = d.from_unit(u);
        let back = d.to_unit(&v).unwrap();
        if d.is_discrete() {
            // A discrete value maps to a unit point that decodes to the same value.
            prop_assert_eq!(d.from_unit(back), v);
        } else if !matches!(d, Domain::Normal { sigma, .. } | Domain::LogNormal { sigma, .. } if sigma == 0.0) {
            prop_assert!((back - u).abs() < 1e-6, "{:?}: {} -> {:?} -> {}", d, u, v, back);
        }
    }

    #[test]
    fn space_points_decode_into_the_space(ds in prop::collection::vec(domain(), 1..6), seed in prop::collection::vec(0.0f64..=1.0, 6)) {
        let space = SearchSpace::new(ds.into_iter().enumerate().map(|(i, d)| Param { name: format!("p{i}"), domain: d, condition: None }).collect());
        let p = space.from_unit(&seed[..space.dim()]);
        prop_assert!(space.contains(&p));
        let u = space.to_unit(&p).unwrap();
        let back = space.from_unit(&u);
        prop_assert_eq!(back.len(), p.len());
        for ((n1, v1), (n2, v2)) in back.iter().zip(p.iter()) {
            prop_assert_eq!(n1, n2);
            match (v1, v2) {
                // Continuous values come back to within float rounding of the inverse CDF.
                (Value::Float(a), Value::Float(b)) => prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{} vs {}", a, b),
                _ => prop_assert_eq!(v1, v2),
            }
        }
    }
}

#[test]
fn grid_enumerates_exactly_what_random_sampling_can_produce() {
    let d = Domain::QUniform {
        low: 0.3,
        high: 2.2,
        q: 0.5,
    };
    let grid = d.grid_values().unwrap();
    assert_eq!(grid.len() as u64, d.grid_len().unwrap());
    for i in 0..=1000 {
        let v = d.from_unit(i as f64 / 1000.0);
        assert!(grid.contains(&v), "{v:?} not in grid {grid:?}");
    }
}
