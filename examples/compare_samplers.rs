//! Quality comparison of sweep's samplers on standard minimisation problems.
//!
//! Runs Branin (2-D), Hartmann6 (6-D), Rosenbrock (5-D on [-2, 2]), Levy (6-D on
//! [-10, 10]) and Ackley (10-D on [-32.768, 32.768]) with the random, Sobol and Bayesian
//! samplers (the latter also in batches of 4 candidates told together), and reports the
//! simple regret (best found − known optimum) and the time spent inside the sampler, as
//! wall-clock and as CPU seconds of this process (the fairer number on a shared machine).
//!
//! ```text
//! cargo run --release --example compare_samplers -- [--trials 100] [--seeds 10]
//!     [--problems branin,hartmann6,...] [--samplers random,sobol,bayes,bayes-batch4]
//!     [--json]
//! ```
//!
//! With `--json` one JSON object per (problem, sampler, seed) run is printed on stdout
//! (what `bench/compare_samplers.py` reads); the summary table always goes to stderr.

use std::time::Instant;
use sweep::sampler::{self, Observation, Proposal};
use sweep::space::{Domain, Param, Params, SearchSpace};
use sweep::spec::{Goal, RandomRule, Sampling};

struct Problem {
    name: &'static str,
    dim: usize,
    low: f64,
    high: f64,
    optimum: f64,
    f: fn(&[f64]) -> f64,
}

#[path = "../benches/common/problems.rs"]
mod problems;
use problems::{ackley, branin, hartmann6, levy, rosenbrock};

const PROBLEMS: [Problem; 5] = [
    Problem {
        name: "branin",
        dim: 2,
        low: f64::NAN, // per-dimension bounds, see `space`
        high: f64::NAN,
        optimum: 0.397_887_357_729_738,
        f: branin,
    },
    Problem {
        name: "hartmann6",
        dim: 6,
        low: 0.0,
        high: 1.0,
        optimum: -3.322_368_011_391_339,
        f: hartmann6,
    },
    Problem {
        name: "rosenbrock",
        dim: 5,
        low: -2.0,
        high: 2.0,
        optimum: 0.0,
        f: rosenbrock,
    },
    Problem {
        name: "levy",
        dim: 6,
        low: -10.0,
        high: 10.0,
        optimum: 0.0,
        f: levy,
    },
    Problem {
        name: "ackley",
        dim: 10,
        low: -32.768,
        high: 32.768,
        optimum: 0.0,
        f: ackley,
    },
];

fn space(p: &Problem) -> SearchSpace {
    let bounds: Vec<(f64, f64)> = if p.name == "branin" {
        vec![(-5.0, 10.0), (0.0, 15.0)]
    } else {
        vec![(p.low, p.high); p.dim]
    };
    SearchSpace::new(
        bounds
            .iter()
            .enumerate()
            .map(|(i, (low, high))| Param {
                name: format!("x{i}"),
                domain: Domain::Uniform {
                    low: *low,
                    high: *high,
                },
                condition: None,
            })
            .collect(),
    )
}

fn point(p: &Params) -> Vec<f64> {
    p.iter()
        .map(|(_, v)| v.as_f64().expect("numeric"))
        .collect()
}

fn sampling(name: &str) -> (Sampling, usize) {
    match name {
        "random" => (
            Sampling::Random {
                rule: RandomRule::Plain,
            },
            1,
        ),
        "sobol" => (
            Sampling::Random {
                rule: RandomRule::Sobol,
            },
            1,
        ),
        "bayes" => (Sampling::Bayesian, 1),
        "bayes-batch4" => (Sampling::Bayesian, 4),
        other => panic!("unknown sampler {other}"),
    }
}

/// CPU seconds this process has used so far. The machine is shared, so wall-clock time
/// inside the sampler depends on what else runs; CPU time does much less.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// One optimisation run: returns (regret, wall seconds spent proposing, CPU seconds).
fn run(problem: &Problem, sampler_name: &str, seed: u64, trials: usize) -> (f64, f64, f64) {
    let sp = space(problem);
    let (sampling, batch) = sampling(sampler_name);
    let mut s = sampler::build(&sampling, &sp, Goal::Minimize, seed);
    let mut hist: Vec<Observation> = Vec::with_capacity(trials);
    let (mut spent, mut cpu) = (0.0, 0.0);
    while hist.len() < trials {
        let n = batch.min(trials - hist.len());
        let t = Instant::now();
        let c = cpu_seconds();
        let proposal = s.propose(&hist, &[], n);
        cpu += cpu_seconds() - c;
        spent += t.elapsed().as_secs_f64();
        let Proposal::Candidates(c) = proposal else {
            panic!("{sampler_name} stopped proposing on {}", problem.name)
        };
        for params in c {
            let v = (problem.f)(&point(&params));
            hist.push(Observation {
                params,
                value: Some(v),
            });
        }
    }
    let best = hist
        .iter()
        .filter_map(|o| o.value)
        .fold(f64::INFINITY, f64::min);
    ((best - problem.optimum).max(0.0), spent, cpu)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between order statistics (numpy's default).
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let trials: usize = get("--trials").map_or(100, |v| v.parse().expect("--trials N"));
    let seeds: u64 = get("--seeds").map_or(10, |v| v.parse().expect("--seeds N"));
    let problems =
        get("--problems").unwrap_or_else(|| "branin,hartmann6,rosenbrock,levy,ackley".into());
    let samplers = get("--samplers").unwrap_or_else(|| "random,sobol,bayes,bayes-batch4".into());
    let json = args.iter().any(|a| a == "--json");

    eprintln!(
        "{:<11} {:<13} {:>12} {:>12} {:>12} {:>10} {:>9}",
        "problem", "sampler", "median", "q25", "q75", "wall/run s", "cpu/run s"
    );
    for pname in problems.split(',') {
        let problem = PROBLEMS
            .iter()
            .find(|p| p.name == pname)
            .unwrap_or_else(|| panic!("unknown problem {pname}"));
        for sname in samplers.split(',') {
            let mut regrets = Vec::new();
            let mut times = Vec::new();
            let mut cpus = Vec::new();
            for seed in 0..seeds {
                let (regret, secs, cpu) = run(problem, sname, seed, trials);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "problem": pname, "sampler": sname, "seed": seed,
                            "trials": trials, "regret": regret, "sampler_seconds": secs,
                            "sampler_cpu_seconds": cpu,
                        })
                    );
                }
                regrets.push(regret);
                times.push(secs);
                cpus.push(cpu);
            }
            regrets.sort_by(f64::total_cmp);
            eprintln!(
                "{:<11} {:<13} {:>12.4e} {:>12.4e} {:>12.4e} {:>10.3} {:>9.3}",
                pname,
                sname,
                quantile(&regrets, 0.5),
                quantile(&regrets, 0.25),
                quantile(&regrets, 0.75),
                times.iter().sum::<f64>() / times.len() as f64,
                cpus.iter().sum::<f64>() / cpus.len() as f64
            );
        }
    }
}
