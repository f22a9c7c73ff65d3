//! The study itself: one owner of a sweep's state behind a lock (sampler, policy, trials),
//! and the ask/report/tell protocol that turns into history rows, the same rows and states
//! the engine writes for its runs.
//!
//! Writes are queued to the store's writer thread, never waited for on the ask/report/tell
//! path: the writer commits whatever is queued in one transaction within milliseconds, and
//! [`Study::flush`] (or dropping the last handle) waits for it. A program that dies between
//! a `tell` and that commit loses at most that tail, and reopening the sweep marks what it
//! lost as `lost`. The history's rule of recording before acting (docs/engine.md) holds
//! where it matters: a trial's row is queued before its parameters are handed out, and the
//! writer keeps the order.

use super::{Outcome, Parts, StopReason, StudyBuilder, StudyError, Trial, Verdict};
use crate::policy::{EarlyStop, PolicyHook, RunStatus};
use crate::sampler::{mix64, Observation, Proposal, Sampler};
use crate::space::{Params, Value};
use crate::spec::SweepSpec;
use crate::store::{
    now, EndReason, MetricRow, NewRun, NewSweep, RunState, RunUpdate, Store, SweepState, Write,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a trial that was asked but never told before its sweep was reopened is lost.
const LOST: &str = "the program that asked this trial ended before telling it";

/// A sweep driven from Rust: ask for trials, report their intermediate values, tell their
/// outcomes, or [`run`](Study::run) an async objective.
///
/// A `Study` is a cheap handle (clones share the same sweep) and is `Send + Sync`: trials
/// may be asked, reported and told from several threads. The history is flushed when the
/// last handle is dropped.
///
/// ```
/// use sweep::spec::Policy;
/// use sweep::study::{Outcome, Study};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let study = Study::builder()
///     .workspace(dir.path())
///     .maximize("accuracy")
///     .uniform("quality", 0.0, 1.0)
///     .max_total_runs(12)
///     .seed(1)
///     .policy(Policy::bandit_slack_amount(0.05).with_delay_evaluation(2))
///     .build()?;
/// let mut pruned = 0;
/// while let Some(trial) = study.ask()? {
///     let q = trial.get_f64("quality")?;
///     let mut outcome = Outcome::Completed;
///     for epoch in 1..=5 {
///         let accuracy = q * (1.0 - 0.5f64.powi(epoch));
///         if study.report(&trial, accuracy).should_stop() {
///             outcome = Outcome::Pruned;
///             pruned += 1;
///             break;
///         }
///     }
///     study.tell(trial, outcome)?;
/// }
/// assert!(pruned > 0, "the bandit stops trials well behind the best");
/// assert_eq!(study.summary().canceled, pruned);
/// # Ok::<(), sweep::study::StudyError>(())
/// ```
#[derive(Clone)]
pub struct Study {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Study {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Study")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("workspace", &self.inner.workspace)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) id: String,
    name: String,
    workspace: PathBuf,
    cwd: String,
    pub(super) spec: SweepSpec,
    seed: u64,
    pub(super) store: Store,
    /// The sweep's lock (as `sweep run` and `sweep resume` hold it), for as long as the
    /// study lives: a second process opening the same study would mark this one's pending
    /// trials lost.
    _lock: nix::fcntl::Flock<std::fs::File>,
    /// Serialises proposals; held while the sampler runs outside the state lock, so a slow
    /// Gaussian-process fit never blocks reports.
    gate: Mutex<()>,
    state: Mutex<State>,
}

struct Slot {
    id: String,
    params: Params,
    state: RunState,
    best: Option<f64>,
    primary: u32,
    /// Report counts of other metrics (their interval numbers).
    others: Vec<(String, u64)>,
    stop: Option<StopReason>,
}

struct State {
    sampler: Option<Box<dyn Sampler>>,
    policy: Option<PolicyHook>,
    slots: Vec<Slot>,
    /// Finished trials as the sampler sees them; shared with a proposal in flight.
    observations: Arc<Vec<Observation>>,
    live: BTreeSet<usize>,
    exhausted: bool,
    stopping: Option<(SweepState, String)>,
    deadline: Instant,
    /// The sweep's terminal state is written.
    ended: Option<(SweepState, String)>,
    /// The sweep row is not `running` (a finished sweep was reopened): set it when a trial
    /// is asked.
    reopened: bool,
}

/// What a proposal gave.
pub(super) enum Asked {
    Trials(Vec<Trial>),
    Wait,
    Done,
}

/// The best trial so far.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BestTrial {
    /// Its number (proposal order).
    pub number: u64,
    /// Its run id.
    pub id: String,
    /// Its best finite value of the primary metric.
    pub value: f64,
    /// Its parameters.
    pub params: Params,
}

/// Where a study stands: counts by state and the best trial.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// The sweep id.
    pub sweep_id: String,
    /// `None` while the study can still ask trials; then how it ended.
    pub state: Option<SweepState>,
    /// Why it ended (`max_total_runs (20) reached`, `the search space is exhausted`, ...).
    pub reason: Option<String>,
    /// Trials asked, in all (a reopened sweep counts its earlier ones).
    pub trials: u64,
    /// Trials completed.
    pub completed: u64,
    /// Trials failed (including `lost` ones).
    pub failed: u64,
    /// Trials canceled: pruned by the caller or the policy, or stopped by a limit.
    pub canceled: u64,
    /// Trials still running.
    pub running: u64,
    /// The best trial, if any reported a finite value and did not fail.
    pub best: Option<BestTrial>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A sweep id in the engine's format (`sw_<secs>_<salt>`); the salt mixes the clock, the
/// process and a counter so that studies created in one process in one second differ.
fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let salt = mix64(
        u64::from(t.subsec_nanos())
            ^ (u64::from(std::process::id()) << 32)
            ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37),
    ) & 0xffff;
    format!("sw_{:x}_{salt:04x}", t.as_secs())
}

