//! One candidate handed out by a study: its identity, its parameters and typed access to
//! them.

use crate::space::{Params, Value};
use std::path::{Path, PathBuf};

/// A parameter that is missing or of another type than asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// No parameter of that name is active in this trial.
    #[error("trial has no parameter `{name}` (it has: {available})")]
    Missing {
        /// The name asked for.
        name: String,
        /// The trial's parameter names, comma-separated.
        available: String,
    },
    /// The parameter has another type.
    #[error("parameter `{name}` is a {found} ({value}), not a {expected}")]
    Type {
        /// The name asked for.
        name: String,
        /// The type asked for.
        expected: &'static str,
        /// The value's type.
        found: &'static str,
        /// The value.
        value: String,
    },
    /// The parameters do not deserialise into the requested type.
    #[error("parameters {params} do not fit the requested type: {message}")]
    Deserialize {
        /// The parameters as JSON.
        params: String,
        /// serde's message.
        message: String,
    },
}

/// A trial: one candidate of a [`Study`](super::Study), recorded as a run of the sweep.
///
/// It is finished by [`Study::tell`](super::Study::tell), which takes it by value, so a
/// trial is told once.
///
/// ```
/// use sweep::space::{Params, Value};
/// use sweep::study::Trial;
///
/// #[derive(serde::Deserialize)]
/// struct Hyper {
///     lr: f64,
///     layers: i64,
///     optimizer: String,
/// }
///
/// let trial = Trial::detached(Params(vec![
///     ("--lr".into(), Value::Float(0.01)),
///     ("layers".into(), Value::Int(3)),
///     ("optimizer".into(), Value::Str("adam".into())),
/// ]));
/// assert_eq!(trial.get_f64("--lr")?, 0.01);
/// assert_eq!(trial.get_f64("layers")?, 3.0); // integers widen to f64
/// assert!(trial.get_i64("optimizer").is_err());
/// let h: Hyper = trial.params()?; // leading dashes are dropped: `--lr` fills `lr`
/// assert_eq!((h.lr, h.layers, h.optimizer.as_str()), (0.01, 3, "adam"));
/// # Ok::<(), sweep::study::ParamError>(())
/// ```
#[derive(Debug)]
pub struct Trial {
    pub(super) study: String,
    pub(super) number: u64,
    pub(super) id: String,
    pub(super) params: Params,
    pub(super) argv: Vec<String>,
    pub(super) run_dir: PathBuf,
}

impl Trial {
    /// A trial outside any study, for testing code that consumes trials; a study rejects
    /// it in [`Study::tell`](super::Study::tell).
    pub fn detached(params: Params) -> Trial {
        Trial {
            study: String::new(),
            number: 0,
            id: "detached".into(),
            argv: crate::spec::RunSpec::default().argv(&params),
            params,
            run_dir: PathBuf::new(),
        }
    }

    /// The 0-based proposal order within the sweep (the run's `seq`).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The run id, as `sweep runs` shows it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The parameters, in parameter-space order (active ones only).
    pub fn values(&self) -> &Params {
        &self.params
    }

    /// The parameter `name`, if active.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// The argument vector a program would be launched with for this trial (docs/run-protocol.md):
    /// the study's program (see [`StudyBuilder::program`](super::StudyBuilder::program),
    /// or the config's runconfig) followed by `--name value` per parameter.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The run's directory in the workspace (`sweeps/<sweep>/runs/<run>`); not created by
    /// sweep: create it if the trial writes outputs there.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn lookup(&self, name: &str) -> Result<&Value, ParamError> {
        self.params.get(name).ok_or_else(|| ParamError::Missing {
            name: name.to_string(),
            available: self
                .params
                .iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn wrong(&self, name: &str, expected: &'static str, v: &Value) -> ParamError {
        ParamError::Type {
            name: name.to_string(),
            expected,
            found: v.type_name(),
            value: v.to_string(),
        }
    }

    /// A numeric parameter as `f64` (integers widen).
    pub fn get_f64(&self, name: &str) -> Result<f64, ParamError> {
        let v = self.lookup(name)?;
        v.as_f64().ok_or_else(|| self.wrong(name, "number", v))
    }

    /// An integer parameter (`randint`, integral q-expressions, integer `choice` options).
    pub fn get_i64(&self, name: &str) -> Result<i64, ParamError> {
        match self.lookup(name)? {
            Value::Int(i) => Ok(*i),
            v => Err(self.wrong(name, "integer", v)),
        }
    }

    /// A string `choice` option.
    pub fn get_str(&self, name: &str) -> Result<&str, ParamError> {
        match self.lookup(name)? {
            Value::Str(s) => Ok(s),
            v => Err(self.wrong(name, "string", v)),
        }
    }

    /// A boolean `choice` option.
    pub fn get_bool(&self, name: &str) -> Result<bool, ParamError> {
        match self.lookup(name)? {
            Value::Bool(b) => Ok(*b),
            v => Err(self.wrong(name, "boolean", v)),
        }
    }

    /// The parameters deserialised into `T` with serde, from their JSON object form
    /// (`SWEEP_PARAMS`); leading dashes of names are dropped, so `--lr` fills a field `lr`.
    pub fn params<T: serde::de::DeserializeOwned>(&self) -> Result<T, ParamError> {
        let mut m = serde_json::Map::new();
        for (n, v) in self.params.iter() {
            m.insert(n.trim_start_matches('-').to_string(), v.to_json());
        }
        let json = serde_json::Value::Object(m);
        serde_json::from_value(json.clone()).map_err(|e| ParamError::Deserialize {
            params: json.to_string(),
            message: e.to_string(),
        })
    }
}
