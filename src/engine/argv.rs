//! Turning a candidate's parameters into the argument vector of a run (docs/run-protocol.md), and
//! back into a command a user can paste into a shell.

use crate::space::Params;
use crate::spec::RunSpec;
use crate::target::shell::{join, quote};

/// The argument vector of a run: [`RunSpec::argv`] (docs/run-protocol.md), the one place that
/// builds it, so `sweep validate`, the launcher and the reproduce command always agree.
pub fn build_argv(run: &RunSpec, params: &Params) -> Vec<String> {
    run.argv(params)
}

/// A shell command line that runs `argv` in `dir`, quoted for pasting into a shell.
pub fn reproduce_command(dir: &str, argv: &[String]) -> String {
    format!("cd {} && {}", quote(dir), join(argv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Value;

    fn params() -> Params {
        Params(vec![
            ("--lr".into(), Value::Float(0.001)),
            ("batch".into(), Value::Int(64)),
            ("opt".into(), Value::Str("adam".into())),
        ])
    }

    #[test]
    fn script_argv_prefixes_dashes_and_formats_values() {
        let run = RunSpec {
            interpreter: Some("python3".into()),
            script: Some("train.py".into()),
            arguments: vec!["--epochs".into(), "3".into()],
            ..Default::default()
        };
        assert_eq!(
            build_argv(&run, &params()),
            [
                "python3", "train.py", "--epochs", "3", "--lr", "0.001", "--batch", "64", "--opt",
                "adam"
            ]
        );
    }

    #[test]
    fn command_argv_substitutes_placeholders() {
        let run = RunSpec {
            is_command: true,
            arguments: vec![
                "python".into(),
                "t.py".into(),
                "--b=${{search_space.batch}}".into(),
                "${{ search_space.opt }}".into(),
                "${{search_space.nope}}".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            build_argv(&run, &params()),
            // A name with no value (an inactive nested parameter) becomes the empty string.
            ["python", "t.py", "--b=64", "adam", ""]
        );
    }

    #[test]
    fn the_reproduce_command_quotes_what_a_shell_would_change() {
        assert_eq!(
            reproduce_command(
                "/src dir",
                &["python3".into(), "x y".into(), "it's".into(), "--lr".into()]
            ),
            "cd '/src dir' && python3 'x y' \"it's\" --lr"
        );
    }
}
