//! One run's state machine inside the dispatcher: a [`Slot`] is a run's identity and
//! metric bookkeeping, and its [`Phase`] holds exactly the data that is valid in each part
//! of its life (a handle only once the target gave one, an early exit only while the launch
//! has not returned, a terminal reason only once it ended). The methods of [`Phase`] are
//! the only transitions, so the dispatcher cannot build an invalid combination, and
//! [`outcome`] is how an observed exit becomes the run's terminal state and reason.

use super::skip::Skip;
use crate::space::Params;
use crate::store::{EndReason, RunState};
use crate::target::{ExitStatus, RunHandle};
use std::collections::HashMap;
use std::time::Instant;

/// Sweep asked the run to stop: the reason it ends `Canceled` with, and the numbers behind
/// a policy's decision (recorded with the run).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stop {
    pub(super) reason: EndReason,
    pub(super) detail: Option<serde_json::Value>,
}

impl Stop {
    /// A stop with no numbers behind it (user, timeout, sweep limit).
    pub(super) fn because(reason: EndReason) -> Stop {
        Stop {
            reason,
            detail: None,
        }
    }
}

/// A run's exit as its target reported it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Exit {
    pub(super) status: ExitStatus,
    /// The last lines of its output.
    pub(super) tail: Vec<String>,
    /// Malformed metric lines it printed.
    pub(super) malformed: u64,
}

/// A run an earlier session recorded unfinished, as a resumed sweep finds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Recorded {
    /// `Queued`, `Starting` or `Running`.
    pub(super) state: RunState,
    /// The target's handle, if the earlier session recorded one.
    pub(super) handle: Option<RunHandle>,
    /// When it started running (Unix seconds), for its per-run time limit.
    pub(super) started: Option<f64>,
    /// The policy decided to stop it while the history was replayed.
    pub(super) stop: Option<Stop>,
}

/// Where a run is in its life.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    /// Left unfinished by an earlier session; adopted or launched when the resumed sweep
    /// starts.
    Recorded(Recorded),
    /// Handed to the target, whose launch has not returned yet. Its exit can arrive before
    /// the launch result: it waits here.
    Starting {
        stop: Option<Stop>,
        early_exit: Option<Exit>,
    },
    /// Alive on the target.
    Running {
        handle: RunHandle,
        /// When its per-run time limit passes.
        deadline: Option<Instant>,
        stop: Option<Stop>,
    },
    /// Ended (its exit observed, its launch failed, or it could not be re-adopted).
    Ended {
        /// `Completed`, `Failed` or `Canceled`.
        state: RunState,
        reason: EndReason,
        /// A retry of this (lost) run exists: the retry stands for the candidate.
        retried: bool,
    },
}

/// What asking a run to stop did.
#[derive(Debug, PartialEq)]
pub(super) enum StopAsked {
    /// It has ended, or a stop was already asked for: nothing changes.
    Ignored,
    /// Recorded; the target is asked once the run has a handle.
    Pending,
    /// Recorded; the target must stop the run with this handle now.
    Now(RunHandle),
}

/// What a launch result found.
#[derive(Debug, PartialEq)]
pub(super) struct Launched {
    /// The exit that arrived before the launch result: handle it now.
    pub(super) early_exit: Option<Exit>,
    /// A stop was asked for while it was starting: the target must stop it now.
    pub(super) stop_pending: bool,
}

impl Phase {
    /// Its state, as recorded in the history.
    pub(super) fn state(&self) -> RunState {
        match self {
            Phase::Recorded(r) => r.state,
            Phase::Starting { .. } => RunState::Starting,
            Phase::Running { .. } => RunState::Running,
            Phase::Ended { state, .. } => *state,
        }
    }

    /// Whether it has ended.
    pub(super) fn is_ended(&self) -> bool {
        matches!(self, Phase::Ended { .. })
    }

    /// The stop sweep asked for, if it is live and one was asked for.
    pub(super) fn stop(&self) -> Option<&Stop> {
        match self {
            Phase::Recorded(r) => r.stop.as_ref(),
            Phase::Starting { stop, .. } | Phase::Running { stop, .. } => stop.as_ref(),
            Phase::Ended { .. } => None,
        }
    }

    /// Whether a stop may still be asked for: it is live and none was asked for yet.
    pub(super) fn stoppable(&self) -> bool {
        !self.is_ended() && self.stop().is_none()
    }

    /// Its handle while it runs.
    pub(super) fn handle(&self) -> Option<&RunHandle> {
        match self {
            Phase::Running { handle, .. } => Some(handle),
            _ => None,
        }
    }

