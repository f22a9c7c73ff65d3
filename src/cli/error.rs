//! The errors that end a subcommand, and the one place that decides which documented exit
//! code each means (the README's table). Every error type a subcommand meets says its code
//! once, through [`ProcessExit`]; it converts into [`CliError`] with `?`, keeping its own
//! message, and [`CliError::process_exit`] asks it.

use super::export::ExportError;
use std::path::PathBuf;
use sweep::config::Problems;
use sweep::engine::resume::ResumeError;
use sweep::engine::EngineError;
use sweep::managed_env::EnvError;
use sweep::mlflow::MlflowError;
use sweep::store::StoreError;
use sweep::study::StudyError;
use sweep::target::registry::RegistryError;

/// The exit codes of `sweep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: a runtime failure: a sweep that could not run or ended `failed`, a managed
    /// environment whose build failed, an I/O error, `sweep best` with no best run.
    Failure,
    /// 2: bad input: an invalid config, an unknown sweep, wrong arguments.
    BadInput,
    /// 130: interrupted by Ctrl-C or SIGTERM (everything is recorded; the sweep resumes).
    Interrupted,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::BadInput => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        e.code().into()
    }
}

/// Which exit code an error means: implemented once per error type.
pub trait ProcessExit {
    /// The exit code this error ends `sweep` with.
    fn process_exit(&self) -> Exit;
}

/// An error that knows its exit code, as [`CliError`] carries it.
pub trait ExitError: std::error::Error + ProcessExit + Send + Sync {}

impl<E: std::error::Error + ProcessExit + Send + Sync> ExitError for E {}

/// An error that ends a subcommand: a message `main` prints, and the exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input the command line found itself; the message is rendered (with a hint).
    #[error("{0}")]
    BadInput(String),
    /// A runtime failure the command line found itself.
    #[error("{0}")]
    Failure(String),
    /// An I/O error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What failed, e.g. `cannot create DIR`.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The sweep was interrupted; live runs were stopped and everything is recorded.
    #[error("interrupted: live runs were stopped and everything is recorded; resume with `sweep resume {sweep} --workspace {}`", workspace.display())]
    Interrupted {
        /// The sweep's id.
        sweep: String,
        /// Its workspace.
        workspace: PathBuf,
    },
    /// An invalid config: every problem, rendered with its `file:line:col`.
    #[error("{}", .0.rendered)]
    Config(Problems),
    /// An error of the library (the history, resume, the engine, the targets file, an
    /// environment, a study, MLflow) or of an export; its message is its own.
    #[error("{0}")]
    Typed(Box<dyn ExitError>),
    /// Another error, with what was being done when it happened (`context: error`).
    #[error("{context}: {source}")]
    Context {
        /// What was being done, e.g. `--mlflow`.
        context: String,
        /// The error; it decides the exit code.
        source: Box<CliError>,
    },
}

impl CliError {
    /// The exit code this error ends `sweep` with.
    pub fn process_exit(&self) -> Exit {
        match self {
            CliError::BadInput(_) | CliError::Config(_) => Exit::BadInput,
            CliError::Failure(_) | CliError::Io { .. } => Exit::Failure,
            CliError::Interrupted { .. } => Exit::Interrupted,
            CliError::Typed(e) => e.process_exit(),
            CliError::Context { source, .. } => source.process_exit(),
        }
    }

    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// This error, shown after `context: `; the exit code stays this error's.
    pub fn context(self, context: impl Into<String>) -> CliError {
        CliError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

/// Every error type that says its exit code converts with `?`.
impl<E: ExitError + 'static> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::Typed(Box::new(e))
    }
}

/// `io::Result` with what was being done: `fs::write(..).or_io(|| format!("cannot write {p}"))`.
pub trait IoContext<T> {
    /// Turns an I/O error into [`CliError::Io`] with `what()` in front of it.
    fn or_io(self, what: impl FnOnce() -> String) -> Result<T, CliError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn or_io(self, what: impl FnOnce() -> String) -> Result<T, CliError> {
        self.map_err(|e| CliError::io(what(), e))
    }
}

impl ProcessExit for StoreError {
    /// An unknown sweep, or a workspace without a history, is bad input: the user named
    /// something that is not there. Everything else is an I/O or database failure.
    fn process_exit(&self) -> Exit {
        match self {
            StoreError::NotFound(_) => Exit::BadInput,
            StoreError::Sql(_)
            | StoreError::Io(_)
            | StoreError::TooNew { .. }
            | StoreError::WriterGone(_) => Exit::Failure,
        }
    }
}

