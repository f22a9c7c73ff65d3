//! The terminal live view: what `sweep run` (and `resume`) shows while a sweep runs, a
//! block redrawn in place on a terminal (runs by state, best so far, the runs in flight
//! with their latest value, the policy's recent stops, why candidates wait) or one line per
//! event otherwise; and the in-place block itself, which `sweep status --watch` draws too.
//! Log lines printed while a block is on the terminal go above it rather than into it
//! ([`log_above`]).
//!
//! Drawn with the `console` crate (the terminal layer of indicatif): it measures text by
//! display width (wide characters, escape sequences) and cuts it, reads the terminal's size
//! and moves the cursor. indicatif's bars are progress bars, not a block of free text, and a
//! full-screen view (ratatui) would hide the scroll-back of warnings and failures that stays
//! readable here, so the block is kept by this module: every line is cut to the terminal's
//! width (read again on every draw and on SIGWINCH), so each line is one row, and a redraw
//! clears the rows the last block takes at the current width, so no stale line stays
//! behind.

use super::term::{self, cut, escape_controls, sig, width};
use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use sweep::engine::Progress;
use sweep::human::format_duration;
use sweep::space::{Params, Value};
use sweep::store::RunState;

/// Formats a parameter list as `name=value name=value`, each value in full.
pub fn format_params(p: &Params) -> String {
    p.iter()
        .map(|(n, v)| format!("{}={v}", n.trim_start_matches('-')))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parameter list shortened for a narrow column: floats at 4 significant digits.
pub fn short_params(p: &Params) -> String {
    p.iter()
        .map(|(n, v)| {
            let v = match v {
                Value::Float(f) => sig(*f, 4),
                v => v.to_string(),
            };
            format!("{}={}", n.trim_start_matches('-'), escape_controls(&v))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many of the policy's latest stops the block lists.
const RECENT_STOPS: usize = 3;

/// A run in flight, as the view knows it.
#[derive(Debug)]
struct InFlight {
    id: String,
    params: Params,
    since: Instant,
    interval: u32,
    latest: Option<f64>,
}

/// The best run so far.
#[derive(Debug, Clone)]
struct Best {
    run_id: String,
    value: f64,
    params: Params,
    interval: u32,
}

/// The state the view is drawn from.
#[derive(Debug)]
pub struct ProgressView {
    metric: String,
    max_total: u64,
    max_concurrent: u64,
    max_minutes: f64,
    /// When this session's sweep started, and the running time earlier sessions used:
    /// elapsed time is their sum, the sweep's `active_seconds` as `status` shows it.
    started: Instant,
    earlier: f64,
    states: HashMap<String, RunState>,
    /// Runs that are new attempts of another (an interrupted or lost run): the same
    /// candidate, so the runs count (against `max_total_runs`) leaves them out.
    retries: usize,
    in_flight: Vec<InFlight>,
    best: Option<Best>,
    stops: VecDeque<String>,
    last_warning: Option<String>,
    stopping: Option<String>,
    waiting: Option<String>,
    sweep_id: String,
    /// The output of the first failed run has been shown.
    failure_shown: bool,
    /// The last output lines of runs that failed, until their `Failed` state arrives.
    outputs: HashMap<String, Vec<String>>,
}

impl ProgressView {
    /// A view for a sweep with these limits.
    pub fn new(metric: &str, max_total: u64, max_concurrent: u64, max_minutes: f64) -> Self {
        ProgressView {
            metric: metric.into(),
            max_total,
            max_concurrent,
            max_minutes,
            started: Instant::now(),
            earlier: 0.0,
            states: HashMap::new(),
            retries: 0,
            in_flight: Vec::new(),
            best: None,
            stops: VecDeque::new(),
            last_warning: None,
            stopping: None,
            waiting: None,
            sweep_id: String::new(),
            failure_shown: false,
            outputs: HashMap::new(),
        }
    }

    /// The running time the sweep has used, seconds: earlier sessions' and this one's.
    fn elapsed(&self) -> f64 {
        self.earlier + self.started.elapsed().as_secs_f64()
    }

    /// Whether a `stopping: …` line said why the sweep stopped (the ending line then does
    /// not repeat it).
    pub fn stop_shown(&self) -> bool {
        self.stopping.is_some()
    }

    /// Whether the output of a failed run was shown (the summary then does not repeat it).
    pub fn failure_shown(&self) -> bool {
        self.failure_shown
    }

    fn interval_of(&self, run_id: &str) -> u32 {
        self.in_flight
            .iter()
            .find(|r| r.id == run_id)
            .map_or(0, |r| r.interval)
    }

    /// Applies an event; returns the lines to print for it in line-per-event mode (a
    /// terminal shows them above the block).
    pub fn apply(&mut self, p: &Progress) -> Vec<String> {
        match p {
            Progress::Started {
                sweep_id,
                active_seconds,
            } => {
                self.sweep_id = sweep_id.clone();
                self.started = Instant::now();
                self.earlier = *active_seconds;
                vec![format!("sweep {sweep_id} started")]
            }
            Progress::RunState {
                run_id,
                params,
                state,
                reason,
                retry_of,
            } => {
                let new = self.states.insert(run_id.clone(), *state).is_none();
                let mut lines = Vec::new();
                if let Some(o) = retry_of.as_ref().filter(|_| new) {
                    self.retries += 1;
                    if !state.is_terminal() {
                        lines.push(format!("run {run_id} retries run {o} (same parameters)"));
                    }
                }
                if state.is_terminal() {
                    self.in_flight.retain(|r| &r.id != run_id);
                } else if !self.in_flight.iter().any(|r| &r.id == run_id) {
                    self.in_flight.push(InFlight {
                        id: run_id.clone(),
                        params: params.clone(),
                        since: Instant::now(),
                        interval: 0,
                        latest: None,
                    });
                }
                let reason = reason.as_ref().map(ToString::to_string).unwrap_or_default();
                let reason = reason.as_str();
                lines.extend(match state {
                    RunState::Running => vec![format!(
                        "run {run_id} running: {}",
                        escape_controls(&format_params(params))
                    )],
                    RunState::Canceled if reason.starts_with("policy:") => {
                        let stop = format!("{run_id} ({})", &reason["policy:".len()..]);
                        self.stops.push_front(stop);
                        self.stops.truncate(RECENT_STOPS);
                        vec![format!("run {run_id} canceled: {reason}")]
                    }
                    RunState::Failed => {
                        let mut lines = vec![format!("run {run_id} failed: {reason}")];
                        let output = self.outputs.remove(run_id);
                        if let Some(out) = output.filter(|_| !self.failure_shown) {
                            self.failure_shown = true;
                            lines.extend(failure_block(term::output_width(), run_id, reason, &out));
                        }
                        lines
                    }
                    s if s.is_terminal() => vec![format!("run {run_id} {}: {reason}", s.as_str())],
                    _ => Vec::new(),
                });
                lines
            }
            Progress::Interval {
                run_id,
                interval,
                value,
            } => {
                if let Some(r) = self.in_flight.iter_mut().find(|r| &r.id == run_id) {
                    r.interval = *interval;
                    r.latest = Some(*value);
                }
                Vec::new()
            }
            Progress::Output { run_id, lines } => {
                self.outputs.insert(run_id.clone(), lines.clone());
                Vec::new()
            }
            Progress::NewBest {
                run_id,
                value,
                params,
            } => {
                let interval = self.interval_of(run_id);
                self.best = Some(Best {
                    run_id: run_id.clone(),
                    value: *value,
                    params: params.clone(),
                    interval,
                });
                vec![format!(
                    "new best {}={value} from run {run_id} ({})",
                    self.metric,
                    escape_controls(&format_params(params))
                )]
            }
            Progress::Warning(w) => {
                self.last_warning = Some(w.clone());
                vec![format!("warning: {}", escape_controls(w))]
            }
            Progress::Stopping(why) => {
                self.stopping = Some(why.clone());
                vec![format!("stopping: {why}")]
            }
            // It changes with every run that starts or ends: the block shows it, a line per
            // change would only repeat the run lines.
            Progress::Waiting(w) => {
                self.waiting = w.as_ref().map(ToString::to_string);
                Vec::new()
            }
        }
    }

    /// The block drawn on a terminal `width` columns wide and `height` rows high: every
    /// line fits the width, and the block leaves a row free below it.
    pub fn render(&self, width: usize, height: usize) -> Vec<String> {
        let count = |s: RunState| self.states.values().filter(|x| **x == s).count();
        let mut lines = vec![format!(
            "sweep {}  elapsed {} of {}  runs {}/{} ({} at once)",
            self.sweep_id,
            format_duration(self.elapsed()),
            format_duration(self.max_minutes * 60.0),
            self.states.len() - self.retries,
            self.max_total,
            self.max_concurrent,
        )];
        lines.push(format!(
            "  running {}  starting {}  completed {}  failed {}  canceled {}",
            count(RunState::Running),
            count(RunState::Starting) + count(RunState::Queued),
            count(RunState::Completed),
            count(RunState::Failed),
            count(RunState::Canceled)
        ));
        lines.push(match &self.best {
            Some(b) => format!(
                "  best {}={}{} run {}: {}",
                self.metric,
                sig(b.value, 6),
                if b.interval > 0 {
                    format!(" at interval {}", b.interval)
                } else {
                    String::new()
                },
                b.run_id,
                short_params(&b.params)
            ),
            None => format!("  best {}: none yet", self.metric),
        });
        let mut tail = Vec::new();
        if !self.stops.is_empty() {
            tail.push(format!(
                "  stopped by the policy: {}",
                self.stops.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(s) = &self.stopping {
            tail.push(format!("  stopping: {s}"));
        } else {
            if let Some(w) = &self.waiting {
                tail.push(format!("  waiting: {w}"));
            }
            if let Some(w) = &self.last_warning {
                tail.push(format!("  warning: {}", escape_controls(w)));
            }
        }
        // The rows in flight get what the other lines leave of the height.
        let room = height
            .saturating_sub(1 + lines.len() + tail.len() + 1)
            .max(1);
        if !self.in_flight.is_empty() {
            let id_w = self.in_flight.iter().map(|r| r.id.len()).max().unwrap_or(0);
            lines.push(format!(
                "  {}  {:>8}  {:>10}  {:>8}  params",
                term::pad("in flight", id_w),
                "interval",
                cut(&self.metric, 10),
                "elapsed"
            ));
            let shown = if self.in_flight.len() > room {
                room.saturating_sub(1)
            } else {
                self.in_flight.len()
            };
            for r in self.in_flight.iter().take(shown) {
                lines.push(format!(
                    "  {}  {:>8}  {:>10}  {:>8}  {}",
                    term::pad(&r.id, id_w),
                    r.interval,
                    r.latest.map_or_else(|| "-".to_string(), |v| sig(v, 6)),
                    format_duration(r.since.elapsed().as_secs_f64()),
                    short_params(&r.params)
                ));
            }
            if shown < self.in_flight.len() {
                lines.push(format!(
                    "  … and {} more in flight",
                    self.in_flight.len() - shown
                ));
            }
        }
        lines.extend(tail);
        fit(lines, width, height)
    }
}

/// Lines cut to `width` columns, at most `height - 1` of them (the row under the block
/// stays free, so the terminal never scrolls the block's first line away).
pub fn fit(lines: Vec<String>, width: usize, height: usize) -> Vec<String> {
    let max = height.saturating_sub(1).max(1);
    lines
        .into_iter()
        .take(max)
        .map(|l| cut(&l, width).into_owned())
        .collect()
}

/// The lines that show a failed run's last output: what it printed, indented and kept whole,
/// with the run's id and reason, and a hint when the failure is a known kind, wrapped to
/// `width` columns.
pub fn failure_block(width: usize, run_id: &str, reason: &str, output: &[String]) -> Vec<String> {
    let mut lines = vec![format!(
        "run {run_id} failed ({reason}); its last output lines:"
    )];
    for l in output {
        lines.push(format!("  | {}", escape_controls(l)));
    }
    if let Some(h) = failure_hint(reason, output) {
        let words: Vec<String> = h.split(' ').map(String::from).collect();
        lines.extend(term::wrap_words("  = hint: ", &words, width));
    }
    lines
}

/// What to try for a failure whose output says what went wrong.
pub fn failure_hint(reason: &str, output: &[String]) -> Option<String> {
    let last = output.iter().rev().find(|l| !l.trim().is_empty())?;
    if let Some(m) = last.split("No module named ").nth(1) {
        let m = m.trim().trim_matches('\'').trim_matches('"');
        return Some(format!(
            "the interpreter the runs use has no module `{m}`: install it there, point `interpreterPath` at an environment that has it, or let sweep build one (`userManagedDependencies: false` with a requirements file)"
        ));
    }
    if last.contains("FileNotFoundError") || last.contains("No such file or directory") {
        return Some(
            "runs start in a copy of the source directory without what `.amlignore`/`.gitignore` excludes; `sweep validate` lists the exclusions (give the script an absolute path, or stop excluding the file)"
                .into(),
        );
    }
    match reason {
        "exit code 127" => Some(
            "the program was not found: check the interpreter or the command's first word".into(),
        ),
        "exit code 126" => Some(
            "the program is not executable: `chmod +x` it, or run it through its interpreter"
                .into(),
        ),
        _ => None,
    }
}

/// Shows the progress events of a sweep until the engine drops its sender: the block on a
/// terminal, a line per event otherwise; with `quiet`, only warnings (on stderr). Returns
/// the view, which knows whether a failed run's output was shown.
pub async fn show_progress(
    mut view: ProgressView,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Progress>,
    quiet: bool,
) -> ProgressView {
    let tty = term::stdout_is_tty();
    let live = tty && !quiet;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // A resized terminal is drawn again at once, at its new width.
    let mut winch = live
        .then(|| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()))
        .and_then(Result::ok);
    loop {
        tokio::select! {
            p = rx.recv() => {
                let Some(p) = p else { break };
                let lines = view.apply(&p);
                if lines.is_empty() {
                    continue;
                }
                match &p {
                    // Quiet leaves out the progress, not the warnings.
                    Progress::Warning(_) if quiet => lines.iter().for_each(|l| term::errln(l)),
                    _ if quiet => {}
                    // Warnings, stops and failures also scroll above the live block so they
                    // are not lost.
                    Progress::Warning(_) | Progress::Stopping(_) if live => print_above(&lines),
                    Progress::RunState { state: RunState::Failed, .. } if live && lines.len() > 1 => {
                        print_above(&lines[1..])
                    }
                    _ if live => {}
                    _ => lines.iter().for_each(|l| term::outln(l)),
                }
            }
            _ = tick.tick(), if live => draw_view(&view),
            _ = resized(&mut winch) => draw_view(&view),
        }
    }
    if live {
        draw_view(&view);
        release();
    }
    view
}

/// Waits for the terminal to be resized (never, without a terminal).
async fn resized(w: &mut Option<tokio::signal::unix::Signal>) {
    match w {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn draw_view(view: &ProgressView) {
    if view.sweep_id.is_empty() {
        // Nothing to show before the sweep is recorded.
        return;
    }
    let (w, h) = size();
    draw_fitted(view.render(w, h));
}

/// The terminal's size (columns, rows), read now.
fn size() -> (usize, usize) {
    (
        term::terminal_width().unwrap_or(term::DEFAULT_WIDTH),
        term::terminal_height().unwrap_or(50),
    )
}

/// The block on the terminal (stdout): the lines drawn last, empty when none is. One per
/// process, as the terminal is one.
static BLOCK: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn block() -> MutexGuard<'static, Vec<String>> {
    BLOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The rows `lines` take on a terminal `cols` wide (a terminal that re-wraps its lines when
/// it narrows shows a line wider than itself on several rows).
fn rows(lines: &[String], cols: usize) -> usize {
    let cols = cols.max(1);
    lines.iter().map(|l| width(l).div_ceil(cols).max(1)).sum()
}

/// Removes the block drawn last: each of its rows is cleared, from the top, and the cursor
/// left on its first row. Row by row rather than "clear to the end of the screen", which
/// some terminals (tmux's `scroll-on-clear`) answer by pushing the screen into the
/// scroll-back when the block starts on the first row: a stale copy there every redraw.
fn erase(t: &console::Term, drawn: &[String]) {
    if drawn.is_empty() {
        return;
    }
    let (cols, _) = size();
    let _ = t.clear_last_lines(rows(drawn, cols));
}

fn write_lines(t: &console::Term, lines: &[String]) {
    for l in lines {
        let _ = t.write_line(l);
    }
    let _ = t.flush();
}

/// Draws `lines` on the terminal in place of the block drawn last, each cut to the
/// terminal's width and as many as fit its height.
pub fn draw(lines: Vec<String>) {
    let (w, h) = size();
    draw_fitted(fit(lines, w, h));
}

fn draw_fitted(lines: Vec<String>) {
    let mut block = block();
    let t = console::Term::stdout();
    erase(&t, &block);
    write_lines(&t, &lines);
    *block = lines;
}

/// Prints lines on stdout above the block, which is drawn again below it.
fn print_above(lines: &[String]) {
    let block = block();
    let t = console::Term::stdout();
    erase(&t, &block);
    for l in lines {
        let _ = t.write_line(l);
    }
    write_lines(&t, &block);
}

/// Leaves the block on the terminal as it is: what is printed next goes below it.
pub fn release() {
    block().clear();
}

/// Writes log output to stderr; while a block is on the terminal and stderr is that
/// terminal too, above the block, which is drawn again below it.
pub fn log_above(text: &[u8]) -> std::io::Result<()> {
    use std::io::IsTerminal;
    let block = block();
    let mut err = std::io::stderr().lock();
    if block.is_empty() || !err.is_terminal() {
        return err.write_all(text);
    }
    let t = console::Term::stdout();
    erase(&t, &block);
    let _ = t.flush();
    err.write_all(text)?;
    err.flush()?;
    write_lines(&t, &block);
    Ok(())
}

/// A note for the user on stderr (above the block while one is drawn).
pub fn note(line: &str) {
    let _ = log_above(format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lr: f64) -> Params {
        Params(vec![("--lr".into(), Value::Float(lr))])
    }

    fn state(run: &str, state: RunState, reason: Option<&str>) -> Progress {
        Progress::RunState {
            run_id: run.into(),
            params: p(0.5),
            state,
            reason: reason.map(sweep::store::EndReason::parse),
            retry_of: None,
        }
    }

    /// The event of a sweep starting (or resuming) with `active_seconds` already used.
    fn started(sweep_id: &str, active_seconds: f64) -> Progress {
        Progress::Started {
            sweep_id: sweep_id.into(),
            active_seconds,
        }
    }

    #[test]
    fn view_counts_states_and_tracks_best_with_its_interval() {
        let mut v = ProgressView::new("acc", 10, 2, 1.0);
        v.apply(&state("r0", RunState::Running, None));
        let lines = v.apply(&state("r0", RunState::Failed, Some("exit code 1")));
        assert_eq!(lines, ["run r0 failed: exit code 1"]);
        v.apply(&state("r1", RunState::Running, None));
        v.apply(&Progress::Interval {
            run_id: "r1".into(),
            interval: 3,
            value: 0.912345678,
        });
        v.apply(&Progress::NewBest {
            run_id: "r1".into(),
            value: 0.912345678,
            params: p(0.0123456),
        });
        let r = v.render(100, 40);
        assert!(r[1].contains("failed 1"), "{r:?}");
        assert_eq!(r[2], "  best acc=0.912346 at interval 3 run r1: lr=0.01235");
        let row = r
            .iter()
            .find(|l| l.trim_start().starts_with("r1 "))
            .unwrap();
        assert!(row.contains("0.912346") && row.contains("lr=0.5"), "{row}");
    }

    #[test]
    fn a_resumed_view_goes_on_from_the_time_used_and_counts_candidates_not_attempts() {
        let mut v = ProgressView::new("acc", 4, 2, 60.0);
        v.apply(&started("sw_1", 125.0));
        v.apply(&state("sw_1_0", RunState::Completed, Some("exit code 0")));
        v.apply(&state("sw_1_1", RunState::Canceled, Some("user cancel")));
        let retry = |state| Progress::RunState {
            run_id: "sw_1_2".into(),
            params: p(0.5),
            state,
            reason: None,
            retry_of: Some("sw_1_1".into()),
        };
        assert_eq!(
            v.apply(&retry(RunState::Starting)),
            ["run sw_1_2 retries run sw_1_1 (same parameters)"]
        );
        // A later state of the same retry is not another attempt.
        assert_eq!(
            v.apply(&retry(RunState::Running)),
            ["run sw_1_2 running: lr=0.5"]
        );
        assert_eq!(
            v.render(100, 40)[0],
            "sweep sw_1  elapsed 2m05s of 1h00m00s  runs 2/4 (2 at once)"
        );
    }

    #[test]
    fn the_first_failure_shows_its_output_once_with_a_hint() {
        let mut v = ProgressView::new("acc", 10, 2, 1.0);
        let out = vec![
            "Traceback (most recent call last):".to_string(),
            "ModuleNotFoundError: No module named 'pandas'".to_string(),
        ];
        for run in ["r0", "r1"] {
            v.apply(&Progress::Output {
                run_id: run.into(),
                lines: out.clone(),
            });
        }
        let first = v.apply(&state("r0", RunState::Failed, Some("exit code 1")));
        assert_eq!(
            first[1],
            "run r0 failed (exit code 1); its last output lines:"
        );
        assert_eq!(
            first[3],
            "  | ModuleNotFoundError: No module named 'pandas'"
        );
        assert!(first[4].contains("no module `pandas`"), "{first:?}");
        let second = v.apply(&state("r1", RunState::Failed, Some("exit code 1")));
        assert_eq!(second, ["run r1 failed: exit code 1"]);
        assert!(v.failure_shown());
    }

    #[test]
    fn view_shows_why_nothing_is_launched_until_it_stops() {
        let mut v = ProgressView::new("acc", 10, 4, 1.0);
        let w = sweep::engine::Waiting::TargetFull {
            target: "pool".into(),
            live: 2,
            starting: 0,
            capacity: 2,
        };
        // Not a line of its own: it changes with every run.
        assert!(v.apply(&Progress::Waiting(Some(w))).is_empty());
        assert_eq!(
            v.render(100, 40).last().unwrap(),
            "  waiting: target full (pool: 2 of 2 slots)"
        );
        v.apply(&Progress::Waiting(None));
        assert!(!v.render(100, 40).iter().any(|l| l.contains("waiting")));
    }

    #[test]
    fn every_line_fits_and_the_block_fits_the_height() {
        let mut v = ProgressView::new("accuracy_on_the_validation_set", 500, 40, 10080.0);
        v.apply(&started("sw_6b15cc4b_7919", 0.0));
        for i in 0..40 {
            let params = Params(vec![
                (
                    "--learning_rate".into(),
                    Value::Float(0.000123456789 * i as f64),
                ),
                (
                    "--optimizer".into(),
                    Value::Str("adam\x1b]0;pwned\x07日本語".into()),
                ),
            ]);
            v.apply(&Progress::RunState {
                run_id: format!("sw_6b15cc4b_7919_{i}"),
                params,
                state: RunState::Running,
                reason: None,
                retry_of: None,
            });
        }
        v.apply(&state(
            "sw_6b15cc4b_7919_3",
            RunState::Canceled,
            Some("policy:bandit"),
        ));
        for (w, h) in [(60, 24), (80, 24), (120, 30), (200, 10)] {
            let r = v.render(w, h);
            assert!(r.len() < h, "{w}x{h}: {} lines", r.len());
            for l in &r {
                assert!(width(l) <= w, "{w}: {l:?}");
                assert!(!l.contains('\x1b'), "{l:?}");
            }
            assert!(r.iter().any(|l| l.contains("more in flight")), "{r:?}");
        }
        // A tall terminal shows every run in flight.
        let tall = v.render(120, 50);
        assert_eq!(
            tall.iter().filter(|l| l.contains("learning_rate=")).count(),
            39
        );
        assert!(tall
            .iter()
            .any(|l| l.contains("stopped by the policy: sw_6b15cc4b_7919_3 (bandit)")));
    }

    #[test]
    fn rows_count_wrapped_lines() {
        let lines = vec!["x".repeat(100), String::new(), "日".repeat(50)];
        assert_eq!(rows(&lines, 100), 3);
        assert_eq!(rows(&lines, 80), 2 + 1 + 2);
    }
}
