//! Config reading end to end: every example config is valid, every broken one is rejected
//! with a diagnostic at the offending token (checked against the location its first line
//! states, and snapshotted as rendered), and `sweep validate` maps both to exit codes.

use crate::support::{output, repo, sweep_command, Ran};
use std::path::{Path, PathBuf};
use sweep::config::{self, diag::Severity};

/// `sweep validate CFG` with the runconfig it is meant to be validated with.
fn validate(cfg: &Path) -> Ran {
    let mut cmd = sweep_command();
    cmd.arg("validate").arg(cfg);
    if let Some(rc) = runconfig_for(cfg) {
        cmd.arg("-c").arg(rc);
    }
    output(&mut cmd)
}

/// The runconfig an example sweep config is meant to be validated with.
fn runconfig_for(cfg: &Path) -> Option<PathBuf> {
    let name = cfg.file_stem().unwrap().to_string_lossy().to_string();
    let dir = cfg.parent().unwrap();
    if dir.ends_with("invalid") {
        let own = dir.join("runconfigs").join(format!("{name}.runconfig"));
        return if own.exists() {
            Some(own)
        } else if name.starts_with("v2") {
            None
        } else {
            Some(repo().join("configs/train.runconfig"))
        };
    }
    if name.starts_with("v2") {
        None
    } else if name == "grid" {
        Some(dir.join("train-no-epochs.runconfig"))
    } else {
        Some(dir.join("train.runconfig"))
    }
}

fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    v.sort();
    v
}

/// `files`, checked to be at least `n`.
#[track_caller]
fn at_least(n: usize, what: &str, files: Vec<PathBuf>) -> Vec<PathBuf> {
    assert!(
        files.len() >= n,
        "need at least {n} {what}, found {}",
        files.len()
    );
    files
}

/// `(file, line, col)` stated in an invalid config's first line: `(error at FILE:L:C)`.
fn expected_location(cfg: &Path) -> (PathBuf, usize, usize) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let first = text.lines().next().unwrap();
    let loc = first
        .split("error at ")
        .nth(1)
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{} states no location", cfg.display()));
    let mut parts = loc.rsplitn(3, ':');
    let col = parts.next().unwrap().parse().unwrap();
    let line = parts.next().unwrap().parse().unwrap();
    (cfg.parent().unwrap().join(parts.next().unwrap()), line, col)
}

#[test]
fn every_example_config_is_valid() {
    for cfg in at_least(8, "example configs", yml_files(&repo().join("configs"))) {
        let rc = runconfig_for(&cfg);
        if let Err(p) = config::load(&cfg, rc.as_deref()) {
            panic!("{} should be valid:\n{}", cfg.display(), p.rendered);
        }
    }
}

#[test]
fn examples_cover_every_sampler_policy_and_expression() {
    use sweep::spec::{PolicyKind, Sampling};
    let mut expressions = std::collections::BTreeSet::new();
    let mut samplers = std::collections::BTreeSet::new();
    let mut policies = std::collections::BTreeSet::new();
    for cfg in yml_files(&repo().join("configs")) {
        let spec = config::load(&cfg, runconfig_for(&cfg).as_deref())
            .unwrap()
            .spec;
        for p in spec.space.params() {
            expressions.insert(p.domain.expression());
        }
        samplers.insert(spec.sampling.name());
        policies.insert(match spec.policy.kind {
            PolicyKind::NoTermination => "none",
            PolicyKind::Bandit {
                slack_factor: Some(_),
                ..
            } => "bandit-factor",
            PolicyKind::Bandit { .. } => "bandit-amount",
            PolicyKind::MedianStopping => "median",
            PolicyKind::TruncationSelection { .. } => "truncation",
        });
        let _ = matches!(spec.sampling, Sampling::Grid);
    }
    assert_eq!(expressions.len(), 10, "{expressions:?}");
    assert_eq!(samplers.len(), 4, "{samplers:?}");
    assert_eq!(policies.len(), 5, "{policies:?}");
}

