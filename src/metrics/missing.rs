//! The warning for a run that ended without its primary metric, built in one place: what
//! the run reported, every way sweep reads metrics, and what its output shows when it came
//! close (the name in another case, the name and a number on a line sweep does not read as
//! a report).

/// Every way a script can report, as the warning lists them.
pub const WAYS: &str = "`@sweep {\"metric\": NAME, \"value\": ...}` lines, `NAME=value` lines, JSON lines in $SWEEP_METRICS_FILE, azureml's `run.log(NAME, value)`, `mlflow.log_metric(NAME, value)`";

/// The most near-miss lines quoted.
const MAX_LINES: usize = 2;
/// The longest quoted line, in characters.
const LINE_CHARS: usize = 120;

/// The warning for run `id`, which never reported `primary`: `reported` is what it did
/// report (names), `tail` its last lines of output.
pub fn warning(id: &str, primary: &str, reported: &[&str], tail: &[String]) -> String {
    let what = if reported.is_empty() {
        "no metrics at all".to_string()
    } else {
        format!("only: {}", reported.join(", "))
    };
    let mut s = format!(
        "run {id} never reported the primary metric {primary:?} (it reported {what}); it can never be the best run. sweep reads {WAYS}"
    );
    for hint in near_misses(primary, reported, tail) {
        s.push_str("; ");
        s.push_str(&hint);
    }
    if !s.contains("; it reported `") && !s.contains("; its output has") {
        s.push_str("; or check the metric name in the config");
    }
    s
}

/// What came close to a report of `primary`: a reported name differing only in case, and
/// output lines holding the name (in any case) and a number that were not reports.
pub fn near_misses(primary: &str, reported: &[&str], tail: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let lower = primary.to_lowercase();
    if let Some(n) = reported
        .iter()
        .find(|n| **n != primary && n.to_lowercase() == lower)
    {
        out.push(format!(
            "it reported `{n}`, which differs from {primary:?} only in case: names are case-sensitive, so change `primary_metric_name` or the name the script logs"
        ));
    }
    let lines: Vec<&str> = tail
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.starts_with(super::PREFIX) && mentions_with_number(l, &lower))
        .take(MAX_LINES)
        .collect();
    if !lines.is_empty() {
        let shown: Vec<String> = lines
            .iter()
            .map(|l| format!("`{}`", l.chars().take(LINE_CHARS).collect::<String>()))
            .collect();
        out.push(format!(
            "its output has {}, which is not a report: print `{primary}=VALUE` alone on a line (the name exactly as configured), or one of the above",
            shown.join(" and ")
        ));
    }
    out
}

/// Whether `line` holds `lower_name` (compared in lower case, as a whole word) and a number
/// after it.
fn mentions_with_number(line: &str, lower_name: &str) -> bool {
    if lower_name.is_empty() {
        return false;
    }
    let l = line.to_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    l.match_indices(lower_name).any(|(i, _)| {
        let before = l[..i].chars().next_back();
        let rest = &l[i + lower_name.len()..];
        !word(before)
            && !word(rest.chars().next())
            && rest
                .split(|c: char| c.is_whitespace() || matches!(c, '=' | ':' | ',' | '(' | ')'))
                .filter(|t| !t.is_empty())
                .take(3)
                .any(|t| t.trim_end_matches(['%', '.']).parse::<f64>().is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_warning_lists_every_way_and_says_nothing_more_without_a_near_miss() {
        let w = warning("r_1", "acc", &["loss"], &lines(&["epoch 1", "done"]));
        assert_eq!(
            w,
            format!("run r_1 never reported the primary metric \"acc\" (it reported only: loss); it can never be the best run. sweep reads {WAYS}; or check the metric name in the config")
        );
    }

    #[test]
    fn a_name_in_another_case_is_named() {
        let w = warning("r_1", "Accuracy", &["accuracy"], &[]);
        assert!(
            w.contains("it reported `accuracy`, which differs from \"Accuracy\" only in case"),
            "{w}"
        );
        assert!(!w.contains("check the metric name"), "{w}");
    }

    #[test]
    fn output_lines_with_the_name_and_a_number_are_quoted() {
        let tail = lines(&[
            "Accuracy is 0.81",
            "val_accuracy: 0.7",
            "accuracyish 3",
            "@sweep {\"metric\":\"acc\"}",
            "Final accuracy: 81.5% (epoch 3)",
            "accuracy went up",
        ]);
        let hints = near_misses("accuracy", &[], &tail);
        assert_eq!(
            hints,
            ["its output has `Accuracy is 0.81` and `Final accuracy: 81.5% (epoch 3)`, which is not a report: print `accuracy=VALUE` alone on a line (the name exactly as configured), or one of the above"]
        );
        assert!(near_misses("acc", &["acc"], &tail).is_empty());
    }
}
