//! `sweep env list` and `sweep env prune`: the cached managed environments, and the step of
//! `sweep run` that builds or finds a run's environment before anything else happens.

use super::{CliError, CliResult, Common, IoContext};
use clap::{Args, Subcommand};
use sweep::managed_env::cache::{self, Entry, Lock, Mode};
use sweep::managed_env::Prepared;

/// `sweep env list|prune`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep env list
  sweep env prune --older-than 30")]
pub struct EnvArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EnvCommand,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// The `sweep env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List cached environments: hash, python, size, created, last used, source file.
    #[command(after_help = "Examples:
  sweep env list
  sweep env list --json")]
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove cached environments no running sweep uses (by default only incomplete ones).
    #[command(after_help = "Examples:
  sweep env prune
  sweep env prune --older-than 30
  sweep env prune --all")]
    Prune {
        /// Also remove environments not used for this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<f64>,
        /// Remove every environment not in use.
        #[arg(long)]
        all: bool,
    },
}

/// Builds or finds the managed environment of `run`, if it has one, and points the run at
/// it. The returned lease must be held until the sweep ends. A build failure ends
/// `sweep run` before anything is recorded (exit 1); a dependency file the tools here cannot
/// satisfy was already refused as bad input when the config was read (exit 2).
pub fn prepare(run: &mut sweep::spec::RunSpec, quiet: bool) -> Result<Option<Prepared>, CliError> {
    let Some(req) = run.managed_env.clone() else {
        return Ok(None);
    };
    let target = local_only(run, &req)?;
    let plan = sweep::managed_env::plan(&req, target);
    finish(run, &plan, &req, quiet).map(Some)
}

/// For a resumed sweep that ran in a managed environment (`run.managed_prefix`): prepares
/// that environment again from `req`, its dependency list as the config files give it now
/// (`None`: they no longer ask for one), rebuilding it if it was pruned, and points the run
/// at it as [`prepare`] does. Refuses (exit 2), before building anything, when the list no
/// longer gives the same environment: the rest of the sweep would run in another one.
pub fn prepare_again(
    run: &mut sweep::spec::RunSpec,
    req: Option<sweep::spec::ManagedEnv>,
    sweep: &str,
    quiet: bool,
) -> Result<Option<Prepared>, CliError> {
    let Some(was) = run.managed_prefix.clone() else {
        return Ok(None);
    };
    let Some(req) = req else {
        return Err(CliError::BadInput(format!(
            "sweep {sweep} ran in the managed environment {}, but its runconfig no longer asks for one (`userManagedDependencies: false` with `condaDependenciesFile` or `requirementsFile`); resuming would run its remaining candidates with another interpreter\n  = hint: restore those keys in the runconfig to resume, or start a new sweep (`--resume-from {sweep}` warm-starts it from this one)",
            was.display()
        )));
    };
    let target = local_only(run, &req)?;
    let plan = sweep::managed_env::plan(&req, target);
    let now = sweep::managed_env::prefix_of(&plan);
    if now != was {
        // `<cache>/<hash>/env`
        let entry = was.parent().unwrap_or(&was);
        let was_hash = entry.file_name().map(|h| h.to_string_lossy());
        let (why, hint) = if was_hash.as_deref() == Some(plan.hash.as_str()) {
            (
                format!(
                    "the environment cache is now {} (SWEEP_ENV_CACHE, XDG_CACHE_HOME or HOME differ from when it started)",
                    cache::root().display()
                ),
                format!(
                    "resume with SWEEP_ENV_CACHE={}",
                    entry.parent().unwrap_or(entry).display()
                ),
            )
        } else {
            (
                format!(
                    "{} now gives the environment {} (its dependency list, or the Python or builder it is built with, changed since the sweep started)",
                    req.deps.shown, plan.hash
                ),
                format!(
                    "restore {} as it was to resume; or start a new sweep with the new dependencies (`--resume-from {sweep}` warm-starts it from this one)",
                    req.deps.shown
                ),
            )
        };
        return Err(CliError::BadInput(format!(
            "sweep {sweep} ran in the managed environment {}, but {why}; resuming would run its remaining candidates in another environment\n  = hint: {hint}",
            was.display()
        )));
    }
    finish(run, &plan, &req, quiet).map(Some)
}

/// Managed environments are built for the `local` target only; returns that target's name.
fn local_only(
    run: &sweep::spec::RunSpec,
    req: &sweep::spec::ManagedEnv,
) -> Result<&'static str, CliError> {
    let target = if run.target.is_empty() {
        "local"
    } else {
        run.target.as_str()
    };
    if target != "local" {
        // Building on the machine running sweep would give remote runs an interpreter path
        // that does not exist there; per-host builds are designed, not built yet.
        return Err(CliError::BadInput(format!(
            "managed environments (`userManagedDependencies: false` with {}) are built for the `local` target only, not yet on `{target}`\n  = hint: prepare the interpreter on the target's hosts and set `userManagedDependencies: true` with `interpreterPath`; see docs/environments.md",
            req.deps.shown
        )));
    }
    Ok("local")
}