impl ProcessExit for ResumeError {
    fn process_exit(&self) -> Exit {
        match self {
            ResumeError::Store(e) => e.process_exit(),
            ResumeError::Cannot(_) => Exit::BadInput,
        }
    }
}

impl ProcessExit for EngineError {
    fn process_exit(&self) -> Exit {
        match self {
            EngineError::Store(e) => e.process_exit(),
            // Another process runs the sweep: the user asked for something that cannot be.
            EngineError::Busy { .. } => Exit::BadInput,
            EngineError::Snapshot(_) | EngineError::Lock(..) => Exit::Failure,
        }
    }
}

impl ProcessExit for RegistryError {
    fn process_exit(&self) -> Exit {
        match self {
            RegistryError::File(_) | RegistryError::Unknown(_) => Exit::BadInput,
            RegistryError::Setup(_) => Exit::Failure,
        }
    }
}

impl ProcessExit for EnvError {
    fn process_exit(&self) -> Exit {
        match self {
            EnvError::Build(_) | EnvError::Cache(_) => Exit::Failure,
        }
    }
}

impl ProcessExit for StudyError {
    fn process_exit(&self) -> Exit {
        match self {
            StudyError::Store(e) => e.process_exit(),
            StudyError::Runtime(_) => Exit::Failure,
            // The rest (the type is non-exhaustive) say what is wrong with the study's
            // definition: for the command line, the spec's sampler or policy.
            _ => Exit::BadInput,
        }
    }
}

impl ProcessExit for MlflowError {
    fn process_exit(&self) -> Exit {
        match self {
            MlflowError::BadUri(_) => Exit::BadInput,
            MlflowError::Transient(_) | MlflowError::Rejected(_) => Exit::Failure,
            MlflowError::Store(e) => e.process_exit(),
        }
    }
}

impl ProcessExit for ExportError {
    fn process_exit(&self) -> Exit {
        match self {
            ExportError::Store(e) => e.process_exit(),
            ExportError::Io(_) => Exit::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_sweep_is_bad_input_and_a_broken_history_a_failure() {
        let unknown = || StoreError::NotFound("no sweep with id or name \"x\"".into());
        let broken = || StoreError::Io(std::io::Error::other("disk I/O error"));
        assert_eq!(CliError::from(unknown()).process_exit(), Exit::BadInput);
        assert_eq!(CliError::from(broken()).process_exit(), Exit::Failure);
        // However it arrives: through resume, the engine, a study or MLflow.
        for (e, want) in [
            (
                CliError::from(ResumeError::Store(unknown())),
                Exit::BadInput,
            ),
            (CliError::from(ResumeError::Store(broken())), Exit::Failure),
            (CliError::from(EngineError::Store(broken())), Exit::Failure),
            (CliError::from(StudyError::Store(broken())), Exit::Failure),
            (
                CliError::from(MlflowError::Store(unknown())),
                Exit::BadInput,
            ),
        ] {
            assert_eq!(e.process_exit(), want, "{e}");
        }
    }

    #[test]
    fn context_keeps_the_code_and_prefixes_the_message() {
        let e = CliError::from(MlflowError::BadUri("not http".into())).context("--mlflow");
        assert_eq!(e.to_string(), "--mlflow: not http");
        assert_eq!(e.process_exit(), Exit::BadInput);
        let e = CliError::from(MlflowError::Transient("timed out".into())).context("MLflow");
        assert_eq!(e.process_exit(), Exit::Failure);
    }

    #[test]
    fn messages_and_codes_of_the_command_lines_own_errors() {
        let e = CliError::Interrupted {
            sweep: "sw_1".into(),
            workspace: "ws".into(),
        };
        assert_eq!(
            e.to_string(),
            "interrupted: live runs were stopped and everything is recorded; resume with `sweep resume sw_1 --workspace ws`"
        );
        assert_eq!(e.process_exit().code(), 130);
        let e = std::fs::read("/nonexistent/x")
            .or_io(|| "cannot read /nonexistent/x".into())
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/x: No such file"),
            "{e}"
        );
        assert_eq!(e.process_exit().code(), 1);
        assert_eq!(CliError::BadInput("x".into()).process_exit().code(), 2);
    }
}
