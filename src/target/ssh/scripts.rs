//! What sweep runs on an SSH host. Every script is text for the host's `sh` in which each
//! value (argv words, environment values, paths, ids) is quoted with [`quote`], so it
//! arrives as it was, and each file of a run directory is named through [`layout`], from
//! the layout every target shares ([`rundir`]):
//!
//! - [`WRAPPER`] runs a program detached and records how it ended, exactly;
//! - [`launch`] makes a run directory, exports the run's variables and starts the wrapper;
//! - [`find`] asks whether an interrupted launch started the run after all;
//! - [`poll`] fetches the new bytes of runs' files and their status, in one reply framed by
//!   lengths;
//! - [`stop`], [`kill`] and [`kill_lost`] signal a run's process group while its wrapper has
//!   not recorded its end;
//! - [`snapshot`] unpacks the sweep's snapshot, and [`CHECK`] is `sweep targets check`'s
//!   probe.

use super::poller::CHUNK;
use crate::target::rundir::{self, Value};
use crate::target::shell::join;
pub(super) use crate::target::shell::quote;
use crate::target::{LaunchRequest, TargetError};
use std::sync::LazyLock;
use std::time::Duration;

/// What the wrapper runs as: `sh -c WRAPPER sweep-run RUN_DIR ARGV...`.
///
/// The program's status must be told apart exactly: `sh`'s `wait` reports death by signal N
/// as 128+N, the same number as `exit 128+N`. So the program is not the wrapper's child:
/// `setsid setsid -w` (the outer `setsid` makes the inner one a session leader, so it
/// forks) starts it in a session and process group of its own, waits for it, and exits
/// with its exit code, or, when a signal ended it, with the signal number and a complaint
/// on its stderr (`setsid.err`). The program's own stderr is put back on the output first.
/// When the program has ended, what is left of its group is killed, and so is what is left
/// of its session (`pkill -s`, where procps is installed): a process that moved to a group
/// of its own is still in the session; one that started a session of its own escapes.
/// A command started with `&` by a shell ignores SIGINT and SIGQUIT, and no shell can undo
/// that for its children; `env --default-signal` (GNU coreutils 8.31 and later) does, so
/// the program gets them at their defaults where the host has it.
pub(super) static WRAPPER: LazyLock<String> = LazyLock::new(|| layout(WRAPPER_TEXT));
/// [`WRAPPER`] before [`layout`].
const WRAPPER_TEXT: &str = r#"RUN=$1; shift
trap '' HUP
echo $$ > "$RUN/@WRAPPER_PID@"
setsid setsid -w sh -c 'echo $$ > "$1/@PGID@.tmp" && mv "$1/@PGID@.tmp" "$1/@PGID@" && shift && if env --default-signal=INT true 2>/dev/null; then exec env --default-signal=INT,QUIT "$@" 2>&3 3>&-; else exec "$@" 2>&3 3>&-; fi' sweep-run "$RUN" "$@" 3>&2 2>"$RUN/@SETSID_ERR@" &
waiter=$!
trap ':' TERM INT
while :; do
  wait "$waiter"; code=$?
  kill -0 "$waiter" 2>/dev/null || break
done
pg=$(cat "$RUN/@PGID@" 2>/dev/null)
if [ -z "$pg" ]; then
  echo "sweep: the program did not start: $(cat "$RUN/@SETSID_ERR@")" >&2
  s="exit_code 127"
else
  kill -KILL -"$pg" 2>/dev/null
  pkill -KILL -s "$pg" 2>/dev/null
  if [ -s "$RUN/@SETSID_ERR@" ]; then s="signal $((code & 127))"; else s="exit_code $code"; fi
fi
echo "$s" > "$RUN/@EXIT_STATUS@.tmp" && mv "$RUN/@EXIT_STATUS@.tmp" "$RUN/@EXIT_STATUS@"
"#;

/// The shell functions of the poll command (see [`poll`]).
static POLL_FUNCS: LazyLock<String> =
    LazyLock::new(|| layout(POLL_FUNCS_TEXT).replace("CHUNK", &CHUNK.to_string()));
