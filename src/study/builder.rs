//! Defining a study: the builder for the search space (all ten HyperDrive expressions),
//! goal and primary metric, limits, sampling, policy, workspace and name, from code or from
//! a config file, validated into a [`SweepSpec`].

use super::{Study, StudyError};
use crate::config::DEFAULT_MAX_DURATION_MINUTES;
use crate::space::{Domain, Param, SearchSpace, Value};
use crate::spec::{
    arg_name, Goal, Limits, Policy, PolicyKind, RandomRule, RunSpec, Sampling, SweepSpec,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Builds a [`Study`]: in code (start with [`Study::builder`]) or from a config file
/// ([`StudyBuilder::from_config`]), whose settings the builder's methods then override.
///
/// Defaults: random sampling with a fresh seed (recorded), no early termination,
/// `max_concurrent_runs` equal to `max_total_runs` (as in a config), one week of
/// `max_duration`, the workspace `$SWEEP_WORKSPACE` or `./.sweep` (as the CLI), the name
/// `study` (or the config file's stem). Grid sampling needs no `max_total_runs` (it defaults
/// to the grid's size); random and Bayesian sampling do.
///
/// Parameter names are written as in a config: a name without leading dashes reaches a
/// program as `--name` (see [`Trial::argv`](super::Trial::argv)).
///
/// ```
/// use std::time::Duration;
/// use sweep::spec::Policy;
/// use sweep::study::Study;
///
/// let spec = Study::builder()
///     .name("mlp")
///     .minimize("val_loss")
///     .loguniform("lr", 1e-4f64.ln(), 1e-1f64.ln()) // bounds are natural logs, as in HyperDrive
///     .choice("hidden", [8, 16, 32])
///     .choice("activation", ["relu", "tanh"])
///     .quniform("batch", 16.0, 128.0, 16.0)
///     .randint("seed", 1000)
///     .normal("init", 0.0, 0.1)
///     .bayesian()
///     .seed(42)
///     .max_total_runs(60)
///     .max_concurrent_runs(4)
///     .max_duration(Duration::from_secs(600))
///     .policy(Policy::bandit_slack_factor(0.1).with_delay_evaluation(2))
///     .spec()?;
/// assert_eq!(spec.space.dim(), 6);
/// assert_eq!(spec.limits.max_duration_minutes, 10.0);
/// # Ok::<(), sweep::study::StudyError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()` or `open()`"]
pub struct StudyBuilder {
    base: Option<SweepSpec>,
    config_name: Option<String>,
    name: Option<String>,
    workspace: Option<PathBuf>,
    experiment: Option<String>,
    params: Vec<Param>,
    /// Conditions set by [`StudyBuilder::condition`]: (index in `params`, parent name,
    /// option), resolved against the whole space in [`StudyBuilder::spec`].
    conditions: Vec<(usize, String, usize)>,
    /// The index in `params` of the parameter the last add pushed; `None` if it failed.
    last_added: Option<usize>,
    errors: Vec<String>,
    goal: Option<(Goal, String)>,
    sampling: Option<Sampling>,
    seed: Option<u64>,
    policy: Option<Policy>,
    max_total: Option<u64>,
    max_concurrent: Option<u64>,
    max_minutes: Option<f64>,
    max_run_seconds: Option<f64>,
    program: Option<Vec<String>>,
}

impl Study {
    /// A builder for a study defined in code.
    pub fn builder() -> StudyBuilder {
        StudyBuilder::default()
    }
}

impl StudyBuilder {
    /// A builder starting from a sweep config (HyperDrive `hdconfig.yml` or Azure ML v2
    /// sweep job) and an optional runconfig, loaded and validated exactly as `sweep run`
    /// does; the name defaults to the config file's stem. Parameters added with the
    /// builder's methods are appended to the config's space.
    ///
    /// ```
    /// use sweep::study::StudyBuilder;
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let cfg = dir.path().join("hd.yml");
    /// std::fs::write(&cfg, "
    /// sampling:
    ///   type: random
    ///   parameter_space:
    ///   - name: --lr
    ///     expression: uniform
    ///     values: [0.001, 0.1]
    /// primary_metric_name: accuracy
    /// primary_metric_goal: maximize
    /// max_total_runs: 4
    /// ")?;
    /// let spec = StudyBuilder::from_config(&cfg, None)?.seed(1).spec()?;
    /// assert_eq!((spec.limits.max_total_runs, spec.primary_metric.as_str()), (4, "accuracy"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(
        hdconfig: impl AsRef<Path>,
        runconfig: Option<&Path>,
    ) -> Result<StudyBuilder, StudyError> {
        let path = hdconfig.as_ref();
        let loaded = crate::config::load(path, runconfig)?;
        Ok(StudyBuilder {
            config_name: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
            base: Some(loaded.spec),
            ..StudyBuilder::default()
        })
    }

    /// A builder starting from a validated spec (what [`crate::config::load`] returns).
    pub fn from_spec(spec: SweepSpec) -> StudyBuilder {
        StudyBuilder {
            base: Some(spec),
            ..StudyBuilder::default()
        }
    }

    /// The sweep's name (shown by `sweep status`; [`StudyBuilder::open`] finds it by name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The workspace directory holding the history (`sweep.db`), as `--workspace`.
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// The experiment name recorded with the sweep.
    pub fn experiment(mut self, name: impl Into<String>) -> Self {
        self.experiment = Some(name.into());
        self
    }

    /// Maximise the primary metric `metric`.
    pub fn maximize(self, metric: impl Into<String>) -> Self {
        self.goal(Goal::Maximize, metric)
    }

    /// Minimise the primary metric `metric`.
    pub fn minimize(self, metric: impl Into<String>) -> Self {
        self.goal(Goal::Minimize, metric)
    }

    /// The goal and the primary metric's name.
    pub fn goal(mut self, goal: Goal, metric: impl Into<String>) -> Self {
        self.goal = Some((goal, metric.into()));
        self
    }

    fn add(mut self, name: &str, domain: Result<Domain, String>) -> Self {
        match domain {
            Ok(domain) if domain.overflows().is_some() => {
                self.last_added = None;
                let why = domain.overflows().unwrap_or_default();
                self.errors.push(format!("parameter `{name}`: {why}"));
            }
            Ok(domain) => {
                self.last_added = Some(self.params.len());
                self.params.push(Param {
                    name: name.to_string(),
                    domain,
                    condition: None,
                });
            }
            Err(e) => {
                self.last_added = None;
                self.errors.push(format!("parameter `{name}`: {e}"));
            }
        }
        self
    }

    /// Makes the parameter added just before conditional: it exists only when the earlier
    /// `choice` parameter `parent` takes its option number `option` (0-based), as the keys
    /// of a v2 config's nested choice do (`docs/library.md`, "Conditional spaces"). A
    /// constant inside an option is a one-option `choice` made conditional. If `parent` is
    /// not an earlier `choice` or has no such option, [`StudyBuilder::spec`] says so.
    ///
    /// ```
    /// use sweep::study::Study;
    ///
    /// // v2's `opt: {type: choice, values: [{name: sgd, lr: ...}, {name: momentum, lr: ..., momentum: ...}]}`
    /// let spec = Study::builder()
    ///     .minimize("loss")
    ///     .choice("opt", [0, 1])
    ///     .choice("opt.name", ["sgd"]).condition("opt", 0)
    ///     .uniform("opt.lr", 0.1, 1.0).condition("opt", 0)
    ///     .choice("opt.name", ["momentum"]).condition("opt", 1)
    ///     .loguniform("opt.lr", -4.0, -1.0).condition("opt", 1)
    ///     .uniform("opt.momentum", 0.8, 0.99).condition("opt", 1)
    ///     .max_total_runs(10)
    ///     .spec()?;
    /// assert!(spec.space.is_conditional());
    /// let err = Study::builder().minimize("loss").choice("a", [1, 2])
    ///     .uniform("b", 0.0, 1.0).condition("a", 2).max_total_runs(1).spec().unwrap_err();
    /// assert!(err.to_string().contains("`a` has 2 options"), "{err}");
    /// # Ok::<(), sweep::study::StudyError>(())
    /// ```
    pub fn condition(mut self, parent: &str, option: usize) -> Self {
        match self.last_added.take() {
            Some(i) => self.conditions.push((i, parent.to_string(), option)),
            // The parameter itself was invalid and is reported already.
            None if !self.errors.is_empty() => {}
            None => self.errors.push(format!(
                "`condition(\"{parent}\", {option})` must follow the parameter it applies to"
            )),
        }
        self
    }

    /// `choice`: one of the options (numbers, strings or booleans).
    pub fn choice<V: Into<Value>>(self, name: &str, options: impl IntoIterator<Item = V>) -> Self {
        let options: Vec<Value> = options.into_iter().map(Into::into).collect();
        let d = if options.is_empty() {
            Err("`choice` needs at least one option".to_string())
        } else if let Some(v) = options
            .iter()
            .find(|v| matches!(v, Value::Float(f) if !f.is_finite()))
        {
            Err(format!("choice option {v} is not a finite number"))
        } else {
            Ok(Domain::Choice { options })
        };
        self.add(name, d)
    }

    /// Adds a continuous expression once [`continuous_args`] accepts its arguments.
    fn add_checked(self, name: &str, domain: Domain) -> Self {
        let checked = continuous_args(&domain).map(|()| domain);
        self.add(name, checked)
    }

    /// `randint`: an integer in `[0, upper)`.
    pub fn randint(self, name: &str, upper: i64) -> Self {
        let d = if upper >= 1 {
            Ok(Domain::RandInt { upper })
        } else {
            Err(format!(
                "randint(upper) draws integers in [0, upper); upper must be at least 1, got {upper}"
            ))
        };
        self.add(name, d)
    }

    /// `uniform`: a float in `[low, high]`.
    pub fn uniform(self, name: &str, low: f64, high: f64) -> Self {
        self.add_checked(name, Domain::Uniform { low, high })
    }

    /// `quniform`: `round(uniform(low, high) / q) * q`.
    pub fn quniform(self, name: &str, low: f64, high: f64, q: f64) -> Self {
        self.add_checked(name, Domain::QUniform { low, high, q })
    }

    /// `loguniform`: `exp(uniform(low, high))`. As in HyperDrive the bounds are
    /// **exponents** (natural logs of the values): values in `[1e-4, 0.1]` are
    /// `loguniform(name, 1e-4f64.ln(), 0.1f64.ln())`.
    pub fn loguniform(self, name: &str, low: f64, high: f64) -> Self {
        self.add_checked(name, Domain::LogUniform { low, high })
    }

    /// `qloguniform`: `round(exp(uniform(low, high)) / q) * q` (bounds are exponents).
    pub fn qloguniform(self, name: &str, low: f64, high: f64, q: f64) -> Self {
        self.add_checked(name, Domain::QLogUniform { low, high, q })
    }

    /// `normal`: a float drawn from `N(mu, sigma²)`.
    pub fn normal(self, name: &str, mu: f64, sigma: f64) -> Self {
        self.add_checked(name, Domain::Normal { mu, sigma })
    }

    /// `qnormal`: `round(normal(mu, sigma) / q) * q`.
    pub fn qnormal(self, name: &str, mu: f64, sigma: f64, q: f64) -> Self {
        self.add_checked(name, Domain::QNormal { mu, sigma, q })
    }

    /// `lognormal`: `exp(normal(mu, sigma))`.
    pub fn lognormal(self, name: &str, mu: f64, sigma: f64) -> Self {
        self.add_checked(name, Domain::LogNormal { mu, sigma })
    }

    /// `qlognormal`: `round(exp(normal(mu, sigma)) / q) * q`.
    pub fn qlognormal(self, name: &str, mu: f64, sigma: f64, q: f64) -> Self {
        self.add_checked(name, Domain::QLogNormal { mu, sigma, q })
    }

    /// Replaces the whole search space (for nested, conditional spaces built by hand).
    pub fn space(mut self, space: SearchSpace) -> Self {
        self.params = space.params().to_vec();
        self.conditions.clear();
        self.last_added = None;
        if let Some(b) = &mut self.base {
            b.space = SearchSpace::default();
        }
        self
    }

    /// The sampling algorithm.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = Some(sampling);
        self
    }

    /// Grid sampling: every combination, in order (every parameter must be enumerable).
    pub fn grid(self) -> Self {
        self.sampling(Sampling::Grid)
    }

    /// Random sampling (independent seeded draws).
    pub fn random(self) -> Self {
        self.sampling(Sampling::Random {
            rule: RandomRule::Plain,
        })
    }

    /// Random sampling with Owen-scrambled Sobol points.
    pub fn sobol(self) -> Self {
        self.sampling(Sampling::Random {
            rule: RandomRule::Sobol,
        })
    }

    /// Bayesian optimisation (Gaussian process, log expected improvement).
    pub fn bayesian(self) -> Self {
        self.sampling(Sampling::Bayesian)
    }

    /// The sampling seed: the same seed gives the same candidates as `sweep run --seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The early-termination policy (see [`Policy::bandit_slack_factor`] and its siblings).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// `max_total_runs`: how many trials the study asks in all.
    pub fn max_total_runs(mut self, n: u64) -> Self {
        self.max_total = Some(n);
        self
    }

    /// `max_concurrent_runs`: how many trials [`Study::run`] runs at once.
    pub fn max_concurrent_runs(mut self, n: u64) -> Self {
        self.max_concurrent = Some(n);
        self
    }

    /// `max_duration_minutes`: the wall-clock budget, counted from when the study is built
    /// or opened.
    pub fn max_duration(mut self, d: Duration) -> Self {
        self.max_minutes = Some(d.as_secs_f64() / 60.0);
        self
    }

    /// Per-trial time limit (`maxRunDurationSeconds`), enforced by [`Study::run`].
    pub fn max_run_duration(mut self, d: Duration) -> Self {
        self.max_run_seconds = Some(d.as_secs_f64());
        self
    }

    /// The program trials stand for, with its fixed arguments (`python3 train.py`): each
    /// trial's [`argv`](super::Trial::argv) is it followed by `--name value` pairs, and
    /// `sweep best` prints it as the reproducing command.
    pub fn program<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.program = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// The validated spec this builder describes.
    pub fn spec(&self) -> Result<SweepSpec, StudyError> {
        let mut errors = self.errors.clone();
        let base = self.base.clone();
        let mut params: Vec<Param> = base
            .as_ref()
            .map(|b| b.space.params().to_vec())
            .unwrap_or_default();
        let offset = params.len();
        params.extend(self.params.iter().cloned());
        for (i, parent, option) in &self.conditions {
            let at = offset + i;
            let found = params[..at]
                .iter()
                .rposition(|q| q.name == *parent)
                .map(|j| (j, &params[j].domain));
            match found {
                Some((j, Domain::Choice { options })) if *option < options.len() => {
                    params[at].condition = Some((j, *option));
                }
                Some((_, Domain::Choice { options })) => errors.push(format!(
                    "parameter `{}`: its condition's choice `{parent}` has {} options, so there is no option {option} (options count from 0)",
                    params[at].name,
                    options.len()
                )),
                Some((_, d)) => errors.push(format!(
                    "parameter `{}`: its condition's parent `{parent}` is a {}, not a choice",
                    params[at].name,
                    d.expression()
                )),
                None => errors.push(format!(
                    "parameter `{}`: its condition's parent `{parent}` is not a parameter defined before it",
                    params[at].name
                )),
            }
        }
        for (i, p) in params.iter().enumerate() {
            if p.name.trim_start_matches('-').is_empty() {
                errors.push(format!("parameter name {:?} is empty", p.name));
            }
            if p.condition.is_none()
                && params[..i]
                    .iter()
                    .any(|q| q.condition.is_none() && arg_name(&q.name) == arg_name(&p.name))
            {
                errors.push(format!(
                    "duplicate parameter `{}` (`lr` and `--lr` are the same argument)",
                    p.name
                ));
            }
        }
        if params.is_empty() {
            errors.push(
                "the search space is empty: add a parameter, e.g. `.uniform(\"lr\", 0.001, 0.1)`"
                    .into(),
            );
        }
        let goal = self
            .goal
            .clone()
            .or_else(|| base.as_ref().map(|b| (b.goal, b.primary_metric.clone())));
        let Some((goal, metric)) = goal else {
            errors.push("no goal: set the primary metric with `.maximize(\"accuracy\")` or `.minimize(\"loss\")`".into());
            return Err(StudyError::Invalid(errors.join("; ")));
        };
        if metric.trim().is_empty() {
            errors.push("the primary metric's name is empty".into());
        }
        let sampling = self
            .sampling
            .clone()
            .or_else(|| base.as_ref().map(|b| b.sampling.clone()))
            .unwrap_or(Sampling::Random {
                rule: RandomRule::Plain,
            });
        let space = (errors.is_empty()).then(|| SearchSpace::new(params));
        let grid_size = space.as_ref().and_then(SearchSpace::grid_size);
        if sampling == Sampling::Grid
            && grid_size == Some(crate::space::GridSize::TooLarge)
            && self.max_total.is_none()
            && base.is_none()
        {
            errors.push("the grid is too large to count (2^64 points or more): set `.max_total_runs(n)` to run its first points".into());
        }
        let grid_size = grid_size.and_then(crate::space::GridSize::points);
        if let (Sampling::Grid, Some(space)) = (&sampling, &space) {
            for p in space.non_gridable() {
                errors.push(format!(
                    "grid sampling cannot enumerate `{}` ({}); grid takes choice, randint, quniform and qloguniform",
                    p.name,
                    p.domain.expression()
                ));
            }
        }
        let max_total = self
            .max_total
            .or_else(|| base.as_ref().map(|b| b.limits.max_total_runs))
            .or(if sampling == Sampling::Grid {
                grid_size
            } else {
                None
            });
        if max_total.is_none() && space.is_some() && sampling != Sampling::Grid {
            errors.push(
                "random and bayesian sampling need a budget: set `.max_total_runs(n)`".into(),
            );
        }
        let base_limits = base.as_ref().map(|b| b.limits.clone());
        let max_concurrent = self
            .max_concurrent
            .or_else(|| {
                // A config's concurrency, unless the builder changed the total it defaulted to.
                base_limits
                    .as_ref()
                    .filter(|_| self.max_total.is_none())
                    .map(|l| l.max_concurrent_runs)
            })
            .or(max_total);
        if max_concurrent == Some(0) {
            errors.push("`max_concurrent_runs` must be at least 1".into());
        }
        let max_minutes = self
            .max_minutes
            .or_else(|| base_limits.as_ref().map(|l| l.max_duration_minutes))
            .unwrap_or(DEFAULT_MAX_DURATION_MINUTES);
        if max_minutes.is_nan() || max_minutes <= 0.0 {
            errors.push("`max_duration` must be positive".into());
        }
        let policy = self
            .policy
            .clone()
            .or_else(|| base.as_ref().map(|b| b.policy.clone()))
            .unwrap_or_else(Policy::none);
        if let Err(e) = crate::policy::Rule::from_policy(&policy) {
            errors.push(format!("early termination policy: {e}"));
        }
        let mut run = base.as_ref().map(|b| b.run.clone()).unwrap_or(RunSpec {
            source_dir: PathBuf::from("."),
            target: "in-process".into(),
            node_count: 1,
            ..RunSpec::default()
        });
        if let Some(p) = &self.program {
            run.interpreter = None;
            run.script = None;
            run.arguments = p.clone();
            run.is_command = false;
        }
        match (space, max_total, max_concurrent, errors.is_empty()) {
            (Some(space), Some(max_total), Some(max_concurrent), true) => Ok(SweepSpec {
                space,
                sampling,
                seed: self.seed.or_else(|| base.as_ref().and_then(|b| b.seed)),
                policy,
                primary_metric: metric,
                goal,
                limits: Limits {
                    max_total_runs: max_total,
                    max_concurrent_runs: max_concurrent,
                    max_duration_minutes: max_minutes,
                    max_run_duration_seconds: self
                        .max_run_seconds
                        .or_else(|| base_limits.and_then(|l| l.max_run_duration_seconds)),
                },
                run,
                resume_from: base
                    .as_ref()
                    .map(|b| b.resume_from.clone())
                    .unwrap_or_default(),
                resume_child_runs: base.map(|b| b.resume_child_runs).unwrap_or_default(),
            }),
            _ => Err(StudyError::Invalid(errors.join("; "))),
        }
    }

    pub(super) fn sweep_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.config_name.clone())
            .unwrap_or_else(|| "study".into())
    }

    pub(super) fn workspace_dir(&self) -> PathBuf {
        self.workspace
            .clone()
            .or_else(|| std::env::var_os("SWEEP_WORKSPACE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".sweep"))
    }

    pub(super) fn experiment_name(&self) -> Option<String> {
        self.experiment.clone()
    }

    pub(super) fn explicit_seed(&self) -> Option<u64> {
        self.seed
    }

    /// Creates a new sweep in the workspace and returns the study.
    pub fn build(self) -> Result<Study, StudyError> {
        Study::create(self)
    }

    /// Continues the existing sweep `key` (an id, a name, or `latest`) with this
    /// definition: the sampler replays its recorded candidates (with its recorded seed), the
    /// policy reloads its metrics, and trials that were never told are recorded `failed`
    /// with reason `lost` (they are not asked again). Fails with
    /// [`StudyError::Mismatch`] if the recorded goal, metric, sampling, policy, seed or
    /// parameters do not fit this definition.
    pub fn open(self, key: &str) -> Result<Study, StudyError> {
        Study::open(self, key)
    }

    /// Continues the sweep of this builder's name if the workspace has one, else creates it
    /// (Optuna's `load_if_exists`).
    pub fn open_or_build(self) -> Result<Study, StudyError> {
        let ws = self.workspace_dir();
        let name = self.sweep_name();
        let exists = match crate::store::Reader::open(&ws) {
            Ok(r) => r.sweeps()?.iter().any(|s| s.name == name),
            Err(crate::store::StoreError::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if exists {
            self.open(&name)
        } else {
            self.build()
        }
    }
}

fn finite(xs: &[f64]) -> Result<(), String> {
    match xs.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(format!("arguments must be finite, got {x}")),
        None => Ok(()),
    }
}

/// The argument checks of the continuous expressions, in one table: the plain form's
/// arguments first (bounds, or mean and deviation), then a q-expression's step. `choice` and
/// `randint` check their own arguments where they are built.
fn continuous_args(domain: &Domain) -> Result<(), String> {
    match *domain {
        Domain::Uniform { low, high } | Domain::LogUniform { low, high } => bounds(low, high),
        Domain::QUniform { low, high, q } | Domain::QLogUniform { low, high, q } => {
            bounds(low, high).and_then(|()| quantum(q))
        }
        Domain::Normal { mu, sigma } | Domain::LogNormal { mu, sigma } => normal_args(mu, sigma),
        Domain::QNormal { mu, sigma, q } | Domain::QLogNormal { mu, sigma, q } => {
            normal_args(mu, sigma).and_then(|()| quantum(q))
        }
        Domain::Choice { .. } | Domain::RandInt { .. } => Ok(()),
    }
}

fn bounds(low: f64, high: f64) -> Result<(), String> {
    finite(&[low, high])?;
    if low < high {
        Ok(())
    } else {
        Err(format!(
            "needs low < high, got {low} and {high} ({})",
            if low > high {
                "swap them"
            } else {
                "for a fixed value use `choice` with one option"
            }
        ))
    }
}

fn quantum(q: f64) -> Result<(), String> {
    if q.is_finite() && q > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "q must be greater than 0, got {q} (q is the step values are rounded to, e.g. 1 for integers)"
        ))
    }
}

