//! Where the library's log events go: stderr, one line each (`warning: host gpu2 lost: …`),
//! without timestamps, above the live block when one is on the terminal. Warnings and
//! errors print by default.
//!
//! Which events print: `--log-level LEVEL` if given, else `-v` (info), `-vv` (debug),
//! `-vvv` (trace), else `$SWEEP_LOG` (a `tracing` EnvFilter string, e.g.
//! `sweep::target::ssh=debug`), else `warn`. The command-line levels apply to sweep's own
//! events; other crates stay at `warn` unless `SWEEP_LOG` says otherwise.

use super::CliError;
use clap::{ArgAction, Args, ValueEnum};
use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The environment variable with the log filter.
pub const ENV: &str = "SWEEP_LOG";

/// The logging options every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    /// Log more on stderr: -v info, -vv debug, -vvv trace [default: warnings and errors,
    /// or $SWEEP_LOG].
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The log level on stderr (overrides -v and $SWEEP_LOG).
    #[arg(long, value_enum, value_name = "LEVEL", global = true)]
    pub log_level: Option<LogLevel>,
}

/// A log level of `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors (the default).
    Warn,
    /// What sweep does, step by step.
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl LogArgs {
    /// The filter directives these options and `sweep_log` (the value of `$SWEEP_LOG`) ask
    /// for.
    fn directives(&self, sweep_log: Option<String>) -> String {
        let level = self.log_level.or(match self.verbose {
            0 => None,
            1 => Some(LogLevel::Info),
            2 => Some(LogLevel::Debug),
            _ => Some(LogLevel::Trace),
        });
        match (level, sweep_log.filter(|s| !s.trim().is_empty())) {
            // More than warnings from sweep, but not every HTTP and TLS detail of reqwest.
            (Some(l), _) if l > LogLevel::Warn => format!("warn,sweep={}", l.as_str()),
            (Some(l), _) => l.as_str().to_string(),
            (None, Some(s)) => s,
            (None, None) => "warn".to_string(),
        }
    }

    /// The filter for these options and `sweep_log`; an unreadable `$SWEEP_LOG` (the only
    /// source that can be) is bad input.
    pub fn filter(&self, sweep_log: Option<String>) -> Result<EnvFilter, CliError> {
        let directives = self.directives(sweep_log);
        EnvFilter::builder().parse(&directives).map_err(|e| {
            CliError::BadInput(format!(
                "{ENV}={directives:?}: {e}\n  = hint: {ENV} takes a filter like `warn`, `info` or `warn,sweep::target=debug`"
            ))
        })
    }
}

/// Installs the subscriber that prints log events on stderr as `options` and `$SWEEP_LOG`
/// ask.
pub fn init(options: &LogArgs) -> Result<(), CliError> {
    let filter = options.filter(std::env::var(ENV).ok())?;
    // Fails only if a subscriber is installed already, and then that one prints.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .event_format(Line)
        .with_writer(Stderr)
        .try_init();
    Ok(())
}

/// One event as one line, spelled like sweep's own messages: `warning: …`, `error: …`;
/// debug and trace lines name the module they come from.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = *meta.level();
        write!(writer, "{}: ", level_word(level))?;
        if level >= Level::DEBUG {
            write!(writer, "{}: ", meta.target())?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// stderr, above the live block while one is on the terminal.
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        super::live::log_above(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
    }

    fn directives(args: &[&str], sweep_log: Option<&str>) -> String {
        let cli =
            Cli::try_parse_from(std::iter::once("sweep").chain(args.iter().copied())).unwrap();
        cli.log.directives(sweep_log.map(String::from))
    }

    #[test]
    fn the_command_line_wins_over_the_environment() {
        assert_eq!(directives(&[], None), "warn");
        assert_eq!(directives(&[], Some("  ")), "warn");
        assert_eq!(directives(&[], Some("error")), "error");
        assert_eq!(directives(&["-v"], Some("error")), "warn,sweep=info");
        assert_eq!(directives(&["-vv"], None), "warn,sweep=debug");
        assert_eq!(directives(&["-vvvv"], None), "warn,sweep=trace");
        assert_eq!(
            directives(&["-vv", "--log-level", "error"], Some("debug")),
            "error"
        );
        assert_eq!(directives(&["--log-level", "off"], None), "off");
    }

    #[test]
    fn an_unreadable_sweep_log_is_bad_input_naming_it() {
        let cli = Cli::try_parse_from(["sweep"]).unwrap();
        let e = cli.log.filter(Some("sweep=loud".into())).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("SWEEP_LOG=\"sweep=loud\": "), "{text}");
        assert!(text.contains("= hint: SWEEP_LOG takes a filter"), "{text}");
        assert_eq!(e.process_exit(), super::super::Exit::BadInput);
        assert!(cli
            .log
            .filter(Some("warn,sweep::target=debug".into()))
            .is_ok());
    }

    #[test]
    fn events_are_lines_spelled_like_sweeps_own_messages() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("debug"))
            .with_ansi(false)
            .event_format(Line)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("host {} lost: {}", "gpu2", "timed out");
            tracing::error!(code = 3, "run history write failed");
            tracing::debug!("a detail");
            tracing::trace!("not shown");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let target = module_path!();
        assert_eq!(
            text,
            format!(
                "warning: host gpu2 lost: timed out\nerror: run history write failed code=3\ndebug: {target}: a detail\n"
            )
        );
    }
}
