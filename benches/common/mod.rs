//! Shared helpers of the engine benches: a counting sampler, a spec for a command run, and
//! running one sweep on the local target into a fresh workspace.

use std::path::Path;
use std::sync::Arc;
use sweep::engine::{self, EngineOptions, Outcome, Sweep, SweepSetup};
use sweep::sampler::{Observation, Proposal, Sampler};
use sweep::space::{Params, SearchSpace, Value};
use sweep::spec::{Goal, Limits, Policy, RunSpec, Sampling, SweepSpec};
use sweep::store::Store;
use sweep::target::local::LocalTarget;

/// Proposes `i = 0, 1, …` forever.
pub struct Counting(pub i64);

impl Sampler for Counting {
    fn propose(&mut self, _f: &[Observation], _p: &[Params], n: usize) -> Proposal {
        let out = (0..n)
            .map(|_| {
                self.0 += 1;
                Params(vec![("i".into(), Value::Int(self.0))])
            })
            .collect();
        Proposal::Candidates(out)
    }
    fn replay(&mut self, p: &[Params]) {
        self.0 += p.len() as i64;
    }
    fn proposed(&self) -> u64 {
        self.0 as u64
    }
    fn uses_history(&self) -> bool {
        false
    }
}

/// A spec running `argv` as a command `total` times, `concurrent` at a time.
pub fn spec(argv: &[&str], total: u64, concurrent: u64, source: &Path) -> SweepSpec {
    SweepSpec {
        space: SearchSpace::default(),
        sampling: Sampling::Grid,
        seed: Some(0),
        policy: Policy::none(),
        primary_metric: "acc".into(),
        goal: Goal::Maximize,
        limits: Limits {
            max_total_runs: total,
            max_concurrent_runs: concurrent,
            max_duration_minutes: 600.0,
            max_run_duration_seconds: None,
        },
        run: RunSpec {
            arguments: argv.iter().map(|s| s.to_string()).collect(),
            is_command: true,
            source_dir: source.to_path_buf(),
            target: "local".into(),
            ..Default::default()
        },
        resume_from: Vec::new(),
        resume_child_runs: Vec::new(),
    }
}

/// Runs one sweep to the end (history written and flushed) and returns its outcome.
pub fn run_sweep(spec: SweepSpec, workspace: &Path) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(Store::open(workspace).unwrap());
        let sweep = Sweep {
            spec,
            setup: SweepSetup {
                id: engine::new_sweep_id(),
                name: "bench".into(),
                experiment: None,
                workspace: workspace.to_path_buf(),
                seed: 0,
                invocation: Vec::new(),
                config_files: Vec::new(),
            },
            target: Arc::new(LocalTarget::new()),
            sampler: Box::new(Counting(0)),
            policy: None,
            // The bench's programs report no metric: stopping on "no result can come"
            // would end the sweep after its first few runs.
            options: EngineOptions {
                no_metric_runs: 0,
                ..EngineOptions::default()
            },
        };
        let (_ctl, rx) = tokio::sync::mpsc::unbounded_channel();
        let out = engine::run(sweep, store.clone(), rx, None).await.unwrap();
        store.flush().await.unwrap();
        out
    })
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
#[allow(dead_code)] // used by the ingest bench only
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}