fn normal_args(mu: f64, sigma: f64) -> Result<(), String> {
    finite(&[mu, sigma])?;
    if sigma >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "sigma is a standard deviation and must not be negative, got {sigma}"
        ))
    }
}

/// Constructors for the early-termination policies (docs/policies.md), evaluated at every
/// interval from the first unless changed with [`Policy::with_evaluation_interval`] and
/// [`Policy::with_delay_evaluation`].
impl Policy {
    /// Bandit with a relative slack: stop runs whose best value is more than the factor
    /// behind the best run at the same interval.
    pub fn bandit_slack_factor(factor: f64) -> Policy {
        Policy::none().kind(PolicyKind::Bandit {
            slack_factor: Some(factor),
            slack_amount: None,
        })
    }

    /// Bandit with an absolute slack.
    pub fn bandit_slack_amount(amount: f64) -> Policy {
        Policy::none().kind(PolicyKind::Bandit {
            slack_factor: None,
            slack_amount: Some(amount),
        })
    }

    /// MedianStopping: stop runs worse than the median of running averages.
    pub fn median_stopping() -> Policy {
        Policy::none().kind(PolicyKind::MedianStopping)
    }

    /// TruncationSelection: stop the lowest `percentage` percent (1..=99) at each
    /// evaluation.
    pub fn truncation_selection(percentage: u32) -> Policy {
        Policy::none().kind(PolicyKind::TruncationSelection {
            truncation_percentage: percentage,
        })
    }

