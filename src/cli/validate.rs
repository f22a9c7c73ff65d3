//! `sweep validate`: report every problem of a config at once, or print a summary of the
//! sweep it describes.

use super::{CliError, CliResult, ValidateArgs};

/// Runs `sweep validate`.
pub fn run(args: &ValidateArgs) -> CliResult {
    let _ = args;
    Err(CliError::Failure("validate is being written".into()))
}
