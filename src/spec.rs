//! The validated sweep specification: what every config format compiles into and what the
//! samplers, policies and engine consume. No parsing and no file positions live here.

use crate::space::SearchSpace;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whether the primary metric is to be maximised or minimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Goal {
    /// Larger is better.
    Maximize,
    /// Smaller is better.
    Minimize,
}

impl Goal {
    /// Whether `a` is strictly better than `b` under this goal.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Maximize => a > b,
            Goal::Minimize => a < b,
        }
    }

    /// The lower-case name (`maximize`/`minimize`).
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Maximize => "maximize",
            Goal::Minimize => "minimize",
        }
    }
}

/// How random sampling draws its unit-cube points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RandomRule {
    /// Independent uniform draws from a seeded ChaCha stream.
    Plain,
    /// Owen-scrambled Sobol points, seeded.
    Sobol,
}

/// The sampling algorithm.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Sampling {
    /// The Cartesian product of every parameter's values.
    Grid,
    /// Random (or Sobol) sampling.
    Random {
        /// Plain or Sobol.
        rule: RandomRule,
    },
    /// Gaussian-process Bayesian optimisation.
    Bayesian,
}

impl Sampling {
    /// The name as HyperDrive spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Sampling::Grid => "grid",
            Sampling::Random {
                rule: RandomRule::Plain,
            } => "random",
            Sampling::Random {
                rule: RandomRule::Sobol,
            } => "random (sobol)",
            Sampling::Bayesian => "bayesian",
        }
    }
}

/// An early-termination policy with its parameters (semantics in docs/policies.md).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PolicyKind {
    /// Never terminate a run early.
    NoTermination,
    /// Terminate runs whose best value falls more than a slack behind the best run.
    Bandit {
        /// Relative slack `f` (exclusive with `slack_amount`).
        slack_factor: Option<f64>,
        /// Absolute slack `a` (exclusive with `slack_factor`).
        slack_amount: Option<f64>,
    },
    /// Terminate runs worse than the median of running averages.
    MedianStopping,
    /// Terminate the lowest `truncation_percentage` percent of runs at each evaluation.
    TruncationSelection {
        /// Percentage in 1..=99.
        truncation_percentage: u32,
    },
}

/// A policy and its evaluation schedule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// Which policy.
    pub kind: PolicyKind,
    /// Evaluate at intervals `s` with `s % evaluation_interval == 0`.
    pub evaluation_interval: u32,
    /// ... and `s >= delay_evaluation`.
    pub delay_evaluation: u32,
}

impl Policy {
    /// The policy that never terminates.
    pub fn none() -> Policy {
        Policy {
            kind: PolicyKind::NoTermination,
            evaluation_interval: 1,
            delay_evaluation: 0,
        }
    }

    /// Whether the policy evaluates runs at interval `s` (1-based).
    pub fn evaluates_at(&self, s: u32) -> bool {
        s >= 1 && s % self.evaluation_interval.max(1) == 0 && s >= self.delay_evaluation
    }

    /// The policy's name as recorded in a cancel reason (`policy:<name>`).
    pub fn name(&self) -> &'static str {
        match self.kind {
            PolicyKind::NoTermination => "none",
            PolicyKind::Bandit { .. } => "bandit",
            PolicyKind::MedianStopping => "median_stopping",
            PolicyKind::TruncationSelection { .. } => "truncation_selection",
        }
    }
}

/// Budget of a sweep.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Total runs to launch.
    pub max_total_runs: u64,
    /// Runs alive at once.
    pub max_concurrent_runs: u64,
    /// Running-time budget of the whole sweep, in minutes: the time a `sweep` process runs
    /// it, across sessions (downtime between a kill and `sweep resume` does not count).
    pub max_duration_minutes: f64,
    /// Per-run time limit in seconds (`maxRunDurationSeconds` / v2 `trial_timeout`).
    pub max_run_duration_seconds: Option<f64>,
}

