//! The dispatcher: the single owner of a sweep's mutable state, reacting to target events,
//! launch results, proposals, timers and control requests.

use super::argv::build_argv;
use super::{
    BestRun, Control, EarlyStop, EngineError, EngineOptions, Outcome, Progress, Sweep, SweepSetup,
};
use crate::metrics::Report;
use crate::sampler::{Observation, Proposal, Sampler};
use crate::space::Params;
use crate::spec::SweepSpec;
use crate::store::{
    now, MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, SweepState, Write,
};
use crate::target::{
    ComputeTarget, ExitStatus, LaunchRequest, RunHandle, TargetError, TargetEvent,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Output lines kept with a failed run.
const FAILURE_TAIL: usize = 10;

struct Slot {
    id: String,
    params: Params,
    argv: Vec<String>,
    state: RunState,
    handle: Option<RunHandle>,
    deadline: Option<Instant>,
    /// Set when sweep asked the run to stop: the terminal state and reason it gets.
    stop: Option<String>,
    /// An exit that arrived before the launch result.
    early_exit: Option<(ExitStatus, Vec<String>, u64)>,
    intervals: HashMap<String, u64>,
    primary: u32,
    best: Option<f64>,
    malformed: u64,
}

enum Internal {
    Launched(usize, Result<RunHandle, TargetError>),
    Proposed(Box<dyn Sampler>, Proposal),
}

pub(super) struct Dispatcher {
    spec: SweepSpec,
    setup: SweepSetup,
    options: EngineOptions,
    target: Arc<dyn ComputeTarget>,
    sampler: Option<Box<dyn Sampler>>,
    policy: Option<Box<dyn EarlyStop>>,
    store: Arc<Store>,
    control: UnboundedReceiver<Control>,
    control_open: bool,
    progress: Option<UnboundedSender<Progress>>,
    events_tx: UnboundedSender<TargetEvent>,
    events_rx: UnboundedReceiver<TargetEvent>,
    internal_tx: UnboundedSender<Internal>,
    internal_rx: UnboundedReceiver<Internal>,
    snapshot: PathBuf,
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
    live: usize,
    proposing: bool,
    /// The sampler said Wait: ask again after the next run finishes.
    waiting: bool,
    exhausted: bool,
    stopping: Option<(SweepState, String)>,
    deadline: Instant,
    best: Option<(usize, f64)>,
    /// Reasons of the first runs to finish, for fail-fast.
    first_finished: Vec<(RunState, String)>,
}

fn ms(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0))
}

impl Dispatcher {
    pub(super) async fn start(
        sweep: Sweep,
        store: Arc<Store>,
        control: UnboundedReceiver<Control>,
        progress: Option<UnboundedSender<Progress>>,
    ) -> Result<Dispatcher, EngineError> {
        let Sweep {
            spec,
            setup,
            target,
            sampler,
            policy,
            options,
        } = sweep;
        let source = spec.run.source_dir.clone();
        let git = {
            let s = source.clone();
            tokio::task::spawn_blocking(move || crate::target::snapshot::git_state(&s))
                .await
                .unwrap_or(None)
        };
        let l = &spec.limits;
        store
            .commit(Write::Sweep(Box::new(NewSweep {
                id: setup.id.clone(),
                name: setup.name.clone(),
                experiment: setup.experiment.clone(),
                created: now(),
                primary_metric: spec.primary_metric.clone(),
                goal: spec.goal.as_str().into(),
                seed: setup.seed,
                sampling: spec.sampling.name().into(),
                policy: spec.policy.name().into(),
                max_total_runs: l.max_total_runs,
                max_concurrent_runs: l.max_concurrent_runs,
                max_duration_minutes: l.max_duration_minutes,
                max_run_duration_seconds: l.max_run_duration_seconds,
                source_dir: source.display().to_string(),
                git_commit: git.as_ref().map(|g| g.0.clone()),
                git_dirty: git.as_ref().map(|g| g.1),
                target: target.name().into(),
                invocation: setup.invocation.clone(),
            })))
            .await?;
        let snapshot = setup.sweep_dir().join("snapshot");
        {
            let (src, dst, ws) = (source.clone(), snapshot.clone(), setup.workspace.clone());
            tokio::task::spawn_blocking(move || crate::target::snapshot::create(&src, &dst, &ws))
                .await
                .map_err(|e| EngineError::Snapshot(std::io::Error::other(e.to_string())))?
                .map_err(EngineError::Snapshot)?;
        }
        let (events_tx, events_rx) = unbounded_channel();
        let (internal_tx, internal_rx) = unbounded_channel();
        let deadline = Instant::now() + ms(l.max_duration_minutes * 60.0);
        let d = Dispatcher {
            spec,
            setup,
            options,
            target,
            sampler: Some(sampler),
            policy,
            store,
            control,
            control_open: true,
            progress,
            events_tx,
            events_rx,
            internal_tx,
            internal_rx,
            snapshot,
            slots: Vec::new(),
            index: HashMap::new(),
            live: 0,
            proposing: false,
            waiting: false,
            exhausted: false,
            stopping: None,
            deadline,
            best: None,
            first_finished: Vec::new(),
        };
        d.emit(Progress::Started {
            sweep_id: d.setup.id.clone(),
        });
        Ok(d)
    }

