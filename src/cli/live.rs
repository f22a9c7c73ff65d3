//! The terminal live view: what `sweep run` (and `resume`) shows while a sweep runs, a
//! block redrawn in place on a terminal (runs by state, best so far with its parameters,
//! elapsed time and limits, why candidates wait) or one line per event otherwise; and the
//! in-place block itself, which `sweep status --watch` draws too. Log lines printed while a
//! block is on the terminal go above it rather than into it ([`log_above`]).

use std::collections::HashMap;
use std::io::{IsTerminal, Write as _};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use sweep::engine::Progress;
use sweep::report::format_duration;
use sweep::space::Params;
use sweep::store::RunState;

/// Formats a parameter list as `name=value name=value`.
pub fn format_params(p: &Params) -> String {
    p.iter()
        .map(|(n, v)| format!("{}={v}", n.trim_start_matches('-')))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The state the view is drawn from.
#[derive(Debug)]
pub struct ProgressView {
    metric: String,
    max_total: u64,
    max_concurrent: u64,
    max_minutes: f64,
    started: Instant,
    states: HashMap<String, RunState>,
    best: Option<(String, f64, Params)>,
    last_warning: Option<String>,
    stopping: Option<String>,
    waiting: Option<String>,
    sweep_id: String,
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
            states: HashMap::new(),
            best: None,
            last_warning: None,
            stopping: None,
            waiting: None,
            sweep_id: String::new(),
        }
    }

    /// Applies an event; returns the line to print for it in line-per-event mode.
    pub fn apply(&mut self, p: &Progress) -> Option<String> {
        match p {
            Progress::Started { sweep_id } => {
                self.sweep_id = sweep_id.clone();
                Some(format!("sweep {sweep_id} started"))
            }
            Progress::RunState {
                run_id,
                params,
                state,
                reason,
            } => {
                self.states.insert(run_id.clone(), *state);
                match state {
                    RunState::Running => {
                        Some(format!("run {run_id} running: {}", format_params(params)))
                    }
                    s if s.is_terminal() => Some(format!(
                        "run {run_id} {}: {}",
                        s.as_str(),
                        reason.as_ref().map(ToString::to_string).unwrap_or_default()
                    )),
                    _ => None,
                }
            }
            Progress::NewBest {
                run_id,
                value,
                params,
            } => {
                self.best = Some((run_id.clone(), *value, params.clone()));
                Some(format!(
                    "new best {}={value} from run {run_id} ({})",
                    self.metric,
                    format_params(params)
                ))
            }
            Progress::Warning(w) => {
                self.last_warning = Some(w.clone());
                Some(format!("warning: {w}"))
            }
            Progress::Stopping(why) => {
                self.stopping = Some(why.clone());
                Some(format!("stopping: {why}"))
            }
            // It changes with every run that starts or ends: the block shows it, a line per
            // change would only repeat the run lines.
            Progress::Waiting(w) => {
                self.waiting = w.as_ref().map(ToString::to_string);
                None
            }
        }
    }

    /// The block drawn on a terminal.
    pub fn render(&self) -> Vec<String> {
        let count = |s: RunState| self.states.values().filter(|x| **x == s).count();
        let mut lines = vec![format!(
            "sweep {}  elapsed {} / {}  runs {}/{} (max {} at once)",
            self.sweep_id,
            format_duration(self.started.elapsed().as_secs_f64()),
            format_duration(self.max_minutes * 60.0),
            self.states.len(),
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
            Some((id, v, p)) => format!(
                "  best {}={v} (run {id}: {})",
                self.metric,
                format_params(p)
            ),
            None => format!("  best {}: none yet", self.metric),
        });
        if let Some(s) = &self.stopping {
            lines.push(format!("  stopping: {s}"));
        } else {
            if let Some(w) = &self.waiting {
                lines.push(format!("  waiting: {w}"));
            }
            if let Some(w) = &self.last_warning {
                lines.push(format!("  warning: {w}"));
            }
        }
        lines
    }
}

