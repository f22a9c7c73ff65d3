//! Watching a run's output, for every target. A run has two streams, its output (stdout and
//! stderr) and its metrics file; a [`Watch`] cuts each into lines with the metric protocol's
//! [`LineSplitter`] and reads them into [`TargetEvent`]s: metric reports in batches (and what
//! the script recorded beside them: parameters, tags, values logged to other runs), the
//! first malformed line (later ones are counted), `Restarted` at a target's restart marker,
//! and `Exited` with the last lines of output once both streams have been read to the end.
//!
//! The local target feeds a [`Watch`] from the files it tails; the SSH and Slurm targets feed
//! a [`Feed`] (a watch, the offsets read so far and a mirror into the local run directory)
//! from the bytes they fetch.
//!
//! TensorBoard event files are a third kind of source: [`EventFiles`] finds and tails them
//! where this process can read the run directory (local, Slurm); on an SSH host the poll
//! command finds them and a [`Feed`] keeps their offsets. Every report carries its source
//! and position ([`metrics::Position`]); a new kind of file plugs in the same way: a reader
//! in `metrics`, a `SourceKind`, and a method here that feeds its bytes into the batch.

use super::rundir::{self, RunDir};
use super::{EventSender, ExitStatus, TargetEvent};
use crate::metrics::tfevents::EventFileReader;
use crate::metrics::{
    self, FileRecord, LineSplitter, Logged, OutputGrammar, Pattern, Position, Report, Source,
    SourceKind, SplitLine, Verdict,
};
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// How many trailing output lines are kept for failure reports.
const TAIL_LINES: usize = 20;
/// Longest tail line kept, in bytes.
const TAIL_LINE_MAX: usize = 1024;
/// Most reports batched into one event (a batch ends between lines, so it can hold a
/// line's reports more).
const BATCH: usize = 4096;

/// Recognises the output line a target's job prints when it starts a rerun: which restart
/// it is, and why, in words.
pub(super) type RestartLine = fn(&[u8]) -> Option<(u32, String)>;

/// One of a run's two text streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    /// Its standard output and error (`output.log`).
    Output,
    /// Its metrics file (`metrics.jsonl`).
    Metrics,
}

/// Turns a run's lines into events.
struct Lines {
    run_id: String,
    events: EventSender,
    batch: Vec<Report>,
    /// Parameters, tags and values logged to other runs, sent with the batch.
    logged: Vec<Logged>,
    /// The (run, metric) pairs of values logged to other runs already passed on.
    other_runs: HashSet<(String, String)>,
    malformed: u64,
    tail: VecDeque<String>,
    /// The restart marker, for targets that restart runs.
    restart_line: Option<RestartLine>,
    /// The restart whose output is being read (0: the first attempt).
    restart: u32,
    /// The output's line grammar.
    grammar: OutputGrammar,
    /// The two streams as sources of reports.
    output: Source,
    metrics_file: Source,
}

impl Lines {
    fn malformed(&mut self, why: String, source: &str) {
        self.malformed += 1;
        if self.malformed == 1 {
            self.flush();
            let _ = self.events.send(TargetEvent::Malformed {
                run_id: self.run_id.clone(),
                message: format!("{source}: {why}"),
            });
        }
    }

    /// Ends a line or record: the batch is sent once full. Never called inside one, so a
    /// line's reports travel (and are recorded) together.
    fn unit_done(&mut self) {
        if self.batch.len() + self.logged.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.logged.is_empty() {
            let _ = self.events.send(TargetEvent::Logged {
                run_id: self.run_id.clone(),
                items: std::mem::take(&mut self.logged),
            });
        }
        if !self.batch.is_empty() {
            let reports = std::mem::take(&mut self.batch);
            metrics::produced(reports.len());
            let _ = self.events.send(TargetEvent::Metrics {
                run_id: self.run_id.clone(),
                reports,
            });
            // Backpressure: the run's output waits on disk, not in memory.
            metrics::wait_for_room();
        }
    }