/// How a run is started: the program and its fixed arguments (docs/run-protocol.md).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    /// Interpreter, if the run is a script (`python3`, or `interpreterPath`).
    pub interpreter: Option<String>,
    /// The script path, relative to the source directory, for script runs.
    pub script: Option<String>,
    /// Fixed arguments before the parameters (runconfig `arguments`), or, for `command`
    /// runs and the v2 format, the full argument vector (with `${{search_space.x}}`
    /// placeholders left in for the launcher to substitute).
    pub arguments: Vec<String>,
    /// Whether `arguments` is a full command (v2 / runconfig `command:`) with placeholders,
    /// rather than a script's fixed arguments followed by `--name value` pairs.
    pub is_command: bool,
    /// Extra environment variables for the run.
    pub environment: BTreeMap<String, String>,
    /// The source directory (snapshot root).
    pub source_dir: PathBuf,
    /// The directories a run's `outputs/` gets before it starts (a v2 job's folder
    /// outputs, which its command names as `../outputs/NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_dirs: Vec<String>,
    /// The compute target's name (`local` by default).
    pub target: String,
    /// Number of nodes requested (Slurm).
    pub node_count: u32,
    // Not saved with the sweep: pip requirement lines can carry index credentials. A
    // resumed sweep reads it again from its config files, as it does environment values.
    #[serde(skip)]
    /// The managed environment to build (or find in the cache) before the first run
    /// (`userManagedDependencies: false` with a dependency file); `sweep run` then points
    /// `interpreter` at it.
    pub managed_env: Option<ManagedEnv>,
    #[serde(skip)]
    /// The dependency file of an environment the user manages (`userManagedDependencies:
    /// true` with a dependency file): never built; `validate` warns when it pins a Python
    /// the interpreter is not.
    pub unbuilt_deps: Option<(PathBuf, DepsKind)>,
    /// The prefix of the managed environment the runs use, set when it is applied. Saved
    /// with the sweep (the dependency list is not: pip options can carry index
    /// credentials), so that a resumed sweep knows it ran in one and can check that its
    /// dependency file still gives the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_prefix: Option<PathBuf>,
    /// The pattern output lines are also read with (`metrics: {pattern: …}`), compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_pattern: Option<crate::metrics::Pattern>,
}

/// Which kind of file a managed environment's dependencies were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepsKind {
    /// A conda environment YAML (`condaDependenciesFile`).
    Conda,
    /// A pip requirements file (`requirementsFile`).
    Requirements,
}

impl DepsKind {
    /// `conda` or `requirements`, as recorded in a cache entry's metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            DepsKind::Conda => "conda",
            DepsKind::Requirements => "requirements",
        }
    }
}

/// The tool that builds a managed environment on this machine, chosen (and checked against
/// the dependency file) when the config is read.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvTool {
    /// `python -m venv` with a base interpreter, then pip.
    Venv {
        /// The base interpreter as found on PATH (`python3.11`).
        base: PathBuf,
        /// Its exact version (`3.11.7`).
        version: String,
        /// Its `sys.base_prefix`: a virtualenv stays tied to the interpreter it was made from.
        base_prefix: String,
    },
    /// `conda create` (or mamba, micromamba), then pip inside the prefix.
    Conda {
        /// The executable.
        exe: PathBuf,
        /// `conda`, `mamba` or `micromamba`.
        name: &'static str,
    },
}

impl EnvTool {
    /// `venv` or the conda tool's name.
    pub fn name(&self) -> &'static str {
        match self {
            EnvTool::Venv { .. } => "venv",
            EnvTool::Conda { name, .. } => name,
        }
    }
}

/// A managed environment's dependencies as read from its file: normalised (formatting never
/// changes them), without positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependencies {
    /// The dependency file (absolute when the runconfig's folder could be resolved).
    pub file: PathBuf,
    /// The file's name as shown in messages.
    pub shown: String,
    /// Which kind of file.
    pub kind: DepsKind,
    /// The `python` spec of a conda file (`python=3.11`), if it has one.
    pub python: Option<String>,
    /// Conda channels, in priority order.
    pub channels: Vec<String>,
    /// Conda specs other than `python`, sorted and deduplicated.
    pub conda: Vec<String>,
    /// pip requirement lines (packages and options), sorted and deduplicated.
    pub pip: Vec<String>,
}

/// A managed environment the runs need: its dependencies and the tool that builds them on
/// this machine. Problems that point into the dependency file are found when it is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEnv {
    /// What it holds.
    pub deps: Dependencies,
    /// What builds it.
    pub tool: EnvTool,
}