/// Runs a blocking store commit from any thread: inside a tokio runtime, on a scoped
/// helper thread (a runtime thread must not block on a channel).
fn commit_sync(store: &Store, w: Write) -> Result<(), StudyError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| store.commit_blocking(w))
                .join()
                .unwrap_or_else(|_| {
                    Err(crate::store::StoreError::WriterGone(
                        "commit thread panicked".into(),
                    ))
                })
        })?;
    } else {
        store.commit_blocking(w)?;
    }
    Ok(())
}

fn deadline_after(minutes: f64) -> Instant {
    let secs = (minutes * 60.0).clamp(0.0, 1e9);
    Instant::now() + Duration::from_secs_f64(secs)
}

/// Takes sweep `id`'s lock, or says which process holds it.
fn lock_study(
    workspace: &std::path::Path,
    id: &str,
) -> Result<nix::fcntl::Flock<std::fs::File>, StudyError> {
    crate::engine::lock_sweep(&workspace.join("sweeps").join(id), id).map_err(|e| match e {
        crate::engine::EngineError::Busy { id, pid } => StudyError::Busy { sweep: id, pid },
        e => StudyError::Runtime(e.to_string()),
    })
}

impl Study {
    pub(super) fn create(b: StudyBuilder) -> Result<Study, StudyError> {
        let spec = b.spec()?;
        let parts = Parts::new(&spec)?;
        let workspace = b.workspace_dir();
        let store = Store::open(&workspace)?;
        let reader = store.reader()?;
        let mut id = new_id();
        while reader.resolve(&id).is_ok() {
            id = new_id();
        }
        drop(reader);
        let lock = lock_study(&workspace, &id)?;
        let source = spec
            .run
            .source_dir
            .canonicalize()
            .unwrap_or_else(|_| spec.run.source_dir.clone());
        let row =
            crate::engine::sweep_row(&id, b.sweep_name(), b.experiment_name(), parts.seed, &spec);
        commit_sync(
            &store,
            Write::Sweep(Box::new(NewSweep {
                source_dir: source.display().to_string(),
                target: "in-process".into(),
                invocation: std::env::args().collect(),
                // Trials run in the caller's process: only the library resumes them.
                spec: None,
                ..row
            })),
        )?;
        let state = State {
            sampler: Some(parts.sampler),
            policy: parts.policy,
            slots: Vec::new(),
            observations: Arc::new(Vec::new()),
            live: BTreeSet::new(),
            exhausted: false,
            stopping: None,
            deadline: deadline_after(spec.limits.max_duration_minutes),
            ended: None,
            reopened: false,
        };
        Ok(Study::assemble(
            b,
            id,
            workspace,
            spec,
            parts.seed,
            (store, lock),
            state,
        ))
    }