/// [`POLL_FUNCS`] before [`layout`].
const POLL_FUNCS_TEXT: &str = r#"em() {
  [ -f "$3" ] || return 0
  s=$(wc -c < "$3"); n=$((s - $4))
  [ "$n" -gt 0 ] || return 0
  [ "$n" -le CHUNK ] || n=CHUNK
  printf 'D %s %s %s\n' "$1" "$n" "$2"
  tail -c +$(($4 + 1)) "$3" | head -c "$n"
}
rn() {
  if [ -f "$2/@EXIT_STATUS@" ]; then e="exit $(cat "$2/@EXIT_STATUS@")"
  elif [ ! -d "$2" ]; then e=missing
  elif [ -f "$2/@WRAPPER_PID@" ] && kill -0 "$(cat "$2/@WRAPPER_PID@")" 2>/dev/null; then e=running
  else e=gone; fi
  em "$1" o "$2/@OUTPUT_LOG@" "$3"
  em "$1" m "$2/@METRICS@" "$4"
  printf 'S %s %s\n' "$1" "$e"
}
et() {
  em "$1" "t $3" "$2/$3" "$4"
}
ef() {
  ( cd "$2" 2>/dev/null && find @WORK@ @OUTPUTS@ -maxdepth 8 -type f -name 'events.out.tfevents.*' 2>/dev/null | head -n 100 ) |
  while IFS= read -r f; do printf 'F %s %s\n' "$1" "$f"; done
}
"#;

/// Script text with the run directory's names put in: `@OUTPUT_LOG@`, `@EXIT_STATUS@` and
/// the like stand for [`rundir`]'s, so the remote scripts name a run's files as every
/// other part of sweep does.
pub(super) fn layout(text: &str) -> String {
    [
        ("@OUTPUT_LOG@", rundir::OUTPUT_LOG),
        ("@METRICS@", rundir::METRICS_FILE),
        ("@STOP@", rundir::STOP_FILE),
        ("@OUTPUTS@", rundir::OUTPUTS_DIR),
        ("@WORK@", rundir::WORK_DIR),
        ("@EXIT_STATUS@", rundir::EXIT_STATUS_FILE),
        ("@PGID@", rundir::PGID_FILE),
        ("@WRAPPER_PID@", rundir::WRAPPER_PID_FILE),
        ("@SETSID_ERR@", rundir::SETSID_ERR_FILE),
    ]
    .iter()
    .fold(text.to_string(), |t, (token, name)| t.replace(token, name))
}

/// The remote base directory as a shell expression (relative paths are under $HOME).
fn base_expr(remote_dir: &str) -> String {
    if let Some(rest) = remote_dir.strip_prefix("~/") {
        format!("\"$HOME\"/{}", quote(rest))
    } else if remote_dir.starts_with('/') {
        quote(remote_dir).into_owned()
    } else {
        format!("\"$HOME\"/{}", quote(remote_dir))
    }
}

/// Script lines that set `BASE`, `SNAP` and `RUN` (absolute) for `req`'s run, in the
/// home directory; [`launch`] and [`find`] must agree on them.
fn run_dir_lines(remote_dir: &str, req: &LaunchRequest) -> String {
    let mut s = String::from("cd\n");
    s.push_str(&format!("BASE={}\n", base_expr(remote_dir)));
    s.push_str(&format!(
        "SNAP=\"$BASE\"/{}/snapshot\nRUN=\"$BASE\"/{}/runs/{}\n",
        quote(&req.sweep_id),
        quote(&req.sweep_id),
        quote(&req.run_id)
    ));
    s.push_str("case $RUN in /*) ;; *) RUN=\"$(pwd -P)/$RUN\" ;; esac\n");
    s
}

