//! Building an environment: choosing the tool (conda, mamba, micromamba, or a virtualenv of
//! an available Python), checking before anything runs that the tool can provide what the
//! file asks for, the cache key, and running the installer commands into the build log.

use super::cache::Entry;
use super::deps::{conda_name, EnvRequest, FileKind};
use crate::config::diag::render_all;
use crate::config::which;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The conda-family tools, in order of preference (the faster solvers first).
pub const CONDA_TOOLS: [&str; 3] = ["mamba", "micromamba", "conda"];

/// What builds the environment.
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    /// `python -m venv` with this base interpreter, then pip.
    Venv {
        /// The base interpreter as found on PATH.
        base: PathBuf,
    },
    /// `conda create` (or mamba, micromamba), then pip inside the prefix.
    Conda {
        /// The executable.
        exe: PathBuf,
        /// `conda`, `mamba` or `micromamba`.
        name: &'static str,
    },
}

impl Tool {
    /// `venv` or the conda tool's name.
    pub fn name(&self) -> &'static str {
        match self {
            Tool::Venv { .. } => "venv",
            Tool::Conda { name, .. } => name,
        }
    }

    /// The key's word for the tool: conda, mamba and micromamba build the same environment.
    fn family(&self) -> &'static str {
        match self {
            Tool::Venv { .. } => "venv",
            Tool::Conda { .. } => "conda",
        }
    }
}

/// How an environment will be built, and its cache key.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tool.
    pub tool: Tool,
    /// The Python it will have, as far as known before building (`3.11.7`; for conda the
    /// pin, or `latest`).
    pub python: String,
    /// The key text the hash is taken of (also stored in the entry's metadata).
    pub key: String,
    /// The cache key: the first [`super::HASH_LEN`] hex digits of the key's SHA-256.
    pub hash: String,
}

/// Why an environment cannot be built here: rendered diagnostics (bad input, exit 2).
#[derive(Debug)]
pub struct Unsupported(pub String);

/// Chooses the tool for `req` and computes the key. `forced` (`$SWEEP_ENV_BUILDER`: `venv`,
/// `conda`, `mamba`, `micromamba`) picks a tool; otherwise a conda file uses the first
/// conda-family tool on PATH and a requirements file always gets a virtualenv.
pub fn plan(req: &EnvRequest, target: &str, forced: Option<&str>) -> Result<Plan, Unsupported> {
    let tool = match forced.filter(|s| !s.is_empty()) {
        Some("venv") => None,
        Some(name) => {
            let Some(name) = CONDA_TOOLS.iter().find(|t| **t == name) else {
                return Err(Unsupported(format!(
                    "error: SWEEP_ENV_BUILDER={name:?} is not a builder\n  = hint: use venv, conda, mamba or micromamba\n"
                )));
            };
            let exe = which(name).ok_or_else(|| {
                Unsupported(format!(
                    "error: SWEEP_ENV_BUILDER={name} but `{name}` is not on PATH\n  = hint: install it, or unset SWEEP_ENV_BUILDER\n"
                ))
            })?;
            Some(Tool::Conda { exe, name })
        }
        None if req.kind == FileKind::Conda => CONDA_TOOLS
            .iter()
            .find_map(|name| which(name).map(|exe| Tool::Conda { exe, name })),
        None => None,
    };
    let (tool, python, python_key) = match tool {
        Some(t) => {
            let spec = req
                .python
                .as_ref()
                .map_or_else(|| "latest".to_string(), |p| p.spec.clone());
            (t, spec.clone(), spec)
        }
        None => venv_python(req)?,
    };
    let mut key = format!(
        "sweep-env 1\ntarget {target}\ntool {}\npython {python_key}\n",
        tool.family()
    );
    if matches!(tool, Tool::Conda { .. }) {
        for c in &req.channels {
            key.push_str(&format!("channel {c}\n"));
        }
        for c in &req.conda {
            key.push_str(&format!("conda {}\n", c.spec));
        }
    }
    for p in &req.pip {
        key.push_str(&format!("pip {p}\n"));
    }
    let hash = super::sha256::hex(key.as_bytes())[..super::HASH_LEN].to_string();
    Ok(Plan {
        tool,
        python,
        key,
        hash,
    })
}

