//! The `sweep` binary: runs the subcommand of the command line (`cli`), prints the error
//! that ended it, and exits with the code the README documents for that error.

mod cli;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(()) => cli::Exit::Success.into(),
        Err(e) => {
            let msg = e.to_string();
            if !msg.is_empty() {
                eprintln!("{}", msg.trim_end());
            }
            e.process_exit().into()
        }
    }
}
