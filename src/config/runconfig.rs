//! The run configuration (`*.runconfig`, the YAML `az ml folder attach` writes): what to run
//! and how. Azure keys that mean nothing on sweep's targets are accepted with a note; keys
//! nobody knows are errors with a "did you mean".

use super::diag::Sink;
use super::fields::fields;
use super::yaml::{Node, Span};
use crate::spec::{DepsKind, ManagedEnv};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a runconfig contributes.
#[derive(Debug, Default)]
pub struct RunPart {
    /// `script`, with its position.
    pub script: Option<(String, Span)>,
    /// `arguments`, each with its position.
    pub arguments: Vec<(String, Span)>,
    /// `command` (extension): a full argument vector for non-Python programs.
    pub command: Option<Vec<(String, Span)>>,
    /// `environment.python.interpreterPath`.
    pub interpreter: Option<(String, Span)>,
    /// The environment to build: `userManagedDependencies: false` (Azure's default) with
    /// `condaDependenciesFile` or the `requirementsFile` extension.
    pub managed_env: Option<ManagedEnv>,
    /// The dependency file of a user-managed environment (`userManagedDependencies: true`
    /// with a dependency file): not built, but `validate` checks the Python it pins.
    pub unbuilt_deps: Option<(PathBuf, DepsKind)>,
    /// `environment.environmentVariables`.
    pub environment: BTreeMap<String, String>,
    /// `target`.
    pub target: Option<String>,
    /// `nodeCount`.
    pub node_count: Option<u32>,
    /// `maxRunDurationSeconds`.
    pub max_run_seconds: Option<f64>,
    /// The source directory (see [`source_dir_for`]).
    pub source_dir: PathBuf,
    /// Whether `script` was given on the command line rather than read from the file.
    pub script_given: bool,
    /// `metrics.pattern` (extension), compiled.
    pub metric_pattern: Option<crate::metrics::Pattern>,
}

impl RunPart {
    /// Replaces what the runconfig runs by a script from the command line (its positions
    /// are the file's `script` or `command` key's, for diagnostics about the rest).
    pub fn override_script(&mut self, ov: &super::ScriptOverride) {
        let span = self
            .script
            .as_ref()
            .map(|s| s.1)
            .or_else(|| self.command.as_ref().and_then(|c| c.first().map(|w| w.1)))
            .unwrap_or_default();
        self.script = Some((ov.script.clone(), span));
        self.command = None;
        self.script_given = true;
        if !ov.arguments.is_empty() {
            self.arguments = ov.arguments.iter().map(|a| (a.clone(), span)).collect();
        }
    }
}

const TOP: &[&str] = &[
    "script",
    "arguments",
    "command",
    "target",
    "framework",
    "maxRunDurationSeconds",
    "nodeCount",
    "environment",
    "history",
    "sourceDirectory",
    "metrics",
];
const TOP_INERT: &[&str] = &[
    "communicator",
    "autoPrepareEnvironment",
    "spark",
    "hdi",
    "tensorflow",
    "mpi",
    "pyTorch",
    "paralleltask",
    "dataReferences",
    "data",
    "outputData",
    "datacaches",
    "sourceDirectoryDataStore",
    "amlcompute",
    "kubernetescompute",
    "credentialPassthrough",
    "priority",
    "instanceTypes",
    "services",
    "identity",
    "jobName",
    "docker",
    "aiSuperComputer",
    "globalJobDispatcher",
    "cmAksCompute",
    "commandReturnCodeConfig",
    "environmentVariables",
    "applicationEndpoints",
    "parameters",
];

/// The source directory of a runconfig: `sourceDirectory` if given (relative to the file);
/// else the project folder when the file sits in `.azureml/` or `aml_config/` (where Azure
/// keeps it); else the file's own folder.
pub fn source_dir_for(runconfig: &Path) -> PathBuf {
    let dir = runconfig
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(".azureml" | "aml_config") => dir.parent().map_or(PathBuf::from("."), |p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        }),
        _ => dir,
    }
}

