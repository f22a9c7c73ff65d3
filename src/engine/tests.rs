use super::*;
use crate::metrics::Report;
use crate::sampler::{Observation, Proposal};
use crate::space::{SearchSpace, Value};
use crate::spec::{Goal, Limits, Policy, RunSpec, Sampling};
use crate::target::fake::{FakeRun, FakeTarget};
use crate::target::LaunchRequest;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

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

/// A recorded run's reason as the history stores it.
fn reason(r: &crate::store::RunRecord) -> String {
    r.reason
        .as_ref()
        .expect("a terminal run has a reason")
        .to_string()
}

fn x_of(req: &LaunchRequest) -> i64 {
    let v: serde_json::Value = serde_json::from_str(&req.params_json).unwrap();
    v["x"].as_i64().unwrap()
}

fn acc(v: f64) -> Report {
    Report::new("acc", v, None)
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

/// A sweep started with [`Harness::start`].
type Task = tokio::task::JoinHandle<Result<Outcome, EngineError>>;

impl Harness {
    /// A sweep of `spec` on a target whose runs never end unless stopped, and the target.
    fn hanging(&self, spec: SweepSpec) -> (Arc<FakeTarget>, Sweep) {
        let target = Arc::new(FakeTarget::new(|_| FakeRun::Hang(vec![])));
        let sweep = self.sweep(spec, target.clone(), 100, None);
        (target, sweep)
    }

    /// Starts `sweep` on its own task, with a control channel and a progress channel the
    /// test holds: the control sender, the progress receiver and the task.
    fn start(&self, sweep: Sweep) -> (UnboundedSender<Control>, UnboundedReceiver<Progress>, Task) {
        let (ctl, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ptx, prx) = tokio::sync::mpsc::unbounded_channel();
        let store = self.store.clone();
        let task = tokio::spawn(async move { super::run(sweep, store, rx, Some(ptx)).await });
        (ctl, prx, task)
    }

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
    assert_eq!(s.state, SweepState::Completed);
    let runs = r.runs(&s).unwrap();
    assert_eq!(runs.len(), 20);
    assert!(runs
        .iter()
        .all(|r| r.state == RunState::Completed && reason(r) == "exit code 0"));
}

/// A run its target restarts keeps its id; its metrics start afresh at interval 1, and the
/// first attempt's better values no longer make it the best run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_run_reports_afresh_from_interval_one() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|r| match x_of(r) {
        0 => FakeRun::Restarted(vec![acc(9.0), acc(8.0)], vec![acc(1.0), acc(2.0)], 0),
        _ => FakeRun::Exit(vec![acc(5.0)], 0),
    }));
    let (out, _) = h.run(h.sweep(spec(2, 1), target.clone(), 2, None)).await;
    assert_eq!(
        (out.state, out.runs, target.launched()),
        (SweepState::Completed, 2, 2)
    );
    let best = out.best.unwrap();
    assert_eq!(
        (best.value, best.params.get("x")),
        (5.0, Some(&Value::Int(1)))
    );
    let r = h.store.reader().unwrap();
    let s = r.resolve(&out.sweep_id).unwrap();
    let runs = r.runs(&s).unwrap();
    assert_eq!(
        (runs[0].restarts, runs[0].intervals, runs[0].best),
        (1, 2, Some(2.0))
    );
    let rows: Vec<(i64, f64)> = r
        .metrics(&s)
        .unwrap()
        .into_iter()
        .filter(|m| m.run_id == runs[0].id)
        .map(|m| (m.interval, m.value))
        .collect();
    assert_eq!(rows, [(1, 1.0), (2, 2.0)]);
    let restarted: Vec<_> = r
        .events(&s)
        .unwrap()
        .into_iter()
        .filter(|e| e.2 == "restarted")
        .collect();
    assert_eq!(restarted.len(), 1);
    assert_eq!(restarted[0].1.as_deref(), Some(runs[0].id.as_str()));
    assert!(
        restarted[0]
            .3
            .contains("its 2 earlier interval(s) (best 9)"),
        "{}",
        restarted[0].3
    );
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
    assert!(reason(&runs[0]).contains("launch failed: could not launch: no such program"));
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
            assert_eq!(run.state, RunState::Canceled);
            assert_eq!(reason(run), "policy:below");
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
    let (ctl, mut prx, task) = h.start(sweep);
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
    assert!(runs.iter().all(|r| reason(r) == "user cancel"));
    // Canceled runs keep their values; the best of them is still reported.
    assert_eq!(out.best.map(|b| b.value), Some(0.5));
}

