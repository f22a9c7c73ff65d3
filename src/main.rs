//! The `sweep` binary: runs the subcommand of the command line (`cli`), prints the error
//! that ended it, and exits with the code the README documents for that error.

mod cli;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(()) => cli::Exit::Success.into(),
        Err(e) => {
            let msg = e.to_string();
            if !msg.is_empty() {
                cli::term::errln(&error_text(&msg));
            }
            e.process_exit().into()
        }
    }
}

/// An error's message as printed: each error starts with `error:` (rendered config problems
/// already do, line by line).
fn error_text(msg: &str) -> String {
    let msg = msg.trim_end();
    if msg.starts_with("error:") {
        msg.to_string()
    } else {
        format!("error: {msg}")
    }
}
