//! The typed values the history records as text: a run's state, a sweep's state and why a
//! run ended. Each is written and read through its own text form, once, at the store's
//! boundary (`ToSql`/`FromSql`, `Serialize`), so the rest of the crate compares values,
//! never strings, and the stored text stays exactly what it always was.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use std::borrow::Cow;

/// The state of a run (the run state machine lives in the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Proposed and recorded, not yet launched.
    Queued,
    /// Being launched on the target.
    Starting,
    /// Alive on the target.
    Running,
    /// Exited with status 0.
    Completed,
    /// Exited with a non-zero status, a signal, or failed to launch.
    Failed,
    /// Stopped by sweep (timeout, policy, user, sweep limit).
    Canceled,
}

impl RunState {
    /// The lower-case name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Starting => "starting",
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Canceled => "canceled",
        }
    }

    /// Parses [`RunState::as_str`].
    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the state is terminal.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Failed | RunState::Canceled
        )
    }

    /// All states, in lifecycle order.
    pub const ALL: [RunState; 6] = [
        RunState::Queued,
        RunState::Starting,
        RunState::Running,
        RunState::Completed,
        RunState::Failed,
        RunState::Canceled,
    ];
}

/// The state of a sweep (a new one is running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SweepState {
    /// Launching and watching runs.
    #[default]
    Running,
    /// Finished its budget or its search space.
    Completed,
    /// Stopped by an error (for example, the first runs all failed the same way).
    Failed,
    /// Stopped by the user or its duration limit.
    Canceled,
}

impl SweepState {
    /// The lower-case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepState::Running => "running",
            SweepState::Completed => "completed",
            SweepState::Failed => "failed",
            SweepState::Canceled => "canceled",
        }
    }

    /// Parses [`SweepState::as_str`].
    pub fn parse(s: &str) -> Option<SweepState> {
        SweepState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// All states.
    pub const ALL: [SweepState; 4] = [
        SweepState::Running,
        SweepState::Completed,
        SweepState::Failed,
        SweepState::Canceled,
    ];
}

/// Why a run ended: the reason recorded with its terminal state.
///
/// `Display` prints the text stored in the history and shown by `sweep runs`, `sweep
/// export` and MLflow, and [`EndReason::parse`] reads it back: parsing any text and
/// printing it again gives the same text, byte for byte (a text of no known form is kept
/// as [`EndReason::Other`]).
#[derive(Debug, Clone, PartialEq)]
pub enum EndReason {
    /// `exit code N`: the run exited with this code (`exit code 0` for a completed run).
    Exit(i32),
    /// `signal N (NAME)`: a signal ended it.
    Signal(i32),
    /// `timeout: exceeded max_run_duration_seconds (S)`: sweep stopped it at its per-run
    /// limit of S seconds.
    Timeout(f64),
    /// `policy:<name>`: the early-termination policy stopped it.
    Policy(String),
    /// `user cancel`: the user interrupted the sweep.
    UserCancel,
    /// `sweep limit: <limit> reached`: sweep stopped it when the sweep reached that limit
    /// (`max_duration_minutes`).
    SweepLimit(String),
    /// `sweep failed: first runs failed`: sweep stopped it because the sweep's first runs
    /// all failed the same way.
    SweepFailed,
    /// `sweep stopped: <why>`: a library study was stopped with this reason.
    SweepStopped(String),
    /// `launch failed: <error>`: the target could not start it.
    LaunchFailed(String),
    /// `lost: <why>`: its process or host vanished without leaving an exit status.
    Lost(String),
    /// `slurm: <why>`: the Slurm controller ended it for its own reason (time limit, node
    /// failure, ...).
    Slurm(String),
    /// `completed`: a library trial told as finished.
    Completed,
    /// `pruned`: a library trial its caller stopped early.
    Pruned,
    /// Any other text: a library trial's failure in its caller's own words, or a reason
    /// this version does not know the form of.
    Other(String),
}

