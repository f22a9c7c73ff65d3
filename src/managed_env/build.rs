//! Building an environment: its cache key, and running the installer commands of the tool
//! the config chose into the build log.

use super::cache::Entry;
use crate::config::deps::conda_name;
use crate::config::env_tool::probe_python;
use crate::spec::{EnvTool, ManagedEnv};
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How an environment will be built for a target, and its cache key.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The compute target it is for.
    pub target: String,
    /// The Python it will have, as far as known before building (`3.11.7`; for conda the
    /// pin, or `latest`).
    pub python: String,
    /// The key text the hash is taken of (also stored in the entry's metadata).
    pub key: String,
    /// The cache key: the first [`super::HASH_LEN`] hex digits of the key's SHA-256.
    pub hash: String,
}

/// The cache key of `env` built for `target`. It names what the environment holds, never
/// how the file was written: the lists are normalised, and conda, mamba and micromamba
/// build the same environment. A virtualenv's key holds its base interpreter's version and
/// prefix; a conda one's the Python spec, the channels in order and the conda specs.
pub fn plan(env: &ManagedEnv, target: &str) -> Plan {
    let (family, python, python_key) = match &env.tool {
        EnvTool::Venv {
            version,
            base_prefix,
            ..
        } => ("venv", version.clone(), format!("{version} {base_prefix}")),
        EnvTool::Conda { .. } => {
            let spec = env.deps.python.clone().unwrap_or_else(|| "latest".into());
            ("conda", spec.clone(), spec)
        }
    };
    let mut key = format!("sweep-env 1\ntarget {target}\ntool {family}\npython {python_key}\n");
    if family == "conda" {
        for c in &env.deps.channels {
            key.push_str(&format!("channel {c}\n"));
        }
        for c in &env.deps.conda {
            key.push_str(&format!("conda {c}\n"));
        }
    }
    for p in &env.deps.pip {
        key.push_str(&format!("pip {p}\n"));
    }
    let hash = sha256_hex(key.as_bytes())[..super::HASH_LEN].to_string();
    Plan {
        target: target.to_string(),
        python,
        key,
        hash,
    }
}

