//! Plugs the early-termination policies of `crate::policy` into the engine's [`EarlyStop`]
//! hook: every primary-metric report goes to the incremental evaluator, and a decision
//! stops the run with reason `policy:<name>`.

use super::EarlyStop;
use crate::policy::Evaluator;

impl EarlyStop for Evaluator {
    fn name(&self) -> &str {
        self.policy().name()
    }

    fn observe(&mut self, run_id: &str, _interval: u32, value: f64) -> bool {
        let key = self.register(run_id);
        self.on_report(key, value).is_some()
    }

    fn finished(&mut self, run_id: &str) {
        // An ended run stays in the pools; it just cannot be terminated any more.
        if let Some(key) = self.key(run_id) {
            self.mark_stopped(key);
        }
    }
}
