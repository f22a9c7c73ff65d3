//! The `sweep` binary: parse the command line, run the subcommand, map errors to the exit
//! codes documented in the README.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        let msg = e.to_string();
        if !msg.is_empty() {
            eprintln!("{}", msg.trim_end());
        }
        std::process::exit(e.exit_code());
    }
}
