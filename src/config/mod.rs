//! Sweep configs: HyperDrive `hdconfig.yml`, Azure ML v2 sweep jobs and `*.runconfig` files,
//! read with positions and compiled into a validated [`SweepSpec`], or every problem at once.
//!
//! Reading goes in three steps: [`yaml`] turns text into a tree of located nodes;
//! [`hdconfig`], [`v2`] and [`runconfig`] read that tree into drafts, reporting every local
//! problem; [`load`] then checks what only the whole picture shows (a parameter also in the
//! runconfig's arguments, grid over a continuous parameter, budget warnings) and compiles
//! the [`SweepSpec`].

pub mod deps;
pub mod diag;
pub mod env_tool;
mod expr;
mod fields;
pub mod hdconfig;
mod metrics;
pub mod runconfig;
pub mod targets;
pub mod v2;
pub mod v2io;
pub mod yaml;

use crate::space::{Domain, GridSize, Param, SearchSpace};
use crate::spec::{arg_name, Goal, Limits, Policy, RunSpec, Sampling, SweepSpec};
use diag::{Diagnostic, Severity, Sink};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use yaml::Span;

/// HyperDrive's default `max_duration_minutes` (one week).
pub const DEFAULT_MAX_DURATION_MINUTES: f64 = 10080.0;

/// A parameter as read, with where its name was written.
#[derive(Debug, Clone)]
pub struct ParamDraft {
    /// The name as written.
    pub name: String,
    /// Where.
    pub name_span: Span,
    /// The domain.
    pub domain: Domain,
    /// Condition on an earlier choice parameter (v2 nested spaces).
    pub condition: Option<(usize, usize)>,
}

/// What a sweep config (either format) contributes, before cross-checks.
#[derive(Debug, Default)]
pub struct SweepPart {
    /// Parameters read successfully.
    pub params: Vec<ParamDraft>,
    /// Whether some parameter could not be read (space-wide checks are then skipped).
    pub params_broken: bool,
    /// Sampling algorithm.
    pub sampling: Option<(Sampling, Span)>,
    /// Seed.
    pub seed: Option<u64>,
    /// Policy.
    pub policy: Option<Policy>,
    /// Primary metric name.
    pub primary_metric: Option<(String, Span)>,
    /// Goal.
    pub goal: Option<(Goal, Span)>,
    /// `max_total_runs`.
    pub max_total: Option<(u64, Span)>,
    /// Whether the total-runs key was written (even if its value was rejected).
    pub max_total_given: bool,
    /// `max_concurrent_runs`.
    pub max_concurrent: Option<(u64, Span)>,
    /// `max_duration_minutes`.
    pub max_minutes: Option<(f64, Span)>,
    /// v2 `trial_timeout` in seconds.
    pub trial_timeout: Option<f64>,
    /// v2 `trial.command`, split into words.
    pub command: Option<(Vec<String>, Span)>,
    /// v2 `trial.code`.
    pub code: Option<PathBuf>,
    /// v2 `trial.environment_variables`.
    pub environment: BTreeMap<String, String>,
    /// v2 `inputs` and `outputs`.
    pub io: v2io::Io,
    /// Warm-start sources.
    pub resume_from: Vec<String>,
    /// `resume_child_runs`: earlier run ids.
    pub resume_child_runs: Vec<String>,
    /// `metrics.pattern` (extension), compiled.
    pub metric_pattern: Option<crate::metrics::Pattern>,
}

/// A successfully loaded config: the spec plus warnings and notes to show the user.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated spec.
    pub spec: SweepSpec,
    /// Warnings and notes (not errors), rendered.
    pub warnings: Vec<String>,
    /// The same, structured.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether the config is the v2 sweep-job format.
    pub is_v2: bool,
}

/// Every problem found, rendered with `file:line:col`, a snippet and a hint.
#[derive(Debug, Clone)]
pub struct Problems {
    /// The rendered text of all diagnostics (errors first), with a closing count.
    pub rendered: String,
    /// The diagnostics themselves.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rendered)
    }
}

