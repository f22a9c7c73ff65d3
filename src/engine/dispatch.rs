//! The dispatcher: the single owner of a sweep's mutable state, reacting to target events,
//! launch results, proposals, timers and control requests. Each run's own state machine is
//! [`super::phase`]; what a resumed sweep rebuilds before this loop starts is
//! [`super::replay`].

use super::phase::{outcome, Exit, Phase, Slot, Stop, StopAsked};
use super::resume::{Recovered, SavedSweep};
use super::skip::Skip;
use super::waiting::{self, Load, Waiting};
use super::{BestRun, Control, EngineError, EngineOptions, Outcome, Progress, Sweep, SweepSetup};
use crate::metrics::Report;
use crate::policy::EarlyStop;
use crate::sampler::{Observation, Proposal, Sampler};
use crate::space::Params;
use crate::spec::SweepSpec;
use crate::store::{
    now, Committing, EndReason, MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store,
    StoreError, SweepState, Write,
};
use crate::target::snapshot::{self, Cancel, SnapshotError};
use crate::target::{
    ComputeTarget, ExitStatus, LaunchRequest, RunHandle, TargetError, TargetEvent,
};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Output lines kept with a failed run.
const FAILURE_TAIL: usize = 10;

enum Internal {
    Launched(usize, Result<RunHandle, TargetError>),
    /// A write a launch waited for failed: the history can no longer be kept.
    StoreFailed(StoreError),
    Proposed(Box<dyn Sampler>, Proposal),
}

