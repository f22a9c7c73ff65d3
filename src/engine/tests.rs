use super::*;
use crate::metrics::Report;
use crate::sampler::{Observation, Proposal};
use crate::space::{SearchSpace, Value};
use crate::spec::{Goal, Limits, Policy, RunSpec, Sampling};
use crate::target::fake::{FakeRun, FakeTarget};
use crate::target::LaunchRequest;

/// Proposes `x = 0, 1, 2, …` up to `total`, then says the space is exhausted.
struct Counting {
    next: i64,
    total: i64,
}

impl Sampler for Counting {
    fn propose(&mut self, _f: &[Observation], _p: &[Params], n: usize) -> Proposal {
        if self.next >= self.total {
            return Proposal::Exhausted;
        }
        let mut out = Vec::new();
        while out.len() < n && self.next < self.total {
            out.push(Params(vec![("x".into(), Value::Int(self.next))]));
            self.next += 1;
        }
        Proposal::Candidates(out)
    }
    fn replay(&mut self, p: &[Params]) {
        self.next += p.len() as i64;
    }
    fn proposed(&self) -> u64 {
        self.next as u64
    }
}

fn spec(total: u64, concurrent: u64) -> SweepSpec {
    SweepSpec {
        space: SearchSpace::default(),
        sampling: Sampling::Grid,
        seed: Some(1),
        policy: Policy::none(),
        primary_metric: "acc".into(),
        goal: Goal::Maximize,
        limits: Limits {
            max_total_runs: total,
            max_concurrent_runs: concurrent,
            max_duration_minutes: 60.0,
            max_run_duration_seconds: None,
        },
        run: RunSpec {
            interpreter: Some("python3".into()),
            script: Some("train.py".into()),
            target: "local".into(),
            ..Default::default()
        },
        resume_from: Vec::new(),
        resume_child_runs: Vec::new(),
    }
}

fn x_of(req: &LaunchRequest) -> i64 {
    let v: serde_json::Value = serde_json::from_str(&req.params_json).unwrap();
    v["x"].as_i64().unwrap()
}

