//! Which tool builds a managed environment on this machine (conda, mamba, micromamba, or a
//! virtualenv of an available Python), and whether it can provide what the dependency file
//! asks for. The answer depends on the tools here, but its problems point into the file
//! (a conda-only package, a Python pin no interpreter here honours), so it is decided while
//! the config is read, where the file's positions are. The result is the spec's
//! position-free [`ManagedEnv`].

use super::deps::{conda_name, DepsFile};
use super::diag::Sink;
use super::yaml::Span;
use crate::spec::{DepsKind, EnvTool, ManagedEnv};
use std::path::Path;
use std::process::{Command, Stdio};

/// The conda-family tools, in order of preference (the faster solvers first).
pub const CONDA_TOOLS: [&str; 3] = ["mamba", "micromamba", "conda"];

/// The environment variable that forces the tool: `venv`, `conda`, `mamba` or `micromamba`.
pub const BUILDER_VAR: &str = "SWEEP_ENV_BUILDER";

/// Chooses the tool for `deps` and checks that it can build them. `forced` (the value of
/// [`BUILDER_VAR`]) picks a tool; otherwise a conda file uses the first conda-family tool on
/// PATH and a requirements file always gets a virtualenv. A forced tool that is not a builder
/// or not installed is reported at `asked` in `sink` (the runconfig key naming the file);
/// what a virtualenv cannot provide is reported at its place in the dependency file, every
/// problem at once. `None` when anything was reported.
pub fn managed_env(
    deps: DepsFile,
    forced: Option<&str>,
    sink: &mut Sink,
    asked: Span,
) -> Option<ManagedEnv> {
    let conda = match forced.filter(|s| !s.is_empty()) {
        Some("venv") => None,
        Some(name) => {
            let Some(name) = CONDA_TOOLS.iter().find(|t| **t == name) else {
                sink.error(
                    asked,
                    format!("{BUILDER_VAR}={name:?} is not a builder"),
                    Some("use venv, conda, mamba or micromamba".into()),
                );
                return None;
            };
            let Ok(exe) = which::which(name) else {
                sink.error(
                    asked,
                    format!("{BUILDER_VAR}={name} but `{name}` is not on PATH"),
                    Some(format!("install it, or unset {BUILDER_VAR}")),
                );
                return None;
            };
            Some(EnvTool::Conda { exe, name })
        }
        None if deps.deps.kind == DepsKind::Conda => CONDA_TOOLS.iter().find_map(|name| {
            which::which(name)
                .ok()
                .map(|exe| EnvTool::Conda { exe, name })
        }),
        None => None,
    };
    let tool = match conda {
        Some(tool) => tool,
        None => {
            let mut file_sink = deps.sink();
            let venv = venv(&deps, &mut file_sink);
            sink.diags.extend(file_sink.diags);
            venv?
        }
    };
    Some(ManagedEnv {
        deps: deps.deps,
        tool,
    })
}