fn read_file(path: &Path, what: &str) -> Result<String, Problems> {
    std::fs::read(path)
        .map_err(|e| {
            let mut sink = Sink::new(&path.display().to_string(), "");
            let hint = (e.kind() == std::io::ErrorKind::NotFound)
                .then(|| format!("check the path of the {what}"));
            sink.file_error(
                format!("cannot read {what} `{}`: {e}", path.display()),
                hint,
            );
            problems(sink.diags)
        })
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                let mut sink = Sink::new(&path.display().to_string(), "");
                sink.file_error(
                    format!("{what} `{}` is not UTF-8 text", path.display()),
                    None,
                );
                problems(sink.diags)
            })
        })
}

fn problems(diags: Vec<Diagnostic>) -> Problems {
    Problems {
        rendered: diag::render_all(&diags),
        diagnostics: diags,
    }
}

/// Parses text into a tree, reporting a syntax error into the sink.
fn parse_into(sink: &mut Sink) -> Option<yaml::Node> {
    match yaml::parse(sink.text()) {
        Ok(n) => Some(n),
        Err(e) => {
            let hint = e
                .hint
                .unwrap_or_else(|| "check indentation, colons and brackets".into());
            sink.error(
                e.span,
                format!("YAML syntax error: {}", e.message),
                Some(hint),
            );
            None
        }
    }
}

/// A script given on the command line (`sweep submit-hyperdrive … SCRIPT ARGS…`), which
/// replaces the runconfig's, as `az ml run submit-hyperdrive` does: `script` replaces the
/// runconfig's `script` (or `command`), and `arguments`, when there are any, its
/// `arguments`; with none, the runconfig's stay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptOverride {
    /// The script, relative to the source directory.
    pub script: String,
    /// Its arguments (empty: the runconfig's are kept).
    pub arguments: Vec<String>,
}

impl ScriptOverride {
    /// The override `SCRIPT ARGS...` gives; `None` for an empty list.
    pub fn from_words(words: &[String]) -> Option<ScriptOverride> {
        let (script, arguments) = words.split_first()?;
        Some(ScriptOverride {
            script: script.clone(),
            arguments: arguments.to_vec(),
        })
    }
}

/// Loads and validates a sweep config and an optional runconfig.
pub fn load(hdconfig: &Path, runconfig: Option<&Path>) -> Result<Loaded, Problems> {
    load_with(hdconfig, runconfig, None)
}

/// [`load`], with the runconfig's script replaced by `script` when given.
pub fn load_with(
    hdconfig: &Path,
    runconfig: Option<&Path>,
    script: Option<&ScriptOverride>,
) -> Result<Loaded, Problems> {
    let text = read_file(hdconfig, "sweep config")?;
    load_inner(
        &hdconfig.display().to_string(),
        &text,
        hdconfig,
        runconfig,
        script,
    )
}

/// Like [`load`], with the sweep config's text given (`name` is how it is shown).
pub fn load_str(
    name: &str,
    text: &str,
    path: &Path,
    runconfig: Option<&Path>,
) -> Result<Loaded, Problems> {
    load_inner(name, text, path, runconfig, None)
}