/// Starts `req`'s run under `remote_dir` (made with a copy of the snapshot as its `work`,
/// the run's variables exported) and prints `started PGID RUN_DIR` once the program's
/// process group is recorded. Fails for what no shell can pass on (a variable name that is
/// not one, a NUL byte in an argument or a value) and for an empty argument vector.
pub(super) fn launch(remote_dir: &str, req: &LaunchRequest) -> Result<String, TargetError> {
    req.program()?;
    let nul = |what: &str| {
        TargetError::Launch(format!(
            "{what} holds a NUL byte, which no program can be given"
        ))
    };
    if let Some(k) = req.argv.iter().position(|a| a.contains('\0')) {
        return Err(nul(&format!("argument {k}")));
    }
    let mut s = String::new();
    s.push_str("set -e\n");
    s.push_str(&run_dir_lines(remote_dir, req));
    s.push_str("mkdir -p \"$RUN/@WORK@\" \"$RUN/@OUTPUTS@\"\n");
    for d in &req.output_dirs {
        s.push_str(&format!("mkdir -p \"$RUN/@OUTPUTS@\"/{}\n", quote(d)));
    }
    s.push_str("if [ -d \"$SNAP\" ]; then cp -R \"$SNAP/.\" \"$RUN/@WORK@/\"; fi\n");
    s.push_str("rm -f \"$RUN/@EXIT_STATUS@\" \"$RUN/@STOP@\" \"$RUN/@PGID@\" \"$RUN/@WRAPPER_PID@\" \"$RUN/@SETSID_ERR@\"\n");
    s.push_str(": > \"$RUN/@OUTPUT_LOG@\"; : > \"$RUN/@METRICS@\"\n");
    s.push_str(&crate::target::pyshim::shell_lines());
    for v in rundir::run_vars(req) {
        let name = v.name;
        if !crate::config::targets::is_env_name(name) {
            return Err(TargetError::Launch(format!(
                "environment variable name {name:?} cannot be set in a shell"
            )));
        }
        let value = match v.value {
            Value::Text(t) if t.contains('\0') => return Err(nul(&format!("${name}"))),
            Value::Text(t) => quote(t).into_owned(),
            Value::InRunDir(file) => format!("\"$RUN\"/{file}"),
            Value::FirstInRunDir(file) => format!("\"$RUN\"/{file}\"${{{name}:+:${name}}}\""),
        };
        if v.unless_set {
            s.push_str(&format!("[ -n \"${{{name}+x}}\" ] || "));
        }
        s.push_str(&format!("export {name}={value}\n"));
    }
    s.push_str("cd \"$RUN/@WORK@\"\n");
    s.push_str(&format!(
        "setsid sh -c {} sweep-run \"$RUN\" {} </dev/null >>\"$RUN/@OUTPUT_LOG@\" 2>&1 &\n",
        quote(&WRAPPER),
        join(&req.argv)
    ));
    s.push_str("i=0\nwhile [ ! -s \"$RUN/@PGID@\" ]; do i=$((i + 1)); if [ -f \"$RUN/@EXIT_STATUS@\" ]; then tail -n 3 \"$RUN/@OUTPUT_LOG@\" >&2; exit 1; fi; if [ $i -gt 3000 ]; then echo 'the run wrapper did not start within 30 s' >&2; exit 1; fi; sleep 0.01; done\n");
    s.push_str("printf 'started %s %s\\n' \"$(cat \"$RUN/@PGID@\")\" \"$RUN\"\n");
    Ok(layout(&s))
}

/// Prints `found PGID RUN_DIR` when `req`'s run directory under `remote_dir` holds a
/// wrapper that started the program (alive or ended), nothing when it does not.
pub(super) fn find(remote_dir: &str, req: &LaunchRequest) -> String {
    // A wrapper that is alive but has not recorded the program's group yet belongs to a
    // launch cut short a moment ago: it is given the launch's own 30 s to start.
    layout(&format!(
        "{}[ -d \"$RUN\" ] || exit 0\n\
         i=0\n\
         while [ ! -s \"$RUN/@PGID@\" ]; do\n\
           [ ! -f \"$RUN/@EXIT_STATUS@\" ] && [ -f \"$RUN/@WRAPPER_PID@\" ] && kill -0 \"$(cat \"$RUN/@WRAPPER_PID@\")\" 2>/dev/null && [ $i -lt 3000 ] || exit 0\n\
           i=$((i + 1)); sleep 0.01\n\
         done\n\
         printf 'found %s %s\\n' \"$(cat \"$RUN/@PGID@\")\" \"$RUN\"\n",
        run_dir_lines(remote_dir, req)
    ))
}

