//! The dispatcher's side of `sweep resume`: rebuilding its state from the history an
//! earlier session left ([`Dispatcher::restore`], before the first event), then adopting
//! the runs that are still alive and launching those that never started
//! ([`Dispatcher::recover_unfinished`], before the event loop). What is saved and loaded
//! for a resume is [`super::resume`].

use super::dispatch::{ms, Dispatcher};
use super::phase::{Phase, Recorded, Slot, Stop};
use super::resume::{params_of, Recovered};
use super::skip::Skip;
use super::EngineError;
use crate::store::{now, EndReason, RunState, RunUpdate, Write};
use crate::target::{RunHandle, TargetError};
use std::collections::HashMap;
use std::time::Instant;

impl Dispatcher {
    /// Rebuilds the state an earlier session left: slots for every recorded run, the
    /// sampler's position, the policy's pools, the best run and the running time used.
    pub(super) fn restore(&mut self, rec: Recovered) {
        self.active_base = rec.sweep.active_seconds;
        let left = self.spec.limits.max_duration_minutes * 60.0 - self.active_base;
        self.deadline = Instant::now() + ms(left);
        let mut counts: HashMap<String, HashMap<String, u64>> = HashMap::new();
        for m in &rec.metrics {
            *counts
                .entry(m.run_id.clone())
                .or_default()
                .entry(m.name.clone())
                .or_insert(0) += 1;
        }
        let mut positions: HashMap<String, HashMap<String, u64>> = HashMap::new();
        for (run, source, upto) in &rec.positions {
            positions
                .entry(run.clone())
                .or_default()
                .insert(source.clone(), *upto);
        }
        let mut proposed = Vec::new();
        let mut ended = Vec::new();
        for r in &rec.runs {
            let idx = self.slots.len();
            let params = params_of(r);
            let state = r.state;
            let phase = if state.is_terminal() {
                Phase::Ended {
                    state,
                    reason: r.reason.clone().unwrap_or(EndReason::Other(String::new())),
                    retried: false,
                }
            } else {
                Phase::Recorded(Recorded {
                    state,
                    handle: r.handle.clone().map(RunHandle),
                    started: r.started,
                    stop: None,
                })
            };
            let mut slot = Slot::new(r.id.clone(), params.clone(), r.argv.clone(), phase);
            slot.retry_of = r.retry_of.as_ref().and_then(|o| self.index.get(o).copied());
            match slot.retry_of {
                Some(o) => self.slots[o].phase.set_retried(),
                None => {
                    // The first candidates rerun earlier runs; the sampler never proposed them.
                    if self.candidates as usize >= self.options.child_runs.len() {
                        proposed.push(params);
                    }
                    self.candidates += 1;
                }
            }
            slot.intervals = counts.remove(&r.id).unwrap_or_default();
            // Recorded before: the history keeps no source per row.
            for name in slot.intervals.keys() {
                slot.seen.add_name(name, None);
            }
            slot.primary = slot
                .intervals
                .get(&self.spec.primary_metric)
                .copied()
                .unwrap_or(0) as u32;
            slot.best = r.best;
            slot.restarts = r.restarts;
            match &slot.phase {
                Phase::Ended { state, reason, .. } => {
                    if matches!(state, RunState::Completed | RunState::Failed) {
                        ended.push((r.ended.unwrap_or(0.0), *state, reason.clone()));
                    }
                }
                _ => {
                    slot.skip = match positions.remove(&r.id) {
                        Some(read) => Skip::Upto(read),
                        // Recorded by a sweep that kept no positions.
                        None if !slot.intervals.is_empty() => Skip::Count(slot.intervals.clone()),
                        None => Skip::Nothing,
                    };
                    self.live += 1;
                }
            }
            if state != RunState::Failed {
                if let Some(b) = slot.best {
                    if self.best.is_none_or(|(_, v)| self.spec.goal.better(b, v)) {
                        self.best = Some((idx, b));
                    }
                }
            }
            self.index.insert(r.id.clone(), idx);
            self.slots.push(slot);
        }
        if let Some(sampler) = self.sampler.as_mut() {
            sampler.replay(&proposed);
        }
        self.replay_policy(&rec);
        ended.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.first_finished = ended
            .into_iter()
            .take(self.options.fail_fast_runs)
            .map(|(_, s, r)| (s, r))
            .collect();
        let alive = self.slots.iter().filter(|s| !s.phase.is_ended()).count();
        self.event(
            None,
            "resumed",
            format!(
                "resumed by process {}: {} runs recorded, {alive} unfinished, {:.0} s of running time used",
                std::process::id(),
                self.slots.len(),
                self.active_base
            ),
        );
    }