fn load_inner(
    name: &str,
    text: &str,
    path: &Path,
    runconfig: Option<&Path>,
    script: Option<&ScriptOverride>,
) -> Result<Loaded, Problems> {
    let mut sink = Sink::new(name, text);
    let root = parse_into(&mut sink);
    let is_v2 = root.as_ref().is_some_and(v2::is_v2);
    let part = match &root {
        Some(r) if is_v2 => v2::read(&mut sink, r, path),
        Some(r) => hdconfig::read(&mut sink, r),
        None => SweepPart {
            params_broken: true,
            ..SweepPart::default()
        },
    };
    let mut rsink = None;
    let mut run = None;
    if let Some(rc) = runconfig {
        let rtext = match read_file(rc, "run configuration") {
            Ok(t) => t,
            Err(mut p) => {
                // Report the sweep config's own problems too.
                p.diagnostics.extend(sink.diags);
                return Err(problems(p.diagnostics));
            }
        };
        let mut rs = Sink::new(&rc.display().to_string(), &rtext);
        if let Some(rroot) = parse_into(&mut rs) {
            if is_v2 {
                rs.file_error(
                    "a v2 sweep job carries its own `trial`; a runconfig does not apply",
                    Some("drop `-c`, or use the HyperDrive v1 format".into()),
                );
            } else {
                let mut part = runconfig::read(&mut rs, &rroot, rc, script.is_some());
                if let Some(ov) = script {
                    part.override_script(ov);
                }
                run = Some(part);
            }
        }
        rsink = Some(rs);
    }
    let spec = compile(&mut sink, rsink.as_mut(), part, run, path, is_v2);
    let mut diags = sink.diags;
    if let Some(rs) = rsink {
        diags.extend(rs.diags);
    }
    match spec {
        Some(spec) if !diags.iter().any(|d| d.severity == Severity::Error) => {
            let mut sorted = diags.clone();
            sorted.sort_by_key(|d| (d.severity, d.span.map(|s| (s.line, s.col))));
            Ok(Loaded {
                spec,
                warnings: sorted.iter().map(Diagnostic::render).collect(),
                diagnostics: sorted,
                is_v2,
            })
        }
        _ => {
            if !diags.iter().any(|d| d.severity == Severity::Error) {
                // Every path that leaves the spec incomplete reports why, at the token; this
                // stands in if one ever does not, so that bad input never ends in silence.
                let mut s = Sink::new(name, text);
                s.file_error(
                    "the config is incomplete",
                    Some("check that every required key has a value".into()),
                );
                diags.extend(s.diags);
            }
            Err(problems(diags))
        }
    }
}

