//! The follower: a thread that mirrors one sweep's history into MLflow while it happens,
//! without touching the engine. It polls the run history (a [`Reader`], one consistent
//! snapshot per poll) about once a second and pushes what is new through a [`Client`]: the
//! sweep as a parent run with its settings, each run as a child run with its parameters
//! (and the parameters and tags its script logged itself), every metric point with its
//! step, the parent's running best, and final statuses with tags for the reason. A server that cannot be reached is retried with backoff and never
//! stops the sweep (one warning, then quiet retries); when the sweep ends the follower
//! flushes what is left within a deadline.

use super::client::{key, Client, Metric};
use super::MlflowError;
use crate::metrics::Logged;
use crate::store::{
    LoggedRecord, MetricRecord, Reader, RunRecord, RunState, StoreError, SweepRecord, SweepState,
};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Values longer than this are cut (older servers accept 500-character parameter values).
const MAX_PARAM_LEN: usize = 500;
const MAX_TAG_LEN: usize = 5000;

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn ms(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

/// MLflow's status for a run state.
pub fn status_of(state: RunState) -> Option<&'static str> {
    match state {
        RunState::Completed => Some("FINISHED"),
        RunState::Failed => Some("FAILED"),
        RunState::Canceled => Some("KILLED"),
        RunState::Queued | RunState::Starting | RunState::Running => None,
    }
}

/// The MLflow experiment a sweep is logged to: the one chosen (`--experiment`), else the
/// sweep's own, else `$MLFLOW_EXPERIMENT_NAME`, else `Default`.
pub fn experiment_name(chosen: Option<&str>, sweep: &SweepRecord) -> String {
    chosen
        .map(String::from)
        .or_else(|| sweep.experiment.clone())
        .or_else(|| std::env::var("MLFLOW_EXPERIMENT_NAME").ok())
        .unwrap_or_else(|| "Default".into())
}

#[derive(Debug, Default)]
struct Child {
    mlflow_id: Option<String>,
    /// The terminal state sent (the run is closed in MLflow).
    closed: bool,
    /// The server refused this run; nothing more is sent for it.
    abandoned: bool,
}

/// What the follower has sent so far, kept across polls and failures.
#[derive(Debug, Default)]
struct Sync {
    experiment: Option<String>,
    parent: Option<String>,
    parent_closed: bool,
    children: HashMap<String, Child>,
    watermark: i64,
    pending: Vec<MetricRecord>,
    /// The last row of the history's script-logged parameters and tags read, and those not
    /// sent yet.
    logged_mark: i64,
    logged: Vec<LoggedRecord>,
    best: Option<f64>,
    points: u64,
    runs: usize,
    refused: u64,
}

/// What a follower did, for the final message.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The server (redacted).
    pub server: String,
    /// The experiment id.
    pub experiment: Option<String>,
    /// The parent run id.
    pub parent: Option<String>,
    /// Child runs created.
    pub runs: usize,
    /// Metric points logged.
    pub points: u64,
    /// Metric points not logged when the follower gave up (deadline or refusals).
    pub unsent: u64,
    /// Whether everything, statuses included, reached the server.
    pub complete: bool,
    /// The last error, if the follower ended with one.
    pub error: Option<String>,
}

impl Summary {
    /// One line for people.
    pub fn line(&self) -> String {
        match (&self.parent, &self.experiment) {
            (Some(p), Some(e)) if self.complete => format!(
                "MLflow: logged the sweep as run {p} in experiment {e} ({} child runs, {} metric points): {}/#/experiments/{e}/runs/{p}",
                self.runs, self.points, self.server
            ),
            _ => format!(
                "warning: MLflow logging to {} is incomplete ({} child runs, {} metric points logged, {} not){}; log it again with `sweep mlflow SWEEP --uri URI` after removing the partial parent run",
                self.server,
                self.runs,
                self.points,
                self.unsent,
                self.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        }
    }
}

/// How a follower runs.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The tracking URI.
    pub uri: String,
    /// The workspace holding the history.
    pub workspace: PathBuf,
    /// The sweep to follow (its id).
    pub sweep_id: String,
    /// The experiment name [default: the sweep's, else `$MLFLOW_EXPERIMENT_NAME`, else `Default`].
    pub experiment: Option<String>,
    /// Time between polls of the history.
    pub poll: Duration,
    /// How long [`Follower::finish`] keeps trying to flush after the sweep ended.
    pub flush: Duration,
    /// An existing parent run to log into instead of creating one.
    pub parent: Option<String>,
}