    fn line(&mut self, stream: Stream, l: SplitLine<'_>) {
        match stream {
            Stream::Output => self.output_line(l),
            Stream::Metrics => self.file_line(l),
        }
        self.unit_done();
    }

    fn output_line(&mut self, l: SplitLine<'_>) {
        let bytes = l.bytes;
        let marker = self.restart_line.and_then(|m| m(bytes));
        if let Some((k, why)) = marker.filter(|m| m.0 > self.restart) {
            // The reports so far are the earlier attempt's.
            self.restart = k;
            self.flush();
            let _ = self.events.send(TargetEvent::Restarted {
                run_id: self.run_id.clone(),
                restart: k,
                why,
            });
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        let keep = &bytes[..bytes.len().min(TAIL_LINE_MAX)];
        self.tail
            .push_back(String::from_utf8_lossy(keep).into_owned());
        if l.truncated {
            if bytes
                .trim_ascii_start()
                .starts_with(metrics::PREFIX.as_bytes())
            {
                self.malformed(
                    format!("line longer than {} bytes", metrics::MAX_LINE),
                    "output",
                );
            }
            return;
        }
        let Lines {
            grammar,
            batch,
            output,
            ..
        } = self;
        let verdict = grammar.line(bytes, |f| {
            batch.push(f.at(Position {
                source: output.clone(),
                end: l.end,
            }))
        });
        if let Verdict::Malformed(why) = verdict {
            self.malformed(why, "output");
        }
        self.logged.extend(self.grammar.take_logged());
    }

    fn file_line(&mut self, l: SplitLine<'_>) {
        if l.truncated {
            self.malformed(
                format!("line longer than {} bytes", metrics::MAX_LINE),
                "metrics file",
            );
            return;
        }
        match metrics::parse_file_line(l.bytes) {
            Ok(None) => {}
            Ok(Some(FileRecord::Report(f))) => {
                let at = Position {
                    source: self.metrics_file.clone(),
                    end: l.end,
                };
                self.batch.push(f.at(at));
            }
            Ok(Some(FileRecord::Logged(Logged::OtherRun { run, metric }))) => {
                // Only what a warning can use: each name once, a bounded number of names.
                if self.other_runs.len() < metrics::MAX_OTHER_RUN_NAMES
                    && self.other_runs.insert((run.clone(), metric.clone()))
                {
                    self.logged.push(Logged::OtherRun { run, metric });
                }
            }
            Ok(Some(FileRecord::Logged(l))) => self.logged.push(l),
            Err(why) => self.malformed(why, "metrics file"),
        }
    }
}

/// Reads one run's two streams into events.
pub(super) struct Watch {
    lines: Lines,
    out: LineSplitter,
    mf: LineSplitter,
}

impl Watch {
    /// A watch sending `run_id`'s events to `events`; output lines are read with the line
    /// grammar and the configured `pattern`.
    pub(super) fn new(run_id: &str, pattern: Option<&Pattern>, events: EventSender) -> Watch {
        Watch {
            lines: Lines {
                run_id: run_id.to_string(),
                events,
                batch: Vec::new(),
                logged: Vec::new(),
                other_runs: HashSet::new(),
                malformed: 0,
                tail: VecDeque::new(),
                restart_line: None,
                restart: 0,
                grammar: OutputGrammar::new(pattern),
                output: Source::new(SourceKind::Output, rundir::OUTPUT_LOG),
                metrics_file: Source::new(SourceKind::MetricsFile, rundir::METRICS_FILE),
            },
            out: LineSplitter::new(),
            mf: LineSplitter::new(),
        }
    }

    /// Watches the output for `line`, the marker of a restart: at each new restart, the
    /// reports read so far are sent, then [`TargetEvent::Restarted`].
    pub(super) fn with_restarts(mut self, line: RestartLine) -> Watch {
        self.lines.restart_line = Some(line);
        self
    }

