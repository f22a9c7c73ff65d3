//! The dispatcher: the single owner of a sweep's mutable state, reacting to target events,
//! launch results, proposals, timers and control requests.

use super::argv::build_argv;
use super::resume::{params_of, Recovered, SavedSweep};
use super::waiting::{self, Load, Waiting};
use super::{
    BestRun, Control, EarlyStop, EngineError, EngineOptions, Outcome, Progress, Sweep, SweepSetup,
};
use crate::metrics::Report;
use crate::sampler::{Observation, Proposal, Sampler};
use crate::space::Params;
use crate::spec::SweepSpec;
use crate::store::{
    now, Committing, MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, StoreError,
    SweepState, Write,
};
use crate::target::snapshot::{self, Cancel, SnapshotError};
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
    /// Reports per metric already recorded by an earlier session: an adopted run's output
    /// is read again from the start, and these are not recorded twice.
    skip: HashMap<String, u64>,
    primary: u32,
    best: Option<f64>,
    malformed: u64,
    /// The run this one retries.
    retry_of: Option<usize>,
    /// A retry of this (lost) run exists: the retry stands for the candidate.
    retried: bool,
    /// The numbers behind the decision that stopped it.
    detail: Option<serde_json::Value>,
    /// Times its target started it over; its metrics are the last attempt's.
    restarts: u32,
    /// The attempt whose reports arrive now: an adopted run's output is read again from
    /// its first attempt, and reports of attempts before `restarts` are not its metrics.
    stream_restart: u32,
}

impl Slot {
    fn new(id: String, params: Params, argv: Vec<String>, state: RunState) -> Slot {
        Slot {
            id,
            params,
            argv,
            state,
            handle: None,
            deadline: None,
            stop: None,
            early_exit: None,
            intervals: HashMap::new(),
            skip: HashMap::new(),
            primary: 0,
            best: None,
            malformed: 0,
            retry_of: None,
            retried: false,
            detail: None,
            restarts: 0,
            stream_restart: 0,
        }
    }
}

/// A run an earlier session left unfinished, to adopt or launch when the sweep resumes.
struct Unfinished {
    idx: usize,
    /// When it started running (Unix seconds), for its per-run time limit.
    started: Option<f64>,
    /// The policy decided to stop it while replaying the history.
    stop: bool,
}

enum Internal {
    Launched(usize, Result<RunHandle, TargetError>),
    /// A write a launch waited for failed: the history can no longer be kept.
    StoreFailed(StoreError),
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
    /// The proposal being made is already answered (a sampler that ignores results is asked
    /// on the dispatcher): nothing is waited for.
    proposal_queued: bool,
    /// The sampler said Wait: ask again after the next run finishes.
    waiting: bool,
    /// Why nothing is launched, as last recorded (the column starts empty and every sweep
    /// state change clears it).
    wait_recorded: Option<Waiting>,
    /// The reason last shown in the live view (with the count of runs starting).
    wait_shown: Option<Waiting>,
    exhausted: bool,
    stopping: Option<(SweepState, String)>,
    deadline: Instant,
    best: Option<(usize, f64)>,
    /// Reasons of the first runs to finish, for fail-fast.
    first_finished: Vec<(RunState, String)>,
    /// Candidates proposed (runs that are not retries): what `max_total_runs` counts.
    candidates: u64,
    /// Running time used by earlier sessions, seconds.
    active_base: f64,
    /// When this session started.
    session: Instant,
    /// Runs to adopt or launch first (a resumed sweep).
    unfinished: Vec<Unfinished>,
    /// An interrupt that came while the snapshot was being made, handled first.
    early_control: Option<Control>,
    /// Held while this process runs the sweep.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Builds the source snapshot beside its final place and renames it there, so a snapshot
/// directory is always complete, even if `sweep` is killed while copying.
fn make_snapshot(
    src: &std::path::Path,
    dst: &std::path::Path,
    ws: &std::path::Path,
    cancel: &Cancel,
) -> Result<(), SnapshotError> {
    let tmp = dst.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    let made = snapshot::create_within(src, &tmp, ws, snapshot::Limits::default(), cancel)
        .and_then(|_| {
            std::fs::rename(&tmp, dst).map_err(|source| SnapshotError::Io {
                what: "cannot rename",
                path: tmp.clone(),
                source,
            })
        });
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made
}

/// Makes the snapshot on a blocking thread while answering `control`: an interrupt stops
/// the copy (a FIFO, a huge tree) instead of waiting for it. Returns the interrupt, if one
/// came; a snapshot that failed on its own is an error.
async fn snapshot_or_interrupt(
    control: &mut UnboundedReceiver<Control>,
    src: PathBuf,
    dst: PathBuf,
    ws: PathBuf,
) -> Result<Option<Control>, SnapshotError> {
    let cancel = Arc::new(Cancel::new(false));
    let c = cancel.clone();
    let mut task = tokio::task::spawn_blocking(move || make_snapshot(&src, &dst, &ws, &c));
    let joined = |r: Result<Result<(), SnapshotError>, tokio::task::JoinError>| {
        r.unwrap_or_else(|e| {
            Err(SnapshotError::Io {
                what: "cannot snapshot",
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })
        })
    };
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            c = control.recv(), if open => match c {
                Some(c) => {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    // Stops at the next entry; whatever it ends with, the sweep stops.
                    let _ = task.await;
                    return Ok(Some(c));
                }
                None => open = false,
            },
            r = &mut task => return joined(r).map(|()| None),
        }
    }
}