    fn assemble(
        b: StudyBuilder,
        id: String,
        workspace: PathBuf,
        spec: SweepSpec,
        seed: u64,
        // The history and the sweep's lock, which live exactly as long as each other.
        (store, lock): (Store, nix::fcntl::Flock<std::fs::File>),
        state: State,
    ) -> Study {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| ".".into());
        Study {
            inner: Arc::new(Inner {
                id,
                name: b.sweep_name(),
                workspace,
                cwd,
                spec,
                seed,
                store,
                _lock: lock,
                gate: Mutex::new(()),
                state: Mutex::new(state),
            }),
        }
    }

    pub(super) fn open(b: StudyBuilder, key: &str) -> Result<Study, StudyError> {
        let spec = b.spec()?;
        let workspace = b.workspace_dir();
        let store = Store::open(&workspace)?;
        let reader = store.reader()?;
        let rec = reader.resolve(key)?;
        // Before anything is read to be changed: pending trials are marked lost below.
        let lock = lock_study(&workspace, &rec.id)?;
        let mismatch = |why: String| StudyError::Mismatch {
            sweep: rec.id.clone(),
            why,
        };
        let checks = [
            ("goal", rec.goal.clone(), spec.goal.as_str().to_string()),
            (
                "primary metric",
                rec.primary_metric.clone(),
                spec.primary_metric.clone(),
            ),
            (
                "sampling",
                rec.sampling.clone().unwrap_or_default(),
                spec.sampling.name().to_string(),
            ),
            (
                "policy",
                rec.policy.clone().unwrap_or_default(),
                spec.policy.name().to_string(),
            ),
        ];
        for (what, recorded, given) in checks {
            if recorded != given {
                return Err(mismatch(format!(
                    "it was recorded with {what} `{recorded}`, the definition has `{given}`; open it with the definition it was created with"
                )));
            }
        }
        let seed = rec
            .seed
            .map(|s| s as u64)
            .ok_or_else(|| mismatch("it has no recorded seed to replay its sampler".into()))?;
        if let Some(s) = b.explicit_seed().filter(|s| *s != seed) {
            return Err(mismatch(format!(
                "it was recorded with seed {seed}, the definition asks for seed {s}; drop `.seed({s})` to continue it"
            )));
        }
        let parts = Parts::with_seed(&spec, seed)?;
        let runs = reader.runs(&rec)?;
        let metrics = reader.metrics(&rec)?;
        drop(reader);
        let mut values: std::collections::HashMap<&str, Vec<f64>> = Default::default();
        for m in metrics.iter().filter(|m| m.name == rec.primary_metric) {
            values.entry(m.run_id.as_str()).or_default().push(m.value);
        }
        let mut proposed = Vec::with_capacity(runs.len());
        for r in &runs {
            let params: Option<Vec<(String, Value)>> = r
                .params
                .iter()
                .map(|(n, v)| Value::from_json(v).map(|v| (n.clone(), v)))
                .collect();
            match params.map(Params) {
                Some(p) if spec.space.contains(&p) => proposed.push(p),
                _ => {
                    return Err(mismatch(format!(
                        "its run {} has parameters {} outside this search space; open it with the space it was created with",
                        r.id,
                        r.params_json()
                    )))
                }
            }
        }
        let mut sampler = parts.sampler;
        sampler.replay(&proposed);
        let mut policy = parts.policy;
        let goal = spec.goal;
        let mut slots = Vec::with_capacity(runs.len());
        let mut observations = Vec::with_capacity(runs.len());
        for (r, params) in runs.iter().zip(proposed) {
            let vals = values.remove(r.id.as_str()).unwrap_or_default();
            let mut state = r.state;
            if !state.is_terminal() {
                let mut u = RunUpdate::new(&r.id, RunState::Failed, now());
                u.reason = Some(EndReason::Lost(LOST.into()));
                store.send(Write::RunState(Box::new(u)));
                state = RunState::Failed;
            }
            if let Some(p) = policy.as_mut() {
                p.evaluator_mut().preload(&r.id, &vals, RunStatus::Stopped);
            }
            let best =
                vals.iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(None, |b: Option<f64>, v| match b {
                        Some(b) if !goal.better(v, b) => Some(b),
                        _ => Some(v),
                    });
            observations.push(Observation {
                params: params.clone(),
                value: if state == RunState::Failed {
                    None
                } else {
                    best
                },
            });
            slots.push(Slot {
                id: r.id.clone(),
                params,
                state,
                best,
                primary: vals.len() as u32,
                others: Vec::new(),
                stop: None,
            });
        }
        let state = State {
            sampler: Some(sampler),
            policy,
            slots,
            observations: Arc::new(observations),
            live: BTreeSet::new(),
            exhausted: false,
            stopping: None,
            deadline: deadline_after(spec.limits.max_duration_minutes),
            ended: None,
            reopened: rec.state != SweepState::Running,
        };
        Ok(Study::assemble(
            b,
            rec.id,
            workspace,
            spec,
            seed,
            (store, lock),
            state,
        ))
    }

    /// The sweep id (what `sweep status` lists and `sweep runs ID` takes).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The sweep's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The workspace directory.
    pub fn workspace(&self) -> &Path {
        &self.inner.workspace
    }

    /// The validated spec.
    pub fn spec(&self) -> &SweepSpec {
        &self.inner.spec
    }

    /// The sampling seed in use (recorded with the sweep).
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Asks for the next trial. `Ok(None)` once the study is done: `max_total_runs`
    /// trials asked, the search space exhausted, or `max_duration` passed. Concurrency is
    /// the caller's in ask/tell (`max_concurrent_runs` is enforced by [`Study::run`]).
    ///
    /// The sampler runs on the calling thread (a Bayesian proposal can take tens of
    /// milliseconds): from async code, call it through `tokio::task::spawn_blocking`, or
    /// use [`Study::run`], which does.
    ///
    /// Errors: [`StudyError::Wait`] when the sampler needs a pending trial's result first.
    pub fn ask(&self) -> Result<Option<Trial>, StudyError> {
        match self.ask_many(1)? {
            Asked::Trials(mut t) => Ok(t.pop()),
            Asked::Wait => Err(StudyError::Wait),
            Asked::Done => Ok(None),
        }
    }

    pub(super) fn ask_many(&self, n: usize) -> Result<Asked, StudyError> {
        let _gate = lock(&self.inner.gate);
        let (mut sampler, obs, pending, n) = {
            let mut st = self.state();
            self.check_deadline(&mut st);
            let left = self
                .inner
                .spec
                .limits
                .max_total_runs
                .saturating_sub(st.slots.len() as u64) as usize;
            if st.stopping.is_some() || st.exhausted || left == 0 || n == 0 {
                self.finish_if_idle(&mut st);
                return Ok(Asked::Done);
            }
            let pending: Vec<Params> = st
                .live
                .iter()
                .map(|&i| st.slots[i].params.clone())
                .collect();
            let sampler = st.sampler.take().ok_or_else(|| {
                StudyError::Runtime("the sampler was lost to a panic during a proposal".into())
            })?;
            (sampler, st.observations.clone(), pending, n.min(left))
        };
        let proposal = sampler.propose(&obs, &pending, n);
        drop(obs);
        let mut st = self.state();
        st.sampler = Some(sampler);
        match proposal {
            Proposal::Candidates(c) => {
                let trials = c.into_iter().map(|p| self.new_trial(&mut st, p)).collect();
                Ok(Asked::Trials(trials))
            }
            Proposal::Wait if !st.live.is_empty() => Ok(Asked::Wait),
            Proposal::Wait | Proposal::Exhausted => {
                st.exhausted = true;
                self.finish_if_idle(&mut st);
                Ok(Asked::Done)
            }
        }
    }

    fn new_trial(&self, st: &mut State, params: Params) -> Trial {
        let inner = &self.inner;
        let seq = st.slots.len();
        let id = format!("{}_{seq}", inner.id);
        let argv = inner.spec.run.argv(&params);
        let run_dir = inner
            .workspace
            .join("sweeps")
            .join(&inner.id)
            .join("runs")
            .join(&id);
        let t = now();
        if st.reopened {
            st.reopened = false;
            inner.store.send(Write::SweepState {
                id: inner.id.clone(),
                state: SweepState::Running,
                reason: None,
                time: t,
            });
        }
        inner.store.send(Write::Run(Box::new(NewRun {
            id: id.clone(),
            sweep_id: inner.id.clone(),
            seq: seq as u64,
            queued: t,
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_json()))
                .collect(),
            argv: argv.clone(),
            workdir: inner.cwd.clone(),
            run_dir: run_dir.display().to_string(),
            retry_of: None,
        })));
        let mut u = RunUpdate::new(&id, RunState::Running, t);
        u.handle = Some(format!("in-process:{}", std::process::id()));
        inner.store.send(Write::RunState(Box::new(u)));
        st.live.insert(seq);
        st.slots.push(Slot {
            id: id.clone(),
            params: params.clone(),
            state: RunState::Running,
            best: None,
            primary: 0,
            others: Vec::new(),
            stop: None,
        });
        Trial {
            study: inner.id.clone(),
            number: seq as u64,
            id,
            params,
            argv,
            run_dir,
        }
    }

    /// Past `max_duration`: stop asking, and ask every live trial to stop.
    fn check_deadline(&self, st: &mut State) {
        if st.stopping.is_some() || Instant::now() < st.deadline {
            return;
        }
        let m = self.inner.spec.limits.max_duration_minutes;
        let why = format!("max_duration_minutes ({m}) reached");
        self.event(None, "sweep-stopping", why.clone());
        st.stopping = Some((SweepState::Canceled, why));
        let live: Vec<usize> = st.live.iter().copied().collect();
        for i in live {
            self.request_stop(
                st,
                i,
                StopReason::Limit(EndReason::SweepLimit("max_duration_minutes".into())),
            );
        }
    }

    fn request_stop(&self, st: &mut State, i: usize, reason: StopReason) {
        let slot = &mut st.slots[i];
        if slot.stop.is_some() || slot.state.is_terminal() {
            return;
        }
        let text = reason.to_string();
        slot.stop = Some(reason);
        let id = slot.id.clone();
        self.event(Some(&id), "stop-requested", text);
    }

    fn event(&self, run: Option<&str>, kind: &str, message: String) {
        self.inner.store.send(Write::Event {
            sweep_id: self.inner.id.clone(),
            run_id: run.map(str::to_string),
            time: now(),
            kind: kind.into(),
            message,
        });
    }

    fn check_trial(&self, trial: &Trial) -> Result<(), StudyError> {
        if trial.study == self.inner.id && (trial.number as usize) < self.state().slots.len() {
            Ok(())
        } else {
            Err(StudyError::ForeignTrial(trial.id.clone()))
        }
    }

    /// Records a report of metric `name` (its own interval count) with the caller's step.
    fn record(&self, st: &mut State, i: usize, name: &str, value: f64, step: Option<u64>) {
        let slot = &mut st.slots[i];
        let goal = self.inner.spec.goal;
        let interval = if name == self.inner.spec.primary_metric {
            slot.primary += 1;
            if value.is_finite() && slot.best.is_none_or(|b| goal.better(value, b)) {
                slot.best = Some(value);
            }
            u64::from(slot.primary)
        } else {
            match slot.others.iter_mut().find(|(n, _)| n == name) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    slot.others.push((name.to_string(), 1));
                    1
                }
            }
        };
        self.inner.store.send(Write::Metrics(vec![MetricRow {
            run_id: slot.id.clone(),
            name: name.to_string(),
            interval,
            step: step.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            value,
            time: now(),
            at: None,
        }]));
    }

    /// Records an intermediate value of the primary metric for `trial` (each report is one
    /// *interval*, docs/metrics.md) and answers whether the trial should stop: the policy
    /// evaluates it against the other trials at the same interval (docs/policies.md), and every
    /// live trial is told to stop once `max_duration` has passed. Once a trial is told to
    /// stop, every later report says so too; its reports still count for the others.
    ///
    /// # Panics
    ///
    /// If `trial` was asked from another study.
    pub fn report(&self, trial: &Trial, value: f64) -> Verdict {
        self.report_with_step(trial, value, None)
    }

    /// [`Study::report`] with the caller's step number (an epoch, a global batch count)
    /// recorded beside the interval, as a run's `"step"` is: `sweep export` and the report's
    /// learning curves show it. The policy still counts intervals, one per report.
    ///
    /// # Panics
    ///
    /// If `trial` was asked from another study.
    pub fn report_with_step(&self, trial: &Trial, value: f64, step: Option<u64>) -> Verdict {
        if let Err(e) = self.check_trial(trial) {
            panic!("{e}");
        }
        self.report_number(trial.number as usize, value, step)
    }

    pub(super) fn report_number(&self, i: usize, value: f64, step: Option<u64>) -> Verdict {
        let mut st = self.state();
        self.check_deadline(&mut st);
        let metric = self.inner.spec.primary_metric.clone();
        self.record(&mut st, i, &metric, value, step);
        if st.slots[i].state.is_terminal() {
            return Verdict::Continue;
        }
        let State { policy, slots, .. } = &mut *st;
        let decision = policy.as_mut().and_then(|p| {
            if p.observe(&slots[i].id, slots[i].primary, value) {
                p.take_decision()
            } else {
                None
            }
        });
        if let Some(d) = decision {
            self.request_stop(&mut st, i, StopReason::Policy(d));
        }
        match &st.slots[i].stop {
            Some(r) => Verdict::Stop(r.clone()),
            None => Verdict::Continue,
        }
    }

    /// Records a value of another metric (not the primary one) for `trial`, shown by
    /// `sweep runs`/`export`; never evaluated by the policy. A report under the primary
    /// metric's name is [`Study::report`].
    pub fn log_metric(&self, trial: &Trial, name: &str, value: f64) -> Result<(), StudyError> {
        self.log_metric_with_step(trial, name, value, None)
    }

    /// [`Study::log_metric`] with the caller's step number recorded beside the interval.
    pub fn log_metric_with_step(
        &self,
        trial: &Trial,
        name: &str,
        value: f64,
        step: Option<u64>,
    ) -> Result<(), StudyError> {
        self.check_trial(trial)?;
        if name == self.inner.spec.primary_metric {
            let _ = self.report_number(trial.number as usize, value, step);
            return Ok(());
        }
        self.log_number(trial.number as usize, name, value, step);
        Ok(())
    }

    pub(super) fn log_number(&self, i: usize, name: &str, value: f64, step: Option<u64>) {
        let mut st = self.state();
        self.record(&mut st, i, name, value, step);
    }

    /// Finishes `trial` with its outcome and records it; see [`Outcome`] for what each
    /// outcome records. A trial stopped by the policy or a limit ends `canceled` with that
    /// reason whatever the outcome.
    pub fn tell(&self, trial: Trial, outcome: Outcome) -> Result<(), StudyError> {
        self.check_trial(&trial)?;
        self.tell_number(trial.number as usize, outcome);
        Ok(())
    }

    pub(super) fn tell_number(&self, i: usize, outcome: Outcome) {
        let mut st = self.state();
        if st.slots[i].state.is_terminal() {
            return;
        }
        let id = st.slots[i].id.clone();
        if let Some(p) = st.policy.as_mut() {
            // Finished first: a final value joins the pools but is never judged.
            p.finished(&id);
        }
        if let Outcome::Value(v) = outcome {
            let metric = self.inner.spec.primary_metric.clone();
            self.record(&mut st, i, &metric, v, None);
            let State { policy, slots, .. } = &mut *st;
            if let Some(p) = policy.as_mut() {
                p.observe(&id, slots[i].primary, v);
            }
        }
        let (state, reason) = match (&st.slots[i].stop, outcome) {
            (Some(r), _) => (RunState::Canceled, r.end_reason()),
            (None, Outcome::Failed(why)) if why.trim().is_empty() => {
                (RunState::Failed, EndReason::Other("failed".into()))
            }
            (None, Outcome::Failed(why)) => (RunState::Failed, EndReason::Other(why)),
            (None, Outcome::Pruned) => (RunState::Canceled, EndReason::Pruned),
            (None, Outcome::Value(_) | Outcome::Completed) => {
                (RunState::Completed, EndReason::Completed)
            }
        };
        let mut u = RunUpdate::new(&id, state, now());
        u.reason = Some(reason);
        // The policy's numbers, as the engine records them for a run it stopped.
        if let Some(StopReason::Policy(d)) = &st.slots[i].stop {
            u.detail = Some(d.to_json().to_string());
        }
        self.inner.store.send(Write::RunState(Box::new(u)));
        let slot = &mut st.slots[i];
        slot.state = state;
        let obs = Observation {
            params: slot.params.clone(),
            value: if state == RunState::Failed {
                None
            } else {
                slot.best
            },
        };
        if slot.primary == 0 && state != RunState::Failed {
            let m = &self.inner.spec.primary_metric;
            self.event(
                Some(&id),
                "warning",
                format!("run {id} never reported the primary metric {m:?}; it can never be the best run. Report it with `report`, or tell `Outcome::Value`"),
            );
        }
        Arc::make_mut(&mut st.observations).push(obs);
        st.live.remove(&i);
        self.finish_if_idle(&mut st);
    }

    /// Writes the sweep's terminal state once nothing is live and nothing more will be
    /// asked.
    fn finish_if_idle(&self, st: &mut State) {
        if st.ended.is_some() || !st.live.is_empty() {
            return;
        }
        let total = self.inner.spec.limits.max_total_runs;
        let end = match &st.stopping {
            Some((s, r)) => (*s, r.clone()),
            None if st.slots.len() as u64 >= total => (
                SweepState::Completed,
                format!("max_total_runs ({total}) reached"),
            ),
            None if st.exhausted => (
                SweepState::Completed,
                "the search space is exhausted".to_string(),
            ),
            None => return,
        };
        self.inner.store.send(Write::SweepState {
            id: self.inner.id.clone(),
            state: end.0,
            reason: Some(end.1.clone()),
            time: now(),
        });
        st.ended = Some(end);
    }

    /// Stops asking trials, as `max_duration` does: live trials are told to stop by their
    /// next report, and the sweep ends `canceled` with `reason` once they are told.
    pub fn stop(&self, reason: &str) {
        let mut st = self.state();
        if st.stopping.is_some() {
            return;
        }
        self.event(None, "sweep-stopping", reason.to_string());
        st.stopping = Some((SweepState::Canceled, reason.to_string()));
        let live: Vec<usize> = st.live.iter().copied().collect();
        for i in live {
            self.request_stop(
                &mut st,
                i,
                StopReason::Limit(EndReason::SweepStopped(reason.to_string())),
            );
        }
        self.finish_if_idle(&mut st);
    }

    /// The best trial so far: the best finite value of the primary metric among trials
    /// that did not fail (pruned ones count), ties to the earlier trial; as `sweep best`.
    pub fn best(&self) -> Option<BestTrial> {
        let st = self.state();
        let goal = self.inner.spec.goal;
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in st.slots.iter().enumerate() {
            if s.state == RunState::Failed {
                continue;
            }
            if let Some(v) = s.best {
                if best.is_none_or(|(_, b)| goal.better(v, b)) {
                    best = Some((i, v));
                }
            }
        }
        best.map(|(i, value)| BestTrial {
            number: i as u64,
            id: st.slots[i].id.clone(),
            value,
            params: st.slots[i].params.clone(),
        })
    }

    /// Counts by state, how the study ended (if it did) and the best trial.
    pub fn summary(&self) -> Summary {
        let best = self.best();
        let st = self.state();
        let count = |s: RunState| st.slots.iter().filter(|x| x.state == s).count() as u64;
        Summary {
            sweep_id: self.inner.id.clone(),
            state: st.ended.as_ref().map(|e| e.0),
            reason: st.ended.as_ref().map(|e| e.1.clone()),
            trials: st.slots.len() as u64,
            completed: count(RunState::Completed),
            failed: count(RunState::Failed),
            canceled: count(RunState::Canceled),
            running: st.live.len() as u64,
            best,
        }
    }

    /// Waits until every write so far is committed to the history (ask, report and tell
    /// only queue them). Callable from any thread, inside a tokio runtime or not.
    pub fn flush(&self) -> Result<(), StudyError> {
        commit_sync(&self.inner.store, Write::Metrics(Vec::new()))
    }

    pub(super) fn deadline(&self) -> Instant {
        self.state().deadline
    }

    pub(super) fn trigger_deadline(&self) {
        let mut st = self.state();
        self.check_deadline(&mut st);
        self.finish_if_idle(&mut st);
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.state().stopping.is_some()
    }

    pub(super) fn stop_trial(&self, i: usize, reason: StopReason) {
        let mut st = self.state();
        self.request_stop(&mut st, i, reason);
    }
}