#[test]
fn every_invalid_config_points_at_its_mistake() {
    let dir = repo().join("configs/invalid");
    for cfg in at_least(20, "broken configs", yml_files(&dir)) {
        let rc = runconfig_for(&cfg);
        let (file, line, col) = expected_location(&cfg);
        let problems = match config::load(&cfg, rc.as_deref()) {
            Ok(_) => panic!("{} should be rejected", cfg.display()),
            Err(p) => p,
        };
        let want_file = file.display().to_string();
        let hit = problems.diagnostics.iter().any(|d| {
            d.severity == Severity::Error
                && d.source.name == want_file
                && d.span.is_some_and(|s| s.line == line && s.col == col)
        });
        assert!(
            hit,
            "{}: expected an error at {want_file}:{line}:{col}, got:\n{}",
            cfg.display(),
            problems.rendered
        );
        // The rendered text carries the location.
        assert!(problems
            .rendered
            .contains(&format!("{want_file}:{line}:{col}")));
        // Snapshots show paths relative to the repository, whatever the checkout.
        let rendered = problems
            .rendered
            .replace(&format!("{}/", repo().display()), "");
        let name = cfg.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(format!("invalid__{name}"), rendered);
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "\
sampling:
  type: randum
  parameter_space:
  - name: a
    expression: uniform
    values: [2, 1]
  - name: b
    expression: quniform
    values: [0, 1, -1]
  - name: a
    expression: choice
    values: []
policy:
  type: BanditPolicy
primary_metric_name: acc
primary_metric_goal: up
max_total_runs: 0
";
    let p = config::load_str("multi.yml", text, Path::new("multi.yml"), None).unwrap_err();
    let errors: Vec<String> = p
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.location())
        .collect();
    for loc in [
        "multi.yml:2:9",
        "multi.yml:6:14",
        "multi.yml:9:20",
        "multi.yml:12:13",
        "multi.yml:14:9",
        "multi.yml:16:22",
        "multi.yml:17:17",
    ] {
        assert!(
            errors.contains(&loc.to_string()),
            "missing {loc} in {errors:?}\n{}",
            p.rendered
        );
    }
}

#[test]
fn yaml_pitfalls_are_handled_deliberately() {
    // `yes`/`no` stay strings in a choice; a duplicate key is an error.
    let ok = "sampling:\n  type: random\n  parameter_space:\n  - name: flag\n    expression: choice\n    values: [yes, no, on]\nprimary_metric_name: m\nprimary_metric_goal: maximize\nmax_total_runs: 3\n";
    let spec = config::load_str("p.yml", ok, Path::new("p.yml"), None)
        .unwrap()
        .spec;
    let sweep::space::Domain::Choice { options } = &spec.space.params()[0].domain else {
        panic!()
    };
    assert_eq!(
        options,
        &vec![
            sweep::space::Value::Str("yes".into()),
            sweep::space::Value::Str("no".into()),
            sweep::space::Value::Str("on".into())
        ]
    );
    let dup = format!("{ok}max_total_runs: 4\n");
    let p = config::load_str("p.yml", &dup, Path::new("p.yml"), None).unwrap_err();
    assert!(
        p.rendered.contains("duplicate key `max_total_runs`"),
        "{}",
        p.rendered
    );
}

#[test]
fn sweep_validate_exit_codes() {
    for cfg in yml_files(&repo().join("configs")) {
        let out = validate(&cfg);
        let stdout = out.stdout();
        assert_eq!(
            out.exit_code(),
            Some(0),
            "{}: {}{}",
            cfg.display(),
            stdout,
            out.stderr()
        );
        assert!(
            stdout.contains("config is valid") && stdout.contains("budget:"),
            "{stdout}"
        );
        if runconfig_for(&cfg).is_some() || cfg.to_string_lossy().contains("v2") {
            assert!(stdout.contains("sample run: "), "{stdout}");
        }
    }
    for cfg in yml_files(&repo().join("configs/invalid")) {
        let out = validate(&cfg);
        let stderr = out.stderr();
        assert_eq!(out.exit_code(), Some(2), "{}: {stderr}", cfg.display());
        let (file, line, col) = expected_location(&cfg);
        assert!(
            stderr.contains(&format!("{}:{line}:{col}", file.display())),
            "{}:\n{stderr}",
            cfg.display()
        );
    }
}