/// A duration from seconds, bounded (see [`super::limit_duration`]).
fn ms(d: f64) -> Duration {
    super::limit_duration(d)
}

impl Dispatcher {
    pub(super) async fn start(
        sweep: Sweep,
        store: Arc<Store>,
        mut control: UnboundedReceiver<Control>,
        progress: Option<UnboundedSender<Progress>>,
        recovered: Option<Recovered>,
    ) -> Result<Dispatcher, EngineError> {
        let Sweep {
            spec,
            setup,
            target,
            sampler,
            policy,
            options,
        } = sweep;
        // One controller per sweep: a second `sweep resume` must not launch runs twice.
        let lock = super::lock_sweep(&setup.sweep_dir(), &setup.id)?;
        let snapshot = setup.sweep_dir().join("snapshot");
        let mut early_control = Ok(None);
        let l = &spec.limits;
        if recovered.is_some() {
            store
                .commit(Write::SweepState {
                    id: setup.id.clone(),
                    state: SweepState::Running,
                    reason: None,
                    time: now(),
                })
                .await?;
            if !snapshot.is_dir() {
                // The snapshot is complete before the first run launches (it is renamed into
                // place), so a missing one means no run has started: make it now, unless the
                // sweep is being canceled, which launches nothing.
                let (src, dst, ws) = (
                    spec.run.source_dir.clone(),
                    snapshot.clone(),
                    setup.workspace.clone(),
                );
                early_control = snapshot_or_interrupt(&mut control, src, dst, ws).await;
            }
        } else {
            let source = spec.run.source_dir.clone();
            let git = {
                let s = source.clone();
                tokio::task::spawn_blocking(move || crate::target::snapshot::git_state(&s))
                    .await
                    .unwrap_or(None)
            };
            let saved = SavedSweep::new(
                &spec,
                setup.config_files.clone(),
                options.max_retries,
                options.child_runs.clone(),
            );
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
                    spec: Some(saved.to_json()),
                })))
                .await?;
            let (src, dst, ws) = (source.clone(), snapshot.clone(), setup.workspace.clone());
            early_control = snapshot_or_interrupt(&mut control, src, dst, ws).await;
        }
        let early_control = match early_control {
            Ok(c) => c,
            Err(e) => {
                // Recorded, so that the sweep is not left `running` (and `sweep status` says
                // why it ended), then reported.
                store
                    .commit(Write::SweepState {
                        id: setup.id.clone(),
                        state: SweepState::Failed,
                        reason: Some(format!("source snapshot: {e}")),
                        time: now(),
                    })
                    .await?;
                return Err(EngineError::Snapshot(e));
            }
        };
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
            proposal_queued: false,
            waiting: false,
            wait_recorded: None,
            wait_shown: None,
            exhausted: false,
            stopping: None,
            deadline,
            best: None,
            first_finished: Vec::new(),
            candidates: 0,
            active_base: 0.0,
            session: Instant::now(),
            unfinished: Vec::new(),
            early_control,
            _lock: lock,
        };
        let mut d = d;
        d.preload_warm_start();
        if let Some(rec) = recovered {
            d.restore(rec);
        }
        d.emit(Progress::Started {
            sweep_id: d.setup.id.clone(),
        });
        // A resumed sweep's view starts from what is already recorded.
        for s in &d.slots {
            d.emit(Progress::RunState {
                run_id: s.id.clone(),
                params: s.params.clone(),
                state: s.state,
                reason: None,
            });
        }
        if let Some((b, value)) = d.best {
            d.emit(Progress::NewBest {
                run_id: d.slots[b].id.clone(),
                value,
                params: d.slots[b].params.clone(),
            });
        }
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
        // Shown once: by whoever follows the progress, else through the log.
        if self.progress.is_none() {
            tracing::warn!("{message}");
        }
        self.event(run, "warning", message.clone());
        self.emit(Progress::Warning(message));
    }

    fn limits_reached(&self) -> bool {
        self.candidates >= self.spec.limits.max_total_runs
    }

    /// The most runs live at once: `max_concurrent_runs`, or the target's capacity.
    fn slot_limit(&self) -> u64 {
        waiting::slot_limit(
            self.spec.limits.max_concurrent_runs,
            self.options.target_capacity,
        )
    }

    /// Records why nothing is launched now, if that changed since it was last recorded
    /// (a few writes per run at most, never one per metric).
    fn note_waiting(&mut self) {
        if self.proposal_queued {
            // Handled next: whatever would be recorded now lasts no longer than that.
            return;
        }
        // Only the full-slots reasons mention starting runs: count them only then (this
        // runs once per event).
        let starting = if self.live as u64 >= self.slot_limit() {
            self.slots
                .iter()
                .filter(|s| matches!(s.state, RunState::Queued | RunState::Starting))
                .count() as u64
        } else {
            0
        };
        let w = waiting::reason(&Load {
            live: self.live as u64,
            starting,
            max_concurrent: self.spec.limits.max_concurrent_runs,
            capacity: self.options.target_capacity,
            target: self.target.name(),
            proposing: self.proposing,
            sampler_wait: self.waiting,
            exhausted: self.exhausted,
            total_reached: self.limits_reached(),
            max_total: self.spec.limits.max_total_runs,
            stopping: self.stopping.as_ref().map(|s| s.1.as_str()),
        });
        if w == self.wait_shown {
            return;
        }
        self.emit(Progress::Waiting(w.clone()));
        let recorded = w.as_ref().map(Waiting::recorded);
        if recorded != self.wait_recorded {
            self.store.send(Write::SweepWaiting {
                id: self.setup.id.clone(),
                waiting: recorded.as_ref().map(Waiting::to_string),
            });
            self.wait_recorded = recorded;
        }
        self.wait_shown = w;
    }

    /// Feeds the warm-start runs to the policy pools (their stops are not this sweep's to
    /// make); the sampler sees them with every proposal.
    fn preload_warm_start(&mut self) {
        let Some(p) = self.policy.as_mut() else {
            return;
        };
        for w in &self.options.warm_start {
            for (i, v) in w.primary.iter().enumerate() {
                if p.observe(&w.key, i as u32 + 1, *v) {
                    let _ = p.decision();
                }
            }
            p.finished(&w.key);
        }
    }

    /// Rebuilds the state an earlier session left: slots for every recorded run, the
    /// sampler's position, the policy's pools, the best run and the running time used.
    fn restore(&mut self, rec: Recovered) {
        self.active_base = rec.sweep.active_seconds;
        let left = self.spec.limits.max_duration_minutes * 60.0 - self.active_base;
        self.deadline = Instant::now() + ms(left);
        let mut counts: HashMap<String, HashMap<String, u64>> = HashMap::new();
        for m in &rec.metrics {
            *counts
                .entry(m.run_id.clone())
                .or_default()
                .entry(m.name.clone())
                .or_insert(0) += 1;
        }
        let mut proposed = Vec::new();
        let mut ended = Vec::new();
        for r in &rec.runs {
            let idx = self.slots.len();
            let params = params_of(r);
            let state = r.run_state().unwrap_or(RunState::Failed);
            let mut slot = Slot::new(r.id.clone(), params.clone(), r.argv.clone(), state);
            slot.retry_of = r.retry_of.as_ref().and_then(|o| self.index.get(o).copied());
            match slot.retry_of {
                Some(o) => self.slots[o].retried = true,
                None => {
                    // The first candidates rerun earlier runs; the sampler never proposed them.
                    if self.candidates as usize >= self.options.child_runs.len() {
                        proposed.push(params);
                    }
                    self.candidates += 1;
                }
            }
            slot.intervals = counts.remove(&r.id).unwrap_or_default();
            slot.primary = slot
                .intervals
                .get(&self.spec.primary_metric)
                .copied()
                .unwrap_or(0) as u32;
            slot.best = r.best;
            slot.handle = r.handle.clone().map(RunHandle);
            slot.detail = r.detail.clone();
            slot.restarts = r.restarts;
            if state.is_terminal() {
                if matches!(state, RunState::Completed | RunState::Failed) {
                    ended.push((
                        r.ended.unwrap_or(0.0),
                        state,
                        r.reason.clone().unwrap_or_default(),
                    ));
                }
            } else {
                slot.skip = slot.intervals.clone();
                self.live += 1;
                self.unfinished.push(Unfinished {
                    idx,
                    started: r.started,
                    stop: false,
                });
            }
            if state != RunState::Failed {
                if let Some(b) = slot.best {
                    if self.best.is_none_or(|(_, v)| self.spec.goal.better(b, v)) {
                        self.best = Some((idx, b));
                    }
                }
            }
            self.index.insert(r.id.clone(), idx);
            self.slots.push(slot);
        }
        if let Some(sampler) = self.sampler.as_mut() {
            sampler.replay(&proposed);
        }
        if let Some(p) = self.policy.as_mut() {
            // The pools are rebuilt from every report in the order it was recorded; a run
            // the policy would have stopped meanwhile is stopped once it is adopted.
            for m in rec
                .metrics
                .iter()
                .filter(|m| m.name == self.spec.primary_metric)
            {
                if p.observe(&m.run_id, m.interval as u32, m.value) {
                    let d = p.decision();
                    if let Some(&idx) = self.index.get(&m.run_id) {
                        if let Some(u) = self.unfinished.iter_mut().find(|u| u.idx == idx) {
                            u.stop = true;
                            self.slots[idx].detail = d.map(|d| d.1);
                        }
                    }
                }
            }
            for s in self.slots.iter().filter(|s| s.state.is_terminal()) {
                p.finished(&s.id);
            }
        }
        ended.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.first_finished = ended
            .into_iter()
            .take(self.options.fail_fast_runs)
            .map(|(_, s, r)| (s, r))
            .collect();
        let alive = self.unfinished.len();
        self.event(
            None,
            "resumed",
            format!(
                "resumed by process {}: {} runs recorded, {alive} unfinished, {:.0} s of running time used",
                std::process::id(),
                self.slots.len(),
                self.active_base
            ),
        );
    }

    /// The launch request of slot `idx`.
    fn request(&self, idx: usize) -> LaunchRequest {
        let s = &self.slots[idx];
        let run_dir = self.setup.sweep_dir().join("runs").join(&s.id);
        LaunchRequest {
            sweep_id: self.setup.id.clone(),
            run_id: s.id.clone(),
            argv: s.argv.clone(),
            env: self
                .spec
                .run
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            params_json: s.params.to_json().to_string(),
            snapshot: self.snapshot.clone(),
            run_dir,
            primary_metric: self.spec.primary_metric.clone(),
        }
    }

    /// Adopts the runs an earlier session left alive, records those that ended meanwhile
    /// (through their adopted watchers) and launches those that never started.
    async fn recover_unfinished(&mut self) -> Result<(), EngineError> {
        for u in std::mem::take(&mut self.unfinished) {
            let idx = u.idx;
            let req = self.request(idx);
            let mut handle = self.slots[idx].handle.clone();
            if handle.is_none() && self.slots[idx].state == RunState::Starting {
                let target = self.target.clone();
                let r = req.clone();
                handle = tokio::task::spawn_blocking(move || target.recover(&r))
                    .await
                    .unwrap_or(None);
            }
            let Some(h) = handle else {
                if let Some(reason) = self.slots[idx].stop.clone() {
                    // Never started, and the sweep is stopping (`sweep cancel`): it ends here.
                    self.end_run(idx, RunState::Canceled, reason, None, None, Vec::new())
                        .await?;
                    continue;
                }
                // Never started: it may be launched now, in a clean run directory.
                let _ = std::fs::remove_dir_all(&req.run_dir);
                self.slots[idx].skip.clear();
                if self.slots[idx].state == RunState::Queued {
                    self.store
                        .commit(Write::RunState(Box::new(RunUpdate::new(
                            &req.run_id,
                            RunState::Starting,
                            now(),
                        ))))
                        .await?;
                }
                self.launch(idx, req);
                continue;
            };
            let mut up = RunUpdate::new(&self.slots[idx].id, RunState::Running, now());
            up.handle = Some(h.0.clone());
            self.store.send(Write::RunState(Box::new(up)));
            self.event(
                Some(&self.slots[idx].id),
                "adopted",
                "re-adopted from an earlier session".into(),
            );
            let deadline = self.spec.limits.max_run_duration_seconds.map(|d| {
                let used = u.started.map(|t| (now() - t).max(0.0)).unwrap_or(0.0);
                Instant::now() + ms(d - used)
            });
            {
                let s = &mut self.slots[idx];
                s.state = RunState::Running;
                s.handle = Some(h.clone());
                s.deadline = deadline;
            }
            let target = self.target.clone();
            let events = self.events_tx.clone();
            let (r, hh) = (req.clone(), h.clone());
            let adopted = tokio::task::spawn_blocking(move || target.adopt(&hh, &r, events))
                .await
                .unwrap_or_else(|e| Err(TargetError::Launch(e.to_string())));
            if let Err(e) = adopted {
                self.event(
                    Some(&req.run_id),
                    "warning",
                    format!("cannot re-adopt: {e}"),
                );
                let reason = format!("lost: cannot re-adopt: {e}");
                self.end_run(idx, RunState::Failed, reason, None, None, Vec::new())
                    .await?;
                self.maybe_retry(idx).await?;
                continue;
            }
            if u.stop {
                let name = self
                    .policy
                    .as_ref()
                    .map(|p| p.name().to_string())
                    .unwrap_or_default();
                self.stop_run(idx, format!("policy:{name}"));
            }
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        if self.live > 0 || self.proposing {
            return false;
        }
        self.stopping.is_some() || self.exhausted || self.limits_reached()
    }

    pub(super) async fn run(mut self) -> Result<Outcome, EngineError> {
        if let Some(c) = self.early_control.take() {
            self.on_control(c).await?;
        }
        self.recover_unfinished().await?;
        while self.launch_child_run().await? {}
        let mut heartbeat =
            tokio::time::interval(self.options.heartbeat.max(Duration::from_millis(10)));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            while self.launch_child_run().await? {}
            self.maybe_propose();
            if self.finished() {
                break;
            }
            self.note_waiting();
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
                    Internal::StoreFailed(e) => return Err(e.into()),
                    Internal::Proposed(s, p) => self.on_proposed(s, p).await?,
                },
                _ = sleep => self.on_timer().await?,
                _ = heartbeat.tick() => self.store.send(self.active_write()),
            }
        }
        self.finish().await
    }

    fn active_write(&self) -> Write {
        Write::SweepActive {
            id: self.setup.id.clone(),
            seconds: self.active_base + self.session.elapsed().as_secs_f64(),
        }
    }

    /// Launches the next earlier run to rerun from its checkpoint, if any is left and a
    /// slot is free; returns whether it did.
    async fn launch_child_run(&mut self) -> Result<bool, EngineError> {
        let next = self.candidates as usize;
        if self.stopping.is_some()
            || next >= self.options.child_runs.len()
            || self.limits_reached()
            || self.live as u64 >= self.slot_limit()
        {
            return Ok(false);
        }
        let child = self.options.child_runs[next].clone();
        let mut argv = build_argv(&self.spec.run, &child.params());
        argv.push("--resume-from".into());
        argv.push(child.outputs.display().to_string());
        self.event(
            None,
            "resume-child-run",
            format!(
                "running {} again from {}",
                child.run_id,
                child.outputs.display()
            ),
        );
        self.candidates += 1;
        self.create_run_with(child.params(), None, argv).await?;
        Ok(true)
    }

    fn maybe_propose(&mut self) {
        if (self.candidates as usize) < self.options.child_runs.len() {
            // Earlier runs go first; the sampler is asked once they are all launched.
            return;
        }
        if self.proposing || self.waiting || self.exhausted || self.stopping.is_some() {
            return;
        }
        let free = (self.slot_limit() as usize).saturating_sub(self.live);
        let left = self
            .spec
            .limits
            .max_total_runs
            .saturating_sub(self.candidates) as usize;
        let n = free.min(left).min(super::PROPOSAL_BATCH);
        if n == 0 {
            return;
        }
        let Some(mut sampler) = self.sampler.take() else {
            return;
        };
        let tx = self.internal_tx.clone();
        self.proposing = true;
        if !sampler.uses_history() {
            // Cheap and independent of results: answered through the same queue, so the
            // dispatcher handles it next without waking another thread.
            let p = sampler.propose(&[], &[], n);
            let _ = tx.send(Internal::Proposed(sampler, p));
            self.proposal_queued = true;
            return;
        }
        let finished: Vec<Observation> = self
            .options
            .warm_start
            .iter()
            .filter(|w| w.in_space)
            .map(|w| Observation {
                params: w.params.clone(),
                value: w.value,
            })
            .chain(
                self.slots
                    .iter()
                    .filter(|s| s.state.is_terminal() && !s.retried)
                    .map(|s| Observation {
                        params: s.params.clone(),
                        value: if s.state == RunState::Failed {
                            None
                        } else {
                            s.best
                        },
                    }),
            )
            .collect();
        let pending: Vec<Params> = self
            .slots
            .iter()
            .filter(|s| !s.state.is_terminal())
            .map(|s| s.params.clone())
            .collect();
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
        self.proposal_queued = false;
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
                || self.live as u64 >= self.slot_limit()
            {
                break;
            }
            self.create_and_launch(params).await?;
        }
        Ok(())
    }

    async fn create_and_launch(&mut self, params: Params) -> Result<(), EngineError> {
        self.candidates += 1;
        self.create_run(params, None).await
    }

    /// Records a new run (a candidate, or a retry of run `retry_of`) and launches it.
    async fn create_run(
        &mut self,
        params: Params,
        retry_of: Option<usize>,
    ) -> Result<(), EngineError> {
        let argv = match retry_of {
            // A retry runs exactly what the lost run ran.
            Some(o) => self.slots[o].argv.clone(),
            None => build_argv(&self.spec.run, &params),
        };
        self.create_run_with(params, retry_of, argv).await
    }

    /// [`Dispatcher::create_run`] with the argument vector given.
    async fn create_run_with(
        &mut self,
        params: Params,
        retry_of: Option<usize>,
        argv: Vec<String>,
    ) -> Result<(), EngineError> {
        let idx = self.slots.len();
        let id = format!("{}_{}", self.setup.id, idx);
        let mut slot = Slot::new(id.clone(), params.clone(), argv.clone(), RunState::Starting);
        slot.retry_of = retry_of;
        self.index.insert(id.clone(), idx);
        self.slots.push(slot);
        let req = self.request(idx);
        self.store.send(Write::Run(Box::new(NewRun {
            id: id.clone(),
            sweep_id: self.setup.id.clone(),
            seq: idx as u64,
            queued: now(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_json()))
                .collect(),
            argv,
            workdir: req.workdir().display().to_string(),
            run_dir: req.run_dir.display().to_string(),
            retry_of: retry_of.map(|o| self.slots[o].id.clone()),
        })));
        // The slot is taken before the launch is even requested, and recorded first: the
        // launch waits for the commit on its own thread, so the dispatcher goes on meanwhile.
        let committing = self
            .store
            .commit_later(Write::RunState(Box::new(RunUpdate::new(
                &id,
                RunState::Starting,
                now(),
            ))));
        self.live += 1;
        self.launch_after(idx, req, Some(committing));
        Ok(())
    }

    /// Hands slot `idx` (recorded `Starting`, holding a slot) to the target.
    fn launch(&mut self, idx: usize, req: LaunchRequest) {
        self.launch_after(idx, req, None);
    }

    /// [`Dispatcher::launch`], once `committing` (the slot's `Starting`) is committed.
    fn launch_after(&mut self, idx: usize, req: LaunchRequest, committing: Option<Committing>) {
        self.slots[idx].state = RunState::Starting;
        self.emit(Progress::RunState {
            run_id: self.slots[idx].id.clone(),
            params: self.slots[idx].params.clone(),
            state: RunState::Starting,
            reason: None,
        });
        let target = self.target.clone();
        let events = self.events_tx.clone();
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let mut committing = committing;
            let mut ready = || match committing.take().map(Committing::wait_blocking) {
                Some(Err(e)) => {
                    let _ = tx.send(Internal::StoreFailed(e));
                    false
                }
                _ => true,
            };
            if let Some(r) = target.launch_when_ready(&req, events, &mut ready) {
                let _ = tx.send(Internal::Launched(idx, r));
            }
        });
    }

    /// Relaunches lost run `idx` as a new attempt of the same candidate, within
    /// `max_retries`.
    async fn maybe_retry(&mut self, idx: usize) -> Result<(), EngineError> {
        if self.stopping.is_some() || self.slots[idx].retried {
            return Ok(());
        }
        let mut attempts = 0;
        let mut cur = idx;
        while let Some(o) = self.slots[cur].retry_of {
            attempts += 1;
            cur = o;
        }
        if attempts >= self.options.max_retries {
            return Ok(());
        }
        self.slots[idx].retried = true;
        let id = self.slots[idx].id.clone();
        self.event(
            Some(&id),
            "retry",
            format!(
                "run {id} was lost; relaunching its candidate (attempt {} of {})",
                attempts + 2,
                self.options.max_retries + 1
            ),
        );
        let params = self.slots[idx].params.clone();
        self.create_run(params, Some(idx)).await
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
            TargetEvent::Restarted {
                run_id,
                restart,
                why,
            } => {
                if let Some(&idx) = self.index.get(&run_id) {
                    self.on_restart(idx, restart, why);
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
        if self.slots[idx].stream_restart < self.slots[idx].restarts {
            // An earlier attempt's reports, read again: superseded by a recorded restart.
            crate::metrics::committed(reports.len());
            return;
        }
        let t = now();
        let mut rows = Vec::with_capacity(reports.len());
        let primary = self.spec.primary_metric.clone();
        let goal = self.spec.goal;
        let mut stop_policy = None;
        let mut new_best = false;
        let mut skipped = 0;
        for r in reports {
            let s = &mut self.slots[idx];
            if let Some(k) = s.skip.get_mut(&r.name).filter(|k| **k > 0) {
                // Recorded by an earlier session already.
                *k -= 1;
                skipped += 1;
                continue;
            }
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
                    if stop && !s.state.is_terminal() && s.stop.is_none() && stop_policy.is_none() {
                        stop_policy = Some(p.decision());
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
        if skipped > 0 {
            crate::metrics::committed(skipped);
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
        if let Some(decision) = stop_policy {
            let name = self
                .policy
                .as_ref()
                .map(|p| p.name().to_string())
                .unwrap_or_default();
            if let Some((text, detail)) = decision {
                let id = self.slots[idx].id.clone();
                self.event(Some(&id), "policy", text);
                self.slots[idx].detail = Some(detail);
            }
            self.stop_run(idx, format!("policy:{name}"));
        }
    }

    /// The target started run `idx` over: from its next report on, its metrics are the
    /// rerun's, from interval 1; the earlier attempt's leave its best value and the policy's
    /// pools, and its recorded rows are superseded. A restart already recorded (an adopted
    /// run's output read again) changes nothing.
    fn on_restart(&mut self, idx: usize, restart: u32, why: String) {
        let s = &mut self.slots[idx];
        s.stream_restart = restart;
        if restart <= s.restarts || s.state.is_terminal() {
            return;
        }
        let (intervals, best) = (s.primary, s.best);
        s.restarts = restart;
        s.intervals.clear();
        s.skip.clear();
        s.primary = 0;
        s.best = None;
        let id = s.id.clone();
        self.store.send(Write::RunRestarted {
            run_id: id.clone(),
            restart,
        });
        if let Some(p) = self.policy.as_mut() {
            p.restarted(&id);
        }
        if self.best.is_some_and(|(b, _)| b == idx) {
            let goal = self.spec.goal;
            self.best = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.state != RunState::Failed)
                .filter_map(|(i, s)| s.best.map(|b| (i, b)))
                .fold(None, |acc, (i, b)| match acc {
                    Some((_, v)) if !goal.better(b, v) => acc,
                    _ => Some((i, b)),
                });
        }
        let best = best.map_or("none".to_string(), |b| b.to_string());
        self.event(
            Some(&id),
            "restarted",
            format!("{why}: its {intervals} earlier interval(s) (best {best}) no longer count; the rerun reports from interval 1"),
        );
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
            // A reason the target gave itself (`lost: host unreachable`, `slurm: …`) stands.
            (None, ExitStatus::Unknown(why))
                if crate::target::TARGET_REASONS
                    .iter()
                    .any(|p| why.starts_with(p)) =>
            {
                (RunState::Failed, why.clone())
            }
            // The run's process vanished without leaving an exit status.
            (None, ExitStatus::Unknown(why)) => (RunState::Failed, format!("lost: {why}")),
            (None, _) => (RunState::Failed, status.to_string()),
        };
        let lost = state == RunState::Failed && reason.starts_with("lost");
        if lost {
            let id = self.slots[idx].id.clone();
            self.event(Some(&id), "lost", reason.clone());
        }
        let (code, sig) = match status {
            ExitStatus::Code(c) => (Some(c), None),
            ExitStatus::Signal(s) => (None, Some(s)),
            ExitStatus::Unknown(_) => (None, None),
        };
        self.end_run(idx, state, reason, code, sig, tail).await?;
        if lost {
            self.maybe_retry(idx).await?;
        }
        Ok(())
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
        if state == RunState::Canceled {
            u.detail = self.slots[idx].detail.as_ref().map(|d| d.to_string());
        }
        // Queued, not awaited: the only thing done on it outside this process is launching
        // the run that takes the slot, and that launch waits for its own `Starting` to be
        // committed, which the writer's order puts after this. The sweep's end flushes. One
        // round trip fewer on the path from one run's exit to the next one's launch.
        self.store.send(Write::RunState(Box::new(u)));
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
        let started = s.handle.is_some();
        if s.primary == 0
            && state != RunState::Failed
            && started
            && !reason.starts_with("launch failed")
        {
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
        self.store.send(self.active_write());
        self.store
            .commit(Write::SweepState {
                id: self.setup.id.clone(),
                state,
                reason: Some(reason.clone()),
                time: now(),
            })
            .await?;
        // The state change cleared the recorded reason; the view forgets it too.
        if self.wait_shown.is_some() {
            self.emit(Progress::Waiting(None));
        }
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
