//! The `sweep` command line (docs/cli.md): argument definitions and dispatch to one module
//! per subcommand. Every subcommand returns a [`CliError`], which says its documented exit
//! code ([`error`]).

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub mod best;
pub mod env;
pub mod error;
pub mod export;
pub mod live;
pub mod logging;
pub mod mlflow;
pub mod preflight;
pub mod report;
pub mod resume;
pub mod run;
pub mod runs;
pub mod status;
pub mod targets;
pub mod term;
pub mod validate;

pub use error::{CliError, Exit, IoContext};

/// The result of a subcommand.
pub type CliResult = Result<(), CliError>;

/// A hyperparameter sweep scheduler for HyperDrive configs.
#[derive(Debug, Parser)]
#[command(
    name = "sweep",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  sweep validate hdconfig.yml -c train.runconfig
  sweep run hdconfig.yml -c train.runconfig
  sweep status latest --watch
  sweep runs latest
  sweep best latest --json

The reference of every command is docs/cli.md; `sweep man` writes the manual page."
)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
    /// Logging options.
    #[command(flatten)]
    pub log: logging::LogArgs,
}

/// Options every subcommand accepts.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// The workspace directory [default: $SWEEP_WORKSPACE, else ./.sweep].
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

impl Common {
    /// The workspace directory to use: `--workspace`, then `$SWEEP_WORKSPACE`, then `./.sweep`.
    pub fn workspace_dir(&self) -> PathBuf {
        self.workspace
            .clone()
            .or_else(|| std::env::var_os("SWEEP_WORKSPACE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".sweep"))
    }
}

/// The output formats of the commands that print a sweep's history (`runs`, `best`,
/// `export`, `status`): one spelling everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// JSON (pretty-printed).
    Json,
    /// CSV with a header row.
    Csv,
    /// JSON Lines: one compact JSON object per line.
    Jsonl,
}

/// `--format table|json|csv|jsonl`, with `--json` for `--format json`.
#[derive(Debug, Args, Clone, Default)]
pub struct FormatArg {
    /// The output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl FormatArg {
    /// The format asked for, else `default`.
    pub fn get(&self, default: Format) -> Format {
        self.asked().unwrap_or(default)
    }