pub(super) struct Dispatcher {
    pub(super) spec: SweepSpec,
    setup: SweepSetup,
    pub(super) options: EngineOptions,
    pub(super) target: Arc<dyn ComputeTarget>,
    pub(super) sampler: Option<Box<dyn Sampler>>,
    pub(super) policy: Option<Box<dyn EarlyStop>>,
    pub(super) store: Arc<Store>,
    control: UnboundedReceiver<Control>,
    control_open: bool,
    progress: Option<UnboundedSender<Progress>>,
    pub(super) events_tx: UnboundedSender<TargetEvent>,
    events_rx: UnboundedReceiver<TargetEvent>,
    internal_tx: UnboundedSender<Internal>,
    internal_rx: UnboundedReceiver<Internal>,
    snapshot: PathBuf,
    pub(super) slots: Vec<Slot>,
    pub(super) index: HashMap<String, usize>,
    pub(super) live: usize,
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
    pub(super) stopping: Option<(SweepState, String)>,
    pub(super) deadline: Instant,
    pub(super) best: Option<(usize, f64)>,
    /// Reasons of the first runs to finish, for fail-fast.
    pub(super) first_finished: Vec<(RunState, EndReason)>,
    /// The metric names each of the first completed runs reported (for "no result can
    /// come"), and whether it reported the primary metric.
    pub(super) first_completed: Vec<(bool, Vec<String>)>,
    /// Runs the user's interrupt stopped in an earlier session, oldest first: relaunched
    /// as retries before any new candidate, as slots free up.
    pub(super) relaunch: VecDeque<usize>,
    /// Candidates proposed (runs that are not retries): what `max_total_runs` counts.
    pub(super) candidates: u64,
    /// Running time used by earlier sessions, seconds.
    pub(super) active_base: f64,
    /// When this session started.
    session: Instant,
    /// An interrupt that came while the snapshot was being made, handled first.
    early_control: Option<Control>,
    /// Held while this process runs the sweep.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Builds the source snapshot beside its final place and renames it there, so a snapshot
/// directory is always complete, even if `sweep` is killed while copying.
/// `line` with every value of `env` (the run configuration's environment variables, which
/// may be secrets) of four characters or more replaced by `***`.
fn redact(line: &str, env: &std::collections::BTreeMap<String, String>) -> String {
    env.values()
        .filter(|v| v.chars().count() >= 4)
        .fold(line.to_string(), |l, v| l.replace(v.as_str(), "***"))
}

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

/// `d` seconds, bounded (see [`super::limit_duration`]): none if negative, never a panic.
pub(super) fn ms(d: f64) -> Duration {
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
            let row = super::sweep_row(
                &setup.id,
                setup.name.clone(),
                setup.experiment.clone(),
                setup.seed,
                &spec,
            );
            store
                .commit(Write::Sweep(Box::new(NewSweep {
                    source_dir: source.display().to_string(),
                    git_commit: git.as_ref().map(|g| g.0.clone()),
                    git_dirty: git.as_ref().map(|g| g.1),
                    target: target.name().into(),
                    invocation: setup.invocation.clone(),
                    spec: Some(saved.to_json()),
                    ..row
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
            first_completed: Vec::new(),
            relaunch: VecDeque::new(),
            candidates: 0,
            active_base: 0.0,
            session: Instant::now(),
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
            active_seconds: d.active_base,
        });
        // A resumed sweep's view starts from what is already recorded.
        for idx in 0..d.slots.len() {
            d.emit(d.state_progress(idx, d.slots[idx].phase.state(), None));
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

    /// The event saying that run `idx` is now in `state` (with `reason`, once it ended).
    fn state_progress(&self, idx: usize, state: RunState, reason: Option<EndReason>) -> Progress {
        let s = &self.slots[idx];
        Progress::RunState {
            run_id: s.id.clone(),
            params: s.params.clone(),
            state,
            reason,
            retry_of: s.retry_of.map(|o| self.slots[o].id.clone()),
        }
    }

    pub(super) fn event(&self, run: Option<&str>, kind: &str, message: String) {
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
                .filter(|s| matches!(s.phase.state(), RunState::Queued | RunState::Starting))
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
        // Queued before it is reported, so that whoever sees the report and then waits for
        // the history (`Store::flush`) reads it there.
        let recorded = w.as_ref().map(Waiting::recorded);
        if recorded != self.wait_recorded {
            self.store.send(Write::SweepWaiting {
                id: self.setup.id.clone(),
                waiting: recorded.as_ref().map(Waiting::to_string),
            });
            self.wait_recorded = recorded;
        }
        self.emit(Progress::Waiting(w.clone()));
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

    /// The launch request of slot `idx`.
    pub(super) fn request(&self, idx: usize) -> LaunchRequest {
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
            output_dirs: self.spec.run.output_dirs.clone(),
            pattern: self.spec.run.metric_pattern.clone(),
        }
    }

    fn finished(&self) -> bool {
        if self.live > 0 || self.proposing {
            return false;
        }
        if self.stopping.is_some() {
            return true;
        }
        // Interrupted runs stand for candidates already counted: they run whatever the
        // budget and the sampler say.
        self.relaunch.is_empty() && (self.exhausted || self.limits_reached())
    }

    pub(super) async fn run(mut self) -> Result<Outcome, EngineError> {
        if let Some(c) = self.early_control.take() {
            self.on_control(c).await?;
        }
        self.recover_unfinished().await?;
        let mut heartbeat =
            tokio::time::interval(self.options.heartbeat.max(Duration::from_millis(10)));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A request already queued (`sweep cancel` of a sweep no process runs sends
            // its interrupt before the first turn) is seen before anything is launched.
            while let Ok(c) = self.control.try_recv() {
                self.on_control(c).await?;
            }
            while self.relaunch_interrupted().await? {}
            while self.launch_child_run().await? {}
            self.maybe_propose();
            if self.finished() {
                break;
            }
            self.note_waiting();
            let next_deadline = self
                .slots
                .iter()
                .filter_map(|s| s.phase.deadline())
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
                // The history lost a write (the writer gave up on it): going on would record
                // nothing more, so the sweep stops here, as a crash would have.
                e = self.store.failed() => return Err(e.into()),
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

    /// The running time used so far: earlier sessions' and this one's.
    fn active_seconds(&self) -> f64 {
        self.active_base + self.session.elapsed().as_secs_f64()
    }

    fn active_write(&self) -> Write {
        Write::SweepActive {
            id: self.setup.id.clone(),
            seconds: self.active_seconds(),
        }
    }

    /// Relaunches the oldest run the user interrupted in an earlier session, as a retry of
    /// it, if one is left and a slot is free; returns whether it did.
    async fn relaunch_interrupted(&mut self) -> Result<bool, EngineError> {
        if self.stopping.is_some() || self.live as u64 >= self.slot_limit() {
            return Ok(false);
        }
        let Some(idx) = self.relaunch.pop_front() else {
            return Ok(false);
        };
        self.slots[idx].phase.set_retried();
        let id = self.slots[idx].id.clone();
        self.event(
            Some(&id),
            "retry",
            format!("run {id} was interrupted by the user; relaunching its candidate"),
        );
        let params = self.slots[idx].params.clone();
        self.create_run(params, Some(idx)).await?;
        Ok(true)
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
        let mut argv = self.spec.run.argv(&child.params());
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
        if (self.candidates as usize) < self.options.child_runs.len() || !self.relaunch.is_empty() {
            // Interrupted and earlier runs go first; the sampler is asked once they are all
            // launched.
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
            .chain(self.slots.iter().filter_map(|s| match s.phase {
                Phase::Ended {
                    state,
                    retried: false,
                    ..
                } => Some(Observation {
                    params: s.params.clone(),
                    value: if state == RunState::Failed {
                        None
                    } else {
                        s.best
                    },
                }),
                _ => None,
            }))
            .collect();
        let pending: Vec<Params> = self
            .slots
            .iter()
            .filter(|s| !s.phase.is_ended())
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
    pub(super) async fn create_run(
        &mut self,
        params: Params,
        retry_of: Option<usize>,
    ) -> Result<(), EngineError> {
        let argv = match retry_of {
            // A retry runs exactly what the run it retries ran.
            Some(o) => self.slots[o].argv.clone(),
            None => self.spec.run.argv(&params),
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
        let mut slot = Slot::new(
            id.clone(),
            params.clone(),
            argv.clone(),
            Phase::Starting {
                stop: None,
                early_exit: None,
            },
        );
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
    pub(super) fn launch(&mut self, idx: usize, req: LaunchRequest) {
        self.launch_after(idx, req, None);
    }

    /// [`Dispatcher::launch`], once `committing` (the slot's `Starting`) is committed.
    fn launch_after(&mut self, idx: usize, req: LaunchRequest, committing: Option<Committing>) {
        self.slots[idx].phase.start();
        self.emit(self.state_progress(idx, RunState::Starting, None));
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
    /// `max_retries` (attempts the user interrupted do not count: they were not lost).
    pub(super) async fn maybe_retry(&mut self, idx: usize) -> Result<(), EngineError> {
        if self.stopping.is_some() || self.slots[idx].phase.retried() {
            return Ok(());
        }
        let mut attempts = 0;
        let mut cur = idx;
        while let Some(o) = self.slots[cur].retry_of {
            attempts += u32::from(self.slots[o].phase.lost());
            cur = o;
        }
        if attempts >= self.options.max_retries {
            return Ok(());
        }
        self.slots[idx].phase.set_retried();
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
                let deadline = self
                    .spec
                    .limits
                    .max_run_duration_seconds
                    .map(|d| Instant::now() + ms(d));
                let s = &mut self.slots[idx];
                let Some(launched) = s.phase.launched(handle.clone(), deadline) else {
                    return Ok(());
                };
                let mut u = RunUpdate::new(&s.id, RunState::Running, now());
                u.handle = Some(handle.0.clone());
                // Queued, not awaited: `Running` records a fact sweep does not act on (the
                // run is alive either way), and the writer keeps the order, so the terminal
                // state, which is awaited, lands after it. Saves a round trip per run.
                self.store.send(Write::RunState(Box::new(u)));
                self.emit(self.state_progress(idx, RunState::Running, None));
                if let Some(exit) = launched.early_exit {
                    self.on_exit(idx, exit).await?;
                } else if launched.stop_pending {
                    // A stop was requested while it was starting.
                    self.target.stop(&handle, self.options.stop_grace);
                }
            }
            Err(e) => {
                let reason = EndReason::LaunchFailed(e.to_string());
                self.end_run(idx, RunState::Failed, reason, None).await?;
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
            TargetEvent::Logged { run_id, items } => {
                if let Some(&idx) = self.index.get(&run_id) {
                    self.on_logged(idx, items);
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
                    let exit = Exit {
                        status,
                        tail,
                        malformed,
                    };
                    // Exited before its launch returned: handled with the launch result.
                    if let Some(exit) = self.slots[idx].phase.exited(exit) {
                        self.on_exit(idx, exit).await?;
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
        let mut latest = None;
        for r in reports {
            let s = &mut self.slots[idx];
            if s.skip.skips(&r) {
                // Recorded by an earlier session already.
                skipped += 1;
                continue;
            }
            s.seen.add(&r);
            // The name is copied only the first time it is seen.
            let interval = match s.intervals.get_mut(&r.name) {
                Some(n) => {
                    *n += 1;
                    *n
                }
                None => {
                    s.intervals.insert(r.name.clone(), 1);
                    1
                }
            };
            if r.name == primary {
                s.primary += 1;
                latest = Some((s.primary, r.value));
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
                    if stop && s.phase.stoppable() && stop_policy.is_none() {
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
                at: r.at,
            });
        }
        if skipped > 0 {
            crate::metrics::committed(skipped);
        }
        self.store.send(Write::Metrics(rows));
        if let Some((interval, value)) = latest {
            self.emit(Progress::Interval {
                run_id: self.slots[idx].id.clone(),
                interval,
                value,
            });
        }
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
            let detail = decision.map(|(text, detail)| {
                let id = self.slots[idx].id.clone();
                self.event(Some(&id), "policy", text);
                detail
            });
            self.stop_run(idx, self.policy_stop(detail));
        }
    }

    /// What run `idx`'s script recorded beside its reports: parameters and tags go to the
    /// history (a later value of a key replaces an earlier one, so a run read again after a
    /// resume records the same), values logged to other runs to the warning for a run
    /// without its primary metric.
    fn on_logged(&mut self, idx: usize, items: Vec<crate::metrics::Logged>) {
        let s = &mut self.slots[idx];
        if s.stream_restart < s.restarts {
            // An earlier attempt's, read again: superseded by a recorded restart.
            return;
        }
        let mut kept = Vec::with_capacity(items.len());
        for item in items {
            match item {
                crate::metrics::Logged::OtherRun { run, metric } => {
                    s.seen.add_other_run(&metric, &run)
                }
                attribute => kept.push(attribute),
            }
        }
        if !kept.is_empty() {
            self.store.send(Write::Logged {
                run_id: s.id.clone(),
                items: kept,
            });
        }
    }

    /// The stop the policy decided, with the numbers behind it.
    fn policy_stop(&self, detail: Option<serde_json::Value>) -> Stop {
        let name = self.policy.as_ref().map(|p| p.name().to_string());
        Stop {
            reason: EndReason::Policy(name.unwrap_or_default()),
            detail,
        }
    }

    /// The target started run `idx` over: from its next report on, its metrics are the
    /// rerun's, from interval 1; the earlier attempt's leave its best value and the policy's
    /// pools, and its recorded rows are superseded. A restart already recorded (an adopted
    /// run's output read again) changes nothing.
    fn on_restart(&mut self, idx: usize, restart: u32, why: String) {
        let s = &mut self.slots[idx];
        s.stream_restart = restart;
        if restart <= s.restarts || s.phase.is_ended() {
            return;
        }
        let (intervals, best) = (s.primary, s.best);
        s.restarts = restart;
        s.intervals.clear();
        s.seen.clear();
        s.skip = Skip::Nothing;
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
                .filter(|(_, s)| s.phase.state() != RunState::Failed)
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

    /// Asks a run to stop; it ends `Canceled` with the stop's reason when its exit is
    /// observed. A run already ended or already asked to stop is left as it is.
    pub(super) fn stop_run(&mut self, idx: usize, stop: Stop) {
        let reason = stop.reason.to_string();
        let asked = self.slots[idx].phase.ask_stop(stop);
        if asked == StopAsked::Ignored {
            return;
        }
        let id = self.slots[idx].id.clone();
        self.event(Some(&id), "stop-requested", reason);
        if let StopAsked::Now(h) = asked {
            self.target.stop(&h, self.options.stop_grace);
        }
    }

    async fn on_exit(&mut self, idx: usize, exit: Exit) -> Result<(), EngineError> {
        let (state, reason) = outcome(self.slots[idx].phase.stop(), &exit.status);
        let lost = matches!(reason, EndReason::Lost(_));
        if lost {
            let id = self.slots[idx].id.clone();
            self.event(Some(&id), "lost", reason.to_string());
        }
        self.end_run(idx, state, reason, Some(exit)).await?;
        if lost {
            self.maybe_retry(idx).await?;
        }
        Ok(())
    }

    /// Records that run `idx` ended with `state` and `reason` (after `exit`, if its exit was
    /// observed) and frees its slot. A run ends once: a second end changes nothing.
    pub(super) async fn end_run(
        &mut self,
        idx: usize,
        state: RunState,
        reason: EndReason,
        exit: Option<Exit>,
    ) -> Result<(), EngineError> {
        if self.slots[idx].phase.is_ended() {
            return Ok(());
        }
        let id = self.slots[idx].id.clone();
        // A recorded run that never started (canceled before it was launched) reported
        // nothing because it never ran: no warning about its metrics.
        let never_started =
            matches!(&self.slots[idx].phase, Phase::Recorded(r) if r.handle.is_none());
        let stop = self.slots[idx].phase.end(state, reason.clone());
        let Exit {
            status,
            tail,
            malformed,
        } = exit.unwrap_or(Exit {
            status: ExitStatus::Unknown(String::new()),
            tail: Vec::new(),
            malformed: 0,
        });
        let mut u = RunUpdate::new(&id, state, now());
        u.reason = Some(reason.clone());
        (u.exit_code, u.signal) = match status {
            ExitStatus::Code(c) => (Some(c), None),
            ExitStatus::Signal(s) => (None, Some(s)),
            ExitStatus::Unknown(_) | ExitStatus::Slurm(_) => (None, None),
        };
        if state == RunState::Failed && !tail.is_empty() {
            let from = tail.len().saturating_sub(FAILURE_TAIL);
            // A script that prints its environment must not carry the configured values
            // (secrets) into the history or onto the screen.
            let lines: Vec<String> = tail[from..]
                .iter()
                .map(|l| redact(l, &self.spec.run.environment))
                .collect();
            u.last_output = Some(lines.join("\n"));
            self.emit(Progress::Output {
                run_id: id.clone(),
                lines,
            });
        }
        if state == RunState::Canceled {
            u.detail = stop
                .as_ref()
                .and_then(|s| s.detail.as_ref())
                .map(|d| d.to_string());
        }
        // Queued, not awaited: the only thing done on it outside this process is launching
        // the run that takes the slot, and that launch waits for its own `Starting` to be
        // committed, which the writer's order puts after this. The sweep's end flushes. One
        // round trip fewer on the path from one run's exit to the next one's launch.
        self.store.send(Write::RunState(Box::new(u)));
        self.live -= 1;
        self.waiting = false;
        if let Some(p) = self.policy.as_mut() {
            p.finished(&id);
        }
        self.emit(self.state_progress(idx, state, Some(reason.clone())));
        let s = &self.slots[idx];
        if s.primary == 0
            && state != RunState::Failed
            && !never_started
            && !matches!(reason, EndReason::LaunchFailed(_))
        {
            // Output lines are quoted as near misses: without the configured values.
            let tail: Vec<String> = tail
                .iter()
                .map(|l| redact(l, &self.spec.run.environment))
                .collect();
            let text =
                crate::metrics::never_reported(&id, &self.spec.primary_metric, &s.seen, &tail);
            self.warn(Some(&id), text);
        }
        if malformed > 1 {
            let n = malformed;
            self.event(
                Some(&id),
                "warning",
                format!("run {id} printed {n} malformed metric lines"),
            );
        }
        // Runs sweep itself stopped say nothing about the script.
        if stop.is_none() {
            self.check_fail_fast(state, reason);
        }
        if state == RunState::Completed {
            self.check_no_metric(idx);
        }
        Ok(())
    }

    /// Stops the sweep when its first completed runs all ended without the primary metric:
    /// no best run can come from a script that never reports it.
    fn check_no_metric(&mut self, idx: usize) {
        let n = self.options.no_metric_runs;
        if n == 0 || self.first_completed.len() >= n {
            return;
        }
        let s = &self.slots[idx];
        let mut names: Vec<String> = s.intervals.keys().cloned().collect();
        names.sort();
        self.first_completed.push((s.primary > 0, names));
        if self.first_completed.len() < n
            || self.first_completed.iter().any(|(primary, _)| *primary)
            || self.stopping.is_some()
        {
            return;
        }
        let mut reported: Vec<&str> = self
            .first_completed
            .iter()
            .flat_map(|(_, names)| names.iter().map(String::as_str))
            .collect();
        reported.sort();
        reported.dedup();
        let m = &self.spec.primary_metric;
        let what = if reported.is_empty() {
            "no metrics at all".to_string()
        } else {
            format!("only {}", reported.join(", "))
        };
        let why = format!(
            "the first {n} runs completed without reporting the primary metric {m:?} (they reported {what}), so no best run can come; stopping. Check `primary_metric_name`, or have the script report it: sweep reads {}",
            crate::metrics::missing::WAYS
        );
        self.begin_stop(
            SweepState::Failed,
            why,
            EndReason::SweepStopped("no run reports the primary metric".into()),
        );
    }

    fn check_fail_fast(&mut self, state: RunState, reason: EndReason) {
        let n = self.options.fail_fast_runs;
        if n == 0 || self.first_finished.len() >= n {
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
            self.begin_stop(SweepState::Failed, why, EndReason::SweepFailed);
        }
    }

    /// Stops launching and asks every live run to stop.
    fn begin_stop(&mut self, state: SweepState, why: String, run_reason: EndReason) {
        if self.stopping.is_some() {
            return;
        }
        self.event(None, "sweep-stopping", why.clone());
        self.emit(Progress::Stopping(why.clone()));
        self.stopping = Some((state, why));
        for i in 0..self.slots.len() {
            self.stop_run(i, Stop::because(run_reason.clone()));
        }
    }

    async fn on_control(&mut self, c: Control) -> Result<(), EngineError> {
        match c {
            Control::Interrupt => self.begin_stop(
                SweepState::Canceled,
                "interrupted by the user".into(),
                EndReason::UserCancel,
            ),
            Control::Kill => {
                self.begin_stop(
                    SweepState::Canceled,
                    "interrupted by the user".into(),
                    EndReason::UserCancel,
                );
                self.event(None, "kill", "killing every live run now".into());
                for h in self.slots.iter().filter_map(|s| s.phase.handle()) {
                    self.target.kill(h);
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
                EndReason::SweepLimit("max_duration_minutes".into()),
            );
        }
        let expired: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.phase.deadline().is_some_and(|d| now_i >= d))
            .map(|(i, _)| i)
            .collect();
        for i in expired {
            let secs = self.spec.limits.max_run_duration_seconds.unwrap_or(0.0);
            self.stop_run(i, Stop::because(EndReason::Timeout(secs)));
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
            .filter(|s| s.phase.state() != RunState::Failed)
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
        let count = |st: RunState| {
            let n = self.slots.iter().filter(|s| s.phase.state() == st).count();
            n as u64
        };
        Ok(Outcome {
            sweep_id: self.setup.id.clone(),
            state,
            reason,
            best,
            runs: self.slots.len() as u64,
            completed: count(RunState::Completed),
            failed: count(RunState::Failed),
            canceled: count(RunState::Canceled),
            candidates: self.candidates,
            active_seconds: self.active_seconds(),
        })
    }
}
