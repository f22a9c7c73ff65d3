//! What the remote targets share: a run's output and metrics bytes, as they are fetched
//! (over ssh, or from a shared filesystem), cut into lines with the metric protocol's
//! [`LineSplitter`], turned into events by the local target's watcher logic, and mirrored
//! into the run's local directory so `output.log` and `metrics.jsonl` are kept with the run.

use super::local::Watch;
use super::rundir::RunDir;
use super::{EventSender, ExitStatus, TargetEvent};
use crate::metrics::LineSplitter;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Recognises the output line a target's job prints when it starts a rerun: which restart
/// it is, and why, in words.
pub(super) type RestartLine = fn(&[u8]) -> Option<(u32, String)>;

/// One run's incoming streams.
pub(super) struct Feed {
    watch: Watch,
    out: LineSplitter,
    mf: LineSplitter,
    mirror: Option<(File, File)>,
    /// Bytes of the output consumed so far.
    pub(super) out_off: u64,
    /// Bytes of the metrics file consumed so far.
    pub(super) mf_off: u64,
    /// The restart marker, for targets that restart runs.
    restart_line: Option<RestartLine>,
    /// The restart whose output is being read (0: the first attempt).
    restart: u32,
}

impl Feed {
    /// A feed for `run_id`; with `mirror_dir`, what arrives is also appended to the local
    /// `output.log` and `metrics.jsonl` there (created empty).
    pub(super) fn new(
        run_id: &str,
        primary: &str,
        events: EventSender,
        mirror_dir: Option<&Path>,
    ) -> std::io::Result<Feed> {
        let mirror = match mirror_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                let d = RunDir::new(d);
                Some((File::create(d.output_log())?, File::create(d.metrics())?))
            }
            None => None,
        };
        Ok(Feed {
            watch: Watch::new(run_id, primary, events),
            out: LineSplitter::new(),
            mf: LineSplitter::new(),
            mirror,
            out_off: 0,
            mf_off: 0,
            restart_line: None,
            restart: 0,
        })
    }

    /// Watches the output for `line`, the marker of a restart: at each new restart, the
    /// reports read so far are sent, then [`TargetEvent::Restarted`].
    pub(super) fn with_restarts(mut self, line: RestartLine) -> Feed {
        self.restart_line = Some(line);
        self
    }

    /// The restart whose output is being read (0 until a restart marker is seen).
    pub(super) fn restart(&self) -> u32 {
        self.restart
    }

    /// The metrics file is now another one (a rerun's), read from its start.
    pub(super) fn new_metrics_file(&mut self) {
        self.mf = LineSplitter::new();
        self.mf_off = 0;
    }

    /// New bytes of the run's output.
    pub(super) fn output(&mut self, data: &[u8]) {
        self.out_off += data.len() as u64;
        if let Some((o, _)) = &mut self.mirror {
            let _ = o.write_all(data);
        }
        let w = &mut self.watch;
        let (marker, restart) = (self.restart_line, &mut self.restart);
        self.out.feed(data, |l| {
            if let Some((k, why)) = marker.and_then(|m| m(l.bytes)).filter(|m| m.0 > *restart) {
                *restart = k;
                w.flush();
                let _ = w.events.send(TargetEvent::Restarted {
                    run_id: w.run_id.clone(),
                    restart: k,
                    why,
                });
            }
            w.output_line(l.bytes, l.truncated)
        });
    }

    /// New bytes of the run's metrics file.
    pub(super) fn metrics(&mut self, data: &[u8]) {
        self.mf_off += data.len() as u64;
        if let Some((_, m)) = &mut self.mirror {
            let _ = m.write_all(data);
        }
        let w = &mut self.watch;
        self.mf.feed(data, |l| w.file_line(l.bytes, l.truncated));
    }

    /// Sends the reports gathered so far.
    pub(super) fn flush(&mut self) {
        self.watch.flush();
    }

    /// The run ended and everything it wrote has been fed: the last partial lines, the
    /// reports, then `Exited`.
    pub(super) fn exit(mut self, status: ExitStatus) {
        let w = &mut self.watch;
        self.out.finish(|l| w.output_line(l.bytes, l.truncated));
        self.mf.finish(|l| w.file_line(l.bytes, l.truncated));
        self.watch.flush();
        let _ = self.watch.events.send(TargetEvent::Exited {
            run_id: self.watch.run_id.clone(),
            status,
            tail: self.watch.tail.drain(..).collect(),
            malformed: self.watch.malformed,
        });
    }

    /// The run's id.
    pub(super) fn run_id(&self) -> &str {
        &self.watch.run_id
    }
}
