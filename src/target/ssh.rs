//! The SSH target: runs on a list of hosts reached with the system `ssh`.
//!
//! - **Connections.** Every command goes through `ssh` with connection sharing
//!   (`ControlMaster=auto`, a `ControlPath` socket in a private directory under `/tmp`,
//!   `ControlPersist=60`), so after the first login a command costs a channel, not a
//!   handshake. `BatchMode=yes` unless the host uses a password (then `SSH_ASKPASS` with
//!   `SSH_ASKPASS_REQUIRE=force` points at a tiny script that prints the named environment
//!   variable or file: the password never passes through sweep, its command lines or disk).
//! - **Quoting.** Scripts are sent on ssh's standard input to `sh -s` (so the environment's
//!   values never appear in a command line, local or remote); every value in them is quoted
//!   with [`super::shell::quote`].
//! - **Snapshot.** The sweep's source snapshot is copied once per host per sweep (`tar` over
//!   ssh) to `<remote_dir>/<sweep>/snapshot`; each run's working directory is a copy of it.
//! - **Detached runs.** A run starts under a wrapper in its own session (`setsid`), which
//!   starts the program in a session and process group of its own, waits for it, kills what
//!   it left behind and writes `exit_status` (exact: an `exit 130` is not a SIGINT; see
//!   the wrapper script's comment). Output goes to files in the remote run directory, so a dropped connection
//!   (or a dead `sweep`) does not end the run, and [`ComputeTarget::adopt`] picks it up
//!   again from its handle; [`ComputeTarget::recover`] finds it from its run directory when
//!   the handle was never recorded.
//! - **Streaming.** One poller thread per host fetches, every [`POLL`] (and at once when a
//!   run starts), the new bytes of every live run's `output.log` and `metrics.jsonl` in one
//!   multiplexed ssh command, feeds them to the metric protocol code and mirrors them into
//!   the local run directory.
//! - **Stop.** Stop file, then SIGTERM to the run's process group, then SIGKILL after the
//!   grace period; the grace timer runs on the host, so it holds even if the connection drops.
//! - **Host loss.** A host that does not answer for `lost_after` seconds has its live runs
//!   end with reason `lost: …` and is out of rotation until a probe succeeds again; then the
//!   lost runs, if still alive there, are killed (their results were already given up).

use super::handle::{self, SshHandle};
use super::rundir::{self, parse_exit, Value};
use super::shell::quote;
use super::watch::{Feed, Stream};
use super::{ComputeTarget, EventSender, ExitStatus, LaunchRequest, RunHandle, TargetError};
use crate::config::targets::{PasswordSource, SshConfig, SshHost};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often a host's live runs are polled for output and exit.
pub const POLL: Duration = Duration::from_millis(200);
/// How often a host that is down is probed.
const PROBE: Duration = Duration::from_secs(1);
/// Most bytes of one file fetched per poll (the rest comes with the next poll).
const CHUNK: u64 = 1 << 20;
/// How long a launch waits for a free slot before it fails.
const SLOT_WAIT: Duration = Duration::from_secs(120);

/// What the wrapper runs as: `sh -c WRAPPER sweep-run RUN_DIR ARGV...`.
///
/// The program's status must be told apart exactly: `sh`'s `wait` reports death by signal N
/// as 128+N, the same number as `exit 128+N`. So the program is not the wrapper's child:
/// `setsid setsid -w` (the outer `setsid` makes the inner one a session leader, so it
/// forks) starts it in a session and process group of its own, waits for it, and exits
/// with its exit code, or, when a signal ended it, with the signal number and a complaint
/// on its stderr (`setsid.err`). The program's own stderr is put back on the output first.
/// A command started with `&` by a shell ignores SIGINT and SIGQUIT, and no shell can undo
/// that for its children; `env --default-signal` (GNU coreutils 8.31 and later) does, so
/// the program gets them at their defaults where the host has it.
static WRAPPER: LazyLock<String> = LazyLock::new(|| layout(WRAPPER_TEXT));
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
  if [ -s "$RUN/@SETSID_ERR@" ]; then s="signal $((code & 127))"; else s="exit_code $code"; fi
fi
echo "$s" > "$RUN/@EXIT_STATUS@.tmp" && mv "$RUN/@EXIT_STATUS@.tmp" "$RUN/@EXIT_STATUS@"
"#;

/// The shell functions of the poll command (see [`poll_script`]).
static POLL_FUNCS: LazyLock<String> =
    LazyLock::new(|| layout(POLL_FUNCS_TEXT).replace("CHUNK", &CHUNK.to_string()));
/// [`POLL_FUNCS`] before [`layout`].
const POLL_FUNCS_TEXT: &str = r#"em() {
  [ -f "$3" ] || return 0
  s=$(wc -c < "$3"); n=$((s - $4))
  [ "$n" -gt 0 ] || return 0
  [ "$n" -le CHUNK ] || n=CHUNK
  printf 'D %s %s %s\n' "$1" "$2" "$n"
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
"#;

