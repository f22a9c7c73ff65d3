//! [`Study::run`]: the study calls an async objective for each candidate, up to
//! `max_concurrent_runs` at once on the tokio runtime, and records what it returns.

use super::{Outcome, StopReason, Study, StudyError, Summary, Trial, Verdict};
use crate::store::EndReason;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// What an objective reports through: each [`Reporter::report`] is one interval of the
/// primary metric and returns the policy's [`Verdict`].
#[derive(Debug, Clone)]
pub struct Reporter {
    study: Study,
    number: usize,
}

impl Reporter {
    /// Records an intermediate value of the primary metric and answers whether the trial
    /// should stop ([`Study::report`]). After a stop, return (any outcome: the trial is
    /// recorded `canceled` with the policy's reason).
    pub fn report(&self, value: f64) -> Verdict {
        self.study.report_number(self.number, value, None)
    }

    /// Records a value of another metric ([`Study::log_metric`]).
    pub fn log_metric(&self, name: &str, value: f64) {
        let primary = &self.study.inner.spec.primary_metric;
        if name == primary {
            let _ = self.report(value);
        } else {
            self.study.log_number(self.number, name, value, None);
        }
    }

    /// The trial's number.
    pub fn trial_number(&self) -> u64 {
        self.number as u64
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}

impl Study {
    /// Runs the study to the end with an async objective: for each candidate it calls
    /// `objective(trial, reporter)` and spawns the future on the current tokio runtime, at
    /// most `max_concurrent_runs` at once, until `max_total_runs` trials were asked, the
    /// space is exhausted or `max_duration` passed (live trials are then told to stop by
    /// their next report, and waited for). What the future returns is converted into the
    /// trial's [`Outcome`] (`f64`, `Outcome`, or a `Result` of either). A trial longer than
    /// the per-run limit (`max_run_duration`) is dropped at its next await point and
    /// recorded `canceled` (`timeout: ...`); an objective that panics is recorded `failed`
    /// with the panic's text.
    ///
    /// Samplers run on tokio's blocking pool, so a Gaussian-process fit never stalls the
    /// objectives. Returns the study's [`Summary`] once the history is flushed.
    ///
    /// ```
    /// use sweep::spec::Policy;
    /// use sweep::study::{Outcome, Study};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let study = Study::builder()
    ///     .workspace(dir.path())
    ///     .minimize("loss")
    ///     .uniform("x", -1.0, 1.0)
    ///     .max_total_runs(16)
    ///     .max_concurrent_runs(4)
    ///     .policy(Policy::median_stopping().with_delay_evaluation(3))
    ///     .build()?;
    /// let summary = study
    ///     .run(|trial, reporter| async move {
    ///         let x = trial.get_f64("x")?;
    ///         for step in 1..=10 {
    ///             tokio::task::yield_now().await; // a real objective trains here
    ///             if reporter.report(x * x + 1.0 / step as f64).should_stop() {
    ///                 return Ok(Outcome::Pruned);
    ///             }
    ///         }
    ///         Ok::<_, sweep::study::ParamError>(Outcome::Completed)
    ///     })
    ///     .await?;
    /// assert_eq!(summary.trials, 16);
    /// assert_eq!(summary.completed + summary.canceled, 16);
    /// # Ok::<(), sweep::study::StudyError>(())
    /// # }).unwrap();
    /// ```
    pub async fn run<F, Fut>(&self, mut objective: F) -> Result<Summary, StudyError>
    where
        F: FnMut(Trial, Reporter) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Into<Outcome>,
    {
        let limits = &self.inner.spec.limits;
        let max_concurrent = limits.max_concurrent_runs.max(1) as usize;
        let per_trial = limits.max_run_duration_seconds;
        let mut tasks = tokio::task::JoinSet::new();
        let mut numbers: HashMap<tokio::task::Id, usize> = HashMap::new();
        let (mut done, mut waiting) = (false, false);
        loop {
            let free = max_concurrent.saturating_sub(tasks.len());
            if free > 0 && !done && !waiting {
                let s = self.clone();
                let asked = tokio::task::spawn_blocking(move || s.ask_many(free))
                    .await
                    .map_err(|e| StudyError::Runtime(format!("proposal task: {e}")))??;
                match asked {
                    super::core::Asked::Trials(trials) => {
                        for trial in trials {
                            let n = trial.number as usize;
                            let reporter = Reporter {
                                study: self.clone(),
                                number: n,
                            };
                            let fut = objective(trial, reporter);
                            let study = self.clone();
                            let h = tasks.spawn(async move {
                                match per_trial {
                                    Some(secs) => {
                                        let d = Duration::from_secs_f64(secs.clamp(0.0, 1e9));
                                        match tokio::time::timeout(d, fut).await {
                                            Ok(o) => o.into(),
                                            Err(_) => {
                                                study.stop_trial(
                                                    n,
                                                    StopReason::Limit(EndReason::Timeout(secs)),
                                                );
                                                Outcome::Pruned
                                            }
                                        }
                                    }
                                    None => fut.await.into(),
                                }
                            });
                            numbers.insert(h.id(), n);
                        }
                    }
                    super::core::Asked::Wait => waiting = true,
                    super::core::Asked::Done => done = true,
                }
            }
            if tasks.is_empty() {
                if done || !waiting {
                    break;
                }
                // The sampler waits for results but nothing is running: nothing will come.
                done = true;
                continue;
            }
            let deadline = self.deadline();
            let stopping = self.is_stopping();
            tokio::select! {
                joined = tasks.join_next_with_id() => {
                    let Some(joined) = joined else { continue };
                    let (id, outcome) = match joined {
                        Ok((id, o)) => (id, o),
                        Err(e) => {
                            let id = e.id();
                            let why = if e.is_panic() {
                                format!("objective panicked: {}", panic_text(e.into_panic()))
                            } else {
                                "objective task was cancelled".to_string()
                            };
                            (id, Outcome::Failed(why))
                        }
                    };
                    if let Some(n) = numbers.remove(&id) {
                        self.tell_number(n, outcome);
                    }
                    waiting = false;
                }
                _ = tokio::time::sleep_until(deadline.into()), if !stopping => {
                    self.trigger_deadline();
                }
            }
        }
        self.inner.store.flush().await?;
        Ok(self.summary())
    }
}