/// A history the writer gives up on (another process holds its lock past the writer's
/// patience) stops the sweep with that error, though nothing the sweep waits for is being
/// written: its runs hang, and only the running-time heartbeat writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_cannot_be_written_stops_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    let store =
        Arc::new(Store::open_with_patience(&workspace, Duration::from_millis(300)).unwrap());
    let h = Harness {
        _dir: dir,
        store,
        workspace,
    };
    let (_, mut sweep) = h.hanging(spec(2, 1));
    sweep.options.heartbeat = Duration::from_millis(50);
    let (_ctl, mut prx, task) = h.start(sweep);
    while !matches!(
        prx.recv().await,
        Some(Progress::RunState {
            state: RunState::Running,
            ..
        })
    ) {}
    let blocker = rusqlite::Connection::open(h.store.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the sweep stopped")
        .unwrap();
    let err = out
        .expect_err("a sweep whose history is lost fails")
        .to_string();
    assert!(
        err.contains("could not write") && err.contains("locked"),
        "{err}"
    );
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
        .all(|r| r.state == RunState::Canceled && reason(r).starts_with("timeout")));

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
        FakeRun::Exit(vec![Report::new("accuracy", 0.9, None)], 0)
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

mod waiting_reasons {
    use super::super::waiting::{reason, Load};
    use super::*;