impl FollowOptions {
    /// Options with the defaults: a 1 s poll, a flush deadline of
    /// `$SWEEP_MLFLOW_FLUSH_SECONDS` (default 60 s).
    pub fn new(uri: &str, workspace: &Path, sweep_id: &str) -> FollowOptions {
        FollowOptions {
            uri: uri.to_string(),
            workspace: workspace.to_path_buf(),
            sweep_id: sweep_id.to_string(),
            experiment: None,
            poll: Duration::from_secs(1),
            flush: Duration::from_secs_f64(
                std::env::var("SWEEP_MLFLOW_FLUSH_SECONDS")
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .unwrap_or(60.0),
            ),
            parent: None,
        }
    }
}

/// A thread mirroring one sweep into MLflow while it runs.
pub struct Follower {
    finish: Arc<AtomicBool>,
    handle: JoinHandle<Summary>,
}

impl Follower {
    /// Starts following. The sweep need not be recorded yet: the follower waits for it.
    pub fn start(opts: FollowOptions) -> Result<Follower, MlflowError> {
        let client = Client::new(&opts.uri)?;
        let finish = Arc::new(AtomicBool::new(false));
        let flag = finish.clone();
        let handle = std::thread::Builder::new()
            .name("mlflow".into())
            .spawn(move || follow(client, opts, flag))
            .map_err(|e| MlflowError::BadUri(format!("cannot start the MLflow thread: {e}")))?;
        Ok(Follower { finish, handle })
    }

    /// Tells the follower the sweep has ended, waits for it to flush (within its deadline)
    /// and returns what it did.
    pub fn finish(self) -> Summary {
        self.finish.store(true, Ordering::SeqCst);
        self.wait()
    }

    /// Waits until the sweep has ended and everything is logged (or, once the sweep ended,
    /// the flush deadline passed): for `sweep mlflow`.
    pub fn wait(self) -> Summary {
        self.handle.join().unwrap_or_else(|_| Summary {
            error: Some("the MLflow thread panicked".into()),
            ..Summary::default()
        })
    }
}