    /// Rebuilds the policy's pools from every report in the order it was recorded; a run
    /// the policy would have stopped meanwhile is stopped once it is adopted.
    fn replay_policy(&mut self, rec: &Recovered) {
        let Some(p) = self.policy.as_mut() else {
            return;
        };
        for m in rec
            .metrics
            .iter()
            .filter(|m| m.name == self.spec.primary_metric)
        {
            if p.observe(&m.run_id, m.interval as u32, m.value) {
                let d = p.decision();
                if let Some(&idx) = self.index.get(&m.run_id) {
                    if let Phase::Recorded(r) = &mut self.slots[idx].phase {
                        r.stop = Some(Stop {
                            reason: EndReason::Policy(p.name().to_string()),
                            detail: d.map(|d| d.1),
                        });
                    }
                }
            }
        }
        for s in self.slots.iter().filter(|s| s.phase.is_ended()) {
            p.finished(&s.id);
        }
    }

    /// Adopts the runs an earlier session left alive, records those that ended meanwhile
    /// (through their adopted watchers) and launches those that never started.
    pub(super) async fn recover_unfinished(&mut self) -> Result<(), EngineError> {
        let unfinished: Vec<(usize, Recorded)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.phase {
                Phase::Recorded(r) => Some((i, r.clone())),
                _ => None,
            })
            .collect();
        for (idx, recorded) in unfinished {
            let req = self.request(idx);
            let mut handle = recorded.handle;
            if handle.is_none() && recorded.state == RunState::Starting {
                let target = self.target.clone();
                let r = req.clone();
                handle = tokio::task::spawn_blocking(move || target.recover(&r))
                    .await
                    .unwrap_or(None);
            }
            let Some(h) = handle else {
                if self.stopping.is_some() {
                    // Never started, and the sweep is stopping (`sweep cancel`): it ends here,
                    // never launched.
                    let reason = recorded.stop.map_or(EndReason::UserCancel, |s| s.reason);
                    self.end_run(idx, RunState::Canceled, reason, None).await?;
                    continue;
                }
                // Never started: it may be launched now, in a clean run directory.
                let _ = std::fs::remove_dir_all(&req.run_dir);
                self.slots[idx].skip = Skip::Nothing;
                if recorded.state == RunState::Queued {
                    self.store
                        .commit(Write::RunState(Box::new(RunUpdate::new(
                            &req.run_id,
                            RunState::Starting,
                            now(),
                        ))))
                        .await?;
                }
                self.launch(idx, req);
                continue;
            };
            let mut up = RunUpdate::new(&self.slots[idx].id, RunState::Running, now());
            up.handle = Some(h.0.clone());
            self.store.send(Write::RunState(Box::new(up)));
            self.event(
                Some(&self.slots[idx].id),
                "adopted",
                "re-adopted from an earlier session".into(),
            );
            let deadline = self.spec.limits.max_run_duration_seconds.map(|d| {
                let used = recorded
                    .started
                    .map(|t| (now() - t).max(0.0))
                    .unwrap_or(0.0);
                Instant::now() + ms(d - used)
            });
            let stop = self.slots[idx].phase.adopted(h.clone(), deadline);
            let target = self.target.clone();
            let events = self.events_tx.clone();
            let (r, hh) = (req.clone(), h.clone());
            let adopted = tokio::task::spawn_blocking(move || target.adopt(&hh, &r, events))
                .await
                .unwrap_or_else(|e| Err(TargetError::Launch(e.to_string())));
            if let Err(e) = adopted {
                self.event(
                    Some(&req.run_id),
                    "warning",
                    format!("cannot re-adopt: {e}"),
                );
                let reason = EndReason::Lost(format!("cannot re-adopt: {e}"));
                self.end_run(idx, RunState::Failed, reason, None).await?;
                self.maybe_retry(idx).await?;
                continue;
            }
            if let Some(stop) = stop {
                self.stop_run(idx, stop);
            }
        }
        Ok(())
    }
}