/// The `PGID RUN_DIR` of the first `tag` line of [`launch`]'s or [`find`]'s output (`None`
/// without one).
pub(super) fn started(stdout: &[u8], tag: &str) -> Result<Option<(i32, String)>, String> {
    let text = String::from_utf8_lossy(stdout);
    let Some(line) = text
        .lines()
        .find_map(|l| l.strip_prefix(tag)?.strip_prefix(' '))
    else {
        return Ok(None);
    };
    let (pgid, dir) = line
        .split_once(' ')
        .ok_or_else(|| format!("a bad reply {line:?}"))?;
    let pgid = pgid
        .parse()
        .map_err(|_| format!("a bad process group {pgid:?}"))?;
    Ok(Some((pgid, dir.to_string())))
}

/// The poll command: for each run (its run directory and the bytes of its output and
/// metrics file read so far), its status, then its new output and metrics bytes.
///
/// With `look`, each run's directory is also searched for TensorBoard event files (`F`
/// lines); each known one (its path in the run directory and the bytes read) gets its new
/// bytes (`D` blocks of kind `t PATH`). Both come after the run's status, so for a run it says ended they
/// are complete.
pub(super) fn poll<'a>(
    runs: impl Iterator<Item = (&'a str, u64, u64, Vec<(&'a str, u64)>)>,
    look: bool,
) -> String {
    let mut s = POLL_FUNCS.clone();
    for (k, (dir, out, mf, events)) in runs.enumerate() {
        let d = quote(dir);
        // The status first: what is read after it is complete for a run it says ended.
        s.push_str(&format!("rn {k} {d} {out} {mf}\n"));
        if look {
            s.push_str(&format!("ef {k} {d}\n"));
        }
        for (rel, off) in events {
            s.push_str(&format!("et {k} {d} {} {off}\n", quote(rel)));
        }
    }
    s
}

/// Asks the run in `dir` (process group `pgid`) to stop: the stop file, SIGTERM, and
/// SIGKILL after `grace`, timed on the host so it holds if the connection drops. Signals
/// only while the wrapper has not recorded the end: after that the process group id may
/// belong to someone else.
pub(super) fn stop(dir: &str, pgid: i32, grace: Duration) -> String {
    let ticks = (grace.as_secs_f64() * 10.0).ceil() as u64;
    let d = quote(dir);
    layout(&format!(
        "d={d}; touch \"$d/@STOP@\" 2>/dev/null; [ -f \"$d/@EXIT_STATUS@\" ] && exit 0\n\
         kill -TERM -{pgid} 2>/dev/null\n\
         ( i=0; while [ $i -lt {ticks} ] && [ ! -f \"$d/@EXIT_STATUS@\" ] && kill -0 -{pgid} 2>/dev/null; do sleep 0.1; i=$((i + 1)); done\n\
           [ -f \"$d/@EXIT_STATUS@\" ] || kill -KILL -{pgid} 2>/dev/null ) </dev/null >/dev/null 2>&1 &\n"
    ))
}

/// Kills the run in `dir` (process group `pgid`) now, unless it has ended.
pub(super) fn kill(dir: &str, pgid: i32) -> String {
    let d = quote(dir);
    layout(&format!(
        "d={d}; touch \"$d/@STOP@\" 2>/dev/null; [ -f \"$d/@EXIT_STATUS@\" ] || kill -KILL -{pgid} 2>/dev/null; exit 0\n"
    ))
}

