//! A run's argument vector (built by [`crate::spec::RunSpec::argv`], the one place that
//! builds it, so `sweep validate`, the launcher and this command always agree) as a command
//! a user can paste into a shell.

use crate::target::shell::{join, quote};

/// A shell command line that runs `argv` in `dir`, quoted for pasting into a shell.
pub fn reproduce_command(dir: &str, argv: &[String]) -> String {
    format!("cd {} && {}", quote(dir), join(argv))
}

#[cfg(test)]
mod tests {
    use super::*;

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