/// Script text with the run directory's names put in: `@OUTPUT_LOG@`, `@EXIT_STATUS@` and
/// the like stand for [`rundir`]'s, so the remote scripts name a run's files as every
/// other part of sweep does.
fn layout(text: &str) -> String {
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

/// Runs on SSH hosts.
pub struct SshTarget {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    cfg: SshConfig,
    /// Private directory for ControlMaster sockets and askpass scripts.
    control_dir: PathBuf,
    askpass: Vec<Option<PathBuf>>,
    state: Mutex<Vec<HostState>>,
    changed: Condvar,
    copy_locks: Vec<Mutex<()>>,
}

#[derive(Default)]
struct HostState {
    up: bool,
    why_down: String,
    /// Slots taken: runs starting, running or being watched.
    live: u32,
    /// Runs handed to the poller, not yet picked up by it.
    incoming: Vec<Watched>,
    poller: bool,
    snapshots: HashSet<String>,
    /// Run directories of runs given up as lost, to kill when the host answers again.
    lost: Vec<String>,
}

struct Watched {
    feed: Feed,
    dir: String,
}

/// What `sweep targets check` learns about one host.
#[derive(Debug, Clone)]
pub struct HostCheck {
    /// The host's label.
    pub host: String,
    /// Its slots.
    pub slots: u32,
    /// `Ok(description)` (system, CPUs, login time) or what is wrong.
    pub result: Result<String, String>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl SshTarget {
    /// A target called `name` over the configured hosts. Fails only when the private
    /// socket directory cannot be made.
    pub fn new(name: &str, cfg: SshConfig) -> std::io::Result<SshTarget> {
        let control_dir = control_dir()?;
        let mut askpass = Vec::new();
        for (i, h) in cfg.hosts.iter().enumerate() {
            askpass.push(match &h.password {
                None => None,
                Some(src) => Some(write_askpass(&control_dir, name, i, src)?),
            });
        }
        let hosts = cfg
            .hosts
            .iter()
            .map(|_| HostState {
                up: true,
                ..HostState::default()
            })
            .collect();
        let copy_locks = cfg.hosts.iter().map(|_| Mutex::new(())).collect();
        Ok(SshTarget {
            inner: Arc::new(Inner {
                name: name.to_string(),
                cfg,
                control_dir,
                askpass,
                state: Mutex::new(hosts),
                changed: Condvar::new(),
                copy_locks,
            }),
        })
    }

    /// Runs at once: the sum of the hosts' slots.
    pub fn capacity(&self) -> u64 {
        self.inner
            .cfg
            .hosts
            .iter()
            .map(|h| u64::from(h.slots))
            .sum()
    }

    /// Logs in to every host (in parallel), runs a trivial command and reports what it found.
    pub fn check(&self) -> Vec<HostCheck> {
        let handles: Vec<_> = (0..self.inner.cfg.hosts.len())
            .map(|i| {
                let inner = self.inner.clone();
                std::thread::spawn(move || inner.check_host(i))
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join().unwrap_or_else(|_| HostCheck {
                    host: self.inner.cfg.hosts[i].name.clone(),
                    slots: self.inner.cfg.hosts[i].slots,
                    result: Err("the check panicked".into()),
                    hint: None,
                })
            })
            .collect()
    }

    /// The `ssh` command line (without the remote command) for host `i`, as run; for
    /// `sweep targets check` and the docs.
    pub fn ssh_command_line(&self, i: usize) -> Vec<String> {
        let c = self.inner.ssh(i);
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }
}

/// `/tmp/sweep-ssh-<uid>`: short, because a ControlPath socket's whole path must fit in
/// 108 bytes, and private (0700), because anyone who can open a master socket can use it.
fn control_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = PathBuf::from(format!("/tmp/sweep-ssh-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(&dir)?;
    if !m.is_dir() || m.uid() != uid {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by this user; remove it",
            dir.display()
        )));
    }
    if m.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// The askpass helper for a host: prints the password from where the targets file says it
/// is, at the moment ssh asks. The script holds the variable's name or the file's path,
/// never the password.
fn write_askpass(
    dir: &Path,
    target: &str,
    host: usize,
    src: &PasswordSource,
) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let body = match src {
        PasswordSource::Env(var) => format!("printf '%s\\n' \"${{{var}}}\"\n"),
        PasswordSource::File(p) => format!("exec head -n 1 -- {}\n", quote(&p.to_string_lossy())),
    };
    let path = dir.join(format!("askpass-{}-{host}-{}", target, std::process::id()));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(&tmp)?;
    f.write_all(format!("#!/bin/sh\n{body}").as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The last non-empty line of ssh's stderr, for messages.
fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Whether ssh failed at the connection-sharing step, before the remote command started.
fn mux_refused(stderr: &[u8]) -> bool {
    let e = String::from_utf8_lossy(stderr);
    [
        "mux_client",
        "Session open refused",
        "ControlSocket",
        "Control socket",
        "control socket",
    ]
    .iter()
    .any(|m| e.contains(m))
}

/// A hint for an ssh failure, from its message.
pub fn hint_for(msg: &str, host: &SshHost) -> Option<String> {
    let m = msg.to_ascii_lowercase();
    let at = format!("{}:{}", host.address, host.port);
    Some(if m.contains("connection refused") {
        format!(
            "nothing accepts ssh connections on {at}: is sshd running there, and is `port` right?"
        )
    } else if m.contains("permission denied") {
        format!(
            "{at} refused the login: check `user` ({}) and `identity_file` (or the keys in your ssh agent: `ssh-add -l`)",
            host.user.as_deref().unwrap_or("ssh's default")
        )
    } else if m.contains("could not resolve") || m.contains("name or service not known") {
        format!("`{}` does not resolve: check `address`", host.address)
    } else if m.contains("timed out") || m.contains("no route") || m.contains("unreachable") {
        format!("{at} does not answer: check `address`, `port` and firewalls (or raise `connect_timeout`)")
    } else if m.contains("host key verification failed") || m.contains("remote host identification")
    {
        "the host's key is unknown or changed: add it to `known_hosts_file` (`ssh-keyscan`), or set `strict_host_key_checking: accept-new`".to_string()
    } else if m.contains("identity file") || m.contains("no such identity") {
        "check `identity_file`: the file must exist and be readable".to_string()
    } else {
        return None;
    })
}

impl Inner {
    /// `ssh` with this target's options for host `i`, no remote command yet.
    fn ssh(&self, i: usize) -> Command {
        self.ssh_with(i, true)
    }

    /// `ssh` for host `i`, over the shared connection or (`shared: false`) a fresh one.
    fn ssh_with(&self, i: usize, shared: bool) -> Command {
        let h = &self.cfg.hosts[i];
        let mut c = Command::new("ssh");
        if let Some(f) = &self.cfg.ssh_config {
            c.arg("-F").arg(f);
        }
        let password = self.askpass[i].as_ref();
        let o = |c: &mut Command, s: String| {
            c.arg("-o").arg(s);
        };
        o(
            &mut c,
            format!(
                "BatchMode={}",
                if password.is_some() { "no" } else { "yes" }
            ),
        );
        if shared {
            o(&mut c, "ControlMaster=auto".into());
            o(
                &mut c,
                format!("ControlPath={}/%C", self.control_dir.display()),
            );
            o(&mut c, "ControlPersist=60".into());
        } else {
            o(&mut c, "ControlMaster=no".into());
            o(&mut c, "ControlPath=none".into());
        }
        o(
            &mut c,
            format!("ConnectTimeout={}", self.cfg.connect_timeout),
        );
        o(&mut c, "ServerAliveInterval=5".into());
        o(&mut c, "ServerAliveCountMax=3".into());
        o(&mut c, "LogLevel=ERROR".into());
        if let Some(k) = &h.identity_file {
            c.arg("-i").arg(k);
            o(&mut c, "IdentitiesOnly=yes".into());
        }
        if let Some(k) = &self.cfg.known_hosts_file {
            o(&mut c, format!("UserKnownHostsFile={}", k.display()));
        }
        if let Some(s) = &self.cfg.strict_host_key_checking {
            o(&mut c, format!("StrictHostKeyChecking={s}"));
        }
        for extra in &self.cfg.ssh_options {
            o(&mut c, extra.clone());
        }
        if let Some(u) = &h.user {
            c.arg("-l").arg(u);
        }
        c.arg("-p").arg(h.port.to_string());
        if let Some(a) = password {
            c.env("SSH_ASKPASS", a).env("SSH_ASKPASS_REQUIRE", "force");
            o(&mut c, "NumberOfPasswordPrompts=1".into());
        }
        c.arg(&h.address);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `script` with `sh -s` on host `i`, the script on standard input. When the
    /// shared connection refuses a new session (its master exiting after `ControlPersist`,
    /// or the host's `MaxSessions` reached), nothing ran: it is tried once more on a
    /// connection of its own.
    fn run_script(&self, i: usize, script: &str) -> std::io::Result<Output> {
        let out = self.run_script_with(self.ssh(i), script)?;
        if out.status.code() == Some(255) && mux_refused(&out.stderr) {
            tracing::debug!(
                "shared ssh connection to {} refused a session ({}); using a new one",
                self.cfg.hosts[i].name,
                last_line(&out.stderr)
            );
            return self.run_script_with(self.ssh_with(i, false), script);
        }
        Ok(out)
    }

    /// Runs `script` with `sh -s` through the ssh command `c`.
    fn run_script_with(&self, mut c: Command, script: &str) -> std::io::Result<Output> {
        c.arg("sh -s").stdin(Stdio::piped());
        let mut child = c.spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        // Written from another thread: a large script could otherwise fill both pipes.
        let script = script.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&script);
        });
        let out = child.wait_with_output();
        let _ = writer.join();
        out
    }

    /// The handle of a run of host `i`, in `run_dir` there, whose program leads process
    /// group `pgid`.
    fn handle(&self, i: usize, run_dir: String, pgid: i32) -> SshHandle {
        let host = &self.cfg.hosts[i];
        SshHandle {
            target: self.name.clone(),
            host: host.name.clone(),
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone(),
            run_dir,
            pgid,
        }
    }

    fn host_index(&self, h: &SshHandle) -> Option<usize> {
        self.cfg
            .hosts
            .iter()
            .position(|x| x.address == h.address && x.port == h.port && x.user == h.user)
    }

    /// Takes a slot on the host with the most free slots, waiting for one.
    fn reserve(&self) -> Result<usize, TargetError> {
        let deadline = Instant::now() + SLOT_WAIT;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let best = st
                .iter()
                .enumerate()
                .filter(|(i, h)| h.up && h.live < self.cfg.hosts[*i].slots)
                .max_by_key(|(i, h)| (self.cfg.hosts[*i].slots - h.live, usize::MAX - i))
                .map(|(i, _)| i);
            if let Some(i) = best {
                st[i].live += 1;
                return Ok(i);
            }
            let now = Instant::now();
            if now >= deadline {
                let why: Vec<String> = st
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let name = &self.cfg.hosts[i].name;
                        if h.up {
                            format!("{name} full ({}/{})", h.live, self.cfg.hosts[i].slots)
                        } else {
                            format!("{name} down ({})", h.why_down)
                        }
                    })
                    .collect();
                return Err(TargetError::Launch(format!(
                    "no host of target {} had a free slot for {}s: {}",
                    self.name,
                    SLOT_WAIT.as_secs(),
                    why.join(", ")
                )));
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn release(&self, i: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st[i].live = st[i].live.saturating_sub(1);
        drop(st);
        self.changed.notify_all();
    }

    /// The remote base directory as a shell expression (relative paths are under $HOME).
    fn base_expr(&self) -> String {
        let d = &self.cfg.remote_dir;
        if let Some(rest) = d.strip_prefix("~/") {
            format!("\"$HOME\"/{}", quote(rest))
        } else if d.starts_with('/') {
            quote(d).into_owned()
        } else {
            format!("\"$HOME\"/{}", quote(d))
        }
    }

    /// Copies the sweep's snapshot to host `i`, once per sweep.
    fn ensure_snapshot(&self, i: usize, sweep: &str, snapshot: &Path) -> Result<(), TargetError> {
        if !snapshot.is_dir() {
            return Ok(());
        }
        let _copy = self.copy_locks[i].lock().unwrap_or_else(|e| e.into_inner());
        if self.state.lock().unwrap_or_else(|e| e.into_inner())[i]
            .snapshots
            .contains(sweep)
        {
            return Ok(());
        }
        let dir = format!("{}/{}/snapshot", self.base_expr(), quote(sweep));
        // Extracted beside, then renamed: a half-copied snapshot is never used.
        let script = format!(
            "set -e; d={dir}; if [ -d \"$d\" ]; then exit 0; fi; t=\"$d.tmp.$$\"; mkdir -p \"$t\"; tar -xf - -C \"$t\"; mv \"$t\" \"$d\""
        );
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(snapshot)
            .args(["-cf", "-", "."])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TargetError::Launch(format!("cannot run tar: {e}")))?;
        let tar_out = tar.stdout.take().expect("piped");
        let mut c = self.ssh(i);
        c.arg(format!("sh -c {}", quote(&script))).stdin(tar_out);
        let out = c
            .output()
            .map_err(|e| TargetError::Launch(format!("cannot run ssh: {e}")))?;
        let mut tar_err = String::new();
        if let Some(mut e) = tar.stderr.take() {
            let _ = e.read_to_string(&mut tar_err);
        }
        let tar_ok = tar.wait().map(|s| s.success()).unwrap_or(false);
        if !out.status.success() {
            return Err(TargetError::Launch(format!(
                "copying the source snapshot to {} failed: {}",
                self.cfg.hosts[i].name,
                last_line(&out.stderr)
            )));
        }
        if !tar_ok {
            return Err(TargetError::Launch(format!(
                "packing the source snapshot failed: {}",
                tar_err.trim()
            )));
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner())[i]
            .snapshots
            .insert(sweep.to_string());
        Ok(())
    }

    /// Script lines that set `BASE`, `SNAP` and `RUN` (absolute) for `req`'s run, in the
    /// home directory; launch and recover must agree on them.
    fn run_dir_lines(&self, req: &LaunchRequest) -> String {
        let mut s = String::from("cd\n");
        s.push_str(&format!("BASE={}\n", self.base_expr()));
        s.push_str(&format!(
            "SNAP=\"$BASE\"/{}/snapshot\nRUN=\"$BASE\"/{}/runs/{}\n",
            quote(&req.sweep_id),
            quote(&req.sweep_id),
            quote(&req.run_id)
        ));
        s.push_str("case $RUN in /*) ;; *) RUN=\"$(pwd -P)/$RUN\" ;; esac\n");
        s
    }

    fn launch_script(&self, req: &LaunchRequest) -> Result<String, TargetError> {
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
        s.push_str(&self.run_dir_lines(req));
        s.push_str("mkdir -p \"$RUN/@WORK@\" \"$RUN/@OUTPUTS@\"\n");
        s.push_str("if [ -d \"$SNAP\" ]; then cp -R \"$SNAP/.\" \"$RUN/@WORK@/\"; fi\n");
        s.push_str("rm -f \"$RUN/@EXIT_STATUS@\" \"$RUN/@STOP@\" \"$RUN/@PGID@\" \"$RUN/@WRAPPER_PID@\" \"$RUN/@SETSID_ERR@\"\n");
        s.push_str(": > \"$RUN/@OUTPUT_LOG@\"; : > \"$RUN/@METRICS@\"\n");
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
            super::shell::join(&req.argv)
        ));
        s.push_str("i=0\nwhile [ ! -s \"$RUN/@PGID@\" ]; do i=$((i + 1)); if [ -f \"$RUN/@EXIT_STATUS@\" ]; then tail -n 3 \"$RUN/@OUTPUT_LOG@\" >&2; exit 1; fi; if [ $i -gt 3000 ]; then echo 'the run wrapper did not start within 30 s' >&2; exit 1; fi; sleep 0.01; done\n");
        s.push_str("printf 'started %s %s\\n' \"$(cat \"$RUN/@PGID@\")\" \"$RUN\"\n");
        Ok(layout(&s))
    }

    /// Looks for `req`'s run on host `i`: `Ok(Some((pgid, dir)))` when its wrapper started
    /// the program there (alive or ended), `Ok(None)` when it did not.
    fn find_run(&self, i: usize, req: &LaunchRequest) -> Result<Option<(i32, String)>, String> {
        // A wrapper that is alive but has not recorded the program's group yet belongs to a
        // launch cut short a moment ago: it is given the launch's own 30 s to start.
        let script = layout(&format!(
            "{}[ -d \"$RUN\" ] || exit 0\n\
             i=0\n\
             while [ ! -s \"$RUN/@PGID@\" ]; do\n\
               [ ! -f \"$RUN/@EXIT_STATUS@\" ] && [ -f \"$RUN/@WRAPPER_PID@\" ] && kill -0 \"$(cat \"$RUN/@WRAPPER_PID@\")\" 2>/dev/null && [ $i -lt 3000 ] || exit 0\n\
               i=$((i + 1)); sleep 0.01\n\
             done\n\
             printf 'found %s %s\\n' \"$(cat \"$RUN/@PGID@\")\" \"$RUN\"\n",
            self.run_dir_lines(req)
        ));
        let out = self
            .run_script(i, &script)
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        if !out.status.success() {
            return Err(last_line(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("found ")) else {
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

    /// Hands a run to host `i`'s poller, starting it if needed.
    fn watch(self: &Arc<Self>, i: usize, w: Watched) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st[i].incoming.push(w);
        // Wakes the poller: a new run's first output is fetched at once, not a poll later.
        self.changed.notify_all();
        if !st[i].poller {
            st[i].poller = true;
            let weak = Arc::downgrade(self);
            let _ = std::thread::Builder::new()
                .name(format!("ssh-poll-{}", self.cfg.hosts[i].name))
                .spawn(move || poll_host(weak, i));
        }
    }

    /// Sends `script` to the run's host in the background (stop and kill return at once).
    fn signal(self: &Arc<Self>, handle: &RunHandle, script: impl Fn(&str, i32) -> String) {
        let Ok(h) = handle::decode::<SshHandle>(handle) else {
            return;
        };
        let Some(i) = self.host_index(&h) else {
            return;
        };
        let s = layout(&script(&quote(&h.run_dir), h.pgid));
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("ssh-signal".into())
            .spawn(move || {
                if let Ok(o) = me.run_script(i, &s) {
                    if !o.status.success() {
                        tracing::warn!(
                            "signalling a run on {}: {}",
                            me.cfg.hosts[i].name,
                            last_line(&o.stderr)
                        );
                    }
                }
            });
    }

    fn check_host(&self, i: usize) -> HostCheck {
        let h = &self.cfg.hosts[i];
        let mut out = HostCheck {
            host: h.name.clone(),
            slots: h.slots,
            result: Err(String::new()),
            hint: None,
        };
        if let Some(k) = &h.identity_file {
            if !k.is_file() {
                out.result = Err(format!("identity_file {} does not exist", k.display()));
                out.hint =
                    Some("check the path (relative paths are relative to the targets file)".into());
                return out;
            }
        }
        if let Some(PasswordSource::Env(v)) = &h.password {
            if std::env::var_os(v).is_none() {
                out.result = Err(format!("password_env names ${v}, which is not set"));
                out.hint = Some(format!("export {v}=... before running sweep"));
                return out;
            }
        }
        let t0 = Instant::now();
        let script = "echo sweep-check-ok; uname -sm; (nproc || getconf _NPROCESSORS_ONLN) 2>/dev/null | head -n1; for t in setsid tar tail head; do command -v $t >/dev/null 2>&1 || echo \"missing $t\"; done; ! command -v setsid >/dev/null 2>&1 || setsid -w true >/dev/null 2>&1 || echo 'missing setsid -w'\n";
        // A fresh login, not a shared connection: an open master would hide a wrong key.
        let c = self.ssh_with(i, false);
        match self.run_script_with(c, script) {
            Err(e) => {
                out.result = Err(format!("cannot run ssh: {e}"));
                out.hint = Some("install the OpenSSH client (`ssh`)".into());
            }
            Ok(o) if !o.status.success() => {
                let msg = last_line(&o.stderr);
                out.hint = hint_for(&msg, h);
                out.result = Err(if msg.is_empty() {
                    format!("ssh exited with {}", o.status)
                } else {
                    msg
                });
            }
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                let mut lines = text.lines();
                if lines.next() != Some("sweep-check-ok") {
                    out.result = Err(format!(
                        "unexpected output from the host: {:?}",
                        text.trim()
                    ));
                    out.hint = Some("the remote login shell must run commands without printing anything (check its rc files)".into());
                    return out;
                }
                let system = lines.next().unwrap_or("").to_string();
                let cpus = lines.next().unwrap_or("?").to_string();
                let missing: Vec<&str> = lines.filter_map(|l| l.strip_prefix("missing ")).collect();
                if !missing.is_empty() {
                    out.result = Err(format!("the host lacks {}", missing.join(", ")));
                    out.hint = Some(
                        "runs need `setsid` with `-w` (util-linux 2.24 or later), `tar`, `tail` and `head` on the host"
                            .into(),
                    );
                    return out;
                }
                out.result = Ok(format!(
                    "{system}, {cpus} CPUs, answered in {:.2}s",
                    t0.elapsed().as_secs_f64()
                ));
            }
        }
        out
    }
}

impl ComputeTarget for SshTarget {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn launch(&self, req: &LaunchRequest, events: EventSender) -> Result<RunHandle, TargetError> {
        if req.argv.is_empty() {
            return Err(TargetError::Launch("empty argument vector".into()));
        }
        let script = self.inner.launch_script(req)?;
        let i = self.inner.reserve()?;
        let r = (|| {
            self.inner
                .ensure_snapshot(i, &req.sweep_id, &req.snapshot)?;
            // The local run directory keeps a mirror of the output and metrics.
            let feed = Feed::new(&req.run_id, &req.primary_metric, events, Some(&req.run_dir))?;
            let out = self
                .inner
                .run_script(i, &script)
                .map_err(|e| TargetError::Launch(format!("cannot run ssh: {e}")))?;
            let host = &self.inner.cfg.hosts[i];
            if !out.status.success() {
                return Err(TargetError::Launch(format!(
                    "on {}: {}",
                    host.name,
                    last_line(&out.stderr)
                )));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("started "))
                .ok_or_else(|| {
                    TargetError::Launch(format!("on {}: no start report ({text:?})", host.name))
                })?;
            let (pgid, dir) = line.split_once(' ').ok_or_else(|| {
                TargetError::Launch(format!("on {}: bad start report {line:?}", host.name))
            })?;
            let pgid: i32 = pgid.parse().map_err(|_| {
                TargetError::Launch(format!("on {}: bad process group {pgid:?}", host.name))
            })?;
            let h = handle::encode(self.inner.handle(i, dir.to_string(), pgid))?;
            self.inner.watch(
                i,
                Watched {
                    feed,
                    dir: dir.to_string(),
                },
            );
            Ok(h)
        })();
        if r.is_err() {
            self.inner.release(i);
        }
        r
    }

    fn stop(&self, handle: &RunHandle, grace: Duration) {
        let ticks = (grace.as_secs_f64() * 10.0).ceil() as u64;
        self.inner.signal(handle, |dir, pg| {
            // Signals only while the wrapper has not recorded the end: after that the
            // process group id may belong to someone else.
            format!(
                "d={dir}; touch \"$d/@STOP@\" 2>/dev/null; [ -f \"$d/@EXIT_STATUS@\" ] && exit 0\n\
                 kill -TERM -{pg} 2>/dev/null\n\
                 ( i=0; while [ $i -lt {ticks} ] && [ ! -f \"$d/@EXIT_STATUS@\" ] && kill -0 -{pg} 2>/dev/null; do sleep 0.1; i=$((i + 1)); done\n\
                   [ -f \"$d/@EXIT_STATUS@\" ] || kill -KILL -{pg} 2>/dev/null ) </dev/null >/dev/null 2>&1 &\n"
            )
        });
    }

    fn kill(&self, handle: &RunHandle) {
        self.inner.signal(handle, |dir, pg| {
            format!(
                "d={dir}; touch \"$d/@STOP@\" 2>/dev/null; [ -f \"$d/@EXIT_STATUS@\" ] || kill -KILL -{pg} 2>/dev/null; exit 0\n"
            )
        });
    }

    /// Asks every host (at once) whether the run's remote directory holds a wrapper that
    /// started the program: the launch records the program's process group there before it
    /// reports the start. A host that does not answer cannot say; it is skipped with a
    /// warning, and the run is launched again elsewhere.
    fn recover(&self, req: &LaunchRequest) -> Option<RunHandle> {
        let found: Vec<_> = std::thread::scope(|sc| {
            let asks: Vec<_> = (0..self.inner.cfg.hosts.len())
                .map(|i| sc.spawn(move || self.inner.find_run(i, req)))
                .collect();
            asks.into_iter()
                .map(|a| {
                    a.join()
                        .unwrap_or_else(|_| Err("the check panicked".into()))
                })
                .collect()
        });
        let mut hit = None;
        for (i, r) in found.into_iter().enumerate() {
            let host = &self.inner.cfg.hosts[i];
            match r {
                Ok(Some((pgid, dir))) if hit.is_none() => {
                    hit = Some(self.inner.handle(i, dir, pgid));
                }
                Ok(Some((_, dir))) => tracing::warn!(
                    "run {} was also started on {} ({dir}); only the first host's is followed",
                    req.run_id,
                    host.name
                ),
                Ok(None) => {}
                Err(why) => tracing::warn!(
                    "cannot tell whether run {} started on {}: {why}",
                    req.run_id,
                    host.name
                ),
            }
        }
        handle::encode(hit?).ok()
    }

    fn adopt(
        &self,
        handle: &RunHandle,
        req: &LaunchRequest,
        events: EventSender,
    ) -> Result<(), TargetError> {
        let h = handle::decode::<SshHandle>(handle)?;
        let i = self.inner.host_index(&h).ok_or_else(|| {
            TargetError::BadHandle(format!(
                "host {} ({}:{}) is no longer in target {}",
                h.host, h.address, h.port, self.inner.name
            ))
        })?;
        let feed = Feed::new(&req.run_id, &req.primary_metric, events, Some(&req.run_dir))?;
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())[i].live += 1;
        self.inner.watch(
            i,
            Watched {
                feed,
                dir: h.run_dir,
            },
        );
        Ok(())
    }
}