/// The SHA-256 of `data` as lower-case hex: a digest that, unlike std's hashers, never
/// changes between Rust releases, so cache keys stay valid.
fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The folder pip runs in, so that relative paths in the requirements resolve as they
/// would for `pip install -r FILE` run next to the file.
fn pip_dir(env: &ManagedEnv) -> PathBuf {
    env.deps
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
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
    req: &ManagedEnv,
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
    let mut lines = req.deps.pip.join("\n");
    lines.push('\n');
    std::fs::write(&reqs, lines).map_err(io_fail)?;
    let _ = writeln!(
        log,
        "# sweep environment {}\n# key:\n{}",
        plan.hash, plan.key
    );
    let prefix = entry.prefix();
    let python = prefix.join("bin").join("python");
    match &req.tool {
        EnvTool::Venv { base, .. } => {
            progress(&format!("creating a virtualenv (python {})", plan.python));
            let mut cmd = Command::new(base);
            cmd.arg("-m").arg("venv").arg(&prefix);
            run_step(&mut cmd, &mut log, "`python -m venv`", progress).map_err(|what| Failure {
                what,
                hint: format!("the venv module may be missing (Debian/Ubuntu: `apt-get install python3-venv`); try `{} -m venv /tmp/x` by hand", base.display()),
            })?;
        }
        EnvTool::Conda { exe, name } => {
            let mut cmd = Command::new(exe);
            cmd.args(["create", "--yes", "--prefix"]).arg(&prefix);
            if !req.deps.channels.is_empty() {
                cmd.arg("--override-channels");
            }
            for c in &req.deps.channels {
                cmd.args(["-c", c]);
            }
            if req.deps.channels.is_empty() && *name == "micromamba" {
                // micromamba has no default channel.
                cmd.args(["-c", "conda-forge"]);
            }
            let mut specs = req.deps.conda.clone();
            specs.push(req.deps.python.clone().unwrap_or_else(|| "python".into()));
            if !req.deps.pip.is_empty() && !req.deps.conda.iter().any(|c| conda_name(c) == "pip") {
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
                        req.deps.shown
                    ),
                },
            )?;
        }
    }
    if !req.deps.pip.is_empty() {
        let n = req.deps.pip.iter().filter(|l| !l.starts_with('-')).count();
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
        .current_dir(pip_dir(req));
        run_step(&mut cmd, &mut log, "`pip install`", progress).map_err(|what| Failure {
            what,
            hint: format!(
                "check the package names and versions in {} (a name that does not exist on the index fails like this); `pip install -r {}` reproduces it",
                req.deps.shown,
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
    use crate::config::deps::{parse_conda, parse_requirements, DepsFile};
    use crate::config::diag::{render_all, Sink};
    use crate::config::env_tool::managed_env;
    use crate::spec::{Dependencies, DepsKind};

    fn key_of(deps: DepsFile) -> Plan {
        let mut sink = Sink::new("t.runconfig", "");
        let env = managed_env(deps, Some("venv"), &mut sink, Default::default())
            .unwrap_or_else(|| panic!("{}", render_all(&sink.diags)));
        plan(&env, "local")
    }

    #[test]
    fn formatting_never_changes_the_key() {
        if !crate::config::env_tool::python3_here() {
            return;
        }
        let reqs = |text: &str| parse_requirements(Path::new("r.txt"), "r.txt", text).unwrap();
        let a = reqs("tomli>=2\nsix\n");
        let b = reqs("# deps\n six   # compat\n\ntomli>=2\nsix\n");
        let c = reqs("tomli>=2\nsix==1.16\n");
        // The same list in a conda file's pip section is the same environment.
        let d = parse_conda(
            Path::new("e.yml"),
            "e.yml",
            "name: x\ndependencies:\n  - pip\n  - pip: [six, tomli>=2]\n",
        )
        .unwrap();
        let a2 = a.clone();
        let (ka, kb, kc, kd) = (key_of(a), key_of(b), key_of(c), key_of(d));
        assert_eq!(ka.hash, kb.hash);
        assert_eq!(ka.hash, kd.hash);
        assert_ne!(ka.hash, kc.hash);
        assert_eq!(ka.hash.len(), crate::managed_env::HASH_LEN);
        assert!(ka.key.contains("\npip six\npip tomli>=2\n"), "{}", ka.key);
        let mut sink = Sink::new("t.runconfig", "");
        let env = managed_env(a2, Some("venv"), &mut sink, Default::default()).unwrap();
        assert_ne!(plan(&env, "ssh:gpu1").hash, ka.hash);
    }

    /// The keys (and so the cache entries) of environments built by earlier releases.
    #[test]
    fn cache_keys_are_stable() {
        let deps = Dependencies {
            file: PathBuf::from("/p/environment.yml"),
            shown: "environment.yml".into(),
            kind: DepsKind::Conda,
            python: Some("python=3.11".into()),
            channels: vec!["conda-forge".into(), "defaults".into()],
            conda: vec!["numpy >=1.26".into(), "pip".into()],
            pip: vec!["six".into(), "tomli==2.0.1".into()],
        };
        let venv = EnvTool::Venv {
            base: PathBuf::from("/usr/bin/python3"),
            version: "3.11.7".into(),
            base_prefix: "/usr".into(),
        };
        let mamba = EnvTool::Conda {
            exe: PathBuf::from("/opt/conda/bin/mamba"),
            name: "mamba",
        };
        // A virtualenv's key holds the base interpreter and the pip lines only.
        let cases = [
            (
                venv,
                "sweep-env 1\ntarget local\ntool venv\npython 3.11.7 /usr\npip six\npip tomli==2.0.1\n",
                "3fad3325cf07b6ea",
            ),
            (
                mamba,
                "sweep-env 1\ntarget local\ntool conda\npython python=3.11\nchannel conda-forge\nchannel defaults\nconda numpy >=1.26\nconda pip\npip six\npip tomli==2.0.1\n",
                "23653433ce5a5325",
            ),
        ];
        for (tool, key, hash) in cases {
            let deps = deps.clone();
            let p = plan(&ManagedEnv { deps, tool }, "local");
            assert_eq!((p.key.as_str(), p.hash.as_str()), (key, hash));
            assert!(
                key.contains(&format!("\npython {}", p.python)),
                "{}",
                p.python
            );
            assert_eq!(p.target, "local");
        }
    }

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Two blocks (the padding spills over).
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            sha256_hex(&[b'a'; 1000]),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