const TIMEOUT: (&str, &str) = ("timeout: exceeded max_run_duration_seconds (", ")");
const SWEEP_LIMIT: (&str, &str) = ("sweep limit: ", " reached");

impl EndReason {
    /// The reason written as `text`. Never fails: a text of no known form, or one that
    /// would not print back the same, is [`EndReason::Other`].
    pub fn parse(text: &str) -> EndReason {
        let typed = EndReason::typed(text);
        match typed {
            Some(r) if r.text() == text => r,
            _ => EndReason::Other(text.to_string()),
        }
    }

    fn typed(text: &str) -> Option<EndReason> {
        let inside = |(open, close): (&str, &str)| {
            text.strip_prefix(open)
                .and_then(|rest| rest.strip_suffix(close))
        };
        let tail = |prefix: &str| text.strip_prefix(prefix).map(str::to_string);
        Some(match text {
            "user cancel" => EndReason::UserCancel,
            "sweep failed: first runs failed" => EndReason::SweepFailed,
            "completed" => EndReason::Completed,
            "pruned" => EndReason::Pruned,
            _ => {
                if let Some(n) = text.strip_prefix("exit code ") {
                    EndReason::Exit(n.parse().ok()?)
                } else if let Some(rest) = text.strip_prefix("signal ") {
                    EndReason::Signal(rest.split(' ').next()?.parse().ok()?)
                } else if let Some(s) = inside(TIMEOUT) {
                    EndReason::Timeout(s.parse().ok()?)
                } else if let Some(limit) = inside(SWEEP_LIMIT) {
                    EndReason::SweepLimit(limit.to_string())
                } else {
                    tail("policy:")
                        .map(EndReason::Policy)
                        .or_else(|| tail("sweep stopped: ").map(EndReason::SweepStopped))
                        .or_else(|| tail("launch failed: ").map(EndReason::LaunchFailed))
                        .or_else(|| tail("lost: ").map(EndReason::Lost))
                        .or_else(|| tail("slurm: ").map(EndReason::Slurm))?
                }
            }
        })
    }

    /// The text recorded in the history.
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(match self {
            EndReason::Exit(c) => format!("exit code {c}"),
            EndReason::Signal(s) => format!("signal {s} ({})", signal_name(*s)),
            EndReason::Timeout(s) => format!("{}{s}{}", TIMEOUT.0, TIMEOUT.1),
            EndReason::Policy(name) => format!("policy:{name}"),
            EndReason::SweepLimit(l) => format!("{}{l}{}", SWEEP_LIMIT.0, SWEEP_LIMIT.1),
            EndReason::SweepStopped(why) => format!("sweep stopped: {why}"),
            EndReason::LaunchFailed(e) => format!("launch failed: {e}"),
            EndReason::Lost(why) => format!("lost: {why}"),
            EndReason::Slurm(why) => format!("slurm: {why}"),
            EndReason::UserCancel => return Cow::Borrowed("user cancel"),
            EndReason::SweepFailed => return Cow::Borrowed("sweep failed: first runs failed"),
            EndReason::Completed => return Cow::Borrowed("completed"),
            EndReason::Pruned => return Cow::Borrowed("pruned"),
            EndReason::Other(t) => return Cow::Borrowed(t),
        })
    }
}

/// The conventional name of a signal number.
fn signal_name(s: i32) -> &'static str {
    match s {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

impl From<&str> for EndReason {
    fn from(text: &str) -> EndReason {
        EndReason::parse(text)
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.text())
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::fmt::Display for SweepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for RunState {
    type Err = String;
    fn from_str(s: &str) -> Result<RunState, String> {
        RunState::parse(s).ok_or_else(|| format!("unknown run state {s:?}"))
    }
}

impl std::str::FromStr for SweepState {
    type Err = String;
    fn from_str(s: &str) -> Result<SweepState, String> {
        SweepState::parse(s).ok_or_else(|| format!("unknown sweep state {s:?}"))
    }
}

/// Reads a text column through `FromStr`; a text of no known form is a read error naming it.
fn column<T: std::str::FromStr<Err = String>>(v: ValueRef<'_>) -> FromSqlResult<T> {
    v.as_str()?
        .parse()
        .map_err(|e: String| FromSqlError::Other(e.into()))
}

impl FromSql for RunState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<RunState> {
        column(v)
    }
}

impl FromSql for SweepState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<SweepState> {
        column(v)
    }
}