/// One poll's findings for a run.
enum Status {
    Running,
    Exited(ExitStatus),
}

/// The poll command: for each run, its status, then its new output and metrics bytes.
fn poll_script(runs: &[Watched]) -> String {
    let mut s = POLL_FUNCS.clone();
    for (k, r) in runs.iter().enumerate() {
        s.push_str(&format!(
            "rn {k} {} {} {}\n",
            quote(&r.dir),
            r.feed.offset(Stream::Output),
            r.feed.offset(Stream::Metrics)
        ));
    }
    s
}

/// A parsed poll reply: per run index, output bytes, metrics bytes and status.
type Reply = Vec<(Vec<u8>, Vec<u8>, Option<Status>)>;

fn parse_reply(mut b: &[u8], n: usize, host: &str) -> Result<Reply, String> {
    let mut out: Reply = (0..n).map(|_| (Vec::new(), Vec::new(), None)).collect();
    while !b.is_empty() {
        let nl = b.iter().position(|&c| c == b'\n').ok_or("a cut line")?;
        let line = std::str::from_utf8(&b[..nl]).map_err(|_| "a non-UTF-8 header")?;
        b = &b[nl + 1..];
        let mut w = line.splitn(3, ' ');
        let (tag, idx, rest) = (w.next(), w.next(), w.next().unwrap_or(""));
        let idx: usize = idx.and_then(|i| i.parse().ok()).ok_or("a bad run index")?;
        let slot = out.get_mut(idx).ok_or("an unknown run index")?;
        match tag {
            Some("D") => {
                let (kind, len) = rest.split_once(' ').ok_or("a bad data header")?;
                let len: usize = len.parse().map_err(|_| "a bad length")?;
                if b.len() < len {
                    return Err("fewer bytes than announced".into());
                }
                let data = &b[..len];
                b = &b[len..];
                match kind {
                    "o" => slot.0.extend_from_slice(data),
                    _ => slot.1.extend_from_slice(data),
                }
            }
            Some("S") => {
                slot.2 = Some(match rest {
                    "running" => Status::Running,
                    "missing" => Status::Exited(ExitStatus::Unknown(format!(
                        "the run directory is gone from {host}"
                    ))),
                    "gone" => Status::Exited(ExitStatus::Unknown(format!(
                        "the run's wrapper on {host} ended without recording an exit status (host rebooted, or it was killed)"
                    ))),
                    e => match e.strip_prefix("exit ").and_then(parse_exit) {
                        Some(s) => Status::Exited(s),
                        None => Status::Exited(ExitStatus::Unknown(format!(
                            "unreadable exit status {e:?}"
                        ))),
                    },
                });
            }
            _ => return Err(format!("an unknown line {line:?}")),
        }
    }
    Ok(out)
}