/// Builds or finds the environment of `plan` and points `run` at it.
fn finish(
    run: &mut sweep::spec::RunSpec,
    plan: &sweep::managed_env::Plan,
    req: &sweep::spec::ManagedEnv,
    quiet: bool,
) -> Result<Prepared, CliError> {
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let prepared = sweep::managed_env::prepare_planned(plan, req, &mut progress)?;
    prepared.apply(run);
    Ok(prepared)
}

/// Runs `sweep env`.
pub fn run(args: &EnvArgs) -> CliResult {
    let root = cache::root();
    match &args.command {
        EnvCommand::List { json } => list(&root, *json),
        EnvCommand::Prune { older_than, all } => prune(&root, *older_than, *all),
    }
}

fn list(root: &std::path::Path, json: bool) -> CliResult {
    let mut rows = Vec::new();
    for e in cache::entries(root) {
        let meta = e.meta();
        let get = |k: &str| {
            meta.as_ref()
                .and_then(|m| m.get(k).cloned())
                .unwrap_or(serde_json::Value::Null)
        };
        let in_use = match Lock::take(&e.lock_path(), Mode::Exclusive, false) {
            Ok(Some(_)) => false,
            Ok(None) => true,
            Err(_) => false,
        };
        rows.push(serde_json::json!({
            "hash": e.hash,
            "complete": meta.is_some(),
            "in_use": in_use,
            "tool": get("tool"),
            "python": get("python"),
            "source": get("source"),
            "size_bytes": cache::size_of(&e.dir),
            "created": get("created"),
            "last_used": e.last_used(),
            "path": e.dir.display().to_string(),
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("serializable")
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no cached environments in {}", root.display());
        return Ok(());
    }
    let time = |v: &serde_json::Value| v.as_u64().map_or("-".into(), sweep::human::format_time);
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let python = match (r["complete"].as_bool(), r["python"].as_str()) {
                (Some(true), Some(p)) => format!("{} {p}", r["tool"].as_str().unwrap_or("")),
                _ => "(incomplete)".into(),
            };
            [
                r["hash"].as_str().unwrap_or("").to_string(),
                python,
                sweep::human::format_size(r["size_bytes"].as_u64().unwrap_or(0)),
                time(&r["created"]),
                time(&r["last_used"]),
                if r["in_use"].as_bool() == Some(true) {
                    "yes".into()
                } else {
                    "".into()
                },
                r["source"].as_str().unwrap_or("-").to_string(),
            ]
        })
        .collect();
    let head = [
        "HASH",
        "PYTHON",
        "SIZE",
        "CREATED (UTC)",
        "LAST USED (UTC)",
        "IN USE",
        "SOURCE",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    println!("{}", line(head.to_vec()));
    for row in &table {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
    println!("cache: {}", root.display());
    Ok(())
}

fn prune(root: &std::path::Path, older_than: Option<f64>, all: bool) -> CliResult {
    if let Some(d) = older_than {
        if !(d.is_finite() && d >= 0.0) {
            return Err(CliError::BadInput(format!(
                "--older-than takes a number of days >= 0, got {d}"
            )));
        }
    }
    let cutoff = older_than.map(|d| cache::now().saturating_sub((d * 86_400.0) as u64));
    let (mut removed, mut freed, mut busy) = (0usize, 0u64, 0usize);
    for e in cache::entries(root) {
        let Some(lock) = Lock::take(&e.lock_path(), Mode::Exclusive, false)
            .or_io(|| format!("cannot lock {}", e.lock_path().display()))?
        else {
            busy += 1;
            continue;
        };
        let complete = e.meta().is_some();
        let stale = cutoff.is_some_and(|c| e.last_used().is_none_or(|t| t < c));
        if !(all || !complete || stale) {
            continue;
        }
        let size = cache::size_of(&e.dir);
        remove_entry(&e, lock)?;
        removed += 1;
        freed += size;
        println!(
            "removed {}{} ({})",
            e.hash,
            if complete { "" } else { " (incomplete)" },
            sweep::human::format_size(size)
        );
    }
    println!(
        "{removed} environment{} removed, {} freed{}",
        if removed == 1 { "" } else { "s" },
        sweep::human::format_size(freed),
        if busy > 0 {
            format!("; {busy} in use by a running sweep or build, kept")
        } else {
            String::new()
        }
    );
    if !all && older_than.is_none() {
        println!("(only incomplete builds are removed by default; use --older-than DAYS or --all for built environments)");
    }
    Ok(())
}

/// Removes an entry while holding its exclusive lock: the marker first, so that a crash
/// midway leaves an incomplete entry (discarded later) rather than a broken complete one.
fn remove_entry(e: &Entry, lock: Lock) -> CliResult {
    let what = || format!("cannot remove {}", e.dir.display());
    match std::fs::remove_file(e.dir.join(cache::MARKER)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(CliError::io(what(), err))
        }
        _ => {}
    }
    std::fs::remove_dir_all(&e.dir).or_io(what)?;
    lock.remove_file();
    Ok(())
}