    fn emit(&self, p: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(p);
        }
    }

    fn event(&self, run: Option<&str>, kind: &str, message: String) {
        self.store.send(Write::Event {
            sweep_id: self.setup.id.clone(),
            run_id: run.map(str::to_string),
            time: now(),
            kind: kind.into(),
            message,
        });
    }

    fn warn(&self, run: Option<&str>, message: String) {
        tracing::warn!("{message}");
        self.event(run, "warning", message.clone());
        self.emit(Progress::Warning(message));
    }

    fn limits_reached(&self) -> bool {
        self.slots.len() as u64 >= self.spec.limits.max_total_runs
    }

    fn finished(&self) -> bool {
        if self.live > 0 || self.proposing {
            return false;
        }
        self.stopping.is_some() || self.exhausted || self.limits_reached()
    }

    pub(super) async fn run(mut self) -> Result<Outcome, EngineError> {
        loop {
            self.maybe_propose();
            if self.finished() {
                break;
            }
            let next_deadline = self
                .slots
                .iter()
                .filter(|s| s.state == RunState::Running && s.stop.is_none())
                .filter_map(|s| s.deadline)
                .chain((self.stopping.is_none()).then_some(self.deadline))
                .min();
            let sleep = async {
                match next_deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                c = self.control.recv(), if self.control_open => match c {
                    Some(c) => self.on_control(c).await?,
                    None => self.control_open = false,
                },
                Some(e) = self.events_rx.recv() => self.on_target(e).await?,
                Some(i) = self.internal_rx.recv() => match i {
                    Internal::Launched(idx, r) => self.on_launched(idx, r).await?,
                    Internal::Proposed(s, p) => self.on_proposed(s, p).await?,
                },
                _ = sleep => self.on_timer().await?,
            }
        }
        self.finish().await
    }

    fn maybe_propose(&mut self) {
        if self.proposing || self.waiting || self.exhausted || self.stopping.is_some() {
            return;
        }
        let free = (self.spec.limits.max_concurrent_runs as usize).saturating_sub(self.live);
        let left = self
            .spec
            .limits
            .max_total_runs
            .saturating_sub(self.slots.len() as u64) as usize;
        let n = free.min(left);
        if n == 0 {
            return;
        }
        let Some(mut sampler) = self.sampler.take() else {
            return;
        };
        let finished: Vec<Observation> = self
            .slots
            .iter()
            .filter(|s| s.state.is_terminal())
            .map(|s| Observation {
                params: s.params.clone(),
                value: if s.state == RunState::Failed {
                    None
                } else {
                    s.best
                },
            })
            .collect();
        let pending: Vec<Params> = self
            .slots
            .iter()
            .filter(|s| !s.state.is_terminal())
            .map(|s| s.params.clone())
            .collect();
        let tx = self.internal_tx.clone();
        self.proposing = true;
        // A Gaussian-process fit can take a while: never on the dispatcher.
        tokio::task::spawn_blocking(move || {
            let p = sampler.propose(&finished, &pending, n);
            let _ = tx.send(Internal::Proposed(sampler, p));
        });
    }

    async fn on_proposed(
        &mut self,
        sampler: Box<dyn Sampler>,
        p: Proposal,
    ) -> Result<(), EngineError> {
        self.sampler = Some(sampler);
        self.proposing = false;
        let candidates = match p {
            Proposal::Candidates(c) => c,
            Proposal::Wait => {
                if self.live == 0 {
                    // Nothing running will ever bring new results.
                    self.exhausted = true;
                } else {
                    self.waiting = true;
                }
                return Ok(());
            }
            Proposal::Exhausted => {
                self.exhausted = true;
                return Ok(());
            }
        };
        for params in candidates {
            if self.stopping.is_some()
                || self.limits_reached()
                || self.live as u64 >= self.spec.limits.max_concurrent_runs
            {
                break;
            }
            self.create_and_launch(params).await?;
        }
        Ok(())
    }

    async fn create_and_launch(&mut self, params: Params) -> Result<(), EngineError> {
        let idx = self.slots.len();
        let id = format!("{}_{}", self.setup.id, idx);
        let argv = build_argv(&self.spec.run, &params);
        let run_dir = self.setup.sweep_dir().join("runs").join(&id);
        let req = LaunchRequest {
            sweep_id: self.setup.id.clone(),
            run_id: id.clone(),
            argv: argv.clone(),
            env: self
                .spec
                .run
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            params_json: params.to_json().to_string(),
            snapshot: self.snapshot.clone(),
            run_dir: run_dir.clone(),
            primary_metric: self.spec.primary_metric.clone(),
        };
        self.store.send(Write::Run(Box::new(NewRun {
            id: id.clone(),
            sweep_id: self.setup.id.clone(),
            seq: idx as u64,
            queued: now(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_json()))
                .collect(),
            argv: argv.clone(),
            workdir: req.workdir().display().to_string(),
            run_dir: run_dir.display().to_string(),
        })));
        // The slot is taken before the launch is even requested, and recorded first.
        self.store
            .commit(Write::RunState(Box::new(RunUpdate::new(
                &id,
                RunState::Starting,
                now(),
            ))))
            .await?;
        self.live += 1;
        self.index.insert(id.clone(), idx);
        self.slots.push(Slot {
            id: id.clone(),
            params: params.clone(),
            argv,
            state: RunState::Starting,
            handle: None,
            deadline: None,
            stop: None,
            early_exit: None,
            intervals: HashMap::new(),
            primary: 0,
            best: None,
            malformed: 0,
        });
        self.emit(Progress::RunState {
            run_id: id,
            params,
            state: RunState::Starting,
            reason: None,
        });
        let target = self.target.clone();
        let events = self.events_tx.clone();
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let r = target.launch(&req, events);
            let _ = tx.send(Internal::Launched(idx, r));
        });
        Ok(())
    }

    async fn on_launched(
        &mut self,
        idx: usize,
        r: Result<RunHandle, TargetError>,
    ) -> Result<(), EngineError> {
        match r {
            Ok(handle) => {
                let mut u = RunUpdate::new(&self.slots[idx].id, RunState::Running, now());
                u.handle = Some(handle.0.clone());
                // Queued, not awaited: `Running` records a fact sweep does not act on (the
                // run is alive either way), and the writer keeps the order, so the terminal
                // state, which is awaited, lands after it. Saves a round trip per run.
                self.store.send(Write::RunState(Box::new(u)));
                let deadline = self
                    .spec
                    .limits
                    .max_run_duration_seconds
                    .map(|d| Instant::now() + ms(d));
                let s = &mut self.slots[idx];
                s.state = RunState::Running;
                s.handle = Some(handle.clone());
                s.deadline = deadline;
                let early = s.early_exit.take();
                let stop = s.stop.is_some();
                let p = Progress::RunState {
                    run_id: s.id.clone(),
                    params: s.params.clone(),
                    state: RunState::Running,
                    reason: None,
                };
                self.emit(p);
                if let Some((status, tail, malformed)) = early {
                    self.on_exit(idx, status, tail, malformed).await?;
                } else if stop {
                    // A stop was requested while it was starting.
                    self.target.stop(&handle, self.options.stop_grace);
                }
            }
            Err(e) => {
                let reason = format!("launch failed: {e}");
                self.end_run(idx, RunState::Failed, reason, None, None, Vec::new())
                    .await?;
            }
        }
        Ok(())
    }

    async fn on_target(&mut self, e: TargetEvent) -> Result<(), EngineError> {
        match e {
            TargetEvent::Metrics { run_id, reports } => {
                if let Some(&idx) = self.index.get(&run_id) {
                    self.on_metrics(idx, reports);
                } else {
                    // Never stored: release them from the in-flight budget.
                    crate::metrics::committed(reports.len());
                }
            }
            TargetEvent::Malformed { run_id, message } => {
                if self.index.contains_key(&run_id) {
                    self.warn(
                        Some(&run_id),
                        format!("run {run_id}: malformed metric line ({message}); the line is kept in its output.log, later ones are only counted"),
                    );
                }
            }
            TargetEvent::Exited {
                run_id,
                status,
                tail,
                malformed,
            } => {
                if let Some(&idx) = self.index.get(&run_id) {
                    if self.slots[idx].state == RunState::Starting {
                        self.slots[idx].early_exit = Some((status, tail, malformed));
                    } else {
                        self.on_exit(idx, status, tail, malformed).await?;
                    }
                }
            }
        }
        Ok(())
    }

    fn on_metrics(&mut self, idx: usize, reports: Vec<Report>) {
        let t = now();
        let mut rows = Vec::with_capacity(reports.len());
        let primary = self.spec.primary_metric.clone();
        let goal = self.spec.goal;
        let mut stop_policy = false;
        let mut new_best = false;
        for r in reports {
            let s = &mut self.slots[idx];
            let n = s.intervals.entry(r.name.clone()).or_insert(0);
            *n += 1;
            let interval = *n;
            if r.name == primary {
                s.primary += 1;
                if r.value.is_finite() && s.best.is_none_or(|b| goal.better(r.value, b)) {
                    s.best = Some(r.value);
                    if self.best.is_none_or(|(_, b)| goal.better(r.value, b)) {
                        self.best = Some((idx, r.value));
                        new_best = true;
                    }
                }
                if let Some(p) = self.policy.as_mut() {
                    let stop = p.observe(&s.id, s.primary, r.value);
                    // Metrics can arrive before the launch result: a starting run counts.
                    if stop && !s.state.is_terminal() && s.stop.is_none() {
                        stop_policy = true;
                    }
                }
            }
            rows.push(MetricRow {
                run_id: self.slots[idx].id.clone(),
                name: r.name,
                interval,
                step: r.step,
                value: r.value,
                time: t,
            });
        }
        self.store.send(Write::Metrics(rows));
        if new_best {
            if let Some((b, v)) = self.best {
                self.emit(Progress::NewBest {
                    run_id: self.slots[b].id.clone(),
                    value: v,
                    params: self.slots[b].params.clone(),
                });
            }
        }
        if stop_policy {
            let name = self
                .policy
                .as_ref()
                .map(|p| p.name().to_string())
                .unwrap_or_default();
            self.stop_run(idx, format!("policy:{name}"));
        }
    }

    /// Asks a run to stop; it ends `Canceled` with `reason` when its exit is observed.
    fn stop_run(&mut self, idx: usize, reason: String) {
        let s = &mut self.slots[idx];
        if s.state.is_terminal() || s.stop.is_some() {
            return;
        }
        s.stop = Some(reason.clone());
        let id = s.id.clone();
        let handle = s.handle.clone();
        self.event(Some(&id), "stop-requested", reason);
        if let Some(h) = handle {
            self.target.stop(&h, self.options.stop_grace);
        }
    }

    async fn on_exit(
        &mut self,
        idx: usize,
        status: ExitStatus,
        tail: Vec<String>,
        malformed: u64,
    ) -> Result<(), EngineError> {
        self.slots[idx].malformed = malformed;
        let (state, reason) = match (&self.slots[idx].stop, &status) {
            (Some(r), _) => (RunState::Canceled, r.clone()),
            (None, ExitStatus::Code(0)) => (RunState::Completed, status.to_string()),
            (None, _) => (RunState::Failed, status.to_string()),
        };
        let (code, sig) = match status {
            ExitStatus::Code(c) => (Some(c), None),
            ExitStatus::Signal(s) => (None, Some(s)),
            ExitStatus::Unknown(_) => (None, None),
        };
        self.end_run(idx, state, reason, code, sig, tail).await
    }

    async fn end_run(
        &mut self,
        idx: usize,
        state: RunState,
        reason: String,
        code: Option<i32>,
        sig: Option<i32>,
        tail: Vec<String>,
    ) -> Result<(), EngineError> {
        let id = self.slots[idx].id.clone();
        let mut u = RunUpdate::new(&id, state, now());
        u.reason = Some(reason.clone());
        u.exit_code = code;
        u.signal = sig;
        if state == RunState::Failed && !tail.is_empty() {
            let from = tail.len().saturating_sub(FAILURE_TAIL);
            u.last_output = Some(tail[from..].join("\n"));
        }
        self.store.commit(Write::RunState(Box::new(u))).await?;
        // Recorded: now the slot is free.
        self.slots[idx].state = state;
        self.live -= 1;
        self.waiting = false;
        if let Some(p) = self.policy.as_mut() {
            p.finished(&id);
        }
        self.emit(Progress::RunState {
            run_id: id.clone(),
            params: self.slots[idx].params.clone(),
            state,
            reason: Some(reason.clone()),
        });
        let s = &self.slots[idx];
        if s.primary == 0 && state != RunState::Failed && !reason.starts_with("launch failed") {
            let mut names: Vec<&str> = s.intervals.keys().map(String::as_str).collect();
            names.sort();
            let reported = if names.is_empty() {
                "no metrics at all".to_string()
            } else {
                format!("only: {}", names.join(", "))
            };
            self.warn(
                Some(&id),
                format!(
                    "run {id} never reported the primary metric {:?} (it reported {reported}); it can never be the best run. Print `@sweep {{\"metric\":\"{}\",\"value\":...}}` or check the metric name in the config",
                    self.spec.primary_metric, self.spec.primary_metric
                ),
            );
        }
        if s.malformed > 1 {
            let n = s.malformed;
            self.event(
                Some(&id),
                "warning",
                format!("run {id} printed {n} malformed metric lines"),
            );
        }
        self.check_fail_fast(idx, state, reason);
        Ok(())
    }

    fn check_fail_fast(&mut self, idx: usize, state: RunState, reason: String) {
        let n = self.options.fail_fast_runs;
        // Runs sweep itself stopped say nothing about the script.
        if n == 0 || self.first_finished.len() >= n || self.slots[idx].stop.is_some() {
            return;
        }
        self.first_finished.push((state, reason));
        if self.first_finished.len() == n
            && self
                .first_finished
                .iter()
                .all(|(s, r)| *s == RunState::Failed && *r == self.first_finished[0].1)
            && self.stopping.is_none()
        {
            let why = format!(
                "the first {n} runs all failed the same way ({}); stopping so a broken script does not burn the budget. See `sweep runs {}` for their output",
                self.first_finished[0].1, self.setup.id
            );
            self.begin_stop(SweepState::Failed, why, "sweep failed: first runs failed");
        }
    }

    /// Stops launching and asks every live run to stop.
    fn begin_stop(&mut self, state: SweepState, why: String, run_reason: &str) {
        if self.stopping.is_some() {
            return;
        }
        self.event(None, "sweep-stopping", why.clone());
        self.emit(Progress::Stopping(why.clone()));
        self.stopping = Some((state, why));
        for i in 0..self.slots.len() {
            if !self.slots[i].state.is_terminal() {
                self.stop_run(i, run_reason.to_string());
            }
        }
    }

    async fn on_control(&mut self, c: Control) -> Result<(), EngineError> {
        match c {
            Control::Interrupt => self.begin_stop(
                SweepState::Canceled,
                "interrupted by the user".into(),
                "user cancel",
            ),
            Control::Kill => {
                self.begin_stop(
                    SweepState::Canceled,
                    "interrupted by the user".into(),
                    "user cancel",
                );
                self.event(None, "kill", "killing every live run now".into());
                for s in &self.slots {
                    if let (false, Some(h)) = (s.state.is_terminal(), &s.handle) {
                        self.target.kill(h);
                    }
                }
            }
        }
        Ok(())
    }

    async fn on_timer(&mut self) -> Result<(), EngineError> {
        let now_i = Instant::now();
        if self.stopping.is_none() && now_i >= self.deadline {
            let m = self.spec.limits.max_duration_minutes;
            self.begin_stop(
                SweepState::Canceled,
                format!("max_duration_minutes ({m}) reached"),
                "sweep limit: max_duration_minutes reached",
            );
        }
        let expired: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.state == RunState::Running
                    && s.stop.is_none()
                    && s.deadline.is_some_and(|d| now_i >= d)
            })
            .map(|(i, _)| i)
            .collect();
        for i in expired {
            let secs = self.spec.limits.max_run_duration_seconds.unwrap_or(0.0);
            self.stop_run(
                i,
                format!("timeout: exceeded max_run_duration_seconds ({secs})"),
            );
        }
        Ok(())
    }

    async fn finish(self) -> Result<Outcome, EngineError> {
        let (state, reason) = match &self.stopping {
            Some((s, r)) => (*s, r.clone()),
            None if self.limits_reached() => (
                SweepState::Completed,
                format!(
                    "max_total_runs ({}) reached",
                    self.spec.limits.max_total_runs
                ),
            ),
            None => (
                SweepState::Completed,
                "the search space is exhausted".to_string(),
            ),
        };
        self.store
            .commit(Write::SweepState {
                id: self.setup.id.clone(),
                state,
                reason: Some(reason.clone()),
                time: now(),
            })
            .await?;
        let best = self
            .slots
            .iter()
            .filter(|s| s.state != RunState::Failed)
            .filter_map(|s| s.best.map(|b| (s, b)))
            .fold(None::<(&Slot, f64)>, |acc, (s, b)| match acc {
                Some((_, a)) if !self.spec.goal.better(b, a) => acc,
                _ => Some((s, b)),
            })
            .map(|(s, v)| BestRun {
                run_id: s.id.clone(),
                value: v,
                params: s.params.clone(),
                argv: s.argv.clone(),
            });
        let count = |st: RunState| self.slots.iter().filter(|s| s.state == st).count() as u64;
        Ok(Outcome {
            sweep_id: self.setup.id.clone(),
            state,
            reason,
            best,
            runs: self.slots.len() as u64,
            completed: count(RunState::Completed),
            failed: count(RunState::Failed),
            canceled: count(RunState::Canceled),
        })
    }
}
