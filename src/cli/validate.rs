//! `sweep validate`: report every problem of a config at once (exit 2), or print a summary
//! of the sweep it describes: parameters and domains, grid size, the policy's evaluation
//! schedule, the budget and the exact command line of a sample run.

use super::preflight;
use super::term::{errln, outln};
use super::{CliError, CliResult, ValidateArgs};
use std::fmt::Write as _;
use sweep::config::diag::{Diagnostic, Severity};
use sweep::config::{self, Loaded};
use sweep::space::Params;
use sweep::spec::{PolicyKind, Sampling, SweepSpec};

/// Runs `sweep validate`.
pub fn run(args: &ValidateArgs) -> CliResult {
    let runconfig = args.runconfig.as_deref().map(super::resolve_runconfig);
    let loaded = config::load(&args.hdconfig, runconfig.as_deref()).map_err(CliError::Config)?;
    print_diagnostics(&loaded, false);
    let has_run = runconfig.is_some() || loaded.is_v2;
    // What `sweep run` will hit: the interpreter, the snapshot's exclusions.
    let checks = has_run.then(|| preflight::check(&loaded.spec));
    if let Some(c) = &checks {
        for w in &c.warnings {
            errln(&format!("warning: {w}"));
        }
        if !c.errors.is_empty() {
            let text = c
                .errors
                .iter()
                .map(|e| format!("error: {e}"))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(CliError::BadInput(text));
        }
    }
    print!("{}", summary(&loaded.spec, has_run));
    if let Some(c) = &checks {
        for l in c.summary() {
            outln(&l);
        }
    }
    Ok(())
}

/// Prints a loaded config's warnings and notes on stderr: warnings in full, notes (Azure ML
/// settings that have no effect here, and the like) folded into one line each kind, and
/// none of them with `quiet`.
pub fn print_diagnostics(loaded: &Loaded, quiet: bool) {
    let (notes, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) = loaded
        .diagnostics
        .iter()
        .partition(|d| d.severity == Severity::Note);
    for w in warnings {
        errln(w.render().trim_end());
        errln("");
    }
    if !quiet {
        if let Some(line) = fold_notes(&notes) {
            errln(&line);
        }
    }
}

/// The notes in one line: those that say a setting has no effect as the setting and where
/// it is (`compute: cpu-cluster (hd.yml:12)`), the others by their message.
fn fold_notes(notes: &[&Diagnostic]) -> Option<String> {
    if notes.is_empty() {
        return None;
    }
    let (inert, other): (Vec<&&Diagnostic>, Vec<&&Diagnostic>) =
        notes.iter().partition(|d| d.message.contains("no effect"));
    let mut parts = Vec::new();
    if !inert.is_empty() {
        let settings: Vec<String> = inert
            .iter()
            .map(|d| {
                let line = d
                    .span
                    .and_then(|s| d.source.text.lines().nth(s.line.saturating_sub(1)))
                    .map(|l| l.trim().trim_start_matches("- ").to_string())
                    .filter(|l| !l.is_empty())
                    .unwrap_or_else(|| d.message.clone());
                format!("{} ({})", super::term::cut(&line, 40), d.location())
            })
            .collect();
        parts.push(format!("no effect in sweep: {}", settings.join(", ")));
    }
    for d in other {
        parts.push(format!("{} ({})", d.message, d.location()));
    }
    Some(format!("note: {}", parts.join("; ")))
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
        let _ = writeln!(out, "sample run: {}", sweep::target::shell::join(&argv));
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
