//! A scripted target for engine tests: each launch asks a script what the run does
//! (report some metrics, then exit with a code, be restarted on the way, or hang until
//! stopped), and the target records the most runs it ever had alive at once.

use super::{
    ComputeTarget, EventSender, ExitStatus, LaunchRequest, RunHandle, TargetError, TargetEvent,
};
use crate::metrics::Report;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a scripted run does.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeRun {
    /// Report these metrics, then exit with this code.
    Exit(Vec<Report>, i32),
    /// Report these metrics, then stay alive until stopped or killed.
    Hang(Vec<Report>),
    /// Fail to launch with this message.
    LaunchError(String),
    /// Report the first attempt's metrics, be restarted by the target, report the rerun's,
    /// then exit with this code.
    Restarted(Vec<Report>, Vec<Report>, i32),
}

type Script = dyn Fn(&LaunchRequest) -> FakeRun + Send + Sync;

/// The scripted target.
pub struct FakeTarget {
    script: Box<Script>,
    live: Arc<AtomicUsize>,
    max_live: Arc<AtomicUsize>,
    launched: AtomicUsize,
    hanging: Mutex<HashMap<String, (String, EventSender)>>,
}

impl FakeTarget {
    /// A target whose runs do what `script` says.
    pub fn new(script: impl Fn(&LaunchRequest) -> FakeRun + Send + Sync + 'static) -> FakeTarget {
        FakeTarget {
            script: Box::new(script),
            live: Arc::default(),
            max_live: Arc::default(),
            launched: AtomicUsize::new(0),
            hanging: Mutex::default(),
        }
    }

    /// The most runs alive at once so far.
    pub fn max_live(&self) -> usize {
        self.max_live.load(Ordering::SeqCst)
    }

    /// How many runs were launched.
    pub fn launched(&self) -> usize {
        self.launched.load(Ordering::SeqCst)
    }

    fn end(&self, handle: &RunHandle, status: ExitStatus) {
        let entry = self.hanging.lock().expect("poisoned").remove(&handle.0);
        if let Some((run_id, tx)) = entry {
            self.live.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(TargetEvent::Exited {
                run_id,
                status,
                tail: vec!["stopped".into()],
                malformed: 0,
            });
        }
    }
}

impl ComputeTarget for FakeTarget {
    fn name(&self) -> &str {
        "fake"
    }

    fn launch(&self, req: &LaunchRequest, events: EventSender) -> Result<RunHandle, TargetError> {
        let run = (self.script)(req);
        if let FakeRun::LaunchError(m) = run {
            return Err(TargetError::Launch(m));
        }
        self.launched.fetch_add(1, Ordering::SeqCst);
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_live.fetch_max(now, Ordering::SeqCst);
        let handle = RunHandle(format!("fake:{}", req.run_id));
        let run_id = req.run_id.clone();
        let run = match run {
            FakeRun::Restarted(first, rerun, code) => {
                let _ = events.send(TargetEvent::Metrics {
                    run_id: run_id.clone(),
                    reports: first,
                });
                let _ = events.send(TargetEvent::Restarted {
                    run_id: run_id.clone(),
                    restart: 1,
                    why: "the fake target restarted it".into(),
                });
                FakeRun::Exit(rerun, code)
            }
            run => run,
        };
        match run {
            FakeRun::Exit(reports, code) => {
                let live = self.live.clone();
                std::thread::spawn(move || {
                    if !reports.is_empty() {
                        let _ = events.send(TargetEvent::Metrics {
                            run_id: run_id.clone(),
                            reports,
                        });
                    }
                    // Decrement before reporting the exit: the engine may launch the next
                    // run as soon as it sees the exit, and must never see more alive.
                    live.fetch_sub(1, Ordering::SeqCst);
                    let _ = events.send(TargetEvent::Exited {
                        run_id,
                        status: ExitStatus::Code(code),
                        tail: vec![format!("exit {code}")],
                        malformed: 0,
                    });
                });
            }
            FakeRun::Hang(reports) => {
                if !reports.is_empty() {
                    let _ = events.send(TargetEvent::Metrics {
                        run_id: run_id.clone(),
                        reports,
                    });
                }
                self.hanging
                    .lock()
                    .expect("poisoned")
                    .insert(handle.0.clone(), (run_id, events));
            }
            FakeRun::LaunchError(_) | FakeRun::Restarted(..) => unreachable!("handled above"),
        }
        Ok(handle)
    }

    fn stop(&self, handle: &RunHandle, _grace: Duration) {
        self.end(handle, ExitStatus::Signal(15));
    }

    fn kill(&self, handle: &RunHandle) {
        self.end(handle, ExitStatus::Signal(9));
    }

    fn adopt(
        &self,
        _handle: &RunHandle,
        _req: &LaunchRequest,
        _events: EventSender,
    ) -> Result<(), TargetError> {
        Err(TargetError::BadHandle(
            "the fake target cannot adopt".into(),
        ))
    }
}