/// Shows the progress events of a sweep until the engine drops its sender: the block on a
/// terminal, a line per event otherwise; with `quiet`, only warnings (on stderr).
pub async fn show_progress(
    mut view: ProgressView,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Progress>,
    quiet: bool,
) {
    let tty = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            p = rx.recv() => {
                let Some(p) = p else { break };
                let Some(line) = view.apply(&p) else { continue };
                match &p {
                    // Quiet leaves out the progress, not the warnings.
                    Progress::Warning(_) if quiet => eprintln!("{line}"),
                    _ if quiet => {}
                    // Warnings also scroll above the live block so they are not lost.
                    Progress::Warning(_) | Progress::Stopping(_) if tty => print_above(&line),
                    _ if tty => {}
                    _ => println!("{line}"),
                }
            }
            _ = tick.tick(), if tty && !quiet => draw(view.render()),
        }
    }
    if tty && !quiet {
        draw(view.render());
        release();
    }
}

/// The block on the terminal (stdout): the lines drawn last, empty when none is. One per
/// process, as the terminal is one.
static BLOCK: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn block() -> MutexGuard<'static, Vec<String>> {
    BLOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Moves the cursor up over `n` lines, clearing them.
fn erase(out: &mut impl std::io::Write, n: usize) {
    for _ in 0..n {
        let _ = write!(out, "\x1b[1A\x1b[2K");
    }
}

fn write_lines(out: &mut impl std::io::Write, lines: &[String]) {
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

/// Draws `lines` on the terminal in place of the block drawn last, each cut to the
/// terminal's width (a wrapped line would throw the next erase off by one).
pub fn draw(lines: Vec<String>) {
    let width = terminal_width().unwrap_or(120);
    let lines: Vec<String> = lines.iter().map(|l| cut(l, width)).collect();
    let mut block = block();
    let mut out = std::io::stdout().lock();
    erase(&mut out, block.len());
    write_lines(&mut out, &lines);
    *block = lines;
}

/// Prints a line on stdout above the block, which is drawn again below it.
fn print_above(line: &str) {
    let block = block();
    let mut out = std::io::stdout().lock();
    erase(&mut out, block.len());
    let _ = writeln!(out, "{line}");
    write_lines(&mut out, &block);
}

/// Leaves the block on the terminal as it is: what is printed next goes below it.
pub fn release() {
    block().clear();
}

/// Writes log output to stderr; while a block is on the terminal and stderr is that
/// terminal too, above the block, which is drawn again below it.
pub fn log_above(text: &[u8]) -> std::io::Result<()> {
    let block = block();
    let mut err = std::io::stderr().lock();
    if block.is_empty() || !err.is_terminal() {
        return err.write_all(text);
    }
    let mut out = std::io::stdout().lock();
    erase(&mut out, block.len());
    let _ = out.flush();
    err.write_all(text)?;
    err.flush()?;
    write_lines(&mut out, &block);
    Ok(())
}

fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a plain struct; a failure leaves it zeroed and is checked.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// Cuts a line to `width` characters (the last one becomes `…`).
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep::space::Value;

    #[test]
    fn view_counts_states_and_tracks_best() {
        let mut v = ProgressView::new("acc", 10, 2, 1.0);
        let p = Params(vec![("--lr".into(), Value::Float(0.5))]);
        v.apply(&Progress::RunState {
            run_id: "r0".into(),
            params: p.clone(),
            state: RunState::Running,
            reason: None,
        });
        let line = v
            .apply(&Progress::RunState {
                run_id: "r0".into(),
                params: p.clone(),
                state: RunState::Failed,
                reason: Some("exit code 1".into()),
            })
            .unwrap();
        assert_eq!(line, "run r0 failed: exit code 1");
        v.apply(&Progress::NewBest {
            run_id: "r1".into(),
            value: 0.9,
            params: p,
        });
        let r = v.render();
        assert!(r[1].contains("failed 1"), "{r:?}");
        assert_eq!(r[2], "  best acc=0.9 (run r1: lr=0.5)");
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
        assert_eq!(v.apply(&Progress::Waiting(Some(w))), None);
        assert_eq!(
            v.render().last().unwrap(),
            "  waiting: target full (pool: 2 of 2 slots)"
        );
        v.apply(&Progress::Waiting(None));
        assert!(!v.render().iter().any(|l| l.contains("waiting")));
    }

    #[test]
    fn lines_are_cut_to_the_terminal() {
        assert_eq!(cut("abcdef", 10), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("λλλλ", 3), "λλ…");
    }
}
