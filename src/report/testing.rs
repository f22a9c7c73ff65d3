//! A finished sweep's record that the tests of a sweep's views start from: the report's
//! here, and `sweep runs`'s in the binary, which is why it is public. Hidden from the docs:
//! it is no part of the library's API.

use crate::store::{SweepRecord, SweepState};

/// `demo`, a random sweep with a Bandit policy maximizing `accuracy`, that completed after
/// 100 s of running: at most 4 runs, 2 at a time, for at most 10 minutes, from `/src`.
pub fn finished_sweep() -> SweepRecord {
    SweepRecord {
        id: "sw_6b15cc4b_7919".into(),
        name: "demo".into(),
        experiment: None,
        created: 1_700_000_000.0,
        ended: Some(1_700_000_100.0),
        state: SweepState::Completed,
        reason: Some("max_total_runs (4) reached".into()),
        primary_metric: "accuracy".into(),
        goal: "maximize".into(),
        seed: Some(1),
        sampling: Some("random".into()),
        policy: Some("bandit".into()),
        max_total_runs: Some(4),
        max_concurrent_runs: Some(2),
        max_duration_minutes: Some(10.0),
        max_run_duration_seconds: None,
        source_dir: Some("/src".into()),
        git_commit: None,
        git_dirty: None,
        target: Some("local".into()),
        active_seconds: 100.0,
    }
}