/// Cross-checks and compiles the drafts. Returns `None` when something essential is missing
/// (already reported).
fn compile(
    sink: &mut Sink,
    mut rsink: Option<&mut Sink>,
    part: SweepPart,
    run: Option<runconfig::RunPart>,
    path: &Path,
    is_v2: bool,
) -> Option<SweepSpec> {
    // Duplicate parameters: `lr` and `--lr` are the same argument.
    if !is_v2 {
        for (i, p) in part.params.iter().enumerate() {
            let arg = arg_name(&p.name);
            if let Some(first) = part.params[..i].iter().find(|q| arg_name(&q.name) == arg) {
                let same = first.name == p.name;
                sink.error(
                    p.name_span,
                    format!("duplicate parameter `{}`", p.name),
                    Some(if same {
                        format!("it is already defined at line {}", first.name_span.line)
                    } else {
                        format!(
                            "`{}` at line {} is the same argument `{arg}`",
                            first.name, first.name_span.line
                        )
                    }),
                );
            }
        }
    }
    // A parameter also fixed by the runconfig's arguments would reach the script twice.
    if let (Some(run), Some(rs)) = (&run, rsink.as_deref_mut()) {
        for (a, span) in &run.arguments {
            let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
            if let Some(p) = part.params.iter().find(|p| arg_name(&p.name) == flag) {
                rs.error(
                    *span,
                    format!("`{flag}` is both a fixed argument here and a parameter of the sweep (line {} of {})", p.name_span.line, sink.name()),
                    Some("remove it from one of the two: the sweep passes each parameter as `name value`".into()),
                );
            }
        }
    }
    let sampling = part.sampling.clone();
    let space = (!part.params_broken).then(|| {
        SearchSpace::new(
            part.params
                .iter()
                .map(|p| Param {
                    name: p.name.clone(),
                    domain: p.domain.clone(),
                    condition: p.condition,
                })
                .collect(),
        )
    });
    if let (Some((Sampling::Grid, _)), Some(_)) = (&sampling, &space) {
        for p in &part.params {
            if p.domain.grid_len().is_none() {
                sink.error(
                    p.name_span,
                    format!("grid sampling cannot enumerate `{}` ({})", p.name, p.domain.expression()),
                    Some("grid takes choice, randint, quniform and qloguniform; use one of those, or random/bayesian sampling".into()),
                );
            }
        }
    }
    let grid_size = space.as_ref().and_then(|s| s.grid_size());
    let is_grid = matches!(sampling, Some((Sampling::Grid, _)));
    // Where a missing run count is reported: at the sampling algorithm.
    let sampling_span = sampling.as_ref().map(|s| s.1).unwrap_or_default();
    let max_total = match (part.max_total, is_grid) {
        (Some((n, _)), _) => Some(n),
        (None, true) => match grid_size {
            Some(GridSize::Points(n)) => Some(n),
            Some(GridSize::TooLarge) => {
                sink.error(
                    sampling_span,
                    "the grid is too large to count (2^64 points or more), so it cannot run to its end",
                    Some("set `max_total_runs` (v2: `limits.max_total_trials`) to run its first points".into()),
                );
                None
            }
            None => None,
        },
        (None, false) => {
            if sampling.is_some() && !part.max_total_given {
                sink.error(
                    sampling_span,
                    "random and bayesian sweeps need `max_total_runs` (v2: `limits.max_total_trials`)",
                    Some("set how many runs the sweep may launch, e.g. `max_total_runs: 20`".into()),
                );
            }
            None
        }
    };
    // Warnings that need the whole picture.
    if let (Some(total), Some(space)) = (max_total, &space) {
        if let Some((c, span)) = part.max_concurrent {
            if c > total {
                sink.warn(
                    span,
                    format!("`max_concurrent_runs` ({c}) is more than `max_total_runs` ({total})"),
                    Some(format!("at most {total} runs can be alive at once")),
                );
            }
        }
        match &sampling {
            Some((Sampling::Grid, _)) => match (grid_size, part.max_total) {
                (Some(GridSize::Points(g)), Some((_, span))) if g > total => {
                    sink.warn(span, format!("the grid has {g} points but `max_total_runs` is {total}: only the first {total} run"), Some(format!("raise it to {g} to cover the grid")));
                }
                (Some(GridSize::TooLarge), Some((_, span))) => {
                    sink.warn(span, format!("the grid is too large to count (2^64 points or more) and `max_total_runs` is {total}: only the first {total} run"), None);
                }
                _ => {}
            },
            Some((Sampling::Bayesian, span)) => {
                let want = 20 * space.dim() as u64;
                if total < want {
                    let at = part.max_total.map_or(*span, |m| m.1);
                    sink.warn(
                        at,
                        format!("Bayesian sampling with {} parameters works best with at least {want} runs (20 per parameter); `max_total_runs` is {total}", space.dim()),
                        Some("raise the budget, or use random sampling for small budgets".into()),
                    );
                }
            }
            _ => {}
        }
    }
    let run_spec = build_run_spec(sink, rsink, &part, run, path, is_v2, space.as_ref());
    let (sampling, space, (primary_metric, _), (goal, _), max_total) = (
        sampling?.0,
        space?,
        part.primary_metric?,
        part.goal?,
        max_total?,
    );
    Some(SweepSpec {
        space,
        sampling,
        seed: part.seed,
        policy: part.policy.unwrap_or_else(Policy::none),
        primary_metric,
        goal,
        limits: Limits {
            max_total_runs: max_total,
            max_concurrent_runs: part.max_concurrent.map_or(max_total, |c| c.0),
            max_duration_minutes: part
                .max_minutes
                .map_or(DEFAULT_MAX_DURATION_MINUTES, |m| m.0),
            max_run_duration_seconds: run_spec.1.or(part.trial_timeout),
        },
        run: run_spec.0,
        resume_from: part.resume_from,
        resume_child_runs: part.resume_child_runs,
    })
}