impl FromSql for EndReason {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<EndReason> {
        Ok(EndReason::parse(v.as_str()?))
    }
}

impl ToSql for RunState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl ToSql for SweepState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl ToSql for EndReason {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.text().into_owned()))
    }
}

impl serde::Serialize for RunState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl serde::Serialize for SweepState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl serde::Serialize for EndReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text the engine, the targets and the library record, and how it reads back.
    fn recorded() -> Vec<(&'static str, EndReason)> {
        vec![
            ("exit code 0", EndReason::Exit(0)),
            ("exit code -3", EndReason::Exit(-3)),
            ("signal 15 (SIGTERM)", EndReason::Signal(15)),
            ("signal 64 (signal)", EndReason::Signal(64)),
            (
                "timeout: exceeded max_run_duration_seconds (0.5)",
                EndReason::Timeout(0.5),
            ),
            (
                "timeout: exceeded max_run_duration_seconds (30)",
                EndReason::Timeout(30.0),
            ),
            ("policy:bandit", EndReason::Policy("bandit".into())),
            ("user cancel", EndReason::UserCancel),
            (
                "sweep limit: max_duration_minutes reached",
                EndReason::SweepLimit("max_duration_minutes".into()),
            ),
            ("sweep failed: first runs failed", EndReason::SweepFailed),
            (
                "sweep stopped: enough",
                EndReason::SweepStopped("enough".into()),
            ),
            (
                "launch failed: spawn: No such file or directory (os error 2)",
                EndReason::LaunchFailed("spawn: No such file or directory (os error 2)".into()),
            ),
            (
                "lost: host a stopped answering for 30s (timeout)",
                EndReason::Lost("host a stopped answering for 30s (timeout)".into()),
            ),
            (
                "slurm: TIMEOUT (the job reached its Slurm time limit)",
                EndReason::Slurm("TIMEOUT (the job reached its Slurm time limit)".into()),
            ),
            ("completed", EndReason::Completed),
            ("pruned", EndReason::Pruned),
            (
                "diverged at epoch 3",
                EndReason::Other("diverged at epoch 3".into()),
            ),
        ]
    }

    #[test]
    fn every_recorded_reason_reads_back_typed_and_prints_the_same_text() {
        for (text, reason) in recorded() {
            assert_eq!(EndReason::parse(text), reason, "{text}");
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn a_text_that_would_not_print_back_the_same_stays_as_it_is() {
        for text in [
            "exit code 007",
            "exit code x",
            "signal 15 (SIGKILL)",
            "timeout: exceeded max_run_duration_seconds (1.50)",
            "sweep limit: ",
            "",
        ] {
            assert_eq!(EndReason::parse(text), EndReason::Other(text.into()));
            assert_eq!(EndReason::parse(text).to_string(), text);
        }
    }

    #[test]
    fn states_print_their_stored_names_and_pad_like_text() {
        for st in RunState::ALL {
            assert_eq!(RunState::parse(&st.to_string()), Some(st));
        }
        for st in SweepState::ALL {
            assert_eq!(st.as_str().parse::<SweepState>(), Ok(st));
        }
        assert_eq!(format!("[{:<9}]", RunState::Failed), "[failed   ]");
        assert_eq!(format!("[{:<9}]", EndReason::Exit(1)), "[exit code 1]");
        assert_eq!(
            "paused".parse::<RunState>(),
            Err("unknown run state \"paused\"".into())
        );
    }
}
