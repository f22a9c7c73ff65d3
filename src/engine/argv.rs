//! Turning a candidate's parameters into the argument vector of a run (DESIGN §4.2), and
//! back into a command a user can paste into a shell.

use crate::space::Params;
use crate::spec::RunSpec;

/// The argument vector of a run: `[interpreter] script arguments… name value…` in
/// parameter-space order (names without leading dashes get `--`), or, for command runs,
/// `arguments` with every `${{search_space.x}}` replaced by the value of `x`.
pub fn build_argv(run: &RunSpec, params: &Params) -> Vec<String> {
    if run.is_command {
        return run
            .arguments
            .iter()
            .map(|a| substitute(a, params))
            .collect();
    }
    let mut argv = Vec::new();
    if let Some(i) = &run.interpreter {
        argv.push(i.clone());
    }
    if let Some(s) = &run.script {
        if run.interpreter.is_none() && !s.contains('/') {
            // Executed directly, a bare name would be looked up on PATH, not in the
            // working directory.
            argv.push(format!("./{s}"));
        } else {
            argv.push(s.clone());
        }
    }
    argv.extend(run.arguments.iter().cloned());
    for (name, value) in params.iter() {
        if name.starts_with('-') {
            argv.push(name.to_string());
        } else {
            argv.push(format!("--{name}"));
        }
        argv.push(value.to_string());
    }
    argv
}

/// Replaces `${{search_space.x}}` (spaces inside the braces allowed) by `x`'s value; an
/// unknown name is left as written (the validator reports it).
pub fn substitute(arg: &str, params: &Params) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = after[..end].trim();
        match inner
            .strip_prefix("search_space.")
            .and_then(|n| params.get(n.trim()))
        {
            Some(v) => out.push_str(&v.to_string()),
            None => out.push_str(&rest[start..start + 3 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Quotes one word for a POSIX shell (only when needed).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b'=' | b':' | b',' | b'+' | b'@' | b'%'
                )
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A shell command line that runs `argv` in `dir`.
pub fn reproduce_command(dir: &str, argv: &[String]) -> String {
    let cmd: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    format!("cd {} && {}", shell_quote(dir), cmd.join(" "))
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
            ["python", "t.py", "--b=64", "adam", "${{search_space.nope}}"]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("--lr"), "--lr");
        assert_eq!(
            reproduce_command("/src dir", &["python3".into(), "x y".into()]),
            "cd '/src dir' && python3 'x y'"
        );
    }
}