/// Builds the run spec; returns it with the runconfig's per-run time limit.
fn build_run_spec(
    sink: &mut Sink,
    rsink: Option<&mut Sink>,
    part: &SweepPart,
    run: Option<runconfig::RunPart>,
    path: &Path,
    is_v2: bool,
    space: Option<&SearchSpace>,
) -> (RunSpec, Option<f64>) {
    if is_v2 {
        let source_dir = part.code.clone().unwrap_or_else(|| {
            path.parent().map_or(PathBuf::from("."), |p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
        });
        let mut spec = RunSpec {
            source_dir,
            environment: part.environment.clone(),
            target: "local".into(),
            node_count: 1,
            is_command: true,
            metric_pattern: part.metric_pattern.clone(),
            ..RunSpec::default()
        };
        if let Some((words, span)) = &part.command {
            check_placeholders(sink, words, *span, space, Some(&part.io));
            spec.arguments = words.iter().map(|w| part.io.substitute(w)).collect();
        }
        spec.output_dirs = part
            .io
            .outputs
            .iter()
            .filter(|o| o.folder)
            .map(|o| o.name.clone())
            .collect();
        return (spec, None);
    }
    let Some(run) = run else {
        return (
            RunSpec {
                source_dir: PathBuf::from("."),
                target: "local".into(),
                node_count: 1,
                metric_pattern: part.metric_pattern.clone(),
                ..RunSpec::default()
            },
            None,
        );
    };
    let mut spec = RunSpec {
        environment: run.environment.clone(),
        source_dir: run.source_dir.clone(),
        target: run.target.clone().unwrap_or_else(|| "local".into()),
        node_count: run.node_count.unwrap_or(1),
        managed_env: run.managed_env.clone(),
        // The runconfig's pattern, else the sweep config's.
        metric_pattern: run
            .metric_pattern
            .clone()
            .or_else(|| part.metric_pattern.clone()),
        unbuilt_deps: run.unbuilt_deps.clone(),
        ..RunSpec::default()
    };
    if let Some(rs) = rsink {
        if let Some((script, span)) = &run.script {
            if !run.source_dir.join(script).is_file() {
                let msg = format!(
                    "script `{script}` not found in the source directory `{}`",
                    run.source_dir.display()
                );
                if run.script_given {
                    rs.file_error(
                        format!("{msg} (the script given on the command line)"),
                        Some("it is relative to the source directory: the project folder of `.azureml/` or `aml_config/`, the runconfig's folder, or `sourceDirectory`".into()),
                    );
                } else {
                    rs.error(
                        *span,
                        msg,
                        Some("paths are relative to the source directory (the runconfig's folder, or `sourceDirectory`)".into()),
                    );
                }
            }
            spec.interpreter = Some(resolve_interpreter(rs, run.interpreter.as_ref()));
            spec.script = Some(script.clone());
            spec.arguments = run.arguments.iter().map(|a| a.0.clone()).collect();
        } else if let Some(cmd) = &run.command {
            let words: Vec<String> = cmd.iter().map(|c| c.0.clone()).collect();
            spec.is_command = words.iter().any(|w| w.contains("${{"));
            if spec.is_command {
                check_placeholders(
                    rs,
                    &words,
                    cmd.first().map(|c| c.1).unwrap_or_default(),
                    space,
                    None,
                );
            }
            spec.arguments = words;
        }
    }
    (spec, run.max_run_seconds)
}

/// `interpreterPath`, defaulting to `python` as Azure does, or `python3` where the machine
/// has no `python` (most Linux distributions today).
fn resolve_interpreter(rs: &mut Sink, given: Option<&(String, Span)>) -> String {
    match given {
        Some((p, span)) => {
            if !p.contains('/') && which::which(p).is_err() {
                rs.warn(
                    *span,
                    format!("interpreter `{p}` is not on PATH here"),
                    Some("runs will fail to start unless the target has it".into()),
                );
            }
            p.clone()
        }
        None => {
            if which::which("python").is_err() && which::which("python3").is_ok() {
                "python3".into()
            } else {
                "python".into()
            }
        }
    }
}

/// Every `${{search_space.x}}` must name a parameter, and, in a v2 job (`io`), every
/// `${{inputs.x}}` / `${{outputs.x}}` an input / output; every parameter should be used.
fn check_placeholders(
    sink: &mut Sink,
    words: &[String],
    span: Span,
    space: Option<&SearchSpace>,
    io: Option<&v2io::Io>,
) {
    let names: Vec<&str> = space
        .map(|s| s.params().iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    let mut used = Vec::new();
    for w in words {
        let mut rest = w.as_str();
        while let Some(start) = rest.find("${{") {
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else {
                sink.error(
                    locate(sink, "${{", span),
                    format!("unclosed placeholder in `{w}`"),
                    Some("write `${{search_space.name}}`".into()),
                );
                break;
            };
            let inner = after[..end].trim();
            let at = locate(sink, inner, span);
            match inner.strip_prefix("search_space.") {
                Some(name) => {
                    if space.is_some() && !names.contains(&name) {
                        let hint = diag::did_you_mean(name, &names).map_or_else(
                            || format!("parameters: {}", names.join(", ")),
                            |n| format!("did you mean `{n}`?"),
                        );
                        sink.error(
                            at,
                            format!("`{inner}` names no parameter of the search space"),
                            Some(hint),
                        );
                    }
                    used.push(name.to_string());
                }
                None => check_io_placeholder(sink, inner, at, io),
            }
            rest = &after[end + 2..];
        }
    }
    if let Some(space) = space {
        for p in space.params() {
            // A nested choice's own index is rarely wanted; its children carry the values.
            let is_nested_parent = space.params().iter().any(|q| {
                q.condition
                    .is_some_and(|(parent, _)| space.params()[parent].name == p.name)
            });
            if !is_nested_parent && !used.contains(&p.name) {
                sink.warn(
                    span,
                    format!("parameter `{}` is not used in the command", p.name),
                    Some(format!(
                        "add `${{{{search_space.{}}}}}`; it still reaches the run in SWEEP_PARAMS",
                        p.name
                    )),
                );
            }
        }
    }
}

/// A placeholder other than `search_space.x`: in a v2 job, an input or an output it declares.
fn check_io_placeholder(sink: &mut Sink, inner: &str, at: Span, io: Option<&v2io::Io>) {
    let (kind, name) = inner.split_once('.').unwrap_or((inner, ""));
    let known = match (io, kind) {
        (Some(io), "inputs") => io.input_names(),
        (Some(io), "outputs") => io.output_names(),
        (Some(_), _) => {
            sink.error(
                at,
                format!("`${{{{{inner}}}}}` is not supported: a command takes `search_space`, `inputs` and `outputs` placeholders"),
                Some("write the value directly".into()),
            );
            return;
        }
        (None, _) => {
            sink.error(
                at,
                format!("`${{{{{inner}}}}}` is not supported: only `${{{{search_space.<name>}}}}` is substituted"),
                Some("write the value directly; `inputs` and `outputs` belong to v2 sweep jobs".into()),
            );
            return;
        }
    };
    if known.contains(&name) {
        return;
    }
    let hint = match diag::did_you_mean(name, &known) {
        Some(n) => format!("did you mean `{n}`?"),
        None if known.is_empty() => {
            let example = if kind == "inputs" {
                format!("{name}: 0.5")
            } else {
                format!("{name}: {{type: uri_folder}}")
            };
            format!("declare it in the job's top-level `{kind}:` (`{example}`)")
        }
        None => format!("{kind}: {}", known.join(", ")),
    };
    sink.error(
        at,
        format!("`{inner}` names no entry of the job's `{kind}`"),
        Some(hint),
    );
}

/// The span of the first occurrence of `needle` at or after `from`'s line, for pointing at
/// a placeholder inside a command string.
fn locate(sink: &Sink, needle: &str, from: Span) -> Span {
    for (i, line) in sink
        .text()
        .lines()
        .enumerate()
        .skip(from.line.saturating_sub(1))
    {
        if let Some(byte) = line.find(needle) {
            return Span {
                line: i + 1,
                col: line[..byte].chars().count() + 1,
                len: needle.chars().count(),
            };
        }
    }
    from
}

/// Makes `argv` (from `sweep run HDCONFIG -- PROGRAM ARGS...`) the program of every run: the
/// parameters are appended to it as `--name value`. Errors if a parameter is also among the
/// fixed arguments, or if the config already names its program (a runconfig or a v2 trial).
pub fn apply_command_line(spec: &mut SweepSpec, argv: &[String]) -> Result<(), String> {
    if argv.is_empty() {
        return Err(
            "`--` must be followed by the program to run, e.g. `-- python3 train.py`".into(),
        );
    }
    if spec.run.script.is_some() || !spec.run.arguments.is_empty() {
        return Err("the config already says what to run (a runconfig `script`/`command` or a v2 `trial.command`); drop the `-- PROGRAM` part or the runconfig".into());
    }
    for a in argv {
        let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
        if let Some(p) = spec
            .space
            .params()
            .iter()
            .find(|p| arg_name(&p.name) == flag)
        {
            return Err(format!(
                "`{flag}` is both a fixed argument on the command line and the sweep parameter `{}`; remove one of the two",
                p.name
            ));
        }
    }
    spec.run.arguments = argv.to_vec();
    spec.run.is_command = false;
    Ok(())
}
