//! The MLflow REST client: one tracking server's address and credentials, blocking requests
//! to `/api/2.0/mlflow/...` with short timeouts and a few quick retries, errors sorted into
//! transient and refused, `runs/log-batch` split within the server's limits, and the JSON
//! shapes of the requests and answers this crate uses.

use super::MlflowError;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};
use std::time::Duration;

/// MLflow's limits for one `runs/log-batch` request.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;

/// One metric point as `runs/log-batch` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// The metric's key (see [`key`]).
    pub key: String,
    /// The value; NaN and infinities are sent as Protobuf's JSON spells them.
    #[serde(serialize_with = "proto_double")]
    pub value: f64,
    /// When it was reported, Unix milliseconds.
    pub timestamp: i64,
    /// Its step.
    pub step: i64,
}

/// Protobuf's JSON form spells non-finite doubles as strings.
fn proto_double<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_infinite() {
        s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        s.serialize_f64(*v)
    }
}

/// A parameter or a tag: MLflow sends both as a key and a text value.
#[derive(Serialize)]
struct KeyValue<'a> {
    key: &'a str,
    value: &'a str,
}

fn key_values(pairs: &[(String, String)]) -> Vec<KeyValue<'_>> {
    pairs
        .iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect()
}

/// A `runs/log-batch` request: metrics alone, or parameters and tags.
#[derive(Serialize)]
struct LogBatch<'a> {
    run_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<&'a [Metric]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<Vec<KeyValue<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<KeyValue<'a>>>,
}

/// The error answer of the API.
#[derive(Deserialize, Default)]
struct ApiError {
    error_code: Option<String>,
    message: Option<String>,
}

/// The part of a run in an answer that this crate reads.
#[derive(Deserialize)]
struct Run {
    info: RunInfo,
}

#[derive(Deserialize)]
struct RunInfo {
    run_id: String,
}

/// `runs/create`'s answer.
#[derive(Deserialize)]
struct CreatedRun {
    run: Run,
}

/// `experiments/get-by-name`'s answer.
#[derive(Deserialize)]
struct FoundExperiment {
    experiment: Experiment,
}

/// `experiments/create`'s answer, and the experiment inside `get-by-name`'s.
#[derive(Deserialize)]
struct Experiment {
    experiment_id: String,
}

/// `runs/search`'s answer (`runs` is left out when nothing matches).
#[derive(Deserialize)]
struct FoundRuns {
    #[serde(default)]
    runs: Vec<Run>,
}

/// An answer of the shape `T`, or `None`.
fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