    /// The restart whose output is being read (0 until a restart marker is seen).
    pub(super) fn restart(&self) -> u32 {
        self.lines.restart
    }

    /// The metrics file is now the current restart's, read from its start.
    pub(super) fn new_metrics_file(&mut self) {
        self.mf = LineSplitter::new();
        let name = rundir::metrics_file_name(self.lines.restart);
        self.lines.metrics_file = Source::new(SourceKind::MetricsFile, &name);
    }

    /// New bytes of `stream`.
    pub(super) fn feed(&mut self, stream: Stream, data: &[u8]) {
        let Watch { lines, out, mf } = self;
        let splitter = if stream == Stream::Output { out } else { mf };
        splitter.feed(data, |l| lines.line(stream, l));
    }

    /// Reads `stream`'s new bytes from `r` to its end, through `chunk`; returns how many.
    pub(super) fn pump(
        &mut self,
        stream: Stream,
        r: &mut impl Read,
        chunk: &mut [u8],
    ) -> std::io::Result<u64> {
        let Watch { lines, out, mf } = self;
        let splitter = if stream == Stream::Output { out } else { mf };
        metrics::pump(r, chunk, splitter, |l| lines.line(stream, l))
    }

    /// Sends the reports gathered so far.
    pub(super) fn flush(&mut self) {
        self.lines.flush();
    }

    /// The run ended and everything it wrote has been fed: the last partial lines, the
    /// reports, then `Exited`.
    pub(super) fn exit(self, status: ExitStatus) {
        let Watch {
            mut lines,
            mut out,
            mut mf,
        } = self;
        out.finish(|l| lines.line(Stream::Output, l));
        mf.finish(|l| lines.line(Stream::Metrics, l));
        lines.flush();
        let _ = lines.events.send(TargetEvent::Exited {
            run_id: lines.run_id,
            status,
            tail: lines.tail.into(),
            malformed: lines.malformed,
        });
    }

    /// The run's id.
    pub(super) fn run_id(&self) -> &str {
        &self.lines.run_id
    }

    /// New bytes of the TensorBoard event file `source`, read by `reader`: its scalars are
    /// reports at the end of their records. A framing error is a malformed-line warning,
    /// and the file is not read further.
    fn event_bytes(&mut self, source: &Source, reader: &mut EventFileReader, data: &[u8]) {
        let lines = &mut self.lines;
        let res = reader.feed(data, |f, end| {
            lines.batch.push(f.at(Position {
                source: source.clone(),
                end,
            }));
            // A record's reports travel together: the batch is checked between records.
            if lines.batch.len() >= BATCH {
                lines.flush();
            }
        });
        if let Err(why) = res {
            lines.malformed(
                format!("{}: {why}", source.path()),
                "TensorBoard event file",
            );
        }
        lines.unit_done();
    }
}

/// How often a run's directories are searched for new event files.
const EVENT_SCAN: std::time::Duration = std::time::Duration::from_secs(1);
/// How deep under `work/` and `outputs/` event files are looked for.
const EVENT_DEPTH: usize = 8;
/// Most directory entries one search looks at (a run may unpack a dataset in its folder).
const EVENT_SCAN_ENTRIES: usize = 20_000;

/// The TensorBoard event files (`events.out.tfevents.*`) anywhere under a run's working and
/// outputs directories, on a filesystem this process reads (a local run's, a Slurm job's):
/// found by a bounded search at most once per [`EVENT_SCAN`], each tailed from where it
/// was read to.
pub(super) struct EventFiles {
    dir: RunDir,
    files: Vec<EventTail>,
    scanned: Option<std::time::Instant>,
    /// The read buffer, allocated with the first event file.
    chunk: Vec<u8>,
}

struct EventTail {
    source: Source,
    file: File,
    reader: EventFileReader,
}

impl EventFiles {
    /// The event files of the run in `dir`.
    pub(super) fn new(dir: RunDir) -> EventFiles {
        EventFiles {
            dir,
            files: Vec::new(),
            scanned: None,
            chunk: Vec::new(),
        }
    }