/// Host `i`'s poller: fetches its runs' output, notices their ends and the host's loss.
fn poll_host(target: Weak<Inner>, i: usize) {
    let mut runs: Vec<Watched> = Vec::new();
    let mut failing_since: Option<Instant> = None;
    loop {
        let Some(t) = target.upgrade() else { return };
        let (up, lost) = {
            let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
            runs.append(&mut st[i].incoming);
            (st[i].up, st[i].lost.clone())
        };
        if !up {
            // Out of rotation until it answers.
            if let Ok(o) = t.run_script(i, "true\n") {
                if o.status.success() {
                    let kill: String = lost
                        .iter()
                        .map(|d| {
                            let d = quote(d);
                            format!("[ -f {d}/@EXIT_STATUS@ ] || [ ! -f {d}/@PGID@ ] || kill -KILL -\"$(cat {d}/@PGID@)\" 2>/dev/null\n")
                        })
                        .collect();
                    let _ = t.run_script(i, &layout(&format!("{kill}exit 0\n")));
                    let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
                    st[i].up = true;
                    st[i].why_down.clear();
                    st[i].lost.clear();
                    drop(st);
                    t.changed.notify_all();
                    tracing::info!("host {} answers again", t.cfg.hosts[i].name);
                    continue;
                }
            }
            drop(t);
            std::thread::sleep(PROBE);
            continue;
        }
        if runs.is_empty() {
            nap(&t, i, POLL);
            continue;
        }
        let result = t.run_script(i, &poll_script(&runs));
        let reply = match result {
            Ok(o) if o.status.success() => {
                failing_since = None;
                parse_reply(&o.stdout, runs.len(), &t.cfg.hosts[i].name)
            }
            Ok(o) => Err(last_line(&o.stderr)),
            Err(e) => Err(format!("cannot run ssh: {e}")),
        };
        let reply = match reply {
            Ok(r) => r,
            Err(why) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(t.cfg.lost_after) {
                    let host = t.cfg.hosts[i].name.clone();
                    tracing::warn!("host {host} lost: {why}");
                    let n = runs.len() as u32;
                    let dirs: Vec<String> = runs.iter().map(|r| r.dir.clone()).collect();
                    for r in runs.drain(..) {
                        r.feed.exit(ExitStatus::lost(&format!(
                            "host {host} stopped answering for {}s ({why})",
                            t.cfg.lost_after
                        )));
                    }
                    let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
                    st[i].up = false;
                    st[i].why_down = why;
                    st[i].lost.extend(dirs);
                    st[i].live = st[i].live.saturating_sub(n);
                    drop(st);
                    t.changed.notify_all();
                    failing_since = None;
                }
                drop(t);
                std::thread::sleep(POLL);
                continue;
            }
        };
        let mut more = false;
        let mut ended = 0u32;
        let mut keep = Vec::with_capacity(runs.len());
        for (mut r, (o, m, status)) in runs.drain(..).zip(reply) {
            more |= o.len() as u64 == CHUNK || m.len() as u64 == CHUNK;
            let full = o.len() as u64 == CHUNK || m.len() as u64 == CHUNK;
            r.feed.feed(Stream::Output, &o);
            r.feed.feed(Stream::Metrics, &m);
            match status {
                // An exited run is finished only once its files have been read to the end.
                Some(Status::Exited(s)) if !full => {
                    r.feed.exit(s);
                    ended += 1;
                }
                None => {
                    tracing::warn!("no status for run {} in a poll reply", r.feed.run_id());
                    r.feed.flush();
                    keep.push(r);
                }
                _ => {
                    r.feed.flush();
                    keep.push(r);
                }
            }
        }
        runs = keep;
        if ended > 0 {
            let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
            st[i].live = st[i].live.saturating_sub(ended);
            drop(st);
            t.changed.notify_all();
        }
        if !more {
            nap(&t, i, POLL);
        }
    }
}

