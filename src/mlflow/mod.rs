//! Logging sweeps to an MLflow tracking server through its REST API (`/api/2.0/mlflow/...`):
//! the sweep is a parent run, each run a child run (tag `mlflow.parentRunId`) with its
//! parameters, every metric point with its step, its final status and tags for its reason
//! and the sweep id.
//!
//! A [`Follower`] thread does it while the sweep happens, without touching the engine: it
//! polls the run history (a [`Reader`], one consistent snapshot per poll) about once a second
//! and pushes what is new in batches (`runs/log-batch`). A tracking server that cannot be
//! reached is retried with backoff; it never stops the sweep (one warning, then quiet
//! retries), and when the sweep ends the follower flushes what is left within a deadline.
//! Credentials (`MLFLOW_TRACKING_TOKEN`, `MLFLOW_TRACKING_USERNAME`/`PASSWORD`, or a password
//! in the URI) are sent as headers and never printed.

use crate::store::{
    MetricRecord, Reader, RunRecord, RunState, StoreError, SweepRecord, SweepState,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// MLflow's limits for one `runs/log-batch` request.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
/// Values longer than this are cut (older servers accept 500-character parameter values).
const MAX_PARAM_LEN: usize = 500;
const MAX_TAG_LEN: usize = 5000;

/// An MLflow error.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// Worth retrying: the server could not be reached, timed out, or answered 429/5xx.
    #[error("{0}")]
    Transient(String),
    /// The server refused the request (4xx): retrying the same request will not help.
    #[error("{0}")]
    Rejected(String),
    /// The URI cannot be used.
    #[error("{0}")]
    BadUri(String),
    /// Reading the run history failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The URI with any user information hidden, for messages.
pub fn redact(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let (auth, tail) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match auth.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{tail}"),
                None => uri.to_string(),
            }
        }
        None => uri.to_string(),
    }
}

/// A tracking-server client: blocking HTTP, short timeouts, a few quick retries.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    shown: String,
    token: Option<String>,
    basic: Option<(String, String)>,
}

impl Client {
    /// A client for an `http://` or `https://` tracking URI.
    pub fn new(uri: &str) -> Result<Client, MlflowError> {
        let trimmed = uri.trim().trim_end_matches('/');
        let lower = trimmed.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(MlflowError::BadUri(format!(
                "MLflow tracking URI {:?} is not an http:// or https:// address; sweep logs through the tracking server's REST API (start one with `mlflow server`)",
                redact(trimmed)
            )));
        }
        // User information in the URI becomes a basic-auth header instead of part of the URL.
        let (base, mut basic) = {
            let (scheme, rest) = trimmed.split_once("://").expect("checked above");
            let (auth, tail) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match auth.rsplit_once('@') {
                Some((user, host)) => {
                    let (u, p) = user.split_once(':').unwrap_or((user, ""));
                    (
                        format!("{scheme}://{host}{tail}"),
                        Some((u.to_string(), p.to_string())),
                    )
                }
                None => (trimmed.to_string(), None),
            }
        };
        if basic.is_none() {
            if let Ok(u) = std::env::var("MLFLOW_TRACKING_USERNAME") {
                basic = Some((
                    u,
                    std::env::var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default(),
                ));
            }
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("sweep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MlflowError::BadUri(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            shown: redact(&base),
            base,
            token: std::env::var("MLFLOW_TRACKING_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            basic,
        })
    }