    fn kind(mut self, kind: PolicyKind) -> Policy {
        self.kind = kind;
        self
    }

    /// Evaluate only at intervals that are multiples of `n`.
    pub fn with_evaluation_interval(mut self, n: u32) -> Policy {
        self.evaluation_interval = n;
        self
    }

    /// Evaluate only from interval `n` on.
    pub fn with_delay_evaluation(mut self, n: u32) -> Policy {
        self.delay_evaluation = n;
        self
    }
}

/// `choice` options from Rust values (integer literals, floats, strings, booleans).
macro_rules! value_from {
    ($($t:ty => $e:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                #[allow(clippy::redundant_closure_call)]
                ($e)(v)
            }
        }
    )*};
}

value_from! {
    i64 => Value::Int,
    i32 => |v: i32| Value::Int(i64::from(v)),
    u32 => |v: u32| Value::Int(i64::from(v)),
    f64 => Value::Float,
    f32 => |v: f32| Value::Float(f64::from(v)),
    bool => Value::Bool,
    String => Value::Str,
    &str => |v: &str| Value::Str(v.to_string()),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ten_expressions_and_their_errors() {
        let spec = Study::builder()
            .maximize("m")
            .choice("a", [1, 2])
            .randint("b", 3)
            .uniform("c", 0.0, 1.0)
            .quniform("d", 0.0, 10.0, 2.0)
            .loguniform("e", -3.0, 0.0)
            .qloguniform("f", 0.0, 3.0, 1.0)
            .normal("g", 0.0, 1.0)
            .qnormal("h", 0.0, 5.0, 1.0)
            .lognormal("i", 0.0, 1.0)
            .qlognormal("j", 0.0, 1.0, 0.5)
            .max_total_runs(3)
            .spec()
            .unwrap();
        let exprs: Vec<&str> = spec
            .space
            .params()
            .iter()
            .map(|p| p.domain.expression())
            .collect();
        assert_eq!(exprs, Domain::EXPRESSIONS);
        assert_eq!(spec.limits.max_concurrent_runs, 3);

        let err = Study::builder()
            .maximize("m")
            .uniform("x", 1.0, 0.0)
            .randint("n", 0)
            .quniform("q", 0.0, 1.0, 0.0)
            .normal("s", 0.0, -1.0)
            .choice::<i64>("c", [])
            .uniform("x2", 0.0, 1.0)
            .uniform("--x2", 0.0, 1.0)
            .max_total_runs(2)
            .spec()
            .unwrap_err()
            .to_string();
        for want in [
            "`x`: needs low < high, got 1 and 0 (swap them)",
            "`n`: randint(upper)",
            "`q`: q must be greater than 0",
            "`s`: sigma is a standard deviation",
            "`c`: `choice` needs at least one option",
            "duplicate parameter `--x2`",
        ] {
            assert!(err.contains(want), "{want:?} not in {err}");
        }
    }

    #[test]
    fn budget_goal_and_grid_rules() {
        let e = Study::builder().uniform("x", 0.0, 1.0).spec().unwrap_err();
        assert!(e.to_string().contains("no goal"), "{e}");
        let e = Study::builder()
            .minimize("l")
            .uniform("x", 0.0, 1.0)
            .spec()
            .unwrap_err();
        assert!(e.to_string().contains(".max_total_runs(n)"), "{e}");
        let e = Study::builder()
            .minimize("l")
            .uniform("x", 0.0, 1.0)
            .grid()
            .spec()
            .unwrap_err();
        assert!(e.to_string().contains("cannot enumerate `x`"), "{e}");
        // A grid's budget defaults to its size.
        let s = Study::builder()
            .minimize("l")
            .choice("a", ["x", "y"])
            .randint("b", 3)
            .grid()
            .spec()
            .unwrap();
        assert_eq!(s.limits.max_total_runs, 6);
        let e = Study::builder()
            .minimize("l")
            .uniform("x", 0.0, 1.0)
            .max_total_runs(3)
            .policy(Policy::truncation_selection(100))
            .spec()
            .unwrap_err();
        assert!(e.to_string().contains("truncation_percentage"), "{e}");
    }
}
