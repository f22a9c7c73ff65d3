//! What a run reported, by kind of source, and the one warning built from it: the run
//! that never reported the primary metric. The warning's text is made here only, by
//! [`never_reported`], so every hint about what the run did report is added in one place.

use super::{Report, SourceKind};
use std::collections::BTreeMap;

/// The metric names a run reported, each with the kinds of source it came through (`None`
/// for a report of unknown origin: one recorded by an earlier session, or a scripted one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    names: BTreeMap<String, Vec<Option<SourceKind>>>,
    /// Metric names the run's script logged to another run, each with the first such run
    /// (at most [`super::MAX_OTHER_RUN_NAMES`]).
    other_runs: BTreeMap<String, String>,
}

impl Seen {
    /// Notes one report. Allocates only for a name or a source not seen before.
    pub fn add(&mut self, r: &Report) {
        self.add_name(&r.name, r.at.as_ref().map(|at| at.source.kind()));
    }

    /// Notes that `name` was reported through a source of `kind`.
    pub fn add_name(&mut self, name: &str, kind: Option<SourceKind>) {
        match self.names.get_mut(name) {
            Some(kinds) if kinds.contains(&kind) => {}
            Some(kinds) => {
                kinds.push(kind);
                kinds.sort();
            }
            None => {
                self.names.insert(name.to_string(), vec![kind]);
            }
        }
    }

    /// Notes that the run's script logged `metric` to another run, `run` (an MLflow run it
    /// created, an azureml child run): not a report of this run.
    pub fn add_other_run(&mut self, metric: &str, run: &str) {
        if self.other_runs.len() < super::MAX_OTHER_RUN_NAMES
            && !self.other_runs.contains_key(metric)
        {
            self.other_runs.insert(metric.to_string(), run.to_string());
        }
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Forgets everything (a rerun reports afresh).
    pub fn clear(&mut self) {
        self.names.clear();
        self.other_runs.clear();
    }
}

/// The warning for run `run_id` that ended without reporting `primary`: what it did report,
/// grouped by the kind of source it came through, a hint for a name that differs from the
/// primary metric's only in case (names are matched exactly, never guessed), one for the
/// primary metric logged to another run than the run's own, and how to report it.
/// `tail`, the run's last output lines, is searched for near misses
/// ([`super::missing::output_near_miss`]).
pub fn never_reported(run_id: &str, primary: &str, seen: &Seen, tail: &[String]) -> String {
    let reported = if seen.is_empty() {
        "no metrics at all".to_string()
    } else {
        // Per kind of source, in the order of `SourceKind` (unknown first), its names.
        let mut by_kind: BTreeMap<Option<SourceKind>, Vec<&str>> = BTreeMap::new();
        for (name, kinds) in &seen.names {
            for k in kinds {
                by_kind.entry(*k).or_default().push(name);
            }
        }
        let parts: Vec<String> = by_kind
            .iter()
            .map(|(k, names)| match k {
                Some(k) => format!("{} in its {}", names.join(", "), k.label()),
                None => names.join(", "),
            })
            .collect();
        format!("only: {}", parts.join("; "))
    };
    let mut text = format!(
        "run {run_id} never reported the primary metric {primary:?} (it reported {reported}); it can never be the best run."
    );
    for name in seen
        .names()
        .filter(|n| *n != primary && n.eq_ignore_ascii_case(primary))
    {
        text.push_str(&format!(
            " {name:?} differs from it only in case: metric names are matched exactly, so rename one of them."
        ));
    }
    if let Some((name, run)) = seen
        .other_runs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(primary))
    {
        text.push_str(&format!(
            " Its script logged {name:?} to another run ({run}), one it created itself (`mlflow.start_run(nested=True)`, a second `mlflow.start_run()`, `MlflowClient().create_run`, azureml's `run.child_run()`): sweep reads only the values logged to the run's own run, the active run MLflow gives it (`MLFLOW_RUN_ID`) or `Run.get_context()`."
        ));
    }
    if let Some(hint) = super::missing::output_near_miss(primary, tail) {
        text.push(' ');
        text.push_str(&hint);
    }
    text.push_str(&format!(
        " sweep reads {}; or check the metric name in the config",
        super::missing::WAYS
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Position, Source};

    fn from(kind: SourceKind, name: &str) -> Report {
        Report {
            at: Some(Position {
                source: Source::new(kind, "f"),
                end: 1,
            }),
            ..Report::new(name, 1.0, None)
        }
    }

    #[test]
    fn the_warning_lists_every_source_and_hints_at_a_case_only_difference() {
        let mut seen = Seen::default();
        assert_eq!(
            never_reported("r_1", "acc", &seen, &[]),
            format!("run r_1 never reported the primary metric \"acc\" (it reported no metrics at all); it can never be the best run. sweep reads {}; or check the metric name in the config", crate::metrics::missing::WAYS)
        );
        for _ in 0..3 {
            seen.add(&from(SourceKind::Output, "loss"));
        }
        seen.add(&from(SourceKind::MetricsFile, "loss"));
        seen.add(&from(SourceKind::Output, "Acc"));
        seen.add(&from(SourceKind::TensorBoard, "train/acc"));
        seen.add_name("lr", None);
        seen.add_other_run("Acc", "abc123");
        assert_eq!(
            never_reported("r_1", "acc", &seen, &[]),
            format!("run r_1 never reported the primary metric \"acc\" (it reported only: lr; Acc, loss in its output; loss in its metrics file; train/acc in its TensorBoard event files); it can never be the best run. \"Acc\" differs from it only in case: metric names are matched exactly, so rename one of them. Its script logged \"Acc\" to another run (abc123), one it created itself (`mlflow.start_run(nested=True)`, a second `mlflow.start_run()`, `MlflowClient().create_run`, azureml's `run.child_run()`): sweep reads only the values logged to the run's own run, the active run MLflow gives it (`MLFLOW_RUN_ID`) or `Run.get_context()`. sweep reads {}; or check the metric name in the config", crate::metrics::missing::WAYS)
        );
        seen.clear();
        assert!(!never_reported("r_1", "acc", &seen, &[]).contains("another run"));
    }
}