/// Kills the runs in `dirs` that are still alive, by the process group and session each
/// recorded (the program leads both): the runs of a host that was lost and answers again.
pub(super) fn kill_lost(dirs: &[String]) -> String {
    let mut s: String = dirs
        .iter()
        .map(|d| {
            let d = quote(d);
            format!("[ -f {d}/@EXIT_STATUS@ ] || [ ! -f {d}/@PGID@ ] || {{ pg=$(cat {d}/@PGID@); kill -KILL -\"$pg\"; pkill -KILL -s \"$pg\"; }} 2>/dev/null\n")
        })
        .collect();
    s.push_str("exit 0\n");
    layout(&s)
}

/// Unpacks a tar stream on standard input as `sweep`'s snapshot under `remote_dir`, unless
/// it is there: extracted beside, then renamed, so a half-copied snapshot is never used.
/// For `sh -c`.
pub(super) fn snapshot(remote_dir: &str, sweep: &str) -> String {
    let dir = format!("{}/{}/snapshot", base_expr(remote_dir), quote(sweep));
    format!(
        "set -e; d={dir}; if [ -d \"$d\" ]; then exit 0; fi; t=\"$d.tmp.$$\"; mkdir -p \"$t\"; tar -xf - -C \"$t\"; mv \"$t\" \"$d\""
    )
}