/// For a virtualenv: the base interpreter honouring the pin, its version, and the key's
/// python line (version and base prefix: a venv is tied to the interpreter it was made
/// from). Conda-only packages are reported here, all at once, at their positions.
fn venv_python(req: &EnvRequest) -> Result<(Tool, String, String), Unsupported> {
    let mut sink = req.sink();
    for c in &req.conda {
        // A virtualenv always has pip; everything else in the conda list needs conda.
        if conda_name(&c.spec) != "pip" {
            sink.error(
                c.span,
                format!("`{}` is a conda package: without conda, mamba or micromamba on PATH sweep builds a virtualenv, which cannot provide it", c.spec),
                Some("move it under `pip:` (most packages have the same name on PyPI), or install conda, mamba or micromamba".into()),
            );
        }
    }
    let pin = match req.python_pin() {
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
    let span = req.python.as_ref().map(|p| p.span);
    let probe = which(&exe)
        .ok_or_else(|| format!("there is no `{exe}` on PATH"))
        .and_then(|path| probe_python(&path).map(|(v, prefix)| (path, v, prefix)));
    let found = match probe {
        Ok((path, version, prefix)) => {
            if let Some(full) = pin.as_ref().and_then(|p| p.full.as_ref()) {
                if *full != version {
                    if let Some(span) = span {
                        sink.error(
                            span,
                            format!("Python {full} is pinned, but `{exe}` is {version}"),
                            Some(format!("pin `python={}` to accept any {} release, or install conda, mamba or micromamba", pin.as_ref().map_or("", |p| p.minor.as_str()), pin.as_ref().map_or("", |p| p.minor.as_str()))),
                        );
                    }
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
        return Err(Unsupported(render_all(&sink.diags)));
    }
    let (base, version, prefix) = found.expect("reported above when missing");
    Ok((
        Tool::Venv { base },
        version.clone(),
        format!("{version} {prefix}"),
    ))
}

/// Runs an interpreter to learn its version and base prefix; the error says why it did not
/// run (a pyenv shim for an inactive version exists on PATH but fails, for instance).
fn probe_python(exe: &Path) -> Result<(String, String), String> {
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

/// A failed build step.
#[derive(Debug)]
pub struct Failure {
    /// What failed (`` `pip install` exited with code 1 ``).
    pub what: String,
    /// How to go on.
    pub hint: String,
}

/// Builds the environment into `entry` (whose folder exists and is empty), writing every
/// command and its output to the build log. Returns the environment's Python version.
pub fn build(
    plan: &Plan,
    req: &EnvRequest,
    entry: &Entry,
    progress: &mut dyn FnMut(&str),
) -> Result<String, Failure> {
    let io_fail = |e: std::io::Error| Failure {
        what: format!(
            "cannot write to the cache entry {}: {e}",
            entry.dir.display()
        ),
        hint: "check the permissions and free space of the cache (SWEEP_ENV_CACHE moves it)".into(),
    };
    let mut log = std::fs::File::create(entry.log()).map_err(io_fail)?;
    let reqs = entry.dir.join("requirements.txt");
    let mut lines = req.pip.join("\n");
    lines.push('\n');
    std::fs::write(&reqs, lines).map_err(io_fail)?;
    let _ = writeln!(
        log,
        "# sweep environment {}\n# key:\n{}",
        plan.hash, plan.key
    );
    let prefix = entry.prefix();
    let python = prefix.join("bin").join("python");
    match &plan.tool {
        Tool::Venv { base } => {
            progress(&format!("creating a virtualenv (python {})", plan.python));
            let mut cmd = Command::new(base);
            cmd.arg("-m").arg("venv").arg(&prefix);
            run_step(&mut cmd, &mut log, "`python -m venv`", progress).map_err(|what| Failure {
                what,
                hint: format!("the venv module may be missing (Debian/Ubuntu: `apt-get install python3-venv`); try `{} -m venv /tmp/x` by hand", base.display()),
            })?;
        }
        Tool::Conda { exe, name } => {
            let mut cmd = Command::new(exe);
            cmd.args(["create", "--yes", "--prefix"]).arg(&prefix);
            if !req.channels.is_empty() {
                cmd.arg("--override-channels");
            }
            for c in &req.channels {
                cmd.args(["-c", c]);
            }
            if req.channels.is_empty() && *name == "micromamba" {
                // micromamba has no default channel.
                cmd.args(["-c", "conda-forge"]);
            }
            let mut specs: Vec<String> = req.conda.iter().map(|c| c.spec.clone()).collect();
            specs.push(
                req.python
                    .as_ref()
                    .map_or_else(|| "python".to_string(), |p| p.spec.clone()),
            );
            if !req.pip.is_empty() && !req.conda.iter().any(|c| conda_name(&c.spec) == "pip") {
                specs.push("pip".into());
            }
            cmd.args(&specs);
            progress(&format!(
                "{name} create: {} package{}",
                specs.len(),
                if specs.len() == 1 { "" } else { "s" }
            ));
            run_step(&mut cmd, &mut log, &format!("`{name} create`"), progress).map_err(
                |what| Failure {
                    what,
                    hint: format!(
                        "check the conda package names, versions and channels in {}",
                        req.shown
                    ),
                },
            )?;
        }
    }
    if !req.pip.is_empty() {
        let n = req.pip.iter().filter(|l| !l.starts_with('-')).count();
        progress(&format!(
            "pip install: {n} requirement{}",
            if n == 1 { "" } else { "s" }
        ));
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "-r",
        ])
        .arg(&reqs)
        .current_dir(req.base_dir());
        run_step(&mut cmd, &mut log, "`pip install`", progress).map_err(|what| Failure {
            what,
            hint: format!(
                "check the package names and versions in {} (a name that does not exist on the index fails like this); `pip install -r {}` reproduces it",
                req.shown,
                reqs.display()
            ),
        })?;
    }
    probe_python(&python)
        .map(|(v, _)| v)
        .map_err(|why| Failure {
            what: format!("the built environment's interpreter {why}"),
            hint: "see the build log".into(),
        })
}

/// How often a long step says it is still going.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Runs one installer command with its output appended to the log; `Err` says how it failed.
fn run_step(
    cmd: &mut Command,
    log: &mut std::fs::File,
    what: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let shown: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let _ = writeln!(log, "\n$ {}", shown.join(" "));
    let _ = log.flush();
    let out = log.try_clone().map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{what} could not start: {e}"))?;
    let mut next_beat = HEARTBEAT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(format!("{what}: {e}")),
        }
        if start.elapsed() >= next_beat {
            progress(&format!("still running {what} ({} s)", next_beat.as_secs()));
            next_beat += HEARTBEAT;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = writeln!(
        log,
        "# {status} after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(match status.code() {
            Some(c) => format!("{what} exited with code {c}"),
            None => format!("{what} was killed ({status})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::deps::{parse_conda, parse_requirements};

    fn key_of(req: &EnvRequest) -> Plan {
        plan(req, "local", Some("venv")).unwrap_or_else(|u| panic!("{}", u.0))
    }

    #[test]
    fn formatting_never_changes_the_key() {
        // Needs python3 on PATH (the virtualenv base), as every run of these tests does.
        if which("python3").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 is required in CI"
            );
            return;
        }
        let a = parse_requirements(Path::new("a.txt"), "a.txt", "tomli>=2\nsix\n").unwrap();
        let b = parse_requirements(
            Path::new("b.txt"),
            "b.txt",
            "# deps\n six   # compat\n\ntomli>=2\nsix\n",
        )
        .unwrap();
        let c = parse_requirements(Path::new("c.txt"), "c.txt", "tomli>=2\nsix==1.16\n").unwrap();
        // The same list in a conda file's pip section is the same environment.
        let d = parse_conda(
            Path::new("e.yml"),
            "e.yml",
            "name: x\ndependencies:\n  - pip\n  - pip: [six, tomli>=2]\n",
        )
        .unwrap();
        let (ka, kb, kc, kd) = (key_of(&a), key_of(&b), key_of(&c), key_of(&d));
        assert_eq!(ka.hash, kb.hash);
        assert_eq!(ka.hash, kd.hash);
        assert_ne!(ka.hash, kc.hash);
        assert_eq!(ka.hash.len(), crate::env::HASH_LEN);
        assert!(ka.key.contains("\npip six\npip tomli>=2\n"), "{}", ka.key);
        assert_ne!(plan(&a, "ssh:gpu1", Some("venv")).unwrap().hash, ka.hash);
    }

    #[test]
    fn venv_refuses_conda_packages_at_their_positions() {
        let r = parse_conda(
            Path::new("e.yml"),
            "e.yml",
            "dependencies:\n  - numpy=1.26\n  - pip\n  - cudatoolkit\n  - pip: [tomli]\n",
        )
        .unwrap();
        let err = plan(&r, "local", Some("venv")).unwrap_err().0;
        assert!(err.contains("e.yml:2:5"), "{err}");
        assert!(err.contains("`numpy=1.26` is a conda package"), "{err}");
        assert!(err.contains("e.yml:4:5"), "{err}");
        assert!(
            !err.contains("e.yml:3:5"),
            "pip is provided by a venv: {err}"
        );
        let r = parse_conda(
            Path::new("e.yml"),
            "e.yml",
            "dependencies:\n  - python=2.5\n  - pip: [tomli]\n",
        )
        .unwrap();
        let err = plan(&r, "local", Some("venv")).unwrap_err().0;
        assert!(err.contains("e.yml:2:5"), "{err}");
        assert!(err.contains("Python 2.5 is pinned, but"), "{err}");
    }
}
