//! Why a running sweep launches nothing at a given moment: the dispatcher computes it from
//! its counters with [`reason`] whenever it is about to wait for the next event, records it
//! with the sweep when it changes (`sweep status` reads it from another process), and sends
//! it to the progress view.

use std::fmt;

/// Why a sweep launches no new run right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The sweep is stopping (interrupt, duration limit, fail fast): nothing is launched
    /// any more, and `live` runs are still ending.
    Stopping {
        /// Why it is stopping.
        why: String,
        /// Runs not ended yet.
        live: u64,
    },
    /// `max_total_runs` candidates were launched; the last runs are still running.
    MaxTotalRuns {
        /// `max_total_runs`.
        total: u64,
        /// Runs not ended yet.
        live: u64,
    },
    /// The sampler has nothing more to propose; the last runs are still running.
    Exhausted {
        /// Runs not ended yet.
        live: u64,
    },
    /// `max_concurrent_runs` runs are live (starting ones included: a run holds its slot
    /// from the moment it is recorded `starting`).
    MaxConcurrentRuns {
        /// Live runs.
        live: u64,
        /// Of them, runs whose launch has not returned yet.
        starting: u64,
        /// `max_concurrent_runs`.
        limit: u64,
    },
    /// The target takes fewer runs at once than `max_concurrent_runs`, and they are live.
    TargetFull {
        /// The target's name.
        target: String,
        /// Live runs.
        live: u64,
        /// Of them, runs whose launch has not returned yet.
        starting: u64,
        /// Runs the target takes at once (an SSH target's slots, `max_runs`).
        capacity: u64,
    },
    /// The sampler is choosing the next candidates (a Bayesian fit can take a while).
    Proposing {
        /// Live runs.
        live: u64,
    },
    /// The sampler proposes nothing until a live run reports its result (every point of a
    /// discrete space is taken or pending).
    NeedsResults {
        /// Live runs.
        live: u64,
    },
}

impl Waiting {
    /// The reason as recorded with the sweep: without the count of runs still starting,
    /// which changes with every launch while the slots are full (the live view shows it).
    pub fn recorded(&self) -> Waiting {
        let mut w = self.clone();
        if let Waiting::MaxConcurrentRuns { starting, .. } | Waiting::TargetFull { starting, .. } =
            &mut w
        {
            *starting = 0;
        }
        w
    }
}

fn runs(n: u64) -> String {
    if n == 1 {
        "1 run".into()
    } else {
        format!("{n} runs")
    }
}

fn starting_note(starting: u64) -> String {
    if starting == 0 {
        String::new()
    } else {
        format!(", {starting} of them starting")
    }
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Stopping { why, live } => {
                write!(f, "stopping ({why}; {} still ending)", runs(*live))
            }
            Waiting::MaxTotalRuns { total, live } => write!(
                f,
                "max_total_runs reached ({total} of {total} launched; {live} still running)"
            ),
            Waiting::Exhausted { live } => {
                write!(f, "search space exhausted ({live} still running)")
            }
            Waiting::MaxConcurrentRuns {
                live,
                starting,
                limit,
            } => write!(
                f,
                "max_concurrent_runs ({live} of {limit} running{})",
                starting_note(*starting)
            ),
            Waiting::TargetFull {
                target,
                live,
                starting,
                capacity,
            } => write!(
                f,
                "target full ({target}: {live} of {capacity} slots{})",
                starting_note(*starting)
            ),
            Waiting::Proposing { live } => {
                write!(f, "sampler choosing the next candidates ({live} running)")
            }
            Waiting::NeedsResults { live } => {
                write!(f, "sampler needs results ({live} running)")
            }
        }
    }
}

/// What the dispatcher knows at one moment, as far as launching goes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Load<'a> {
    /// Runs holding a slot (from `starting` until their exit was observed).
    pub live: u64,
    /// Of them, runs whose launch has not returned yet.
    pub starting: u64,
    /// `max_concurrent_runs`.
    pub max_concurrent: u64,
    /// Runs the target takes at once, if it has a bound of its own.
    pub capacity: Option<u64>,
    /// The target's name.
    pub target: &'a str,
    /// A proposal is being computed.
    pub proposing: bool,
    /// The sampler's last answer was to wait for results.
    pub sampler_wait: bool,
    /// The sampler has nothing more to propose.
    pub exhausted: bool,
    /// `max_total_runs` candidates were launched.
    pub total_reached: bool,
    /// `max_total_runs`.
    pub max_total: u64,
    /// Why the sweep is stopping, if it is.
    pub stopping: Option<&'a str>,
}

/// The most runs live at once: `max_concurrent_runs`, or the target's capacity if smaller.
pub(crate) fn slot_limit(max_concurrent: u64, capacity: Option<u64>) -> u64 {
    capacity.map_or(max_concurrent, |c| c.min(max_concurrent))
}

/// Why nothing is launched now, or `None` when a launch could go ahead. The first reason
/// that would hold on its own wins: a stopping sweep launches nothing whatever its slots,
/// a spent budget makes free slots moot, and full slots make the sampler's state moot.
pub(crate) fn reason(l: &Load<'_>) -> Option<Waiting> {
    let live = l.live;
    if let Some(why) = l.stopping {
        return Some(Waiting::Stopping {
            why: why.to_string(),
            live,
        });
    }
    if l.total_reached {
        return Some(Waiting::MaxTotalRuns {
            total: l.max_total,
            live,
        });
    }
    if l.exhausted {
        return Some(Waiting::Exhausted { live });
    }
    if live >= slot_limit(l.max_concurrent, l.capacity) {
        return Some(match l.capacity {
            // The user's own limit is named when both bind.
            Some(c) if c < l.max_concurrent => Waiting::TargetFull {
                target: l.target.to_string(),
                live,
                starting: l.starting,
                capacity: c,
            },
            _ => Waiting::MaxConcurrentRuns {
                live,
                starting: l.starting,
                limit: l.max_concurrent,
            },
        });
    }
    if l.proposing {
        return Some(Waiting::Proposing { live });
    }
    if l.sampler_wait {
        return Some(Waiting::NeedsResults { live });
    }
    None
}
