//! `sweep validate`: report every problem of a config at once (exit 2), or print a summary
//! of the sweep it describes: parameters and domains, grid size, the policy's evaluation
//! schedule, the budget and the exact command line of a sample run.

use super::{CliError, CliResult, ValidateArgs};
use std::fmt::Write as _;
use sweep::config;
use sweep::space::Params;
use sweep::spec::{PolicyKind, Sampling, SweepSpec};

/// Runs `sweep validate`.
pub fn run(args: &ValidateArgs) -> CliResult {
    let runconfig = args.runconfig.as_deref().map(super::resolve_runconfig);
    let loaded = config::load(&args.hdconfig, runconfig.as_deref()).map_err(CliError::Config)?;
    for w in &loaded.warnings {
        eprintln!("{}", w.trim_end());
        eprintln!();
    }
    print!(
        "{}",
        summary(&loaded.spec, runconfig.is_some() || loaded.is_v2)
    );
    Ok(())
}

/// The human summary of a valid spec.
pub fn summary(spec: &SweepSpec, has_run: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "config is valid");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "sampling:   {}{}",
        spec.sampling.name(),
        spec.seed.map(|s| format!(", seed {s}")).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "objective:  {} {}",
        spec.goal.as_str(),
        spec.primary_metric
    );
    let _ = writeln!(out, "parameters: {}", spec.space.dim());
    let width = spec
        .space
        .params()
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0);
    for p in spec.space.params() {
        let cond = match p.condition {
            Some((parent, opt)) => {
                let parent = &spec.space.params()[parent];
                format!("   (only when {} = {opt})", parent.name)
            }
            None => String::new(),
        };
        // Padded by hand: `{:width$}` panics on widths past 65,535, and names may be longer.
        let pad = " ".repeat(width - p.name.chars().count());
        let _ = writeln!(out, "  {}{pad}  {}{cond}", p.name, p.domain.describe());
    }
    match spec.space.grid_size() {
        Some(g) => {
            // Shown as a number only when it can be counted.
            let _ = writeln!(out, "grid size:  {g}");
        }
        None if matches!(spec.sampling, Sampling::Grid) => {}
        None => {
            let _ = writeln!(out, "grid size:  infinite (continuous parameters)");
        }
    }
    let l = &spec.limits;
    let _ = writeln!(
        out,
        "budget:     {} runs, {} at once, {} minutes{}",
        l.max_total_runs,
        l.max_concurrent_runs,
        sweep::space::format_float(l.max_duration_minutes),
        l.max_run_duration_seconds
            .map(|s| format!(", {s} s per run"))
            .unwrap_or_default()
    );
    let p = &spec.policy;
    let rule = match &p.kind {
        PolicyKind::NoTermination => "none: every run goes to completion".to_string(),
        PolicyKind::Bandit {
            slack_factor: Some(f),
            ..
        } => format!("Bandit, slack_factor {f}"),
        PolicyKind::Bandit { slack_amount, .. } => {
            format!("Bandit, slack_amount {}", slack_amount.unwrap_or(0.0))
        }
        PolicyKind::MedianStopping => "MedianStopping".to_string(),
        PolicyKind::TruncationSelection {
            truncation_percentage,
        } => format!("TruncationSelection, lowest {truncation_percentage}%"),
    };
    let _ = writeln!(out, "policy:     {rule}");
    if !matches!(p.kind, PolicyKind::NoTermination) {
        let first: Vec<String> = (1..)
            .filter(|s| p.evaluates_at(*s))
            .take(4)
            .map(|s| s.to_string())
            .collect();
        let _ = writeln!(
            out,
            "            evaluated at intervals {}, ... (every {}, from {})",
            first.join(", "),
            p.evaluation_interval,
            first.first().map(String::as_str).unwrap_or("?")
        );
    }
    let _ = writeln!(out, "target:     {}", spec.run.target);
    if has_run {
        let sample = sample_params(spec);
        let argv = spec.run.argv(&sample);
        let _ = writeln!(out, "sample run: {}", shell_join(&argv));
        let _ = writeln!(
            out,
            "            (in a copy of {})",
            spec.run.source_dir.display()
        );
    } else {
        let _ = writeln!(out, "sample run: no run configuration given: pass `-c RUNCONFIG`, or `-- SCRIPT ARGS` to `sweep run`");
    }
    out
}

/// The first candidate the sweep would try: the grid's first point, or the centre of the
/// unit cube (each parameter's median) for the other samplers.
fn sample_params(spec: &SweepSpec) -> Params {
    match spec.sampling {
        Sampling::Grid => spec.space.grid_point(0).unwrap_or_default(),
        _ => spec.space.from_unit(&vec![0.5; spec.space.dim()]),
    }
}

/// Joins an argument vector for display, quoting what a POSIX shell would need quoted, so
/// the printed line can be pasted to reproduce the run.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| sweep::engine::argv::shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}