/// For a virtualenv: the base interpreter honouring the pin, with its version and base
/// prefix. Conda-only packages and a pin no interpreter here honours are reported into
/// `sink` (the dependency file's), all at once, at their positions.
fn venv(deps: &DepsFile, sink: &mut Sink) -> Option<EnvTool> {
    for c in &deps.deps.conda {
        // A virtualenv always has pip; everything else in the conda list needs conda.
        if conda_name(c) != "pip" {
            sink.error(
                deps.located(c).span,
                format!("`{c}` is a conda package: without conda, mamba or micromamba on PATH sweep builds a virtualenv, which cannot provide it"),
                Some("move it under `pip:` (most packages have the same name on PyPI), or install conda, mamba or micromamba".into()),
            );
        }
    }
    let pin = match deps.python_pin() {
        Ok(p) => p,
        Err(loc) => {
            sink.error(
                loc.span,
                format!(
                    "`{}` needs conda to resolve: a virtualenv honours only an exact pin",
                    loc.spec
                ),
                Some(
                    "pin a version, e.g. `python=3.11`, or install conda, mamba or micromamba"
                        .into(),
                ),
            );
            None
        }
    };
    let exe = pin
        .as_ref()
        .map_or_else(|| "python3".to_string(), |p| format!("python{}", p.minor));
    let span = deps.deps.python.as_ref().map(|p| deps.located(p).span);
    let probe = which::which(&exe)
        .map_err(|_| format!("there is no `{exe}` on PATH"))
        .and_then(|path| probe_python(&path).map(|(v, prefix)| (path, v, prefix)));
    let found = match probe {
        Ok((path, version, prefix)) => {
            if let (Some(pin), Some(span)) = (&pin, span) {
                if let Some(full) = pin.full.as_ref().filter(|full| **full != version) {
                    sink.error(
                        span,
                        format!("Python {full} is pinned, but `{exe}` is {version}"),
                        Some(format!("pin `python={}` to accept any {} release, or install conda, mamba or micromamba", pin.minor, pin.minor)),
                    );
                }
            }
            Some((path, version, prefix))
        }
        Err(why) => {
            let msg = match &pin {
                Some(p) => format!("Python {} is pinned, but {why}", p.minor),
                None => format!("a virtualenv needs a Python 3 interpreter, but {why}"),
            };
            let hint = Some(match &pin {
                Some(p) => format!("install Python {} (so that `{exe}` runs), install conda, mamba or micromamba, or change the pin", p.minor),
                None => "install python3, or conda, mamba or micromamba".into(),
            });
            match span {
                Some(s) => sink.error(s, msg, hint),
                None => sink.file_error(msg, hint),
            }
            None
        }
    };
    if sink.has_errors() {
        return None;
    }
    let (base, version, base_prefix) = found?;
    Some(EnvTool::Venv {
        base,
        version,
        base_prefix,
    })
}