/// A URI's parts around its user information: `(scheme, user info, host, path)`, or `None`
/// when it has none.
fn userinfo(uri: &str) -> Option<(&str, &str, &str, &str)> {
    let (scheme, rest) = uri.split_once("://")?;
    let (auth, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (user, host) = auth.rsplit_once('@')?;
    Some((scheme, user, host, tail))
}

/// The URI with any user information hidden, for messages.
pub fn redact(uri: &str) -> String {
    match userinfo(uri) {
        Some((scheme, _, host, tail)) => format!("{scheme}://***@{host}{tail}"),
        None => uri.to_string(),
    }
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
        let (base, mut basic) = match userinfo(trimmed) {
            Some((scheme, user, host, tail)) => {
                let (u, p) = user.split_once(':').unwrap_or((user, ""));
                (
                    format!("{scheme}://{host}{tail}"),
                    Some((u.to_string(), p.to_string())),
                )
            }
            None => (trimmed.to_string(), None),
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
        let detail: ApiError = serde_json::from_str(&text).unwrap_or_default();
        let msg = format!(
            "{} {path}: HTTP {}{}",
            self.shown,
            status.as_u16(),
            detail
                .message
                .map(|m| format!(": {}", m.chars().take(300).collect::<String>()))
                .unwrap_or_default()
        );
        if status.as_u16() == 429 || status.is_server_error() {
            Err(MlflowError::Transient(msg))
        } else {
            Err(MlflowError::Rejected(format!(
                "{msg}{}",
                detail
                    .error_code
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
            .map(|v| decode::<FoundExperiment>(v).map(|f| f.experiment.experiment_id))
        };
        match get() {
            Ok(Some(id)) => return Ok(id),
            Ok(None) | Err(MlflowError::Rejected(_)) => {}
            Err(e) => return Err(e),
        }
        match self.post("experiments/create", json!({ "name": name })) {
            Ok(v) => decode::<Experiment>(v)
                .map(|e| e.experiment_id)
                .ok_or_else(|| {
                    MlflowError::Rejected("experiments/create: no experiment_id".into())
                }),
            // Created by someone else in between.
            Err(MlflowError::Rejected(_)) => {
                get()?.ok_or_else(|| MlflowError::Rejected(format!("no experiment {name:?}")))
            }
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
                "tags": key_values(tags),
            }),
        )?;
        decode::<CreatedRun>(v)
            .map(|c| c.run.info.run_id)
            .ok_or_else(|| MlflowError::Rejected("runs/create: no run id in the answer".into()))
    }

    /// Logs metrics, parameters and tags to a run, split into requests within MLflow's
    /// limits.
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
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
                self.log(LogBatch {
                    run_id,
                    metrics: Some(mc),
                    params: None,
                    tags: None,
                })?;
            }
            if pc.is_some() || tc.is_some() {
                self.log(LogBatch {
                    run_id,
                    metrics: None,
                    params: Some(key_values(pc.unwrap_or(&[]))),
                    tags: Some(key_values(tc.unwrap_or(&[]))),
                })?;
            }
        }
    }

    fn log(&self, batch: LogBatch<'_>) -> Result<(), MlflowError> {
        let body = serde_json::to_value(batch)
            .map_err(|e| MlflowError::Rejected(format!("runs/log-batch: {e}")))?;
        self.post("runs/log-batch", body).map(|_| ())
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

    /// The ids of an experiment's runs that match an MLflow filter string (first page, up to
    /// `max`).
    pub fn search_runs(
        &self,
        experiment_id: &str,
        filter: &str,
        max: usize,
    ) -> Result<Vec<String>, MlflowError> {
        let v = self.post(
            "runs/search",
            json!({ "experiment_ids": [experiment_id], "filter": filter, "max_results": max }),
        )?;
        decode::<FoundRuns>(v)
            .map(|f| f.runs.into_iter().map(|r| r.info.run_id).collect())
            .ok_or_else(|| MlflowError::Rejected("runs/search: runs without an id".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_mlflow_accepts() {
        for (name, want) in [
            ("--lr", "lr"),
            ("model.lr", "model.lr"),
            ("a:b/c d", "a_b/c d"),
            ("--", "--"),
            ("λ", "_"),
        ] {
            assert_eq!(key(name), want, "{name}");
        }
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
    fn batches_are_the_json_the_api_takes() {
        let metrics = [
            Metric {
                key: "acc".into(),
                value: 0.5,
                timestamp: 1_700_000_000_000,
                step: 3,
            },
            Metric {
                key: "loss".into(),
                value: f64::NAN,
                timestamp: 1,
                step: 0,
            },
            Metric {
                key: "loss".into(),
                value: f64::NEG_INFINITY,
                timestamp: 2,
                step: 1,
            },
        ];
        let body = serde_json::to_string(&LogBatch {
            run_id: "r1",
            metrics: Some(&metrics),
            params: None,
            tags: None,
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"run_id":"r1","metrics":[{"key":"acc","value":0.5,"timestamp":1700000000000,"step":3},{"key":"loss","value":"NaN","timestamp":1,"step":0},{"key":"loss","value":"-Infinity","timestamp":2,"step":1}]}"#
        );
        let params = [("lr".to_string(), "0.1".to_string())];
        let body = serde_json::to_string(&LogBatch {
            run_id: "r1",
            metrics: None,
            params: Some(key_values(&params)),
            tags: Some(key_values(&[])),
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"run_id":"r1","params":[{"key":"lr","value":"0.1"}],"tags":[]}"#
        );
    }

    #[test]
    fn answers_are_read_by_shape() {
        let run: Option<CreatedRun> = decode(json!({"run": {"info": {"run_id": "abc"}}}));
        assert_eq!(run.map(|r| r.run.info.run_id).as_deref(), Some("abc"));
        assert!(decode::<CreatedRun>(json!({"run": {}})).is_none());
        let found: FoundRuns = decode(json!({})).unwrap();
        assert!(found.runs.is_empty());
    }
}
