//! Which re-read reports an adopted run skips. `sweep resume` follows a run that is still
//! alive from the start of its files again; what an earlier session already recorded must
//! not be recorded twice, and what it did not must be recorded once.

use crate::metrics::Report;
use std::collections::HashMap;

/// What a run's re-read reports skip.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Skip {
    /// Nothing: a run this session launched, or one with nothing recorded.
    #[default]
    Nothing,
    /// Per source (its path in the run directory), the reports at or before the position
    /// the history has recorded. Sources are skipped independently, so the order in which
    /// they are read again does not matter.
    Upto(HashMap<String, u64>),
    /// A run recorded by a sweep that kept no positions: the first so many reports of each
    /// metric. Exact only when the run reported each metric through one source.
    Count(HashMap<String, u64>),
}

impl Skip {
    /// Whether `r` was recorded by an earlier session; counts it off a [`Skip::Count`].
    pub(super) fn skips(&mut self, r: &Report) -> bool {
        match self {
            Skip::Nothing => false,
            Skip::Upto(read) => {
                r.at.as_ref()
                    .and_then(|at| read.get(at.source.path()).map(|&upto| at.end <= upto))
                    .unwrap_or(false)
            }
            Skip::Count(left) => match left.get_mut(&r.name) {
                Some(k) if *k > 0 => {
                    *k -= 1;
                    true
                }
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Position, Source, SourceKind};

    fn at(kind: SourceKind, path: &str, end: u64, name: &str, value: f64) -> Report {
        Report {
            at: Some(Position {
                source: Source::new(kind, path),
                end,
            }),
            ..Report::new(name, value, None)
        }
    }

    /// The defect positions fix: one metric through two sources, read back in another
    /// interleaving than the first time. Step 1 on the output, step 2 in the metrics file,
    /// step 3 on the output; 1 and 2 recorded before the crash.
    #[test]
    fn positions_skip_exactly_what_was_recorded_in_any_interleaving() {
        let out = |end, v| at(SourceKind::Output, "output.log", end, "acc", v);
        let file = |end, v| at(SourceKind::MetricsFile, "metrics.jsonl", end, "acc", v);
        let recorded = HashMap::from([
            ("output.log".to_string(), 10),
            ("metrics.jsonl".to_string(), 30),
        ]);
        // Read again with the output first: 1 and 3 from it, then 2 from the file.
        for order in [
            vec![out(10, 1.0), out(20, 3.0), file(30, 2.0)],
            vec![file(30, 2.0), out(10, 1.0), out(20, 3.0)],
        ] {
            let mut skip = Skip::Upto(recorded.clone());
            let kept: Vec<f64> = order
                .into_iter()
                .filter(|r| !skip.skips(r))
                .map(|r| r.value)
                .collect();
            assert_eq!(kept, [3.0]);
        }
        // Skipping by count, as before positions, loses 3 and keeps 2 twice in one order.
        let mut count = Skip::Count(HashMap::from([("acc".to_string(), 2)]));
        let kept: Vec<f64> = [out(10, 1.0), out(20, 3.0), file(30, 2.0)]
            .into_iter()
            .filter(|r| !count.skips(r))
            .map(|r| r.value)
            .collect();
        assert_eq!(kept, [2.0]);
    }

    #[test]
    fn reports_without_a_position_or_from_new_sources_are_kept() {
        let mut skip = Skip::Upto(HashMap::from([("output.log".to_string(), 100)]));
        assert!(!skip.skips(&Report::new("acc", 1.0, None)));
        assert!(!skip.skips(&at(
            SourceKind::TensorBoard,
            "work/e.tfevents",
            5,
            "acc",
            1.0
        )));
        assert!(skip.skips(&at(SourceKind::Output, "output.log", 100, "acc", 1.0)));
        assert!(!skip.skips(&at(SourceKind::Output, "output.log", 101, "acc", 1.0)));
        assert!(!Skip::Nothing.skips(&at(SourceKind::Output, "output.log", 1, "acc", 1.0)));
    }
}