    fn load() -> Load<'static> {
        Load {
            live: 2,
            starting: 0,
            max_concurrent: 4,
            capacity: None,
            target: "ssh-pool",
            max_total: 10,
            ..Load::default()
        }
    }

    fn text(l: &Load<'_>) -> Option<String> {
        reason(l).map(|w| w.to_string())
    }

    #[test]
    fn free_slots_and_a_willing_sampler_wait_for_nothing() {
        assert_eq!(reason(&load()), None);
        // A capacity above the live count leaves room too.
        assert_eq!(
            reason(&Load {
                capacity: Some(3),
                ..load()
            }),
            None
        );
    }

    #[test]
    fn full_slots_name_the_binding_limit() {
        let cap = Load { live: 4, ..load() };
        assert_eq!(
            text(&cap).as_deref(),
            Some("max_concurrent_runs (4 of 4 running)")
        );
        let starting = Load {
            starting: 1,
            ..cap.clone()
        };
        assert_eq!(
            text(&starting).as_deref(),
            Some("max_concurrent_runs (4 of 4 running, 1 of them starting)")
        );
        let target = Load {
            capacity: Some(2),
            ..load()
        };
        assert_eq!(
            reason(&target),
            Some(Waiting::TargetFull {
                target: "ssh-pool".into(),
                live: 2,
                starting: 0,
                capacity: 2
            })
        );
        assert_eq!(
            text(&target).as_deref(),
            Some("target full (ssh-pool: 2 of 2 slots)")
        );
        // Both limits equal: the configured one is named.
        let both = Load {
            capacity: Some(4),
            ..cap
        };
        assert!(matches!(
            reason(&both),
            Some(Waiting::MaxConcurrentRuns { limit: 4, .. })
        ));
    }

    #[test]
    fn the_sampler_s_state_shows_only_when_slots_are_free() {
        let wait = Load {
            sampler_wait: true,
            ..load()
        };
        let busy = Load {
            proposing: true,
            ..load()
        };
        for (state, want) in [
            (wait, "sampler needs results (2 running)"),
            (busy, "sampler choosing the next candidates (2 running)"),
        ] {
            assert_eq!(text(&state).as_deref(), Some(want));
        }
        // With every slot taken the limit is the reason, whatever the sampler says.
        let full = Load {
            live: 4,
            sampler_wait: true,
            ..load()
        };
        assert!(matches!(
            reason(&full),
            Some(Waiting::MaxConcurrentRuns { .. })
        ));
    }

    #[test]
    fn stopping_and_a_spent_budget_come_before_slots() {
        let all = Load {
            live: 4,
            capacity: Some(2),
            sampler_wait: true,
            exhausted: true,
            total_reached: true,
            stopping: Some("interrupted by the user"),
            ..load()
        };
        assert_eq!(
            text(&all).as_deref(),
            Some("stopping (interrupted by the user; 4 runs still ending)")
        );
        let spent = Load {
            stopping: None,
            ..all.clone()
        };
        assert_eq!(
            text(&spent).as_deref(),
            Some("max_total_runs reached (10 of 10 launched; 4 still running)")
        );
        let exhausted = Load {
            total_reached: false,
            ..spent
        };
        assert_eq!(
            text(&exhausted).as_deref(),
            Some("search space exhausted (4 still running)")
        );
        let one = Load {
            live: 1,
            stopping: Some("max_duration_minutes (1) reached"),
            ..load()
        };
        assert_eq!(
            text(&one).as_deref(),
            Some("stopping (max_duration_minutes (1) reached; 1 run still ending)")
        );
    }

    /// Proposes one candidate at a time, and only when no run is pending (a sampler that
    /// needs every result before its next proposal).
    struct OneAtATime {
        next: i64,
    }

    impl Sampler for OneAtATime {
        fn propose(&mut self, _f: &[Observation], pending: &[Params], _n: usize) -> Proposal {
            if !pending.is_empty() {
                return Proposal::Wait;
            }
            self.next += 1;
            Proposal::Candidates(vec![Params(vec![("x".into(), Value::Int(self.next))])])
        }
        fn replay(&mut self, p: &[Params]) {
            self.next += p.len() as i64;
        }
        fn proposed(&self) -> u64 {
            self.next as u64
        }
    }

    struct Seen {
        /// The reason the dispatcher reported.
        waiting: Waiting,
        /// What it holds once the sweep ended.
        after: Option<String>,
        outcome: Outcome,
    }

    /// Runs a sweep of `spec`, changed by `setup`, on a target whose runs hang, until the
    /// dispatcher reports a reason `want` accepts (with the runs hanging, the reason stays),
    /// checks that the history recorded it for `sweep status` as `recorded`, then interrupts
    /// the sweep: the target and what was seen.
    async fn until(
        spec: SweepSpec,
        setup: impl FnOnce(&mut Sweep),
        want: impl Fn(&Waiting) -> bool,
        recorded: &str,
    ) -> (Arc<FakeTarget>, Seen) {
        let h = harness();
        let (target, mut sweep) = h.hanging(spec);
        setup(&mut sweep);
        let id = sweep.setup.id.clone();
        let (ctl, mut prx, task) = h.start(sweep);
        let mut seen = Vec::new();
        let found = async {
            loop {
                match prx.recv().await {
                    Some(Progress::Waiting(Some(w))) if want(&w) => break w,
                    Some(Progress::Waiting(w)) => seen.push(w),
                    Some(_) => {}
                    None => panic!("the sweep ended before it waited as expected: {seen:?}"),
                }
            }
        };
        // Runs hang: without the expected reason the sweep would wait for ever. The deadline
        // only turns that into a failure; a passing run never comes near it.
        let waiting = tokio::time::timeout(Duration::from_secs(120), found)
            .await
            .unwrap_or_else(|_| panic!("the expected reason never came"));
        // The reason was queued before it was reported: a flush makes it readable.
        h.store.flush().await.unwrap();
        let r = h.store.reader().unwrap();
        let held = r.waiting(&r.resolve(&id).unwrap()).unwrap();
        assert_eq!(
            held.as_deref(),
            Some(recorded),
            "the reason the history holds"
        );
        ctl.send(Control::Interrupt).unwrap();
        let outcome = task.await.unwrap().unwrap();
        let after = r.waiting(&r.resolve(&id).unwrap()).unwrap();
        let seen = Seen {
            waiting,
            after,
            outcome,
        };
        (target, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn target_capacity_bounds_live_runs_and_is_recorded_as_the_reason() {
        let (target, seen) = until(
            spec(10, 4),
            |sweep| sweep.options.target_capacity = Some(2),
            |w| matches!(w, Waiting::TargetFull { starting: 0, .. }),
            "target full (fake: 2 of 2 slots)",
        )
        .await;
        assert_eq!(seen.waiting.to_string(), "target full (fake: 2 of 2 slots)");
        // Only the target's two slots were ever used, although four were allowed.
        assert_eq!((target.launched(), target.max_live()), (2, 2));
        assert_eq!(seen.outcome.runs, 2);
        // A finished sweep shows how it ended, not a waiting reason.
        assert_eq!(seen.outcome.state, SweepState::Canceled);
        assert_eq!(seen.after, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn target_capacity_bounds_a_whole_sweep() {
        let h = harness();
        let target = Arc::new(FakeTarget::new(|r| {
            FakeRun::Exit(vec![acc(x_of(r) as f64)], 0)
        }));
        let mut sweep = h.sweep(spec(12, 4), target.clone(), 100, None);
        sweep.options.target_capacity = Some(2);
        let (out, events) = h.run(sweep).await;
        assert_eq!((out.state, out.completed), (SweepState::Completed, 12));
        assert!(target.max_live() <= 2, "max live {}", target.max_live());
        // The configured limit never bound: the target's did.
        assert!(!events.iter().any(|e| matches!(
            e,
            Progress::Waiting(Some(Waiting::MaxConcurrentRuns { .. }))
        )));
        // The last reason the view saw is cleared when the sweep ends.
        let last = events
            .iter()
            .rev()
            .find(|e| matches!(e, Progress::Waiting(_)));
        assert_eq!(last, Some(&Progress::Waiting(None)));
    }

    /// [`Counting`], declared independent of results (asked on the dispatcher itself).
    struct Blind(Counting);

    impl Sampler for Blind {
        fn propose(&mut self, f: &[Observation], p: &[Params], n: usize) -> Proposal {
            self.0.propose(f, p, n)
        }
        fn replay(&mut self, p: &[Params]) {
            self.0.replay(p)
        }
        fn proposed(&self) -> u64 {
            self.0.proposed()
        }
        fn uses_history(&self) -> bool {
            false
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_a_proposal_made_off_the_dispatcher_is_a_reason() {
        let proposing = |events: &[Progress]| {
            events
                .iter()
                .filter(|e| matches!(e, Progress::Waiting(Some(Waiting::Proposing { .. }))))
                .count()
        };
        let script = |r: &LaunchRequest| FakeRun::Exit(vec![acc(x_of(r) as f64)], 0);
        let h = harness();
        let (out, events) = h
            .run(h.sweep(spec(8, 2), Arc::new(FakeTarget::new(script)), 100, None))
            .await;
        assert_eq!(out.completed, 8);
        // Asked on a worker thread: the dispatcher waits for the answer with runs live.
        assert!(proposing(&events) > 0, "{events:?}");
        let mut sweep = h.sweep(spec(8, 2), Arc::new(FakeTarget::new(script)), 100, None);
        sweep.sampler = Box::new(Blind(Counting {
            next: 0,
            total: 100,
        }));
        let (out, events) = h.run(sweep).await;
        assert_eq!(out.completed, 8);
        // Answered at once: nothing was waited for, nothing is recorded.
        assert_eq!(proposing(&events), 0, "{events:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_concurrency_cap_is_recorded_as_the_reason() {
        let (target, seen) = until(
            spec(10, 3),
            // A target with room to spare does not change the reason.
            |sweep| sweep.options.target_capacity = Some(8),
            |w| matches!(w, Waiting::MaxConcurrentRuns { starting: 0, .. }),
            "max_concurrent_runs (3 of 3 running)",
        )
        .await;
        assert_eq!(target.max_live(), 3);
        assert_eq!(seen.after, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sampler_waiting_for_results_is_recorded_as_the_reason() {
        let (target, seen) = until(
            spec(10, 4),
            |sweep| sweep.sampler = Box::new(OneAtATime { next: 0 }),
            |w| matches!(w, Waiting::NeedsResults { .. }),
            "sampler needs results (1 running)",
        )
        .await;
        assert_eq!(target.launched(), 1);
        assert_eq!(seen.after, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spent_budget_and_a_stop_are_recorded_as_reasons() {
        let h = harness();
        let (_, sweep) = h.hanging(spec(2, 4));
        let id = sweep.setup.id.clone();
        let (ctl, mut prx, task) = h.start(sweep);
        let mut reasons = Vec::new();
        let mut interrupted = false;
        while let Some(p) = prx.recv().await {
            if let Progress::Waiting(w) = p {
                if let Some(Waiting::MaxTotalRuns { live: 2, .. }) = &w {
                    if !interrupted {
                        ctl.send(Control::Interrupt).unwrap();
                        interrupted = true;
                    }
                }
                reasons.push(w.map(|w| w.to_string()));
            }
        }
        let out = task.await.unwrap().unwrap();
        assert_eq!(out.state, SweepState::Canceled);
        assert!(
            reasons.contains(&Some(
                "max_total_runs reached (2 of 2 launched; 2 still running)".into()
            )),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&Some(
                "stopping (interrupted by the user; 2 runs still ending)".into()
            )),
            "{reasons:?}"
        );
        assert_eq!(reasons.last(), Some(&None));
        let r = h.store.reader().unwrap();
        assert_eq!(r.waiting(&r.resolve(&id).unwrap()).unwrap(), None);
    }
}

/// Records the largest batch it was asked for, proposing like [`Counting`].
struct Batches {
    inner: Counting,
    largest: Arc<std::sync::atomic::AtomicUsize>,
}

impl Sampler for Batches {
    fn propose(&mut self, f: &[Observation], p: &[Params], n: usize) -> Proposal {
        self.largest
            .fetch_max(n, std::sync::atomic::Ordering::SeqCst);
        self.inner.propose(f, p, n)
    }
    fn replay(&mut self, p: &[Params]) {
        self.inner.replay(p)
    }
    fn proposed(&self) -> u64 {
        self.inner.proposed()
    }
}

/// A budget and a concurrency of a billion (a grid's size, by default) never make the
/// sampler build a billion candidates at once: it is asked for bounded batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sampler_is_asked_for_bounded_batches() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|r| {
        FakeRun::Exit(vec![acc(x_of(r) as f64)], 0)
    }));
    let largest = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut sweep = h.sweep(spec(1_000_000_000, 1_000_000_000), target, 300, None);
    sweep.sampler = Box::new(Batches {
        inner: Counting {
            next: 0,
            total: 300,
        },
        largest: largest.clone(),
    });
    let (out, _) = h.run(sweep).await;
    assert_eq!((out.state, out.runs), (SweepState::Completed, 300));
    let n = largest.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(n, PROPOSAL_BATCH, "asked for {n} at once");
}

/// An interrupt while the source snapshot is being made stops it: the sweep ends canceled
/// with no run, and no snapshot is left half made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_the_snapshot_cancels_the_sweep() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| FakeRun::Exit(vec![acc(1.0)], 0)));
    let sweep = h.sweep(spec(5, 2), target.clone(), 5, None);
    let dir = sweep.setup.sweep_dir();
    let (ctl, rx) = tokio::sync::mpsc::unbounded_channel();
    ctl.send(Control::Interrupt).unwrap();
    let out = super::run(sweep, h.store.clone(), rx, None).await.unwrap();
    assert_eq!((out.state, out.runs), (SweepState::Canceled, 0));
    assert_eq!(out.reason, "interrupted by the user");
    assert_eq!(target.launched(), 0);
    assert!(!dir.join("snapshot").exists() && !dir.join("snapshot.partial").exists());
}

/// A snapshot that cannot be made ends the sweep `failed`, with the reason, rather than
/// leaving it recorded `running`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_snapshot_records_the_sweep_failed() {
    let h = harness();
    let target = Arc::new(FakeTarget::new(|_| FakeRun::Exit(vec![acc(1.0)], 0)));
    let mut sweep = h.sweep(spec(5, 2), target.clone(), 5, None);
    sweep.spec.run.source_dir = h.workspace.parent().unwrap().join("no-such-dir");
    let id = sweep.setup.id.clone();
    let (_ctl, rx) = tokio::sync::mpsc::unbounded_channel();
    let err = super::run(sweep, h.store.clone(), rx, None)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Snapshot(_)), "{err}");
    let s = h.store.reader().unwrap().resolve(&id).unwrap();
    assert_eq!(s.state, SweepState::Failed);
    assert!(
        s.reason
            .as_deref()
            .unwrap_or("")
            .starts_with("source snapshot: cannot read"),
        "{:?}",
        s.reason
    );
    assert_eq!(target.launched(), 0);
}

/// Limits from a config or the environment become durations without panicking, whatever
/// their size.
#[test]
fn limits_of_any_size_become_durations() {
    assert_eq!(limit_duration(-1.0), Duration::ZERO);
    assert_eq!(limit_duration(f64::NAN), Duration::ZERO);
    assert_eq!(limit_duration(1.5), Duration::from_millis(1500));
    let max = Duration::from_secs(MAX_LIMIT_SECONDS as u64);
    for huge in [1e20 * 60.0, 1e300, f64::INFINITY] {
        assert_eq!(limit_duration(huge), max);
    }
    // Far enough in the future, and still a time the clock can hold.
    let _ = std::time::Instant::now() + limit_duration(1e300);
}
