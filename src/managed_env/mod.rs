//! Managed Python environments (`userManagedDependencies: false`): a run's environment is
//! built once from its dependency file (a conda environment YAML or a pip requirements
//! file), kept in a cache keyed by the normalised dependency list and the target, and reused
//! by every run of every later sweep until the list changes. See `docs/environments.md`.
//!
//! The config reads the file and chooses the tool (`config::deps`, `config::env_tool`),
//! giving the spec's [`ManagedEnv`]; here [`build`] computes the cache key and runs the
//! build, [`cache`] owns the on-disk entries and their locks, and [`prepare`] puts them
//! together for `sweep run`.

pub mod build;
pub mod cache;

pub use build::{plan, Plan};

use crate::spec::{EnvTool, ManagedEnv};
use cache::{Entry, Lock, Mode};
use std::path::PathBuf;
use std::time::Instant;

/// Hex digits of the key's SHA-256 that name a cache entry (64 bits: collisions between the
/// environments of one machine are not a concern).
pub const HASH_LEN: usize = 16;

/// The run environment variables [`Prepared::apply`] sets. A resumed sweep drops them from
/// its saved spec unless its config files define them, and applies its environment again.
pub const APPLIED_VARS: [&str; 3] = ["PATH", "VIRTUAL_ENV", "CONDA_PREFIX"];

/// Lines of the installer's output shown when a build fails.
pub const TAIL_LINES: usize = 25;

/// Why an environment could not be prepared. (What the tools here cannot build is a config
/// error, found when the dependency file is read.)
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// An installer failed; the message holds the tail of its output and a hint.
    #[error("{0}")]
    Build(String),
    /// The cache could not be used.
    #[error("environment cache: {0}")]
    Cache(String),
}

/// A ready environment. Holding it keeps a shared lock on the cache entry, so `sweep env
/// prune` leaves it alone while the sweep runs.
#[derive(Debug)]
pub struct Prepared {
    /// The cache key.
    pub hash: String,
    /// The environment's prefix.
    pub prefix: PathBuf,
    /// Its interpreter, `<prefix>/bin/python`.
    pub interpreter: PathBuf,
    /// Whether this call built it (rather than finding it in the cache).
    pub built: bool,
    /// Whether it is a conda prefix (else a virtualenv).
    pub conda: bool,
    _lease: Lock,
}

impl Prepared {
    /// Makes runs use the environment: its interpreter (as if `interpreterPath` pointed at
    /// it), its `bin/` first on PATH (so subprocesses and `command:` runs find it too), and
    /// `VIRTUAL_ENV` or `CONDA_PREFIX` as activation would set them (the variables of
    /// [`APPLIED_VARS`]). Records the prefix in `run.managed_prefix`.
    pub fn apply(&self, run: &mut crate::spec::RunSpec) {
        run.managed_prefix = Some(self.prefix.clone());
        if run.script.is_some() {
            run.interpreter = Some(self.interpreter.display().to_string());
        }
        let bin = self.prefix.join("bin");
        let path = run
            .environment
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        let path = if path.is_empty() {
            bin.display().to_string()
        } else {
            format!("{}:{path}", bin.display())
        };
        run.environment.insert("PATH".into(), path);
        let var = if self.conda {
            "CONDA_PREFIX"
        } else {
            "VIRTUAL_ENV"
        };
        run.environment
            .insert(var.into(), self.prefix.display().to_string());
    }
}

