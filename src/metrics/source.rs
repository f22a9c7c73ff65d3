//! Where a report was read: its [`Source`] (one file of the run, and which kind of reader
//! reads it) and its [`Position`] there. Positions are what make a report exactly-once: a
//! run read again from its start (an adopted run after `sweep resume`) skips, per source,
//! every report at or before the position the history says was recorded, whatever order
//! the sources are read in.

use std::sync::Arc;

/// The kinds of file sweep reads reports from. Each kind has its own reader (a line
/// grammar, JSON lines, TFRecord); its [`SourceKind::label`] names it in warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// The run's standard output and error (`output.log`): `@sweep` lines, `name=value`
    /// pairs and the progress formats of the line grammar.
    Output,
    /// `$SWEEP_METRICS_FILE`: one JSON object per line.
    MetricsFile,
    /// A TensorBoard event file (`events.out.tfevents.*`) under the run's working or
    /// outputs directory.
    TensorBoard,
}

impl SourceKind {
    /// How a warning names the kind.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Output => "output",
            SourceKind::MetricsFile => "metrics file",
            SourceKind::TensorBoard => "TensorBoard event files",
        }
    }
}

/// One file a run's reports are read from: its kind and its path relative to the run
/// directory (`output.log`, `metrics.jsonl`, `work/runs/a/events.out.tfevents.1.h.1.0`),
/// which is the same on every target and the key its recorded position is kept under.
/// Cloning is cheap (the path is shared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    kind: SourceKind,
    path: Arc<str>,
}

impl Source {
    /// The source of `kind` at `path` (relative to the run directory).
    pub fn new(kind: SourceKind, path: &str) -> Source {
        Source {
            kind,
            path: Arc::from(path),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Its path relative to the run directory: the key of its recorded position.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Where a report ends in its source: the byte offset just past the line or record that
/// carried it. Offsets only grow within a source, and every report of one line or record
/// has the same position, so "recorded up to offset N" names exactly which reports of the
/// source are in the history.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The file.
    pub source: Source,
    /// The offset just past the line or record.
    pub end: u64,
}