    /// The server's address as shown in messages (no credentials).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        req = if method == reqwest::Method::GET {
            let q: Vec<(String, String)> = body
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            req.query(&q)
        } else {
            req.header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
        };
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        } else if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        // `without_url`: the message names the server by its redacted address instead.
        let resp = req
            .send()
            .map_err(|e| MlflowError::Transient(format!("{}: {}", self.shown, e.without_url())))?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let detail: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let msg = format!(
            "{} {path}: HTTP {}{}",
            self.shown,
            status.as_u16(),
            detail["message"]
                .as_str()
                .map(|m| format!(": {}", m.chars().take(300).collect::<String>()))
                .unwrap_or_default()
        );
        if status.as_u16() == 429 || status.is_server_error() {
            Err(MlflowError::Transient(msg))
        } else {
            Err(MlflowError::Rejected(format!(
                "{msg}{}",
                detail["error_code"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )))
        }
    }

    /// One request, retried twice quickly on transient failures.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, MlflowError> {
        let mut wait = Duration::from_millis(200);
        for _ in 0..2 {
            match self.once(method.clone(), path, body) {
                Err(MlflowError::Transient(_)) => {
                    std::thread::sleep(wait);
                    wait *= 4;
                }
                other => return other,
            }
        }
        self.once(method, path, body)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value, MlflowError> {
        self.call(reqwest::Method::POST, path, &body)
    }

    /// The id of the experiment `name`, created if it does not exist.
    pub fn experiment_id(&self, name: &str) -> Result<String, MlflowError> {
        let get = || {
            self.call(
                reqwest::Method::GET,
                "experiments/get-by-name",
                &json!({ "experiment_name": name }),
            )
        };
        match get() {
            Ok(v) => {
                if let Some(id) = v["experiment"]["experiment_id"].as_str() {
                    return Ok(id.to_string());
                }
            }
            Err(MlflowError::Rejected(_)) => {}
            Err(e) => return Err(e),
        }
        match self.post("experiments/create", json!({ "name": name })) {
            Ok(v) => v["experiment_id"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| {
                    MlflowError::Rejected("experiments/create: no experiment_id".into())
                }),
            // Created by someone else in between.
            Err(MlflowError::Rejected(_)) => get()?["experiment"]["experiment_id"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| MlflowError::Rejected(format!("no experiment {name:?}"))),
            Err(e) => Err(e),
        }
    }

    /// Creates a run; returns its id.
    pub fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<String, MlflowError> {
        let v = self.post(
            "runs/create",
            json!({
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": start_ms,
                "tags": kv(tags),
            }),
        )?;
        v["run"]["info"]["run_id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| MlflowError::Rejected("runs/create: no run id in the answer".into()))
    }

    /// Logs metrics, parameters and tags to a run, split into requests within MLflow's
    /// limits. Metrics are `(key, value, timestamp ms, step)`.
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[(String, f64, i64, i64)],
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<(), MlflowError> {
        let mut m = metrics.chunks(MAX_METRICS);
        let mut p = params.chunks(MAX_PARAMS);
        let mut t = tags.chunks(MAX_TAGS);
        loop {
            let (mc, pc, tc) = (m.next(), p.next(), t.next());
            if mc.is_none() && pc.is_none() && tc.is_none() {
                return Ok(());
            }
            // MLflow caps a request at 1000 entities in all; metrics alone fill it, so
            // parameters and tags go in a request of their own.
            if let Some(mc) = mc {
                self.post(
                    "runs/log-batch",
                    json!({ "run_id": run_id, "metrics": metric_json(mc) }),
                )?;
            }
            if pc.is_some() || tc.is_some() {
                self.post(
                    "runs/log-batch",
                    json!({
                        "run_id": run_id,
                        "params": kv(pc.unwrap_or(&[])),
                        "tags": kv(tc.unwrap_or(&[])),
                    }),
                )?;
            }
        }
    }

    /// Sets a run's status (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`) and end time.
    pub fn update_run(
        &self,
        run_id: &str,
        status: &str,
        end_ms: Option<i64>,
    ) -> Result<(), MlflowError> {
        let mut body = json!({ "run_id": run_id, "status": status });
        if let Some(e) = end_ms {
            body["end_time"] = json!(e);
        }
        self.post("runs/update", body).map(|_| ())
    }

    /// Runs of an experiment matching an MLflow filter string (first page, up to `max`).
    pub fn search_runs(
        &self,
        experiment_id: &str,
        filter: &str,
        max: usize,
    ) -> Result<Vec<Value>, MlflowError> {
        let v = self.post(
            "runs/search",
            json!({ "experiment_ids": [experiment_id], "filter": filter, "max_results": max }),
        )?;
        Ok(v["runs"].as_array().cloned().unwrap_or_default())
    }
}

fn kv(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect()
}

fn metric_json(m: &[(String, f64, i64, i64)]) -> Vec<Value> {
    m.iter()
        .map(|(k, v, ts, step)| {
            // Protobuf's JSON form spells non-finite doubles as strings.
            let value = if v.is_nan() {
                json!("NaN")
            } else if v.is_infinite() {
                json!(if *v > 0.0 { "Infinity" } else { "-Infinity" })
            } else {
                json!(v)
            };
            json!({ "key": k, "value": value, "timestamp": ts, "step": step })
        })
        .collect()
}