    /// When its per-run time limit passes, if it is running, has one, and is not already
    /// being stopped.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Running {
                deadline,
                stop: None,
                ..
            } => *deadline,
            _ => None,
        }
    }

    /// Whether a retry of it exists.
    pub(super) fn retried(&self) -> bool {
        matches!(self, Phase::Ended { retried: true, .. })
    }

    /// A retry of this ended run was created. Only an ended run is retried: otherwise
    /// nothing changes.
    pub(super) fn set_retried(&mut self) {
        if let Phase::Ended { retried, .. } = self {
            *retried = true;
        }
    }

    /// Records that sweep asks it to stop (the first stop asked for is the one it ends
    /// with).
    pub(super) fn ask_stop(&mut self, new: Stop) -> StopAsked {
        let (slot, handle) = match self {
            Phase::Recorded(r) => (&mut r.stop, None),
            Phase::Starting { stop, .. } => (stop, None),
            Phase::Running { handle, stop, .. } => (stop, Some(handle.clone())),
            Phase::Ended { .. } => return StopAsked::Ignored,
        };
        if slot.is_some() {
            return StopAsked::Ignored;
        }
        *slot = Some(new);
        match handle {
            Some(h) => StopAsked::Now(h),
            None => StopAsked::Pending,
        }
    }

    /// Handed to the target (a new run, or a recorded one that never started): `Starting`.
    /// A stop recorded for a run that never started does not carry over.
    pub(super) fn start(&mut self) {
        *self = Phase::Starting {
            stop: None,
            early_exit: None,
        };
    }

    /// The target launched it: `Starting` becomes `Running`. `None` (and no change) if it
    /// was not starting.
    pub(super) fn launched(
        &mut self,
        handle: RunHandle,
        deadline: Option<Instant>,
    ) -> Option<Launched> {
        let Phase::Starting { stop, early_exit } = self else {
            return None;
        };
        let (stop, early_exit) = (stop.take(), early_exit.take());
        let launched = Launched {
            early_exit,
            stop_pending: stop.is_some(),
        };
        *self = Phase::Running {
            handle,
            deadline,
            stop,
        };
        Some(launched)
    }

    /// A recorded run is alive and watched again: `Running`. Returns the stop the replayed
    /// policy decided, to be asked for now.
    pub(super) fn adopted(&mut self, handle: RunHandle, deadline: Option<Instant>) -> Option<Stop> {
        let stop = match self {
            Phase::Recorded(r) => r.stop.take(),
            _ => None,
        };
        *self = Phase::Running {
            handle,
            deadline,
            stop: None,
        };
        stop
    }

    /// Its exit arrived. While it is starting the exit waits for the launch result
    /// (`None`); otherwise it is handed back to be handled now.
    pub(super) fn exited(&mut self, exit: Exit) -> Option<Exit> {
        match self {
            Phase::Starting { early_exit, .. } => {
                *early_exit = Some(exit);
                None
            }
            _ => Some(exit),
        }
    }

    /// It ended with `state` and `reason`. Returns the stop sweep had asked for, if any.
    pub(super) fn end(&mut self, state: RunState, reason: EndReason) -> Option<Stop> {
        let stop = match self {
            Phase::Recorded(r) => r.stop.take(),
            Phase::Starting { stop, .. } | Phase::Running { stop, .. } => stop.take(),
            Phase::Ended { .. } => None,
        };
        *self = Phase::Ended {
            state,
            reason,
            retried: false,
        };
        stop
    }
}

/// How a run whose exit was observed ends: `Canceled` with the stop's reason if sweep asked
/// it to stop; else `Completed` for exit code 0, and `Failed` with the exit's reason
/// (`exit code N`, `signal N (NAME)`, `lost: …`, `slurm: …`) for anything else.
pub(super) fn outcome(stop: Option<&Stop>, status: &ExitStatus) -> (RunState, EndReason) {
    match (stop, status) {
        (Some(s), _) => (RunState::Canceled, s.reason.clone()),
        (None, ExitStatus::Code(0)) => (RunState::Completed, status.reason()),
        (None, _) => (RunState::Failed, status.reason()),
    }
}

/// One run of the sweep as the dispatcher tracks it.
pub(super) struct Slot {
    pub(super) id: String,
    pub(super) params: Params,
    pub(super) argv: Vec<String>,
    pub(super) phase: Phase,
    /// The run this one retries.
    pub(super) retry_of: Option<usize>,
    /// Reports per metric so far (the interval of the next one is one more).
    pub(super) intervals: HashMap<String, u64>,
    /// What an earlier session already recorded: an adopted run's files are read again
    /// from the start, and these reports are not recorded twice.
    pub(super) skip: Skip,
    /// The metrics it reported, by kind of source: what the warning for a run without the
    /// primary metric lists.
    pub(super) seen: crate::metrics::Seen,
    /// Reports of the primary metric so far.
    pub(super) primary: u32,
    /// Its best finite primary value.
    pub(super) best: Option<f64>,
    /// Times its target started it over; its metrics are the last attempt's.
    pub(super) restarts: u32,
    /// The attempt whose reports arrive now: an adopted run's output is read again from
    /// its first attempt, and reports of attempts before `restarts` are not its metrics.
    pub(super) stream_restart: u32,
}