/// Everything a sweep needs, validated.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SweepSpec {
    /// The search space.
    pub space: SearchSpace,
    /// The sampling algorithm.
    pub sampling: Sampling,
    /// Seed for random/Sobol/Bayesian sampling (`None`: chosen at start and recorded).
    pub seed: Option<u64>,
    /// The early-termination policy.
    pub policy: Policy,
    /// The primary metric's name.
    pub primary_metric: String,
    /// Its goal.
    pub goal: Goal,
    /// The budget.
    pub limits: Limits,
    /// How runs are launched.
    pub run: RunSpec,
    /// Earlier sweeps to warm-start from.
    pub resume_from: Vec<String>,
    /// Earlier runs to run again first, from their checkpoints (`resume_child_runs`).
    #[serde(default)]
    pub resume_child_runs: Vec<String>,
}

/// The command-line flag for a parameter: names without leading dashes get `--`
/// (HyperDrive's samples rely on it), names with dashes are kept.
pub fn arg_name(name: &str) -> String {
    if name.starts_with('-') {
        name.to_string()
    } else {
        format!("--{name}")
    }
}

/// Replaces every `${{search_space.x}}` in `s` with the value of parameter `x` (inactive
/// parameters of a nested space become the empty string).
pub fn substitute(s: &str, params: &crate::space::Params) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        match after.find("}}") {
            Some(end) => {
                let inner = after[..end].trim();
                match inner.strip_prefix("search_space.") {
                    Some(name) => {
                        if let Some(v) = params.get(name) {
                            out.push_str(&v.to_string());
                        }
                    }
                    None => out.push_str(&rest[start..start + 3 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl RunSpec {
    /// The argument vector of a run with these parameters (docs/run-protocol.md): for script runs
    /// `[interpreter] script arguments… name value…` in parameter-space order; for command
    /// runs the command with `${{search_space.x}}` substituted.
    pub fn argv(&self, params: &crate::space::Params) -> Vec<String> {
        if self.is_command {
            return self
                .arguments
                .iter()
                .map(|a| substitute(a, params))
                .collect();
        }
        let mut argv = Vec::with_capacity(2 + self.arguments.len() + 2 * params.len());
        argv.extend(self.interpreter.iter().cloned());
        if let Some(script) = &self.script {
            if self.interpreter.is_none() && !script.contains('/') {
                // Executed directly, a bare name would be looked up on PATH, not in the
                // run's working directory.
                argv.push(format!("./{script}"));
            } else {
                argv.push(script.clone());
            }
        }
        argv.extend(self.arguments.iter().cloned());
        for (name, value) in params.iter() {
            argv.push(arg_name(name));
            argv.push(value.to_string());
        }
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Params, Value};

    #[test]
    fn argv_per_design() {
        let params = Params(vec![
            ("--lr".into(), Value::Float(0.01)),
            ("batch".into(), Value::Int(32)),
        ]);
        let run = RunSpec {
            interpreter: Some("python3".into()),
            script: Some("train.py".into()),
            arguments: vec!["--epochs".into(), "3".into()],
            ..RunSpec::default()
        };
        assert_eq!(
            run.argv(&params),
            ["python3", "train.py", "--epochs", "3", "--lr", "0.01", "--batch", "32"]
        );
        let cmd = RunSpec {
            arguments: vec![
                "prog".into(),
                "--x=${{search_space.batch}}".into(),
                "${{search_space.--lr}}".into(),
            ],
            is_command: true,
            ..RunSpec::default()
        };
        assert_eq!(cmd.argv(&params), ["prog", "--x=32", "0.01"]);
    }

    /// A script's parameters follow its arguments, each name given its dashes and each
    /// value formatted as the script reads it.
    #[test]
    fn script_argv_prefixes_dashes_and_formats_values() {
        let run = RunSpec {
            interpreter: Some("python3".into()),
            script: Some("train.py".into()),
            arguments: vec!["--epochs".into(), "3".into()],
            ..Default::default()
        };
        let params = Params(vec![
            ("--lr".into(), Value::Float(0.001)),
            ("batch".into(), Value::Int(64)),
            ("opt".into(), Value::Str("adam".into())),
        ]);
        assert_eq!(
            run.argv(&params),
            [
                "python3", "train.py", "--epochs", "3", "--lr", "0.001", "--batch", "64", "--opt",
                "adam"
            ]
        );
        let cmd = RunSpec {
            is_command: true,
            arguments: vec![
                "python".into(),
                "t.py".into(),
                "--b=${{search_space.batch}}".into(),
                "${{ search_space.opt }}".into(),
                "${{search_space.nope}}".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            cmd.argv(&params),
            // A name with no value (an inactive nested parameter) becomes the empty string.
            ["python", "t.py", "--b=64", "adam", ""]
        );
    }
}