/// Starts the follower `sweep run` uses: `--mlflow URI`, else `$MLFLOW_TRACKING_URI`; none
/// when neither is set. A URI from the environment that cannot be used is a warning, not
/// an error (the sweep runs without MLflow).
pub fn start_for_run(
    flag: Option<&str>,
    workspace: &Path,
    sweep_id: &str,
) -> Result<Option<Follower>, MlflowError> {
    let (uri, from_env) = match flag {
        Some(u) => (u.to_string(), false),
        None => match std::env::var("MLFLOW_TRACKING_URI") {
            Ok(u) if !u.trim().is_empty() => (u, true),
            _ => return Ok(None),
        },
    };
    match Follower::start(FollowOptions::new(&uri, workspace, sweep_id)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if from_env => {
            eprintln!("warning: MLFLOW_TRACKING_URI: {e}; the sweep runs without MLflow logging");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn follow(client: Client, opts: FollowOptions, finish: Arc<AtomicBool>) -> Summary {
    let mut st = Sync {
        parent: opts.parent.clone(),
        ..Sync::default()
    };
    let mut warned = false;
    let mut backoff = opts.poll;
    let mut deadline: Option<Instant> = None;
    let mut last_error: Option<String>;
    let mut reader: Option<Reader> = None;
    loop {
        if finish.load(Ordering::SeqCst) && deadline.is_none() {
            deadline = Some(Instant::now() + opts.flush);
        }
        if reader.is_none() {
            reader = Reader::open(&opts.workspace).ok();
        }
        let outcome = match &reader {
            Some(r) => step(&client, r, &opts, &mut st, deadline.is_some()),
            None => Ok(deadline.is_some()),
        };
        match outcome {
            Ok(done) => {
                backoff = opts.poll;
                last_error = None;
                if done {
                    break;
                }
            }
            Err(e) => {
                let text = e.to_string();
                if !warned {
                    eprintln!(
                        "warning: MLflow logging: {text}; the sweep goes on and logging is retried"
                    );
                    warned = true;
                }
                last_error = Some(text);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        // Once the sweep has ended and the history says so, a clean step above returns done;
        // a server that stays away only gets until the deadline.
        if let Some(d) = deadline {
            if Instant::now() >= d {
                break;
            }
        }
        let wake = Instant::now() + backoff;
        while Instant::now() < wake {
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    break;
                }
            }
            // Wake early when told to finish, so the final flush starts at once.
            if finish.load(Ordering::SeqCst) && deadline.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let unsent = st.pending.len() as u64 + st.refused;
    let complete = st.parent_closed && st.pending.is_empty() && st.refused == 0;
    Summary {
        server: client.shown().to_string(),
        experiment: st.experiment,
        parent: st.parent,
        runs: st.runs,
        points: st.points,
        unsent,
        complete,
        error: last_error,
    }
}

/// One poll: read what is new and push it. `Ok(true)` when the sweep has ended and all of it
/// is in MLflow.
fn step(
    client: &Client,
    reader: &Reader,
    opts: &FollowOptions,
    st: &mut Sync,
    ending: bool,
) -> Result<bool, MlflowError> {
    let snap = reader.snapshot(|r| {
        let sweep = match r.resolve(&opts.sweep_id) {
            Ok(s) => s,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let runs = r.runs(&sweep)?;
        let metrics = r.metrics_after(&sweep, st.watermark)?;
        let logged = r.logged_after(&sweep, st.logged_mark)?;
        Ok::<_, StoreError>(Some((sweep, runs, metrics, logged)))
    })?;
    let Some((sweep, runs, metrics, logged)) = snap else {
        // Not recorded yet (the engine is starting), or never (it could not start).
        return Ok(ending);
    };
    if let Some((last, _)) = metrics.last() {
        st.watermark = *last;
    }
    st.pending.extend(metrics.into_iter().map(|(_, m)| m));
    if let Some((last, _)) = logged.last() {
        st.logged_mark = *last;
    }
    st.logged.extend(logged.into_iter().map(|(_, l)| l));
    if st.experiment.is_none() {
        let name = experiment_name(opts.experiment.as_deref(), &sweep);
        st.experiment = Some(client.experiment_id(&name)?);
    }
    let exp = st.experiment.clone().expect("set above");
    if st.parent.is_none() {
        st.parent = Some(create_parent(client, &exp, &sweep)?);
    }
    let parent = st.parent.clone().expect("set above");
    for r in &runs {
        let child = st.children.entry(r.id.clone()).or_default();
        if child.mlflow_id.is_none() && !child.abandoned {
            match create_child(client, &exp, &parent, &sweep, r) {
                Ok(id) => {
                    child.mlflow_id = Some(id);
                    st.runs += 1;
                }
                Err(MlflowError::Rejected(e)) => {
                    eprintln!("warning: MLflow refused run {}: {e}", r.id);
                    child.abandoned = true;
                }
                Err(e) => return Err(e),
            }
        }
    }
    push_metrics(client, &sweep, &parent, &runs, st)?;
    push_logged(client, &runs, st)?;
    for r in &runs {
        let Some(status) = status_of(r.state) else {
            continue;
        };
        let child = st.children.entry(r.id.clone()).or_default();
        let (Some(id), false, false) = (&child.mlflow_id, child.closed, child.abandoned) else {
            continue;
        };
        let mut tags = vec![("sweep.state".to_string(), r.state.to_string())];
        if let Some(reason) = &r.reason {
            tags.push(("sweep.reason".into(), cut(&reason.to_string(), MAX_TAG_LEN)));
        }
        if let Some(c) = r.exit_code {
            tags.push(("sweep.exit_code".into(), c.to_string()));
        }
        if let Some(b) = r.best.filter(|b| b.is_finite()) {
            tags.push((
                format!("sweep.best_{}", key(&sweep.primary_metric)),
                b.to_string(),
            ));
        }
        client.log_batch(id, &[], &[], &tags)?;
        client.update_run(id, status, r.ended.map(ms))?;
        child.closed = true;
    }
    if sweep.state == SweepState::Running || st.parent_closed {
        return Ok(st.parent_closed && st.pending.is_empty() && st.logged.is_empty());
    }
    // The sweep has ended: everything it recorded is in this snapshot.
    let all_closed = runs.iter().all(|r| {
        let c = st.children.get(&r.id);
        c.is_some_and(|c| c.closed || c.abandoned) || status_of(r.state).is_none()
    });
    if !(all_closed && st.pending.is_empty() && st.logged.is_empty()) {
        return Ok(false);
    }
    let mut tags = vec![("sweep.state".to_string(), sweep.state.to_string())];
    if let Some(reason) = &sweep.reason {
        tags.push(("sweep.reason".into(), cut(reason, MAX_TAG_LEN)));
    }
    client.log_batch(&parent, &[], &[], &tags)?;
    // A sweep that ended any other way was stopped.
    let status = match sweep.state {
        SweepState::Completed => "FINISHED",
        SweepState::Failed => "FAILED",
        SweepState::Running | SweepState::Canceled => "KILLED",
    };
    client.update_run(&parent, status, sweep.ended.map(ms))?;
    st.parent_closed = true;
    Ok(true)
}

fn create_parent(client: &Client, exp: &str, sweep: &SweepRecord) -> Result<String, MlflowError> {
    let tags = vec![
        ("sweep.id".to_string(), sweep.id.clone()),
        ("sweep.name".into(), cut(&sweep.name, MAX_TAG_LEN)),
        ("sweep.kind".into(), "sweep".into()),
        ("mlflow.runName".into(), cut(&sweep.name, 250)),
    ];
    let id = client.create_run(exp, &sweep.name, ms(sweep.created), &tags)?;
    let mut params: Vec<(String, String)> = vec![
        ("primary_metric".into(), sweep.primary_metric.clone()),
        ("goal".into(), sweep.goal.clone()),
    ];
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            params.push((k.to_string(), cut(&v, MAX_PARAM_LEN)));
        }
    };
    opt("sampling", sweep.sampling.clone());
    opt("policy", sweep.policy.clone());
    opt(
        "max_total_runs",
        sweep.max_total_runs.map(|v| v.to_string()),
    );
    opt(
        "max_concurrent_runs",
        sweep.max_concurrent_runs.map(|v| v.to_string()),
    );
    opt(
        "max_duration_minutes",
        sweep.max_duration_minutes.map(|v| v.to_string()),
    );
    opt("seed", sweep.seed.map(|v| v.to_string()));
    opt("target", sweep.target.clone());
    opt("git_commit", sweep.git_commit.clone());
    client.log_batch(&id, &[], &params, &[])?;
    Ok(id)
}

fn create_child(
    client: &Client,
    exp: &str,
    parent: &str,
    sweep: &SweepRecord,
    r: &RunRecord,
) -> Result<String, MlflowError> {
    let tags = vec![
        ("mlflow.parentRunId".to_string(), parent.to_string()),
        ("mlflow.runName".into(), r.id.clone()),
        ("sweep.sweep_id".into(), sweep.id.clone()),
        ("sweep.run_id".into(), r.id.clone()),
        ("sweep.seq".into(), r.seq.to_string()),
    ];
    let id = client.create_run(exp, &r.id, ms(r.started.unwrap_or(r.queued)), &tags)?;
    let params: Vec<(String, String)> = r
        .params
        .iter()
        .map(|(n, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key(n), cut(&text, MAX_PARAM_LEN))
        })
        .collect();
    client.log_batch(&id, &[], &params, &[])?;
    Ok(id)
}

/// Sends the pending metric points, run by run, and the parent's running best; a batch
/// leaves the queue only once the server took it.
fn push_metrics(
    client: &Client,
    sweep: &SweepRecord,
    parent: &str,
    runs: &[RunRecord],
    st: &mut Sync,
) -> Result<(), MlflowError> {
    if st.pending.is_empty() {
        return Ok(());
    }
    let seq: HashMap<&str, i64> = runs.iter().map(|r| (r.id.as_str(), r.seq)).collect();
    let minimize = sweep.goal == "minimize";
    // The parent's curve: the running best of the primary metric, one point per improvement,
    // its step the run number of the run that reported it.
    let mut best_points = Vec::new();
    let mut best = st.best;
    for m in &st.pending {
        if m.name == sweep.primary_metric && m.value.is_finite() {
            let better = match best {
                None => true,
                Some(b) => (minimize && m.value < b) || (!minimize && m.value > b),
            };
            if better {
                best = Some(m.value);
                best_points.push(Metric {
                    key: format!("best_{}", key(&sweep.primary_metric)),
                    value: m.value,
                    timestamp: ms(m.time),
                    step: seq.get(m.run_id.as_str()).copied().unwrap_or(0),
                });
            }
        }
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_run: HashMap<String, Vec<Metric>> = HashMap::new();
    for m in &st.pending {
        if !by_run.contains_key(&m.run_id) {
            order.push(m.run_id.clone());
        }
        by_run.entry(m.run_id.clone()).or_default().push(Metric {
            key: key(&m.name),
            value: m.value,
            timestamp: ms(m.time),
            step: m.step.unwrap_or(m.interval),
        });
    }
    for run in order {
        let points = by_run.remove(&run).unwrap_or_default();
        let child = st.children.get(&run);
        match child.and_then(|c| c.mlflow_id.clone()) {
            Some(id) if !child.is_some_and(|c| c.abandoned) => {
                match client.log_batch(&id, &points, &[], &[]) {
                    Ok(()) => st.points += points.len() as u64,
                    Err(MlflowError::Rejected(e)) => {
                        eprintln!("warning: MLflow refused metrics of run {run}: {e}");
                        st.refused += points.len() as u64;
                    }
                    Err(e) => {
                        // Keep this run's points and every later one for the next try.
                        st.pending
                            .retain(|m| by_run.contains_key(&m.run_id) || m.run_id == run);
                        return Err(e);
                    }
                }
            }
            _ => st.refused += points.len() as u64,
        }
    }
    st.pending.clear();
    if !best_points.is_empty() {
        client.log_batch(parent, &best_points, &[], &[])?;
    }
    st.best = best;
    Ok(())
}

/// Whether a tag key (as sent, after [`key`]) of a script's is MLflow's or sweep's own, which
/// the child run's tags say: such a tag is not sent.
fn reserved_tag(k: &str) -> bool {
    k.starts_with("mlflow.") || k.starts_with("sweep.")
}

/// Sends the parameters and tags the runs' scripts logged to their child runs. A parameter
/// named as one of the run's sweep parameters is not sent: MLflow's parameters cannot
/// change, and the child has the value sweep ran it with. A parameter the server refuses
/// (one the script changed after it was sent) is said once per run and dropped; what
/// belongs to a run without a child run yet waits for it.
fn push_logged(client: &Client, runs: &[RunRecord], st: &mut Sync) -> Result<(), MlflowError> {
    if st.logged.is_empty() {
        return Ok(());
    }
    // By run, runs in the order their first item came.
    let mut by_run: Vec<(String, Vec<LoggedRecord>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for l in std::mem::take(&mut st.logged) {
        let i = *at.entry(l.run_id.clone()).or_insert_with(|| {
            by_run.push((l.run_id.clone(), Vec::new()));
            by_run.len() - 1
        });
        by_run[i].1.push(l);
    }
    let record: HashMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut left = by_run.into_iter();
    while let Some((run, items)) = left.next() {
        let id = match st.children.get(&run) {
            Some(c) if c.abandoned => continue,
            Some(Child {
                mlflow_id: Some(id),
                ..
            }) => id.clone(),
            _ => {
                st.logged.extend(items);
                continue;
            }
        };
        let sweep_keys: Vec<String> = record
            .get(run.as_str())
            .map(|r| r.params.iter().map(|(n, _)| key(n)).collect())
            .unwrap_or_default();
        let (params, tags) = to_send(&items, &sweep_keys);
        if let Err(e) = send_logged(client, &id, &run, &params, &tags) {
            // This run's and every later run's wait for the next try.
            st.logged.extend(items);
            st.logged.extend(left.flat_map(|(_, items)| items));
            return Err(e);
        }
    }
    Ok(())
}

/// MLflow keys and values, in order.
type KeyValues = Vec<(String, String)>;

/// What of one run's script-logged `items` goes to its child run, as (parameters, tags),
/// keys as MLflow takes them: not a parameter named as one of the run's sweep parameters
/// (`sweep_keys`, already there and unchangeable), nor a tag of MLflow's or sweep's own.
fn to_send(items: &[LoggedRecord], sweep_keys: &[String]) -> (KeyValues, KeyValues) {
    let (mut params, mut tags) = (Vec::new(), Vec::new());
    for l in items {
        match &l.item {
            Logged::Param { key: k, value } if !sweep_keys.contains(&key(k)) => {
                params.push((key(k), cut(value, MAX_PARAM_LEN)))
            }
            Logged::Tag { key: k, value } if !reserved_tag(&key(k)) => {
                tags.push((key(k), cut(value, MAX_TAG_LEN)))
            }
            _ => {}
        }
    }
    (params, tags)
}

/// Sends one run's script-logged parameters and tags; when the server refuses the request
/// (one refused parameter refuses all), the tags and then each parameter on its own, the
/// refused ones said once and dropped.
fn send_logged(
    client: &Client,
    id: &str,
    run: &str,
    params: &[(String, String)],
    tags: &[(String, String)],
) -> Result<(), MlflowError> {
    match client.log_batch(id, &[], params, tags) {
        Err(MlflowError::Rejected(_)) => {}
        other => return other,
    }
    client.log_batch(id, &[], &[], tags)?;
    let mut refused = Vec::new();
    for p in params {
        match client.log_batch(id, &[], std::slice::from_ref(p), &[]) {
            Err(MlflowError::Rejected(e)) => refused.push(format!("{} ({e})", p.0)),
            other => other?,
        }
    }
    if !refused.is_empty() {
        eprintln!(
            "warning: MLflow refused parameters the script of run {run} logged: {}; they are kept in sweep's history",
            refused.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripts_parameters_and_tags_never_replace_the_child_runs_own() {
        let item = |kind: &str, k: &str, v: &str| LoggedRecord {
            run_id: "r".into(),
            item: Logged::attribute_of(kind, k.into(), v.into()).unwrap(),
        };
        let items = [
            item("param", "lr", "0.1"),
            item("param", "batch", "32"),
            item("tag", "mlflow.runName", "mine"),
            item("tag", "-sweep.state", "fake"),
            item("tag", "team", "vision"),
        ];
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            to_send(&items, &["lr".to_string()]),
            (vec![pair("batch", "32")], vec![pair("team", "vision")])
        );
    }

    #[test]
    fn statuses_map_to_mlflow() {
        assert_eq!(status_of(RunState::Completed), Some("FINISHED"));
        assert_eq!(status_of(RunState::Failed), Some("FAILED"));
        assert_eq!(status_of(RunState::Canceled), Some("KILLED"));
        assert_eq!(status_of(RunState::Running), None);
    }
}