/// Runs an interpreter to learn its version and base prefix; the error says why it did not
/// run (a pyenv shim for an inactive version exists on PATH but fails, for instance).
pub fn probe_python(exe: &Path) -> Result<(String, String), String> {
    let out = Command::new(exe)
        .args([
            "-c",
            "import sys; print('.'.join(map(str, sys.version_info[:3]))); print(sys.base_prefix)",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}` cannot be run: {e}", exe.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("`{}` does not run: {first}", exe.display()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or("").trim().to_string();
    let prefix = lines.next().unwrap_or("").trim().to_string();
    Ok((version, prefix))
}

/// Whether python3, the base of the virtualenvs the tests plan, is on PATH; its absence
/// fails under CI.
#[cfg(test)]
pub(crate) fn python3_here() -> bool {
    let here = which::which("python3").is_ok();
    assert!(
        here || std::env::var_os("CI").is_none(),
        "python3 is required in CI"
    );
    here
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::deps::parse_conda;
    use crate::config::diag::render_all;

    /// The runconfig line that names the dependency file, for problems located there.
    const RUNCONFIG: &str =
        "script: t.py\nenvironment:\n  python:\n    condaDependenciesFile: e.yml\n";
    const ASKED: Span = Span {
        line: 4,
        col: 28,
        len: 5,
    };

    fn choose(text: &str, forced: Option<&str>) -> Result<ManagedEnv, String> {
        let deps = parse_conda(Path::new("e.yml"), "e.yml", text).unwrap();
        let mut sink = Sink::new("t.runconfig", RUNCONFIG);
        managed_env(deps, forced, &mut sink, ASKED).ok_or_else(|| render_all(&sink.diags))
    }

    #[test]
    fn venv_refuses_conda_packages_at_their_positions() {
        // (file, what the errors say, what they must not say)
        let cases: [(&str, &[&str], &[&str]); 3] = [
            (
                "dependencies:\n  - numpy=1.26\n  - pip\n  - cudatoolkit\n  - pip: [tomli]\n",
                &["e.yml:2:5", "`numpy=1.26` is a conda package", "e.yml:4:5"],
                // pip is provided by a venv.
                &["e.yml:3:5"],
            ),
            (
                "dependencies:\n  - python=2.5\n  - pip: [tomli]\n",
                &["e.yml:2:5", "Python 2.5 is pinned, but"],
                &[],
            ),
            (
                "dependencies:\n  - python>=3.9\n",
                &["e.yml:2:5", "`python>=3.9` needs conda to resolve"],
                &[],
            ),
        ];
        for (text, says, not) in cases {
            let err = choose(text, Some("venv")).unwrap_err();
            for s in says {
                assert!(err.contains(s), "{s}: {err}");
            }
            for s in not {
                assert!(!err.contains(s), "{s}: {err}");
            }
        }
    }

    /// Loading the config (as `sweep validate` does) finds what the tools here cannot build,
    /// at its line of the dependency file, and builds nothing.
    #[test]
    fn what_this_machine_cannot_build_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("hd.yml"), "sampling:\n  type: grid\n  parameter_space:\n    - name: x\n      expression: choice\n      values: [1]\nprimary_metric_name: acc\nprimary_metric_goal: maximize\n").unwrap();
        std::fs::write(p.join("t.py"), "").unwrap();
        std::fs::write(p.join("t.runconfig"), RUNCONFIG).unwrap();
        std::fs::write(
            p.join("e.yml"),
            "dependencies:\n  - numpy=1.26\n  - pip: [tomli]\n",
        )
        .unwrap();
        let loaded = crate::config::load(&p.join("hd.yml"), Some(&p.join("t.runconfig")));
        let forced = std::env::var(BUILDER_VAR).ok().filter(|s| !s.is_empty());
        let conda = CONDA_TOOLS.iter().find(|t| which::which(t).is_ok());
        if forced.as_deref() == Some("venv") || (forced.is_none() && conda.is_none()) {
            let err = loaded.unwrap_err().rendered;
            assert!(err.contains("e.yml:2:5"), "{err}");
            assert!(err.contains("`numpy=1.26` is a conda package"), "{err}");
            assert!(err.contains("1 error"), "{err}");
        } else if forced.is_none() {
            let env = loaded.unwrap().spec.run.managed_env.unwrap();
            assert_eq!(env.tool.name(), *conda.unwrap());
            assert_eq!(env.deps.conda, ["numpy=1.26"]);
        }
    }

    #[test]
    fn a_forced_builder_that_cannot_be_had_is_located_at_the_runconfig_key() {
        let err = choose("dependencies: [pip]\n", Some("pipenv")).unwrap_err();
        assert!(
            err.contains("error: SWEEP_ENV_BUILDER=\"pipenv\" is not a builder"),
            "{err}"
        );
        assert!(err.contains("--> t.runconfig:4:28"), "{err}");
        assert!(
            err.contains("= hint: use venv, conda, mamba or micromamba"),
            "{err}"
        );
        // The test machines have no conda-family tool (docs/environments.md); one with all
        // three has nothing to show here.
        let Some(missing) = CONDA_TOOLS.iter().find(|t| which::which(t).is_err()) else {
            return;
        };
        let err = choose("dependencies: [pip]\n", Some(missing)).unwrap_err();
        assert!(
            err.contains(&format!(
                "SWEEP_ENV_BUILDER={missing} but `{missing}` is not on PATH"
            )),
            "{err}"
        );
        assert!(err.contains("--> t.runconfig:4:28"), "{err}");
    }

    #[test]
    fn a_virtualenv_gets_the_lists_and_its_base_interpreter() {
        if !python3_here() {
            return;
        }
        // No conda here: a conda file gets a virtualenv of python3 for its pip list.
        let env = choose(
            "channels: [conda-forge]\ndependencies:\n  - pip\n  - pip: [tomli, six]\n",
            None,
        )
        .unwrap();
        assert_eq!(env.deps.kind, DepsKind::Conda);
        assert_eq!(env.deps.channels, ["conda-forge"]);
        assert_eq!(env.deps.conda, ["pip"]);
        assert_eq!(env.deps.pip, ["six", "tomli"]);
        let EnvTool::Venv {
            base,
            version,
            base_prefix,
        } = &env.tool
        else {
            panic!("{:?}", env.tool)
        };
        assert_eq!(base.file_name().unwrap(), "python3");
        assert!(version.starts_with("3."), "{version}");
        assert!(Path::new(base_prefix).is_absolute(), "{base_prefix}");
    }
}
