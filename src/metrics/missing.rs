//! What the warning for a run without its primary metric ([`super::never_reported`]) adds
//! to what the run reported: every way sweep reads metrics, and the output lines that came
//! close (the name and a number on a line not read as a report of it).

/// Every way a script can report, as the warning lists them.
pub const WAYS: &str = "`@sweep {\"metric\": NAME, \"value\": ...}` lines, `NAME=value` lines, JSON lines in $SWEEP_METRICS_FILE, azureml's `run.log(NAME, value)`, `mlflow.log_metric(NAME, value)`";

/// The most near-miss lines quoted.
const MAX_LINES: usize = 2;
/// The longest quoted line, in characters.
const LINE_CHARS: usize = 120;

/// The hint for output lines that came close to reporting `primary`: up to two of `tail`
/// (the run's last lines) holding the name, in any case and as a whole word, and a number
/// after it, which the grammar did not read as a report of it.
pub fn output_near_miss(primary: &str, tail: &[String]) -> Option<String> {
    let lower = primary.to_lowercase();
    let lines: Vec<&str> = tail
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.starts_with(super::PREFIX) && mentions_with_number(l, &lower))
        .take(MAX_LINES)
        .collect();
    if lines.is_empty() {
        return None;
    }
    let shown: Vec<String> = lines
        .iter()
        .map(|l| format!("`{}`", l.chars().take(LINE_CHARS).collect::<String>()))
        .collect();
    Some(format!(
        "Its output has {}, which is not a report of it: print `{primary}=VALUE` (the name exactly as configured).",
        shown.join(" and ")
    ))
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
    fn output_lines_with_the_name_and_a_number_are_quoted() {
        let tail = lines(&[
            "Accuracy is 0.81",
            "val_accuracy is 0.7",
            "accuracyish 3",
            "@sweep {\"metric\":\"acc\"}",
            "Final accuracy -> 81.5% (epoch 3)",
            "accuracy went up",
        ]);
        assert_eq!(
            output_near_miss("accuracy", &tail).unwrap(),
            "Its output has `Accuracy is 0.81` and `Final accuracy -> 81.5% (epoch 3)`, which is not a report of it: print `accuracy=VALUE` (the name exactly as configured)."
        );
        assert_eq!(output_near_miss("acc", &tail), None);
        assert_eq!(output_near_miss("accuracy", &[]), None);
    }
}