fn acc(v: f64) -> Report {
    Report {
        name: "acc".into(),
        value: v,
        step: None,
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    workspace: PathBuf,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    let store = Arc::new(Store::open(&workspace).unwrap());
    Harness {
        _dir: dir,
        store,
        workspace,
    }
}

impl Harness {
    fn sweep(
        &self,
        spec: SweepSpec,
        target: Arc<dyn ComputeTarget>,
        total: i64,
        policy: Option<Box<dyn EarlyStop>>,
    ) -> Sweep {
        let mut spec = spec;
        spec.run.source_dir = self.workspace.parent().unwrap().to_path_buf();
        Sweep {
            spec,
            setup: SweepSetup {
                id: new_sweep_id(),
                name: "t".into(),
                experiment: None,
                workspace: self.workspace.clone(),
                seed: 1,
                invocation: vec![],
                config_files: vec![],
            },
            target,
            sampler: Box::new(Counting { next: 0, total }),
            policy,
            options: EngineOptions {
                stop_grace: Duration::from_millis(100),
                fail_fast_runs: 3,
                ..EngineOptions::default()
            },
        }
    }

    async fn run(&self, sweep: Sweep) -> (Outcome, Vec<Progress>) {
        let (_ctl, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel();
        let out = super::run(sweep, self.store.clone(), rx, Some(ptx))
            .await
            .unwrap();
        let mut events = Vec::new();
        while let Ok(p) = prx.try_recv() {
            events.push(p);
        }
        (out, events)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_and_best_run() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|r| {
        let x = x_of(r);
        FakeRun::Exit(vec![acc(x as f64 / 10.0), acc((x % 7) as f64)], 0)
    }));
    let (out, _) = h.run(h.sweep(spec(20, 3), target.clone(), 100, None)).await;
    assert_eq!(out.state, SweepState::Completed);
    assert_eq!(out.runs, 20);
    assert_eq!(out.completed, 20);
    assert!(target.max_live() <= 3, "max live {}", target.max_live());
    let best = out.best.unwrap();
    // x % 7 peaks at 6 (x = 6 and 13); x/10 peaks at 1.9 (x = 19): 6 wins, first is x = 6.
    assert_eq!(best.value, 6.0);
    assert_eq!(best.params.get("x"), Some(&Value::Int(6)));
    assert_eq!(best.argv, ["python3", "train.py", "--x", "6"]);
    let r = h.store.reader().unwrap();
    let s = r.resolve(&out.sweep_id).unwrap();
    assert_eq!(s.state, "completed");
    let runs = r.runs(&s).unwrap();
    assert_eq!(runs.len(), 20);
    assert!(runs
        .iter()
        .all(|r| r.state == "completed" && r.reason.as_deref() == Some("exit code 0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_runs_failing_the_same_way_stop_the_sweep() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| FakeRun::Exit(vec![], 2)));
    let (out, events) = h.run(h.sweep(spec(50, 1), target.clone(), 100, None)).await;
    assert_eq!(out.state, SweepState::Failed);
    assert!(
        out.reason.contains("first 3 runs all failed"),
        "{}",
        out.reason
    );
    assert!(out.reason.contains("exit code 2"), "{}", out.reason);
    assert_eq!(target.launched(), 3);
    assert!(events.iter().any(|e| matches!(e, Progress::Stopping(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_failures_do_not_stop_the_sweep() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|r| {
        FakeRun::Exit(vec![acc(1.0)], x_of(r) as i32 % 3)
    }));
    let (out, _) = h.run(h.sweep(spec(9, 1), target, 100, None)).await;
    assert_eq!(out.state, SweepState::Completed);
    assert_eq!(out.runs, 9);
    assert_eq!(out.failed, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_failures_are_failed_runs_with_a_reason() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| {
        FakeRun::LaunchError("no such program".into())
    }));
    let (out, _) = h.run(h.sweep(spec(10, 2), target, 100, None)).await;
    assert_eq!(out.state, SweepState::Failed);
    let r = h.store.reader().unwrap();
    let runs = r.runs(&r.resolve(&out.sweep_id).unwrap()).unwrap();
    assert!(runs[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("launch failed: could not launch: no such program"));
}

struct StopBelow(f64);

impl EarlyStop for StopBelow {
    fn name(&self) -> &str {
        "below"
    }
    fn observe(&mut self, _run: &str, _interval: u32, value: f64) -> bool {
        value < self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_hook_cancels_runs_with_its_name() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|r| {
        let x = x_of(r);
        if x % 2 == 0 {
            FakeRun::Hang(vec![acc(0.1)])
        } else {
            FakeRun::Exit(vec![acc(0.9)], 0)
        }
    }));
    let (out, _) = h
        .run(h.sweep(spec(6, 2), target, 100, Some(Box::new(StopBelow(0.5)))))
        .await;
    assert_eq!(out.state, SweepState::Completed);
    assert_eq!((out.completed, out.canceled), (3, 3));
    let r = h.store.reader().unwrap();
    let runs = r.runs(&r.resolve(&out.sweep_id).unwrap()).unwrap();
    for run in &runs {
        if run.seq % 2 == 0 {
            assert_eq!(run.state, "canceled");
            assert_eq!(run.reason.as_deref(), Some("policy:below"));
            // A canceled run's metrics still count.
            assert_eq!(run.best, Some(0.1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_live_runs_and_records_user_cancel() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| FakeRun::Hang(vec![acc(0.5)])));
    let sweep = h.sweep(spec(10, 2), target, 100, None);
    let (ctl, rx) = tokio::sync::mpsc::unbounded_channel();
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel();
    let store = h.store.clone();
    let task = tokio::spawn(async move { super::run(sweep, store, rx, Some(ptx)).await });
    // Interrupt once both runs are running (observed, not timed).
    let mut running = 0;
    while running < 2 {
        if let Some(Progress::RunState {
            state: RunState::Running,
            ..
        }) = prx.recv().await
        {
            running += 1;
        }
    }
    ctl.send(Control::Interrupt).unwrap();
    let out = task.await.unwrap().unwrap();
    assert_eq!(out.state, SweepState::Canceled);
    assert_eq!(out.canceled, 2);
    assert_eq!(out.runs, 2);
    let r = h.store.reader().unwrap();
    let runs = r.runs(&r.resolve(&out.sweep_id).unwrap()).unwrap();
    assert!(runs
        .iter()
        .all(|r| r.reason.as_deref() == Some("user cancel")));
    // Canceled runs keep their values; the best of them is still reported.
    assert_eq!(out.best.map(|b| b.value), Some(0.5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_run_timeout_and_sweep_duration() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| FakeRun::Hang(vec![])));
    let mut s = spec(3, 3);
    s.limits.max_run_duration_seconds = Some(0.05);
    let (out, _) = h.run(h.sweep(s, target.clone(), 100, None)).await;
    assert_eq!(out.state, SweepState::Completed);
    let r = h.store.reader().unwrap();
    let runs = r.runs(&r.resolve(&out.sweep_id).unwrap()).unwrap();
    assert!(runs
        .iter()
        .all(|r| r.state == "canceled" && r.reason.as_deref().unwrap().starts_with("timeout")));

    let mut s = spec(100, 2);
    s.limits.max_duration_minutes = 0.001;
    let (out, _) = h.run(h.sweep(s, target, 100, None)).await;
    assert_eq!(out.state, SweepState::Canceled);
    assert!(
        out.reason.contains("max_duration_minutes"),
        "{}",
        out.reason
    );
    assert_eq!(out.canceled, out.runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_primary_metric_is_a_loud_warning_and_never_best() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| {
        FakeRun::Exit(
            vec![Report {
                name: "accuracy".into(),
                value: 0.9,
                step: None,
            }],
            0,
        )
    }));
    let (out, events) = h.run(h.sweep(spec(2, 1), target, 100, None)).await;
    assert!(out.best.is_none());
    let warnings: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 2);
    assert!(warnings[0].contains("\"acc\"") && warnings[0].contains("only: accuracy"));
    let r = h.store.reader().unwrap();
    match r.best(&r.resolve(&out.sweep_id).unwrap()).unwrap() {
        crate::store::BestOutcome::None(why) => assert!(why.contains("accuracy"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_space_completes_early() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| FakeRun::Exit(vec![acc(f64::NAN)], 0)));
    let (out, _) = h.run(h.sweep(spec(10, 4), target, 5, None)).await;
    assert_eq!(out.state, SweepState::Completed);
    assert_eq!(out.reason, "the search space is exhausted");
    assert_eq!(out.runs, 5);
    // NaN is recorded but never best.
    assert!(out.best.is_none());
}