#[test]
fn validate_prints_the_exact_sample_command() {
    // The grid example's own runconfig is `train-no-epochs.runconfig`.
    let stdout = validate(&repo().join("configs/grid.yml")).stdout();
    // The grid's first point, integral q-values as integers, in parameter-space order.
    assert!(
        stdout.contains("train.py --optimizer sgd --seed 0 --epochs 4 --penalty 0\n"),
        "{stdout}"
    );
    assert!(stdout.contains("grid size:  24"), "{stdout}");
}

#[test]
fn missing_file_is_bad_input() {
    let out = output(sweep_command().args(["validate", "no/such/file.yml"])).code(2);
    assert!(out
        .stderr()
        .contains("cannot read sweep config `no/such/file.yml`"));
}

#[test]
fn command_line_program_takes_the_parameters() {
    let cfg = repo().join("configs/no-termination.yml");
    let mut spec = config::load(&cfg, None).unwrap().spec;
    assert!(spec.run.script.is_none() && spec.run.arguments.is_empty());
    let argv: Vec<String> = ["python3", "train.py", "--epochs", "3"]
        .map(String::from)
        .to_vec();
    config::apply_command_line(&mut spec, &argv).unwrap();
    let p = spec.space.from_unit(&[0.0, 0.0]);
    assert_eq!(
        spec.run.argv(&p),
        [
            "python3",
            "train.py",
            "--epochs",
            "3",
            "--learning_rate",
            "0.05",
            "--optimizer",
            "sgd"
        ]
    );
    let mut spec = config::load(&cfg, None).unwrap().spec;
    let clash: Vec<String> = ["prog", "--optimizer=adam"].map(String::from).to_vec();
    let err = config::apply_command_line(&mut spec, &clash).unwrap_err();
    assert!(err.contains("--optimizer"), "{err}");
}

#[test]
fn runconfig_command_form_runs_any_program() {
    let spec = config::load(
        &repo().join("configs/no-termination.yml"),
        Some(&repo().join("configs/command.runconfig")),
    )
    .unwrap()
    .spec;
    let p = spec.space.from_unit(&[1.0, 1.0]);
    assert_eq!(
        spec.run.argv(&p),
        [
            "python3",
            "-u",
            "train.py",
            "--epochs",
            "5",
            "--learning_rate",
            "0.5",
            "--optimizer",
            "adagrad"
        ]
    );
}

#[test]
fn validate_lists_a_parameter_name_longer_than_any_format_width() {
    // Past 65,535 characters `{:width$}` panics; the name is still a legal argument.
    let name = format!("--{}", "n".repeat(70_000));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("long.yml");
    let text = format!(
        "sampling:\n  type: grid\n  parameter_space:\n  - name: {name}\n    expression: choice\n    values: [1, 2]\n  - name: --b\n    expression: choice\n    values: [3]\nprimary_metric_name: acc\nprimary_metric_goal: Maximize\n"
    );
    std::fs::write(&cfg, text).unwrap();
    let out = output(sweep_command().arg("validate").arg(&cfg)).success();
    let stdout = out.stdout();
    // Both names listed, the short one padded to the long one's width.
    assert!(
        stdout.contains(&format!("  {name}  choice(1, 2)\n")),
        "{}",
        &stdout[..200]
    );
    let padded = format!("  --b{}  choice(3)\n", " ".repeat(name.len() - 3));
    assert!(stdout.contains(&padded), "the short name is not padded");
}