/// Waits up to `d`, or until a new run is handed to host `i`'s poller.
fn nap(t: &Inner, i: usize, d: Duration) {
    let st = t.state.lock().unwrap_or_else(|e| e.into_inner());
    let _ = t
        .changed
        .wait_timeout_while(st, d, |st| st[i].incoming.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_reply_is_framed_by_lengths() {
        let mut b = Vec::new();
        b.extend_from_slice(b"D 0 o 12\nline\nD 1 m 2S 0 running\n");
        b.extend_from_slice(b"D 1 o 3\nabcS 1 exit signal 15\n");
        let r = parse_reply(&b, 2, "h").unwrap();
        assert_eq!(r[0].0, b"line\nD 1 m 2");
        assert!(matches!(r[0].2, Some(Status::Running)));
        assert_eq!(r[1].0, b"abc");
        assert!(matches!(
            r[1].2,
            Some(Status::Exited(ExitStatus::Signal(15)))
        ));
        assert!(parse_reply(b"D 0 o 99\nshort", 1, "h").is_err());
    }

    /// The poll and wrapper scripts, run by the local `sh`: a run's status, its bytes from
    /// an offset, and the wrapper's exit status and process-group cleanup.
    #[test]
    fn wrapper_and_poll_scripts_work_under_sh() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let st = Command::new("sh")
            .arg("-c")
            .arg(&*WRAPPER)
            .arg("sweep-run")
            .arg(&run)
            .args([
                "sh",
                "-c",
                "echo 'a b'; echo '{\"metric\":\"m\",\"value\":1}' >> \"$0\"; exit 3",
            ])
            .arg(run.join("metrics.jsonl"))
            .stdout(File::create(run.join("output.log")).unwrap())
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(RunDir::new(&run).exit_status()).unwrap(),
            "exit_code 3\n"
        );
        let w = Watched {
            feed: Feed::new("r", "m", tokio::sync::mpsc::unbounded_channel().0, None).unwrap(),
            dir: run.display().to_string(),
        };
        let out = Command::new("sh")
            .arg("-c")
            .arg(poll_script(&[w]))
            .output()
            .unwrap();
        let r = parse_reply(&out.stdout, 1, "h").unwrap();
        assert_eq!(r[0].0, b"a b\n");
        assert_eq!(r[0].1, b"{\"metric\":\"m\",\"value\":1}\n");
        assert!(matches!(r[0].2, Some(Status::Exited(ExitStatus::Code(3)))));
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
            let st = Command::new("sh")
                .arg("-c")
                .arg(&*WRAPPER)
                .arg("sweep-run")
                .arg(d.path())
                .args(["sh", "-c", prog])
                .stdout(File::create(d.path().join("output.log")).unwrap())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "{prog}");
            let got = std::fs::read_to_string(RunDir::new(d.path()).exit_status()).unwrap();
            assert_eq!(&got, want, "{prog}");
        }
        // A program that cannot be started is exit code 127, as in a shell.
        let d = tempfile::tempdir().unwrap();
        Command::new("sh")
            .arg("-c")
            .arg(&*WRAPPER)
            .arg("sweep-run")
            .arg(d.path())
            .arg("/nonexistent/program")
            .stdout(File::create(d.path().join("output.log")).unwrap())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(RunDir::new(d.path()).exit_status()).unwrap(),
            "exit_code 127\n"
        );
    }

    /// The launch script, run by the local `sh` as a host's would: the run directory is
    /// made, the run gets its variables (paths in its remote run directory), starts in its
    /// `work` copy of the snapshot, and the poll finds its output and exit there.
    #[test]
    fn the_launch_script_starts_the_run_with_its_variables_under_sh() {
        let d = tempfile::tempdir().unwrap();
        let remote = d.path().join("remote dir");
        // The snapshot as `ensure_snapshot` leaves it on the host.
        let snapshot = remote.join("s/snapshot");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::write(snapshot.join("data.txt"), "snapshot").unwrap();
        let t = SshTarget::new(
            "t",
            SshConfig {
                hosts: vec![],
                ssh_config: None,
                known_hosts_file: None,
                strict_host_key_checking: None,
                ssh_options: vec![],
                remote_dir: remote.display().to_string(),
                connect_timeout: 1,
                lost_after: 1,
            },
        )
        .unwrap();
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
        };
        let script = t.inner.launch_script(&req).unwrap();
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
        let text = String::from_utf8(out.stdout).unwrap();
        let (_pgid, run) = text
            .trim()
            .strip_prefix("started ")
            .unwrap()
            .split_once(' ')
            .unwrap();
        let run = RunDir::new(run);
        assert_eq!(run.root(), remote.join("s/runs/s_0"));
        for _ in 0..500 {
            if run.exit_status().exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let w = Watched {
            feed: Feed::new("r", "m", tokio::sync::mpsc::unbounded_channel().0, None).unwrap(),
            dir: run.root().display().to_string(),
        };
        let polled = Command::new("sh")
            .arg("-c")
            .arg(poll_script(&[w]))
            .output()
            .unwrap();
        let r = parse_reply(&polled.stdout, 1, "h").unwrap();
        let metrics = run.metrics().display().to_string();
        let stop = run.stop().display().to_string();
        let work = run.work().display().to_string();
        assert_eq!(
            String::from_utf8_lossy(&r[0].0),
            format!("a 'b' $c;d|s_0|{{\"--x\":\"it's $1\"}}|{metrics}|{stop}|1\n{work}\nsnapshot")
        );
        assert!(matches!(r[0].2, Some(Status::Exited(ExitStatus::Code(4)))));
        assert!(run.outputs().is_dir());
        // No value a program cannot be given reaches a script.
        let mut bad = req.clone();
        bad.argv.push("a\0b".into());
        assert!(t.inner.launch_script(&bad).is_err());
        let mut bad = req;
        bad.env.push(("V".into(), "a\0b".into()));
        assert!(t.inner.launch_script(&bad).is_err());
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
        assert!(!left(&WRAPPER), "{}", *WRAPPER);
        assert!(!left(&POLL_FUNCS), "{}", *POLL_FUNCS);
        assert!(WRAPPER.contains("\"$RUN/exit_status\""));
        assert!(POLL_FUNCS.contains("\"$2/metrics.jsonl\""));
    }

    use super::rundir::RunDir;
    use std::fs::File;
}