/// Reads a runconfig document found at `path`; `script_given` says that the command line
/// names the script, so the file need not.
pub fn read(sink: &mut Sink, root: &Node, path: &Path, script_given: bool) -> RunPart {
    let mut part = RunPart {
        source_dir: source_dir_for(path),
        ..RunPart::default()
    };
    let Some(top) = fields(sink, root, "runconfig", TOP, TOP_INERT) else {
        return part;
    };
    if let Some((dir, span)) = top.string(sink, "sourceDirectory") {
        let base = path.parent().unwrap_or(Path::new("."));
        let d = base.join(&dir);
        if !d.is_dir() {
            sink.error(
                span,
                format!("source directory `{}` does not exist", d.display()),
                None,
            );
        }
        part.source_dir = d;
    }
    part.script = top.string(sink, "script");
    part.arguments = top.text_list(sink, "arguments").unwrap_or_default();
    if let Some(c) = top.get("command") {
        part.command = if c.as_seq().is_some() {
            top.text_list(sink, "command")
        } else if let Some(s) = c.as_str() {
            match super::v2::split_command(s) {
                Ok(words) => Some(words.into_iter().map(|w| (w, c.span)).collect()),
                Err(e) => {
                    sink.error(
                        c.span,
                        format!("cannot split `command`: {e}"),
                        Some("or write it as a list of arguments".into()),
                    );
                    None
                }
            }
        } else {
            sink.wrong_type(c, "`command` should be a list of arguments", None);
            None
        };
    }
    match (&part.script, &part.command, top.key_node("command")) {
        (Some(_), Some(_), Some(k)) => {
            sink.error(
                k.span,
                "a runconfig has either `script` or `command`, not both",
                Some("use `script` for Python, `command` for anything else".into()),
            );
        }
        (Some(_), None, _) | (None, Some(_), _) => {}
        _ => {
            if !top.has("command") && !top.has("script") && !script_given {
                sink.error(
                    top.span,
                    "the runconfig needs `script` (or `command`)",
                    Some("e.g. `script: train.py`".into()),
                );
            }
        }
    }
    if part.command.is_some() && !part.arguments.is_empty() {
        if let Some(k) = top.key_node("arguments") {
            sink.error(
                k.span,
                "`arguments` goes with `script`; with `command`, put them in the command",
                None,
            );
        }
    }
    part.target = top.string(sink, "target").map(|t| t.0);
    if let Some((fw, span)) = top.string(sink, "framework") {
        if !fw.eq_ignore_ascii_case("python") {
            sink.note(
                span,
                format!(
                    "framework `{fw}` has no effect in sweep; the script runs with the interpreter"
                ),
                None,
            );
        }
    }
    part.max_run_seconds = top
        .positive_number(sink, "maxRunDurationSeconds", " seconds")
        .map(|s| s.0);
    if let Some((n, span)) = top.positive(sink, "nodeCount") {
        part.node_count = u32::try_from(n).ok();
        if n > 1 && part.target.as_deref().is_none_or(|t| t == "local") {
            sink.warn(
                span,
                format!("`nodeCount: {n}` has no effect on the local target"),
                None,
            );
        }
    }
    if let Some(env) = top.get("environment") {
        read_environment(sink, env, &mut part, path);
    }
    part.metric_pattern = super::metrics::read(sink, &top);
    if let Some(h) = top.get("history") {
        if let Some(hf) = fields(
            sink,
            h,
            "history",
            &["outputCollection", "snapshotProject", "directoriesToWatch"],
            &[],
        ) {
            let _ = hf.boolean(sink, "outputCollection");
            if let Some((false, span)) = hf.boolean(sink, "snapshotProject") {
                sink.note(span, "sweep always snapshots the source directory so that concurrent runs never share files", None);
            }
            let _ = hf.text_list(sink, "directoriesToWatch");
        }
    }
    part
}

/// Finds a dependency file (relative to the source directory, as Azure ML resolves it, else
/// to the runconfig's folder), reads it and chooses the tool that builds it here; its own
/// problems, and what that tool cannot provide, are reported against it.
/// Where dependency file `name` is: in the source directory, or else beside the runconfig.
fn find_dependency_file(name: &str, runconfig: &Path, source_dir: &Path) -> Option<PathBuf> {
    let beside = runconfig.parent().unwrap_or(Path::new("")).join(name);
    [source_dir.join(name), beside]
        .into_iter()
        .find(|p| p.is_file())
}