/// `sweep targets check`'s probe: a marker line, the system, the CPUs, and `missing X` for
/// each tool runs need that the host lacks.
pub(super) const CHECK: &str = "echo sweep-check-ok; uname -sm; (nproc || getconf _NPROCESSORS_ONLN) 2>/dev/null | head -n1; for t in setsid tar tail head; do command -v $t >/dev/null 2>&1 || echo \"missing $t\"; done; ! command -v setsid >/dev/null 2>&1 || setsid -w true >/dev/null 2>&1 || echo 'missing setsid -w'\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::rundir::RunDir;
    use crate::target::ExitStatus;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Runs the wrapper on `argv` by the local `sh`, with `dir` as its run directory, and
    /// returns what it recorded.
    fn wrap(dir: &RunDir, argv: &[&str]) -> String {
        let st = Command::new("sh")
            .arg("-c")
            .arg(&*WRAPPER)
            .arg("sweep-run")
            .arg(dir.root())
            .args(argv)
            .stdout(std::fs::File::create(dir.output_log()).unwrap())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{argv:?}");
        std::fs::read_to_string(dir.exit_status()).unwrap()
    }

    /// What the wrapper records for a program's end under the local `sh`: exit codes above
    /// 128 stay exit codes, deaths by signal stay signals.
    #[test]
    fn wrapper_tells_exit_codes_above_128_from_signals() {
        let cases: &[(&str, &str)] = &[
            ("exit 130", "exit_code 130\n"),
            ("exit 143", "exit_code 143\n"),
            ("exit 0", "exit_code 0\n"),
            ("kill -TERM $$", "signal 15\n"),
            ("kill -KILL $$", "signal 9\n"),
            ("kill -SEGV $$", "signal 11\n"),
        ];
        for (prog, want) in cases {
            let d = tempfile::tempdir().unwrap();
            let got = wrap(&RunDir::new(d.path()), &["sh", "-c", prog]);
            assert_eq!(&got, want, "{prog}");
        }
        // A program that cannot be started is exit code 127, as in a shell.
        let d = tempfile::tempdir().unwrap();
        let got = wrap(&RunDir::new(d.path()), &["/nonexistent/program"]);
        assert_eq!(got, "exit_code 127\n");
    }

    /// The launch script, run by the local `sh` as a host's would: the run directory is
    /// made, the run gets its variables (paths in its remote run directory) and starts in
    /// its `work` copy of the snapshot.
    #[test]
    fn the_launch_script_starts_the_run_with_its_variables_under_sh() {
        let d = tempfile::tempdir().unwrap();
        let remote = d.path().join("remote dir");
        // The snapshot as `ensure_snapshot` leaves it on the host.
        let snapshot = remote.join("s/snapshot");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::write(snapshot.join("data.txt"), "snapshot").unwrap();
        let prog = r#"printf '%s|%s|%s|%s|%s|%s\n' "$MY_VAR" "$SWEEP_RUN_ID" "$SWEEP_PARAMS" "$SWEEP_METRICS_FILE" "$SWEEP_STOP_FILE" "$PYTHONUNBUFFERED"; pwd; cat data.txt; exit 4"#;
        let req = LaunchRequest {
            sweep_id: "s".into(),
            run_id: "s_0".into(),
            argv: vec!["sh".into(), "-c".into(), prog.into()],
            env: vec![("MY_VAR".into(), "a 'b' $c;d".into())],
            params_json: r#"{"--x":"it's $1"}"#.into(),
            snapshot,
            run_dir: d.path().join("local"),
            primary_metric: "m".into(),
            output_dirs: Vec::new(),
            pattern: None,
        };
        let remote_dir = remote.display().to_string();
        let script = launch(&remote_dir, &req).unwrap();
        let mut sh = Command::new("sh")
            .arg("-s")
            .env_remove("PYTHONUNBUFFERED")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        sh.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = sh.wait_with_output().unwrap();
        assert!(out.status.success(), "{script}");
        let (_, run) = started(&out.stdout, "started").unwrap().unwrap();
        let run = RunDir::new(run);
        assert_eq!(run.root(), remote.join("s/runs/s_0"));
        for _ in 0..500 {
            if run.exit_status().exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let exit = std::fs::read_to_string(run.exit_status()).unwrap();
        assert_eq!(rundir::parse_exit(&exit), Some(ExitStatus::Code(4)));
        let (metrics, stop, work) = (run.metrics(), run.stop(), run.work());
        assert_eq!(
            std::fs::read_to_string(run.output_log()).unwrap(),
            format!(
                "a 'b' $c;d|s_0|{{\"--x\":\"it's $1\"}}|{}|{}|1\n{}\nsnapshot",
                metrics.display(),
                stop.display(),
                work.display()
            )
        );
        assert!(run.outputs().is_dir());
        // `find` sees the run the launch started; nothing where no launch was.
        let found = Command::new("sh")
            .arg("-c")
            .arg(find(&remote_dir, &req))
            .output();
        let found = started(&found.unwrap().stdout, "found").unwrap().unwrap();
        assert_eq!(found.1, run.root().display().to_string());
        let mut other = req.clone();
        other.run_id = "s_1".into();
        let none = Command::new("sh")
            .arg("-c")
            .arg(find(&remote_dir, &other))
            .output();
        assert_eq!(started(&none.unwrap().stdout, "found"), Ok(None));
        // No value a program cannot be given reaches a script.
        let mut bad = req.clone();
        bad.argv.push("a\0b".into());
        assert!(launch(&remote_dir, &bad).is_err());
        let mut bad = req;
        bad.env.push(("V".into(), "a\0b".into()));
        assert!(launch(&remote_dir, &bad).is_err());
    }

    #[test]
    fn start_reports() {
        assert_eq!(
            started(b"noise\nstarted 42 /h/r dir\n", "started"),
            Ok(Some((42, "/h/r dir".to_string())))
        );
        assert_eq!(started(b"startedx 1 /r\n", "started"), Ok(None));
        assert!(started(b"found x /r\n", "found").is_err());
        assert!(started(b"found 12\n", "found").is_err());
    }

    /// Every `@NAME@` of the scripts' text is a name of the run directory's layout.
    #[test]
    fn the_scripts_name_only_files_of_the_layout() {
        let left = |s: &str| {
            s.match_indices('@').any(|(i, _)| {
                let rest = &s[i + 1..];
                rest.find('@').is_some_and(|j| {
                    j > 0
                        && rest[..j]
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b == b'_')
                })
            })
        };
        assert!(left("x @PGID@ y"));
        for s in [
            WRAPPER.clone(),
            POLL_FUNCS.clone(),
            stop("/r", 7, Duration::from_secs(1)),
            kill("/r", 7),
            kill_lost(&["/r".into()]),
        ] {
            assert!(!left(&s), "{s}");
        }
        assert!(WRAPPER.contains("\"$RUN/exit_status\""));
        assert!(POLL_FUNCS.contains("\"$2/metrics.jsonl\""));
        assert!(kill("/r", 7).contains("\"$d/stop\""));
    }
}