/// Takes a lock, telling the user (once: `said`) when it has to wait for another holder.
fn take(
    path: &std::path::Path,
    mode: Mode,
    hash: &str,
    said: &mut bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Lock, EnvError> {
    let err = |e| cache_err("cannot lock", path, e);
    if let Some(l) = Lock::take(path, mode, false).map_err(err)? {
        return Ok(l);
    }
    if !*said {
        *said = true;
        progress(&format!(
            "environment {hash}: another sweep is building it; waiting"
        ));
    }
    Ok(Lock::take(path, mode, true)
        .map_err(err)?
        .expect("a blocking lock is always taken"))
}

fn cache_err(what: &str, path: &std::path::Path, e: std::io::Error) -> EnvError {
    EnvError::Cache(format!("{what} {}: {e}", path.display()))
}

/// Finds the environment for `req` on `target` in the cache, building it first if needed,
/// and returns it locked for use. `progress` receives one line per phase. Two callers with
/// the same key never build twice: the first builds under an exclusive lock, the other
/// waits and then uses what was built.
pub fn prepare(
    req: &ManagedEnv,
    target: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Prepared, EnvError> {
    prepare_planned(&plan(req, target), req, progress)
}

/// Where the environment of `plan` lives (or will, once built): `<cache>/<hash>/env`.
pub fn prefix_of(plan: &Plan) -> PathBuf {
    Entry::new(&cache::root(), &plan.hash).prefix()
}

/// [`prepare`] with the plan (for `req` on its target) already made.
pub fn prepare_planned(
    plan: &Plan,
    req: &ManagedEnv,
    progress: &mut dyn FnMut(&str),
) -> Result<Prepared, EnvError> {
    let root = cache::root();
    std::fs::create_dir_all(&root).map_err(|e| cache_err("cannot create", &root, e))?;
    let entry = Entry::new(&root, &plan.hash);
    let lock_path = entry.lock_path();
    let mut built = false;
    // Says once that we wait for a build elsewhere (a lock held exclusively means a build or
    // a prune is under way).
    let mut said = false;
    // Bounded: each pass either finds a complete entry or builds one; only a prune racing
    // with us between the build and the shared lock sends us round again.
    for _ in 0..3 {
        let shared = take(&lock_path, Mode::Shared, &plan.hash, &mut said, progress)?;
        if let Some(meta) = entry.meta() {
            entry.touch();
            if !built {
                let created = meta.get("created").and_then(|v| v.as_u64()).unwrap_or(0);
                let python = meta.get("python").and_then(|v| v.as_str()).unwrap_or("?");
                progress(&format!(
                    "environment {}: using the cached {} environment (python {python}, built {} UTC) for {}",
                    plan.hash,
                    meta.get("tool").and_then(|v| v.as_str()).unwrap_or("?"),
                    crate::human::format_time(created),
                    req.deps.shown,
                ));
            }
            return Ok(Prepared {
                hash: plan.hash.clone(),
                prefix: entry.prefix(),
                interpreter: entry.prefix().join("bin").join("python"),
                built,
                conda: matches!(req.tool, EnvTool::Conda { .. }),
                _lease: shared,
            });
        }
        drop(shared);
        let exclusive = take(&lock_path, Mode::Exclusive, &plan.hash, &mut said, progress)?;
        if entry.meta().is_some() {
            // Built by whoever held the lock before us.
            continue;
        }
        if entry.dir.exists() {
            progress(&format!(
                "environment {}: discarding an incomplete earlier build (failed or interrupted)",
                plan.hash
            ));
            std::fs::remove_dir_all(&entry.dir)
                .map_err(|e| cache_err("cannot remove", &entry.dir, e))?;
        }
        std::fs::create_dir_all(&entry.dir)
            .map_err(|e| cache_err("cannot create", &entry.dir, e))?;
        progress(&format!(
            "environment {}: building from {} with {} (python {}) in {}",
            plan.hash,
            req.deps.shown,
            req.tool.name(),
            plan.python,
            entry.dir.display()
        ));
        let start = Instant::now();
        let mut step = |s: &str| progress(&format!("environment {}: {s}", plan.hash));
        match build::build(plan, req, &entry, &mut step) {
            Ok(python) => {
                let secs = start.elapsed().as_secs_f64();
                let meta = serde_json::json!({
                    "hash": plan.hash,
                    "tool": req.tool.name(),
                    "python": python,
                    "source": req.deps.file.display().to_string(),
                    "kind": req.deps.kind.as_str(),
                    "target": plan.target,
                    "created": cache::now(),
                    "build_seconds": (secs * 10.0).round() / 10.0,
                    "key": plan.key,
                });
                entry
                    .write_meta(&meta)
                    .map_err(|e| cache_err("cannot write", &entry.dir, e))?;
                entry.touch();
                progress(&format!(
                    "environment {}: built in {secs:.1} s ({}); log {}",
                    plan.hash,
                    crate::human::format_size(cache::size_of(&entry.dir)),
                    entry.log().display()
                ));
                built = true;
                drop(exclusive);
            }
            Err(f) => {
                // Keep the log for the user; the half-built prefix is of no use to anyone.
                let _ = std::fs::remove_dir_all(entry.prefix());
                drop(exclusive);
                return Err(EnvError::Build(render_failure(req, &entry, &f)));
            }
        }
    }
    Err(EnvError::Cache(format!(
        "environment {} was removed while this sweep was starting (a concurrent `sweep env prune`?); run again",
        plan.hash
    )))
}

/// The error shown when a build fails: what failed, the tail of the log, the hint.
fn render_failure(req: &ManagedEnv, entry: &Entry, f: &build::Failure) -> String {
    let log = std::fs::read_to_string(entry.log()).unwrap_or_default();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    // The failed command and what it printed, not the earlier steps.
    let from = lines.iter().rposition(|l| l.starts_with("$ ")).unwrap_or(0);
    let tail = &lines[from.max(lines.len().saturating_sub(TAIL_LINES))..];
    let mut out = format!(
        "error: building the environment for {} failed: {}\n  last lines of {}:\n",
        req.deps.shown,
        f.what,
        entry.log().display()
    );
    for l in tail {
        out.push_str("  | ");
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&format!("  = hint: {}\n", f.hint));
    out.push_str("no run was started");
    out
}
