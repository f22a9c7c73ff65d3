//! The live view of `sweep run` in a real terminal: tmux runs it in a pseudo-terminal of a
//! given width, and the screen (with its scroll-back) is captured several times while the
//! sweep runs. Every line must fit the width, the block must be redrawn in place (one header
//! line, never a stale one left behind), and the runs in flight must be listed.

use crate::services::{require, tmux};
use crate::support::{choice, hd, Project, SWEEP};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Reports `acc` 16 times, a quarter of a second apart.
const SLOW: &str = "import sys, time
lr = float(sys.argv[sys.argv.index('--learning_rate_of_the_optimizer') + 1])
for i in range(16):
    print(f'acc={0.5 + lr * i / 20:.6f}', flush=True)
    time.sleep(0.25)
";

/// A tmux server of its own (its own socket), killed when dropped.
struct Terminal {
    bin: PathBuf,
    socket: String,
}

impl Terminal {
    /// A terminal `width` columns wide running `sweep ARGS` in project `p` (then printing
    /// `SWEEP-EXIT=<code>` and staying open), or `None` without tmux.
    fn start(p: &Project, width: usize, args: &str) -> Option<Terminal> {
        let bin = require("tmux", &tmux())?;
        let term = Terminal {
            bin,
            socket: format!("sweep-test-{}-{width}", std::process::id()),
        };
        let shell = format!(
            "cd '{}' && env -u SWEEP_WORKSPACE -u SWEEP_LOG '{SWEEP}' {args} --workspace ws; echo SWEEP-EXIT=$?; sleep 600",
            p.path().display()
        );
        let w = width.to_string();
        let started = term.tmux(&[
            "new-session",
            "-d",
            "-s",
            "view",
            "-x",
            &w,
            "-y",
            "30",
            &shell,
        ]);
        assert!(started.status.success(), "tmux: {started:?}");
        Some(term)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.bin)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The screen and its scroll-back, wrapped lines joined, trailing spaces cut.
    fn capture(&self) -> Vec<String> {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-500", "-t", "view"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn live_view_fits(width: usize) {
    let space = format!(
        "{}{}",
        "  - name: --learning_rate_of_the_optimizer\n    expression: uniform\n    values: [0.1, 1.0]\n",
        choice(
            "--architecture",
            "residual-network-with-a-very-long-name-日本語, transformer-encoder-decoder-µ"
        )
    );
    let p = Project::new()
        .script(SLOW)
        .hdconfig(&hd(
            &space,
            "random",
            "max_total_runs: 6\nmax_concurrent_runs: 3\n",
        ))
        .file(
            "t.runconfig",
            "script: t.py\ntarget: local\nenvironment:\n  python:\n    interpreterPath: python3\n",
        );
    let Some(term) = Terminal::start(&p, width, "run hd.yml -c t.runconfig") else {
        return;
    };
    let until = Instant::now() + Duration::from_secs(120);
    let mut captures = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let screen = term.capture();
        let done = screen.iter().any(|l| l.starts_with("SWEEP-EXIT="));
        captures.push(screen);
        if done {
            break;
        }
        assert!(
            Instant::now() < until,
            "the sweep did not end:\n{}",
            captures.last().unwrap().join("\n")
        );
    }
    let last = captures.last().unwrap().join("\n");
    assert!(last.contains("SWEEP-EXIT=0"), "{last}");
    assert!(last.contains("best run "), "{last}");
    assert!(captures.len() >= 4, "only {} captures", captures.len());
    for screen in &captures {
        let text = screen.join("\n");
        // The live view: everything above the final summary, which is printed below the
        // last block and is not cut (its reproduce command is pasted whole).
        let summary = screen.iter().position(|l| {
            l.starts_with("sweep sw_")
                && [" completed: ", " failed: ", " canceled: "]
                    .iter()
                    .any(|s| l.contains(s))
        });
        for l in &screen[..summary.unwrap_or(screen.len())] {
            assert!(
                console::measure_text_width(l) <= width,
                "a line is wider than {width} columns ({}):\n{l}\n\nscreen:\n{text}",
                console::measure_text_width(l)
            );
        }
        let headers = screen
            .iter()
            .filter(|l| l.starts_with("sweep sw_") && l.contains(" elapsed "))
            .count();
        assert!(headers <= 1, "{headers} header lines:\n{text}");
    }
    // While runs were in flight, the block listed them with their parameters.
    let in_flight = captures.iter().any(|screen| {
        screen
            .iter()
            .any(|l| l.trim_start().starts_with("in flight"))
            && screen
                .iter()
                .any(|l| l.trim_start().starts_with("sw_") && l.contains("learning_rate_of_the"))
    });
    assert!(
        in_flight,
        "no capture showed the runs in flight:\n{}",
        captures
            .iter()
            .map(|s| s.join("\n"))
            .collect::<Vec<_>>()
            .join("\n-----\n")
    );
}

#[test]
fn escape_sequences_from_runs_are_shown_not_replayed_on_a_terminal() {
    let p = crate::first_hour::escapes();
    p.run(&[]).success();
    let Some(term) = Terminal::start(&p, 200, "runs latest --wide") else {
        return;
    };
    let until = Instant::now() + Duration::from_secs(30);
    let screen = loop {
        std::thread::sleep(Duration::from_millis(200));
        let screen = term.capture().join("\n");
        if screen.contains("SWEEP-EXIT=") {
            break screen;
        }
        assert!(Instant::now() < until, "{screen}");
    };
    // Shown as text: the screen was not cleared, the title not changed.
    assert!(screen.contains("tag=a\\e[2Jb"), "{screen}");
    assert!(screen.contains("| \\e]0;pwned\\u{7}\\e[31mred"), "{screen}");
    let title = term.tmux(&["display-message", "-p", "-t", "view", "#{pane_title}"]);
    assert!(!String::from_utf8_lossy(&title.stdout).contains("pwned"));
}

#[test]
fn the_live_view_fits_80_columns() {
    live_view_fits(80);
}

#[test]
fn the_live_view_fits_120_columns() {
    live_view_fits(120);
}