    /// The format asked for, if one was.
    pub fn asked(&self) -> Option<Format> {
        if self.json {
            Some(Format::Json)
        } else {
            self.format
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a sweep config (and runconfig): every problem at once, or a summary.
    Validate(ValidateArgs),
    /// Run a sweep (on local processes, or on a named compute target).
    Run(Box<run::RunArgs>),
    /// Run a sweep, spelled like `az ml run submit-hyperdrive`.
    SubmitHyperdrive(Box<run::SubmitArgs>),
    /// List a sweep's runs.
    Runs(runs::RunsArgs),
    /// Show a sweep's best run and the command that reproduces it.
    Best(best::BestArgs),
    /// Export a sweep's history.
    Export(export::ExportArgs),
    /// Show one sweep's progress, or list every sweep.
    Status(status::StatusArgs),
    /// List the compute targets, or check one.
    Targets(targets::TargetsArgs),
    /// List or prune the cached managed environments.
    Env(env::EnvArgs),
    /// Write a self-contained HTML report of a sweep (plots, importance, runs).
    Report(report::ReportArgs),
    /// Log a sweep to an MLflow tracking server (a parent run, one child run per run).
    Mlflow(mlflow::MlflowArgs),
    /// Continue a sweep whose `sweep` process was stopped or died.
    Resume(resume::ResumeArgs),
    /// Stop a running sweep from another terminal.
    Cancel(resume::CancelArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  sweep completions bash > ~/.local/share/bash-completion/completions/sweep
  sweep completions zsh > ~/.zfunc/_sweep
  sweep completions fish > ~/.config/fish/completions/sweep.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per subcommand into a directory.
    #[command(after_help = "Examples:
  sweep man | man -l -
  sweep man --dir /usr/local/share/man/man1")]
    Man(ManArgs),
}

/// `sweep completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `sweep man [--dir DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `sweep.1` and a `sweep-SUBCOMMAND.1` page for each subcommand into DIR instead
    /// of printing `sweep.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `sweep validate HDCONFIG [-c RUNCONFIG]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep validate hdconfig.yml -c train.runconfig
  sweep validate sweep-job.yml
  sweep validate configs/random.yml -c configs/train.runconfig")]
pub struct ValidateArgs {
    /// The sweep config: a HyperDrive `hdconfig.yml` or an Azure ML v2 sweep job.
    pub hdconfig: PathBuf,
    /// The run configuration (`*.runconfig`).
    #[arg(short = 'c', long = "run-configuration", value_name = "RUNCONFIG")]
    pub runconfig: Option<PathBuf>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Resolves `-c RUNCONFIG` the way `az ml` does: a path if it exists, else a name looked up
/// as `.azureml/NAME.runconfig`, `aml_config/NAME.runconfig` or `NAME.runconfig`.
pub fn resolve_runconfig(given: &std::path::Path) -> PathBuf {
    if given.exists() {
        return given.to_path_buf();
    }
    let name = given.to_string_lossy();
    let name = name.trim_end_matches(".runconfig");
    [".azureml", "aml_config", "."]
        .iter()
        .map(|d| std::path::Path::new(d).join(format!("{name}.runconfig")))
        .find(|p| p.exists())
        .unwrap_or_else(|| given.to_path_buf())
}

/// Parses the process arguments and runs the subcommand.
pub fn run() -> CliResult {
    let cli = Cli::parse();
    logging::init(&cli.log)?;
    // The commands that only print end quietly when their output is closed (`| head`);
    // the others write to pipes of their own (runs, hosts) and keep SIGPIPE ignored.
    if matches!(
        cli.command,
        Command::Validate(_)
            | Command::Runs(_)
            | Command::Best(_)
            | Command::Export(_)
            | Command::Status(_)
            | Command::Completions(_)
            | Command::Man(_)
    ) {
        term::die_quietly_on_closed_stdout();
    }
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Run(args) => run::run(*args),
        Command::SubmitHyperdrive(args) => run::run(args.into_run()),
        Command::Runs(args) => runs::run(&args),
        Command::Best(args) => best::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Targets(args) => targets::run(&args),
        Command::Env(args) => env::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Mlflow(args) => mlflow::run(&args),
        Command::Resume(args) => resume::run(&args),
        Command::Cancel(args) => resume::cancel(&args),
        Command::Completions(args) => {
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "sweep", &mut std::io::stdout());
            Ok(())
        }
        Command::Man(args) => man(&args),
    }
}

/// `sweep man`: the manual page of `sweep` on stdout, or every page into a directory.
fn man(args: &ManArgs) -> CliResult {
    let cmd = Cli::command();
    let Some(dir) = &args.dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .or_io(|| "cannot render the manual page".into())?;
        use std::io::Write as _;
        return std::io::stdout()
            .write_all(&out)
            .or_io(|| "cannot write the manual page".into());
    };
    std::fs::create_dir_all(dir).or_io(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir)
        .or_io(|| format!("cannot write the manual pages into {}", dir.display()))?;
    term::outln(&format!("wrote the manual pages into {}", dir.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand's `--help` ends with examples of it.
    #[test]
    fn every_subcommand_has_examples_in_its_help() {
        fn check(cmd: &mut clap::Command, path: &str) {
            let help = cmd.render_help().to_string();
            assert!(
                help.contains("Examples:\n  sweep"),
                "`{path} --help` has no examples:\n{help}"
            );
            let subs: Vec<String> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .map(|s| s.get_name().to_string())
                .collect();
            for name in subs {
                let sub = cmd.find_subcommand_mut(&name).expect("listed");
                check(sub, &format!("{path} {name}"));
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        check(&mut cmd, "sweep");
    }

    #[test]
    fn json_is_an_alias_of_format_json() {
        let f = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Runs(r)) => Ok(r.format.get(Format::Table)),
            Ok(_) => unreachable!(),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(f(&["sweep", "runs", "x", "--json"]), Ok(Format::Json));
        assert_eq!(
            f(&["sweep", "runs", "x", "--format", "jsonl"]),
            Ok(Format::Jsonl)
        );
        assert_eq!(f(&["sweep", "runs", "x"]), Ok(Format::Table));
        assert_eq!(
            f(&["sweep", "runs", "x", "--json", "--format", "csv"]),
            Err(clap::error::ErrorKind::ArgumentConflict)
        );
    }

    #[test]
    fn the_manual_page_names_every_subcommand() {
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .unwrap();
        let page = String::from_utf8(out).unwrap();
        for sub in ["validate", "run", "runs", "best", "status", "completions"] {
            assert!(page.contains(sub), "{sub} missing from the page");
        }
    }
}