fn read_dependency_file(
    sink: &mut Sink,
    name: &str,
    span: Span,
    kind: DepsKind,
    runconfig: &Path,
    source_dir: &Path,
) -> Option<ManagedEnv> {
    let Some(found) = find_dependency_file(name, runconfig, source_dir) else {
        sink.error(
            span,
            format!(
                "dependency file `{name}` not found in the source directory `{}` nor next to the runconfig",
                source_dir.display()
            ),
            Some("paths are relative to the source directory".into()),
        );
        return None;
    };
    let shown = found.display().to_string();
    let abs = found.canonicalize().unwrap_or_else(|_| found.clone());
    match super::deps::read(&abs, &shown, kind) {
        Ok(mut deps) => {
            let dropped = deps.drop_azureml();
            if !dropped.is_empty() {
                sink.note(
                    span,
                    format!(
                        "left out of the environment sweep builds: {} (sweep gives every run `azureml.core.Run` itself)",
                        dropped.join(", ")
                    ),
                    Some("scripts that use other azureml-core APIs need azureml-core installed where they run".into()),
                );
            }
            let forced = std::env::var(super::env_tool::BUILDER_VAR).ok();
            super::env_tool::managed_env(deps, forced.as_deref(), sink, span)
        }
        Err(diags) => {
            sink.diags.extend(diags);
            None
        }
    }
}

fn read_environment(sink: &mut Sink, env: &Node, part: &mut RunPart, path: &Path) {
    let Some(e) = fields(
        sink,
        env,
        "environment",
        &["environmentVariables", "python", "docker"],
        &[
            "name",
            "version",
            "spark",
            "databricks",
            "r",
            "inferencingStackVersion",
            "assetId",
        ],
    ) else {
        return;
    };
    if let Some(vars) = e.get("environmentVariables") {
        match vars.as_map() {
            Some(entries) => {
                for (k, v) in entries {
                    let (Some(k), val) = (k.as_text(), v.as_text()) else {
                        sink.error(
                            k.span,
                            "environment variable names must be plain names",
                            None,
                        );
                        continue;
                    };
                    if part.environment.contains_key(&k) {
                        sink.error(
                            v.span,
                            format!("environment variable `{k}` is set twice"),
                            None,
                        );
                    }
                    part.environment.insert(k, val.unwrap_or_default());
                }
            }
            None => sink.wrong_type(vars, "`environmentVariables` should be a mapping", None),
        }
    }
    if let Some(py) = e.get("python") {
        if let Some(p) = fields(
            sink,
            py,
            "python",
            &[
                "userManagedDependencies",
                "interpreterPath",
                "condaDependenciesFile",
                "requirementsFile",
            ],
            &["baseCondaEnvironment"],
        ) {
            part.interpreter = p.string(sink, "interpreterPath");
            let managed = p.boolean(sink, "userManagedDependencies");
            let conda = p.string(sink, "condaDependenciesFile");
            let reqs = p.string(sink, "requirementsFile");
            let file = match (conda, reqs) {
                (Some(_), Some((_, span))) => {
                    sink.error(
                        span,
                        "`condaDependenciesFile` and `requirementsFile` cannot both be given",
                        Some("list the pip packages under `pip:` in the conda file".into()),
                    );
                    None
                }
                (Some(f), None) => Some((f, DepsKind::Conda)),
                (None, Some(f)) => Some((f, DepsKind::Requirements)),
                (None, None) => {
                    if let Some((false, span)) = managed {
                        sink.note(
                            span,
                            "nothing to build: no `condaDependenciesFile` or `requirementsFile`; runs use the interpreter as it is",
                            None,
                        );
                    }
                    None
                }
            };
            match (file, managed) {
                (Some(((name, span), kind)), Some((true, _))) => {
                    sink.note(
                        span,
                        "not built: with `userManagedDependencies: true` runs use the interpreter as it is",
                        Some("set `userManagedDependencies: false` to have sweep build the environment".into()),
                    );
                    part.unbuilt_deps =
                        find_dependency_file(&name, path, &part.source_dir).map(|f| (f, kind));
                }
                (Some(((name, span), kind)), _) => {
                    part.managed_env =
                        read_dependency_file(sink, &name, span, kind, path, &part.source_dir);
                    if let (Some(_), Some((_, ispan))) = (&part.managed_env, &part.interpreter) {
                        sink.warn(
                            *ispan,
                            "`interpreterPath` is ignored: runs use the interpreter of the environment sweep builds",
                            Some("drop it, or set `userManagedDependencies: true` to use it".into()),
                        );
                    }
                }
                (None, _) => {}
            }
        }
    }
    if let Some(d) = e.get("docker") {
        if let Some(map) = d.as_map() {
            for (k, v) in map {
                if k.as_text().as_deref() == Some("enabled") && v.as_bool() == Some(true) {
                    sink.warn(
                        v.span,
                        "docker is not used: runs execute on the target's host",
                        None,
                    );
                }
            }
        }
    }
}
