//! `sweep targets list` and `sweep targets check NAME`: what the targets file defines, and
//! whether a target works (it logs in or asks the cluster, runs a trivial command, and
//! reports its capacity, or what is wrong with a hint; exit 2 when something is).

use super::{CliError, CliResult, Common, IoContext};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use sweep::config::targets::{TargetDef, TargetKind, TargetsFile, FILE_NAME};
use sweep::target::registry;

/// `sweep targets ...`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep targets list
  sweep targets check gpu-pool --targets targets.yml")]
pub struct TargetsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TargetsAction,
    /// The targets file [default: $SWEEP_TARGETS, else `targets.yml` in the current
    /// directory or in the workspace].
    #[arg(long, global = true, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// The `sweep targets` subcommands.
#[derive(Debug, Subcommand)]
pub enum TargetsAction {
    /// List the targets: `local` and those of the targets file.
    #[command(after_help = "Examples:
  sweep targets list
  sweep targets list --targets cluster.yml")]
    List,
    /// Connect to a target, run a trivial command, report its capacity or what is wrong.
    #[command(after_help = "Examples:
  sweep targets check gpu-pool
  sweep targets check slurm --targets cluster.yml")]
    Check {
        /// The target's name.
        name: String,
    },
}

fn load(args: &TargetsArgs) -> Result<Option<TargetsFile>, CliError> {
    let dirs = [PathBuf::from("."), args.common.workspace_dir()];
    Ok(registry::load_file(args.targets.as_deref(), &dirs)?)
}

/// Runs `sweep targets`.
pub fn run(args: &TargetsArgs) -> CliResult {
    let file = load(args)?;
    match &args.action {
        TargetsAction::List => {
            list(file.as_ref(), args);
            Ok(())
        }
        TargetsAction::Check { name } => check(name, file.as_ref()),
    }
}

fn describe(def: &TargetDef) -> (String, String, String) {
    match &def.kind {
        TargetKind::Ssh(s) => {
            let slots: u64 = s.hosts.iter().map(|h| u64::from(h.slots)).sum();
            let cap = match def.max_runs {
                Some(m) if m < slots => format!("{m} (max_runs; {slots} slots)"),
                _ => slots.to_string(),
            };
            let hosts: Vec<String> = s
                .hosts
                .iter()
                .map(|h| {
                    let user = h
                        .user
                        .as_deref()
                        .map(|u| format!("{u}@"))
                        .unwrap_or_default();
                    format!("{user}{}:{} ×{}", h.address, h.port, h.slots)
                })
                .collect();
            ("ssh".into(), cap, hosts.join(", "))
        }
        TargetKind::Slurm(s) => {
            let mut d: Vec<String> = s
                .placement()
                .map(|(option, value)| format!("{option} {value}"))
                .collect();
            if let Some(c) = s.cpus_per_run {
                d.push(format!("{c} CPUs/run"));
            }
            if let Some(g) = s.gpus_per_run {
                d.push(format!("{g} GPUs/run"));
            }
            if d.is_empty() {
                d.push("default partition".into());
            }
            let cap = def
                .max_runs
                .map_or("the cluster's queue".to_string(), |m| m.to_string());
            ("slurm".into(), cap, d.join(", "))
        }
    }
}

fn list(file: Option<&TargetsFile>, args: &TargetsArgs) {
    let mut rows = vec![(
        "local".to_string(),
        "local".to_string(),
        "max_concurrent_runs".to_string(),
        "processes on this machine (built in)".to_string(),
    )];
    if let Some(f) = file {
        for t in &f.targets {
            let (kind, cap, details) = describe(t);
            rows.push((t.name.clone(), kind, cap, details));
        }
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let w1 = 5;
    let w2 = rows
        .iter()
        .map(|r| r.2.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:w0$}  {:w1$}  {:w2$}  DETAILS",
        "NAME", "TYPE", "CAPACITY"
    );
    for (n, k, c, d) in &rows {
        println!("{n:w0$}  {k:w1$}  {c:w2$}  {d}");
    }
    match file {
        Some(f) => println!("\ntargets file: {}", f.path.display()),
        None => println!(
            "\nno targets file: looked for $SWEEP_TARGETS, ./{FILE_NAME} and {}; see docs/targets.md",
            args.common.workspace_dir().join(FILE_NAME).display()
        ),
    }
}

fn check(name: &str, file: Option<&TargetsFile>) -> CliResult {
    if name == "local" {
        let ok = std::process::Command::new("true")
            .status()
            .is_ok_and(|s| s.success());
        println!(
            "target local: {}",
            if ok { "ok" } else { "cannot start processes" }
        );
        return if ok {
            Ok(())
        } else {
            Err(CliError::Failure("cannot start a process here".into()))
        };
    }
    let def = file.and_then(|f| f.get(name)).ok_or_else(|| {
        CliError::BadInput(format!(
            "unknown compute target `{name}`\n  = hint: {}",
            sweep::config::targets::unknown_target_hint(file, name)
        ))
    })?;
    match &def.kind {
        TargetKind::Ssh(cfg) => {
            let t = sweep::target::ssh::SshTarget::new(name, cfg.clone())
                .or_io(|| format!("target {name}"))?;
            println!("target {name} (ssh, {} host(s)):", cfg.hosts.len());
            let mut ok_slots = 0u64;
            let mut bad = 0;
            for (c, h) in t.check().iter().zip(&cfg.hosts) {
                let at = format!("{}:{}", h.address, h.port);
                match &c.result {
                    Ok(desc) => {
                        ok_slots += u64::from(c.slots);
                        println!("  ok    {} ({at}, {} slot(s)): {desc}", c.host, c.slots);
                    }
                    Err(e) => {
                        bad += 1;
                        println!("  FAIL  {} ({at}): {e}", c.host);
                        if let Some(hint) = &c.hint {
                            println!("        hint: {hint}");
                        }
                    }
                }
            }
            let total = t.capacity();
            let cap = def.max_runs.map_or(ok_slots, |m| m.min(ok_slots));
            println!(
                "capacity: {cap} run(s) at once ({} of {} host(s) reachable, {total} slot(s) configured)",
                cfg.hosts.len() - bad,
                cfg.hosts.len()
            );
            if bad > 0 {
                return Err(CliError::BadInput(format!(
                    "target {name}: {bad} of {} host(s) failed the check",
                    cfg.hosts.len()
                )));
            }
            Ok(())
        }
        TargetKind::Slurm(cfg) => {
            let t = sweep::target::slurm::SlurmTarget::new(
                name,
                cfg.clone(),
                sweep::target::slurm::JobShape::default(),
            );
            println!("target {name} (slurm):");
            let c = t.check();
            match c.result {
                Ok(desc) => {
                    println!("  ok    {desc}");
                    match def.max_runs {
                        Some(m) => println!("capacity: {m} run(s) at once (max_runs)"),
                        None => println!("capacity: as many as the cluster's queue takes (set max_runs to bound it)"),
                    }
                    Ok(())
                }
                Err(e) => {
                    println!("  FAIL  {e}");
                    if let Some(h) = &c.hint {
                        println!("        hint: {h}");
                    }
                    Err(CliError::BadInput(format!(
                        "target {name}: the cluster check failed"
                    )))
                }
            }
        }
    }
}