impl Slot {
    pub(super) fn new(id: String, params: Params, argv: Vec<String>, phase: Phase) -> Slot {
        Slot {
            id,
            params,
            argv,
            phase,
            retry_of: None,
            intervals: HashMap::new(),
            skip: Skip::Nothing,
            seen: crate::metrics::Seen::default(),
            primary: 0,
            best: None,
            restarts: 0,
            stream_restart: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starting() -> Phase {
        Phase::Starting {
            stop: None,
            early_exit: None,
        }
    }

    fn exit(code: i32) -> Exit {
        Exit {
            status: ExitStatus::Code(code),
            tail: vec!["last line".into()],
            malformed: 2,
        }
    }

    fn handle() -> RunHandle {
        RunHandle("h1".into())
    }

    #[test]
    fn an_exit_before_the_launch_result_waits_for_it() {
        let mut p = starting();
        assert_eq!(p.exited(exit(3)), None);
        assert_eq!(p.state(), RunState::Starting);
        let l = p.launched(handle(), None).unwrap();
        assert_eq!(
            l,
            Launched {
                early_exit: Some(exit(3)),
                stop_pending: false
            }
        );
        assert_eq!(p.handle(), Some(&handle()));
        // Running: an exit is handled at once.
        assert_eq!(p.exited(exit(0)), Some(exit(0)));
    }

    #[test]
    fn a_stop_asked_while_starting_reaches_the_target_once_it_has_a_handle() {
        let mut p = starting();
        let stop = Stop::because(EndReason::UserCancel);
        assert_eq!(p.ask_stop(stop.clone()), StopAsked::Pending);
        // The first stop stands.
        assert_eq!(
            p.ask_stop(Stop::because(EndReason::SweepFailed)),
            StopAsked::Ignored
        );
        assert!(!p.stoppable());
        let l = p.launched(handle(), Some(Instant::now())).unwrap();
        assert!(l.stop_pending);
        assert_eq!(p.stop(), Some(&stop));
        // Being stopped: its time limit no longer matters.
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn a_running_run_is_stopped_through_its_handle_and_ends_with_the_stop() {
        let deadline = Instant::now();
        let mut p = starting();
        p.launched(handle(), Some(deadline));
        assert_eq!(p.deadline(), Some(deadline));
        let stop = Stop {
            reason: EndReason::Policy("bandit".into()),
            detail: Some(serde_json::json!({"interval": 3})),
        };
        assert_eq!(p.ask_stop(stop.clone()), StopAsked::Now(handle()));
        let (state, reason) = outcome(p.stop(), &ExitStatus::Signal(15));
        assert_eq!((state, &reason), (RunState::Canceled, &stop.reason));
        assert_eq!(p.end(state, reason), Some(stop));
        assert_eq!(p.state(), RunState::Canceled);
        assert_eq!((p.handle(), p.stop()), (None, None));
        assert_eq!(
            p.ask_stop(Stop::because(EndReason::UserCancel)),
            StopAsked::Ignored
        );
    }

    #[test]
    fn only_a_starting_run_is_launched_and_only_an_ended_one_retried() {
        let mut p = Phase::Ended {
            state: RunState::Failed,
            reason: EndReason::Lost("gone".into()),
            retried: false,
        };
        assert_eq!(p.launched(handle(), None), None);
        assert!(p.is_ended());
        p.set_retried();
        assert!(p.retried());
        let mut live = starting();
        live.set_retried();
        assert!(!live.retried());
    }

    #[test]
    fn a_recorded_run_adopted_gets_the_replayed_policy_stop_and_one_relaunched_does_not() {
        let stop = Stop::because(EndReason::Policy("median_stopping".into()));
        let recorded = Phase::Recorded(Recorded {
            state: RunState::Running,
            handle: Some(handle()),
            started: Some(1.0),
            stop: Some(stop.clone()),
        });
        assert_eq!(recorded.state(), RunState::Running);
        assert_eq!(recorded.handle(), None, "not watched until adopted");
        let mut adopted = recorded.clone();
        assert_eq!(adopted.adopted(handle(), None), Some(stop));
        assert_eq!((adopted.state(), adopted.stop()), (RunState::Running, None));
        let mut relaunched = recorded;
        relaunched.start();
        assert_eq!(relaunched, starting());
    }

    #[test]
    fn an_observed_exit_ends_completed_only_with_code_zero() {
        let cases = [
            (ExitStatus::Code(0), RunState::Completed, "exit code 0"),
            (ExitStatus::Code(2), RunState::Failed, "exit code 2"),
            (
                ExitStatus::Signal(9),
                RunState::Failed,
                "signal 9 (SIGKILL)",
            ),
            (
                ExitStatus::lost("host a stopped answering"),
                RunState::Failed,
                "lost: host a stopped answering",
            ),
            (
                ExitStatus::Unknown("the run ended while no sweep was watching it".into()),
                RunState::Failed,
                "lost: the run ended while no sweep was watching it",
            ),
            (
                ExitStatus::slurm("NODE_FAIL (a node of the job failed)"),
                RunState::Failed,
                "slurm: NODE_FAIL (a node of the job failed)",
            ),
        ];
        for (status, state, text) in cases {
            let (s, r) = outcome(None, &status);
            assert_eq!((s, r.to_string().as_str()), (state, text), "{status:?}");
        }
        let stop = Stop::because(EndReason::Timeout(1.5));
        assert_eq!(
            outcome(Some(&stop), &ExitStatus::Code(0)),
            (RunState::Canceled, EndReason::Timeout(1.5))
        );
    }
}