/// An MLflow key from a name: leading dashes dropped (`--lr` → `lr`), characters MLflow
/// does not allow in keys (anything but letters, digits, `_ - . / space`) replaced by `_`.
pub fn key(name: &str) -> String {
    let t = name.trim_start_matches('-');
    let t = if t.is_empty() { name } else { t };
    let k: String = t
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(250)
        .collect();
    if k.is_empty() {
        "_".into()
    } else {
        k
    }
}

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
        self.handle.join().unwrap_or_else(|_| Summary {
            error: Some("the MLflow thread panicked".into()),
            ..Summary::default()
        })
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
        Ok(Some((sweep, runs, metrics)))
    })?;
    let Some((sweep, runs, metrics)) = snap else {
        // Not recorded yet (the engine is starting), or never (it could not start).
        return Ok(ending);
    };
    if let Some((last, _)) = metrics.last() {
        st.watermark = *last;
    }
    st.pending.extend(metrics.into_iter().map(|(_, m)| m));
    if st.experiment.is_none() {
        let name = opts
            .experiment
            .clone()
            .or_else(|| sweep.experiment.clone())
            .or_else(|| std::env::var("MLFLOW_EXPERIMENT_NAME").ok())
            .unwrap_or_else(|| "Default".into());
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
        return Ok(st.parent_closed && st.pending.is_empty());
    }
    // The sweep has ended: everything it recorded is in this snapshot.
    let all_closed = runs.iter().all(|r| {
        let c = st.children.get(&r.id);
        c.is_some_and(|c| c.closed || c.abandoned) || status_of(r.state).is_none()
    });
    if !(all_closed && st.pending.is_empty()) {
        return Ok(false);
    }
    let mut tags = vec![("sweep.state".to_string(), sweep.state.to_string())];
    if let Some(reason) = &sweep.reason {
        tags.push(("sweep.reason".into(), cut(reason, MAX_TAG_LEN)));
    }
    client.log_batch(&parent, &[], &[], &tags)?;
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
                best_points.push((
                    format!("best_{}", key(&sweep.primary_metric)),
                    m.value,
                    ms(m.time),
                    seq.get(m.run_id.as_str()).copied().unwrap_or(0),
                ));
            }
        }
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_run: HashMap<String, Vec<(String, f64, i64, i64)>> = HashMap::new();
    for m in &st.pending {
        if !by_run.contains_key(&m.run_id) {
            order.push(m.run_id.clone());
        }
        by_run.entry(m.run_id.clone()).or_default().push((
            key(&m.name),
            m.value,
            ms(m.time),
            m.step.unwrap_or(m.interval),
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_mlflow_accepts() {
        assert_eq!(key("--lr"), "lr");
        assert_eq!(key("model.lr"), "model.lr");
        assert_eq!(key("a:b/c d"), "a_b/c d");
        assert_eq!(key("--"), "--");
        assert_eq!(key("λ"), "_");
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact("https://user:secret@mlflow.example/prefix"),
            "https://***@mlflow.example/prefix"
        );
        assert_eq!(redact("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        let c = Client::new("http://u:pw@127.0.0.1:1/").unwrap();
        assert_eq!(c.shown(), "http://127.0.0.1:1");
        assert_eq!(c.basic, Some(("u".into(), "pw".into())));
    }

    #[test]
    fn only_http_uris_are_accepted() {
        let e = Client::new("file:./mlruns").err().unwrap();
        assert!(e.to_string().contains("REST API"), "{e}");
        assert!(Client::new("databricks").is_err());
    }

    #[test]
    fn an_unreachable_server_is_transient() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let c = Client::new("http://127.0.0.1:1").unwrap();
        match c.once(reqwest::Method::POST, "runs/create", &json!({})) {
            Err(MlflowError::Transient(m)) => assert!(m.contains("127.0.0.1:1"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_mlflow() {
        assert_eq!(status_of(RunState::Completed), Some("FINISHED"));
        assert_eq!(status_of(RunState::Failed), Some("FAILED"));
        assert_eq!(status_of(RunState::Canceled), Some("KILLED"));
        assert_eq!(status_of(RunState::Running), None);
    }
}