    /// Looks for new event files (always with `now`, else at most once per [`EVENT_SCAN`])
    /// and reads what is new in each, at most `budget` bytes per file; whether anything was.
    pub(super) fn pump(&mut self, w: &mut Watch, budget: u64, now: bool) -> bool {
        if now || self.scanned.is_none_or(|t| t.elapsed() >= EVENT_SCAN) {
            self.scanned = Some(std::time::Instant::now());
            self.scan();
        }
        if self.files.is_empty() {
            return false;
        }
        if self.chunk.is_empty() {
            self.chunk = vec![0; 64 * 1024];
        }
        let chunk = &mut self.chunk;
        let mut any = false;
        for t in &mut self.files {
            let mut left = budget;
            while left > 0 {
                let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = match t.file.read(&mut chunk[..want]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                left -= n as u64;
                any = true;
                w.event_bytes(&t.source, &mut t.reader, &chunk[..n]);
            }
        }
        any
    }

    /// Adds the event files not followed yet.
    fn scan(&mut self) {
        let mut seen = 0usize;
        let mut stack: Vec<(std::path::PathBuf, usize)> =
            vec![(self.dir.work(), 0), (self.dir.outputs(), 0)];
        while let Some((d, depth)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                seen += 1;
                if seen > EVENT_SCAN_ENTRIES {
                    return;
                }
                // Symbolic links are not followed: a link to `/` must not be searched.
                let Ok(kind) = e.file_type() else { continue };
                let path = e.path();
                if kind.is_dir() && depth < EVENT_DEPTH {
                    stack.push((path, depth + 1));
                } else if kind.is_file()
                    && e.file_name()
                        .to_str()
                        .is_some_and(metrics::tfevents::is_event_file)
                {
                    let Ok(rel) = path.strip_prefix(self.dir.root()) else {
                        continue;
                    };
                    let rel = rel.to_string_lossy();
                    if self.files.iter().any(|t| t.source.path() == rel) {
                        continue;
                    }
                    if let Ok(file) = File::open(&path) {
                        self.files.push(EventTail {
                            source: Source::new(SourceKind::TensorBoard, &rel),
                            file,
                            reader: EventFileReader::new(),
                        });
                    }
                }
            }
        }
    }
}

/// A [`Watch`] fed with bytes a remote target fetched: how far each stream has been read,
/// and optionally a mirror of both streams in the local run directory, so `output.log` and
/// `metrics.jsonl` are kept with the run.
pub(super) struct Feed {
    watch: Watch,
    /// Event files found on the host: each with the bytes fetched so far.
    remote_events: Vec<(Source, u64, EventFileReader)>,
    /// The local `output.log` and `metrics.jsonl`.
    mirror: Option<[File; 2]>,
    /// Bytes of each stream consumed so far.
    read: [u64; 2],
}

impl Feed {
    /// A feed for `run_id`; with `mirror_dir`, what arrives is also appended to the local
    /// `output.log` and `metrics.jsonl` there (created empty).
    pub(super) fn new(
        run_id: &str,
        pattern: Option<&Pattern>,
        events: EventSender,
        mirror_dir: Option<&Path>,
    ) -> std::io::Result<Feed> {
        let mirror = match mirror_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                let d = RunDir::new(d);
                Some([File::create(d.output_log())?, File::create(d.metrics())?])
            }
            None => None,
        };
        Ok(Feed {
            watch: Watch::new(run_id, pattern, events),
            remote_events: Vec::new(),
            mirror,
            read: [0, 0],
        })
    }

    /// A feed for the run `req` launches; with `mirror`, into its local run directory.
    pub(super) fn for_run(
        req: &super::LaunchRequest,
        events: EventSender,
        mirror: bool,
    ) -> std::io::Result<Feed> {
        let dir = mirror.then_some(req.run_dir.as_path());
        Feed::new(&req.run_id, req.pattern.as_ref(), events, dir)
    }

    /// See [`Watch::with_restarts`].
    pub(super) fn with_restarts(mut self, line: RestartLine) -> Feed {
        self.watch = self.watch.with_restarts(line);
        self
    }

    /// The restart whose output is being read (0 until a restart marker is seen).
    pub(super) fn restart(&self) -> u32 {
        self.watch.restart()
    }

    /// The metrics file is now another one (a rerun's), read from its start.
    pub(super) fn new_metrics_file(&mut self) {
        self.watch.new_metrics_file();
        self.read[Stream::Metrics as usize] = 0;
    }

    /// Bytes of `stream` consumed so far: where the next fetch starts.
    pub(super) fn offset(&self, stream: Stream) -> u64 {
        self.read[stream as usize]
    }

    /// New bytes of `stream`.
    pub(super) fn feed(&mut self, stream: Stream, data: &[u8]) {
        self.read[stream as usize] += data.len() as u64;
        if let Some(m) = &mut self.mirror {
            let _ = m[stream as usize].write_all(data);
        }
        self.watch.feed(stream, data);
    }

    /// Sends the reports gathered so far.
    pub(super) fn flush(&mut self) {
        self.watch.flush();
    }

    /// See [`Watch::exit`].
    pub(super) fn exit(self, status: ExitStatus) {
        self.watch.exit(status);
    }

    /// The run's id.
    pub(super) fn run_id(&self) -> &str {
        self.watch.run_id()
    }

    /// The event files found on the host so far, each with the bytes fetched.
    pub(super) fn event_files_known(&self) -> Vec<(&str, u64)> {
        self.remote_events
            .iter()
            .map(|(s, off, _)| (s.path(), *off))
            .collect()
    }

    /// An event file (its path in the run directory) the host has; whether it is new.
    pub(super) fn event_file_found(&mut self, rel: &str) -> bool {
        if self.remote_events.iter().any(|(s, _, _)| s.path() == rel) {
            return false;
        }
        let source = Source::new(SourceKind::TensorBoard, rel);
        self.remote_events.push((source, 0, EventFileReader::new()));
        true
    }

    /// New bytes of the known event file `rel`.
    pub(super) fn event_file_bytes(&mut self, rel: &str, data: &[u8]) {
        if let Some((source, off, reader)) = self
            .remote_events
            .iter_mut()
            .find(|(s, _, _)| s.path() == rel)
        {
            *off += data.len() as u64;
            self.watch.event_bytes(source, reader, data);
        }
    }

    /// Reads what is new in the run's event files (see [`EventFiles::pump`]).
    pub(super) fn event_files(&mut self, tb: &mut EventFiles, budget: u64, now: bool) -> bool {
        tb.pump(&mut self.watch, budget, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(rx: &mut tokio::sync::mpsc::UnboundedReceiver<TargetEvent>) -> Vec<TargetEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// Parameters, tags and values logged to other runs in the metrics file travel as one
    /// `Logged` event, before the reports read with them; each other run's metric name once.
    #[test]
    fn what_a_script_logged_beside_its_reports_is_sent_as_logged() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = Watch::new("r", None, tx);
        w.feed(
            Stream::Metrics,
            concat!(
                "{\"param\":\"lr\",\"value\":\"0.1\"}\n",
                "{\"other_run\":\"x\",\"metric\":\"acc\",\"value\":1}\n",
                "{\"metric\":\"acc\",\"value\":0.5}\n",
                "{\"other_run\":\"x\",\"metric\":\"acc\",\"value\":2}\n",
                "{\"tag\":\"team\",\"value\":\"vision\"}\n",
            )
            .as_bytes(),
        );
        w.exit(ExitStatus::Code(0));
        let ev = events(&mut rx);
        match &ev[0] {
            TargetEvent::Logged { run_id, items } => {
                assert_eq!(run_id, "r");
                assert_eq!(
                    items,
                    &[
                        Logged::Param {
                            key: "lr".into(),
                            value: "0.1".into()
                        },
                        Logged::OtherRun {
                            run: "x".into(),
                            metric: "acc".into()
                        },
                        Logged::Tag {
                            key: "team".into(),
                            value: "vision".into()
                        },
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&ev[1], TargetEvent::Metrics { reports, .. } if reports.len() == 1));
        assert!(matches!(&ev[2], TargetEvent::Exited { .. }));
    }

    /// Lines cut anywhere by the fetches, on both streams, a restart marker in the output,
    /// malformed lines counted, and the last partial lines read at the end.
    #[test]
    fn a_feed_turns_fetched_bytes_into_events_and_mirrors_them() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let restart = |l: &[u8]| (l == b"RESTART").then(|| (1, "again".to_string()));
        let mut f = Feed::new("r", None, tx, Some(dir.path()))
            .unwrap()
            .with_restarts(restart);
        f.feed(Stream::Output, b"hello\nacc=0.");
        f.feed(Stream::Output, b"5\n@sweep {bad\n@sweep {worse\n");
        f.feed(Stream::Metrics, b"{\"metric\":\"loss\",\"val");
        f.feed(Stream::Metrics, b"ue\":2}\n");
        assert_eq!(f.offset(Stream::Output), 40);
        assert_eq!(f.offset(Stream::Metrics), 28);
        f.feed(Stream::Output, b"RESTART\nacc=0.25\nlast, no newline");
        assert_eq!(f.restart(), 1);
        f.new_metrics_file();
        assert_eq!(f.offset(Stream::Metrics), 0);
        f.exit(ExitStatus::Code(0));
        let ev = events(&mut rx);
        let values = |e: &TargetEvent| match e {
            TargetEvent::Metrics { reports, .. } => {
                reports.iter().map(|r| (r.name.clone(), r.value)).collect()
            }
            _ => Vec::new(),
        };
        // The reports before a warning or a restart are sent before it.
        assert_eq!(values(&ev[0]), [("acc".to_string(), 0.5)]);
        assert!(
            matches!(&ev[1], TargetEvent::Malformed { message, .. } if message.starts_with("output: ")),
            "{ev:?}"
        );
        assert_eq!(values(&ev[2]), [("loss".to_string(), 2.0)]);
        assert!(matches!(&ev[3], TargetEvent::Restarted { restart: 1, why, .. } if why == "again"));
        assert_eq!(values(&ev[4]), [("acc".to_string(), 0.25)]);
        match &ev[5] {
            TargetEvent::Exited {
                status,
                tail,
                malformed,
                ..
            } => {
                assert_eq!(status, &ExitStatus::Code(0));
                assert_eq!(tail.first().map(String::as_str), Some("hello"));
                assert_eq!(tail.last().map(String::as_str), Some("last, no newline"));
                assert_eq!(*malformed, 2);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(ev.len(), 6);
        let d = RunDir::new(dir.path());
        let out = std::fs::read_to_string(d.output_log()).unwrap();
        assert!(out.starts_with("hello\nacc=0.5\n") && out.ends_with("last, no newline"));
        assert_eq!(
            std::fs::read_to_string(d.metrics()).unwrap(),
            "{\"metric\":\"loss\",\"value\":2}\n"
        );
    }

    #[test]
    fn the_tail_keeps_the_last_lines_cut_to_length() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = Watch::new("r", None, tx);
        let long = "x".repeat(TAIL_LINE_MAX + 10);
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        w.feed(Stream::Output, text.as_bytes());
        w.feed(Stream::Output, long.as_bytes());
        w.exit(ExitStatus::Signal(9));
        let Some(TargetEvent::Exited { tail, .. }) = events(&mut rx).pop() else {
            panic!("no exit");
        };
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 11");
        assert_eq!(tail.last().unwrap().len(), TAIL_LINE_MAX);
    }
}
