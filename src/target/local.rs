//! The local target: each run is a process on this machine (docs/run-protocol.md).
//!
//! - The argument vector is executed directly, never through a shell.
//! - The working directory is a fresh copy of the sweep's source snapshot
//!   (`<run_dir>/work`), so two runs never share one.
//! - The run gets the `SWEEP_*` variables, the run configuration's variables and
//!   `PYTHONUNBUFFERED=1` (unless set), so a Python script's metric lines reach sweep while
//!   it runs rather than when its stdout buffer fills.
//! - It runs in its own process group: a Ctrl-C at the terminal reaches `sweep`, not the runs,
//!   and stopping a run can signal everything it started.
//! - Its stdout and stderr go to `<run_dir>/output.log` (a file, not a pipe), so it survives
//!   the death of `sweep`; one watcher thread, shared by all local runs, tails that file and
//!   `<run_dir>/metrics.jsonl` (read into events by the `watch` module, as the remote
//!   targets' fetched bytes are) and waits for the run to end.
//! - A small supervisor (a clone of `sweep` sharing its memory, never a second program;
//!   see `supervise.rs`) leads the run's process group: it writes its pid to
//!   `<run_dir>/status`, waits for the program, appends the program's exit status there,
//!   then kills whatever the program left in its group. It blocks SIGTERM, so a stop reaches the
//!   program and the supervisor still records how it ended.
//!   Because the supervisor, not `sweep`, records the outcome, a run that ends while no
//!   `sweep` is watching (killed, crashed, laptop closed) still has its real exit status
//!   when `sweep resume` re-adopts it, and nothing it started outlives it either way.

use super::handle::{self, LocalHandle};
use super::rundir::{self, RunDir};
use super::watch::{EventFiles, Stream, Watch};
use super::{ComputeTarget, EventSender, ExitStatus, LaunchRequest, RunHandle, TargetError};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often an idle watcher looks at the files again.
const POLL: Duration = Duration::from_millis(20);

/// Runs processes on this machine.
#[derive(Debug, Default, Clone)]
pub struct LocalTarget;

impl LocalTarget {
    /// The local target.
    pub fn new() -> LocalTarget {
        LocalTarget
    }
}

impl LocalHandle {
    /// Whether the run's supervisor is still alive. A pid can be reused after the run ended
    /// (say, across a reboot), so a live pid counts only if that process's working directory
    /// is still this run's.
    fn alive(&self) -> bool {
        if nix::sys::signal::kill(Pid::from_raw(self.pid), None).is_err() {
            return false;
        }
        match std::fs::read_link(format!("/proc/{}/cwd", self.pid)) {
            Ok(cwd) => {
                let work = RunDir::new(&self.run_dir).work();
                cwd == work.canonicalize().unwrap_or(work)
            }
            // A zombie or a process we may not inspect: trust the pid.
            Err(_) => true,
        }
    }

    /// The handle of a run whose launch was interrupted, from the pid its supervisor wrote,
    /// if that supervisor may still be alive.
    fn from_status_file(dir: &RunDir) -> Option<LocalHandle> {
        let pid = match read_status(dir) {
            Some(s) => s.pid?,
            None => std::fs::read_to_string(dir.old_pid())
                .ok()?
                .trim()
                .parse()
                .ok()?,
        };
        Some(LocalHandle {
            pid,
            pgid: pid,
            run_dir: dir.root().to_path_buf(),
        })
    }
}

fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
}

impl ComputeTarget for LocalTarget {
    fn name(&self) -> &str {
        "local"
    }

    fn launch(&self, req: &LaunchRequest, events: EventSender) -> Result<RunHandle, TargetError> {
        self.launch_when_ready(req, events, &mut || true)
            .expect("ready without waiting")
    }

    /// Makes the run's directory, working copy and files while the `Starting` record is
    /// being committed: nothing outside the run's own directory happens before `ready`.
    fn launch_when_ready(
        &self,
        req: &LaunchRequest,
        events: EventSender,
        ready: &mut dyn FnMut() -> bool,
    ) -> Option<Result<RunHandle, TargetError>> {
        let files = prepare(req);
        if !ready() {
            return None;
        }
        Some(files.and_then(|f| start(req, f, events)))
    }

    fn stop(&self, handle: &RunHandle, grace: Duration) {
        let Ok(h) = handle::decode::<LocalHandle>(handle) else {
            return;
        };
        // The stop file first: a run that checks it can save and exit cleanly.
        let _ = File::create(RunDir::new(&h.run_dir).stop());
        let _ = killpg(Pid::from_raw(h.pgid), Signal::SIGTERM);
        let _ = std::thread::Builder::new()
            .name("stop-grace".into())
            .spawn(move || {
                let deadline = std::time::Instant::now() + grace;
                while std::time::Instant::now() < deadline {
                    if !group_alive(h.pgid) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                super::procs::kill_run(h.pgid);
            });
    }

    fn kill(&self, handle: &RunHandle) {
        if let Ok(h) = handle::decode::<LocalHandle>(handle) {
            let _ = File::create(RunDir::new(&h.run_dir).stop());
            super::procs::kill_run(h.pgid);
        }
    }

    fn recover(&self, req: &LaunchRequest) -> Option<RunHandle> {
        let dir = RunDir::absolute(&req.run_dir).ok()?;
        handle::encode(LocalHandle::from_status_file(&dir)?).ok()
    }

    fn adopt(
        &self,
        handle: &RunHandle,
        req: &LaunchRequest,
        events: EventSender,
    ) -> Result<(), TargetError> {
        let h = handle::decode::<LocalHandle>(handle)?;
        watch(req, h, Exit::Poll, events)
    }
}

/// A run's directory as [`prepare`] left it, ready for its supervisor.
struct Prepared {
    dir: RunDir,
    workdir: PathBuf,
    log: File,
    status: File,
}

/// Makes the run directory, its `outputs` and its working copy of the snapshot, and creates
/// `output.log` and the empty `status` file.
fn prepare(req: &LaunchRequest) -> Result<Prepared, TargetError> {
    let dir = RunDir::absolute(&req.run_dir)?;
    // The run directory's parent normally exists: one `mkdir` per directory.
    if let Err(e) = super::snapshot::mkdir(dir.root()) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e.into());
        }
        std::fs::create_dir_all(dir.root())?;
    }
    super::snapshot::mkdir(&dir.outputs())?;
    req.make_output_dirs(&dir.outputs())?;
    super::pyshim::install(&dir.join(super::pyshim::DIR))?;
    // Makes `work` even when there is no snapshot.
    let workdir = dir.work();
    super::snapshot::copy_tree(&req.snapshot, &workdir)?;
    let log = File::create(dir.output_log())?;
    // `metrics.jsonl` is not created here: the run creates it when it first appends (one
    // file fewer per run; the watcher reads it once it exists).
    let status = File::create(dir.status())?;
    Ok(Prepared {
        dir,
        workdir,
        log,
        status,
    })
}

/// Starts the prepared run's supervisor and its watcher.
fn start(req: &LaunchRequest, p: Prepared, events: EventSender) -> Result<RunHandle, TargetError> {
    let Prepared {
        dir,
        workdir,
        log,
        status,
    } = p;
    let program = req.program()?;
    // A relative program path with a slash means "in the working directory"; make it
    // absolute because where `exec` resolves it after `chdir` is platform-specific.
    let program = if program.contains('/') && Path::new(program).is_relative() {
        workdir.join(program).into_os_string()
    } else {
        program.into()
    };
    let env = run_env(req, &dir);
    let path = resolve(&program, &env, &workdir)
        .map_err(|e| TargetError::Launch(format!("{}: {e}", req.argv[0])))?;
    let argv: Vec<std::ffi::OsString> = std::iter::once(program)
        .chain(req.argv[1..].iter().map(Into::into))
        .collect();
    let started = super::supervise::start(super::supervise::Spec {
        path: &path,
        argv: &argv,
        env: &env,
        workdir: &workdir,
        status: status.into(),
        stdin: File::open("/dev/null")?.into(),
        log: log.into(),
    })
    .map_err(|e| {
        // A supervisor that could not start its program leaves no run to recover.
        let _ = std::fs::remove_file(dir.status());
        TargetError::Launch(format!("{}: {e}", req.argv[0]))
    })?;
    let pid = started.pid;
    let handle = LocalHandle {
        pid,
        pgid: pid,
        run_dir: dir.root().to_path_buf(),
    };
    // Encoded before the watcher takes the run: dropping `started` ends a run whose handle
    // cannot be recorded.
    let encoded = handle::encode(handle.clone())?;
    watch(req, handle, Exit::Child(started), events)?;
    Ok(encoded)
}

/// The run's whole environment: sweep's own, then the run's variables
/// ([`rundir::run_vars`]; later entries win).
fn run_env(req: &LaunchRequest, dir: &RunDir) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for v in rundir::run_vars(req) {
        let before = env.iter().find(|(k, _)| k == v.name).map(|e| e.1.clone());
        let value = dir.value_over(&v.value, before.as_deref());
        match env.iter_mut().find(|(k, _)| k == v.name) {
            Some(_) if v.unless_set => {}
            Some(e) => e.1 = value,
            None => env.push((v.name.into(), value)),
        }
    }
    env
}

/// The executable `program` names: itself if it contains a slash, else the first
/// executable file of that name on the run's `PATH` (relative entries are relative to the
/// run's working directory, where the program starts), as `execvp` would find it.
fn resolve(
    program: &OsStr,
    env: &[(OsString, OsString)],
    workdir: &Path,
) -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let not_found = || std::io::Error::from(std::io::ErrorKind::NotFound);
    if program.is_empty() {
        return Err(not_found());
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = false;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            workdir.to_path_buf()
        } else {
            workdir.join(dir)
        };
        let cand = dir.join(program);
        match nix::unistd::access(&cand, nix::unistd::AccessFlags::X_OK) {
            Ok(()) if cand.is_file() => return Ok(cand),
            Ok(()) => {}
            Err(nix::errno::Errno::EACCES) => denied |= cand.exists(),
            Err(_) => {}
        }
    }
    if denied {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    } else {
        Err(not_found())
    }
}

/// How the watcher learns that the run ended.
enum Exit {
    /// From the supervisor we started, which the watcher reaps.
    Child(super::supervise::Started),
    /// By polling the process (a re-adopted run is not our child).
    Poll,
}

/// One of a run's files, as the watcher reads it.
struct Tail {
    stream: Stream,
    path: PathBuf,
    /// Open once the run has created it.
    file: Option<File>,
}

impl Tail {
    fn new(stream: Stream, path: PathBuf) -> Tail {
        Tail {
            stream,
            path,
            file: None,
        }
    }
}

/// Most bytes read from one file of one run per round of the shared watcher: a run that
/// prints without pause must not keep the watcher from the other runs.
const ROUND_BYTES: u64 = 1 << 20;

/// Most bytes of one event file read when its run has ended (an escaped process could
/// append forever).
const EVENT_FILE_END: u64 = 1 << 30;

/// How much of each file one [`drain`] reads.
#[derive(Clone, Copy)]
enum Upto {
    /// At most this many bytes.
    Bytes(u64),
    /// Up to the file's size at this moment.
    PresentEnd,
}

/// Reads what is new in both files, as far as `upto` says; returns whether anything was
/// read.
fn drain(w: &mut Watch, out: &mut Tail, mf: &mut Tail, chunk: &mut [u8], upto: Upto) -> bool {
    use std::io::{Read, Seek};
    let mut any = false;
    for t in [out, mf] {
        if t.file.is_none() {
            t.file = File::open(&t.path).ok();
        }
        let Some(f) = t.file.as_mut() else { continue };
        let limit = match upto {
            Upto::Bytes(n) => n,
            Upto::PresentEnd => match (f.stream_position(), f.metadata()) {
                (Ok(pos), Ok(meta)) => meta.len().saturating_sub(pos),
                _ => continue,
            },
        };
        let n = w.pump(t.stream, &mut f.take(limit), chunk).unwrap_or(0);
        any |= n > 0;
    }
    any
}

/// A run the shared watcher follows.
struct Watched {
    w: Watch,
    out: Tail,
    mf: Tail,
    /// Its TensorBoard event files.
    tb: EventFiles,
    h: LocalHandle,
    exit: Exit,
    /// When its process was last looked at, for runs the watcher cannot wait on.
    looked: Option<std::time::Instant>,
}

impl Watched {
    /// Whether the run has ended, for a run without a descriptor to wait on; looks at most
    /// once per [`POLL`].
    fn ended_by_looking(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self.looked.is_some_and(|t| now - t < POLL) {
            return false;
        }
        self.looked = Some(now);
        match &self.exit {
            Exit::Child(sup) => sup.exited(),
            Exit::Poll => !self.h.alive(),
        }
    }

    /// Reads the rest of the run's output and sends its `Exited` event.
    fn finish(mut self, chunk: &mut [u8]) {
        let status = match self.exit {
            Exit::Child(sup) => match sup.wait() {
                // The supervisor's own status says little (it ends by killing its group);
                // the program's is in the file it wrote.
                Ok(s) => {
                    read_exit_file(&RunDir::new(&self.h.run_dir)).unwrap_or(match s.signal() {
                        // Killed before it could write: the whole group got the signal.
                        Some(sig) => ExitStatus::Signal(sig),
                        None => ExitStatus::Unknown("the run's supervisor ended early".into()),
                    })
                }
                Err(e) => ExitStatus::Unknown(e.to_string()),
            },
            Exit::Poll => read_exit_file(&RunDir::new(&self.h.run_dir)).unwrap_or_else(|| {
                ExitStatus::Unknown("the run ended while no sweep was watching it".into())
            }),
        };
        // The supervisor has already killed what the run left in its group, so the files are
        // complete: read them to their present ends. (Not "until nothing is new": a process
        // that escaped the group with `setsid` could append forever, and this thread watches
        // every run.)
        drain(
            &mut self.w,
            &mut self.out,
            &mut self.mf,
            chunk,
            Upto::PresentEnd,
        );
        // Event files too, found afresh (one written just before the end) and read to
        // their present ends.
        self.tb.pump(&mut self.w, EVENT_FILE_END, true);
        self.w.exit(status);
    }
}

/// The one thread that follows every local run of this process: it tails their files and
/// waits for their supervisors, all in one `poll`. A thread per run cost a thread's start
/// and end (stack, signal stack, allocator arena) on every launch.
struct SharedWatcher {
    runs: std::sync::mpsc::Sender<Watched>,
    /// Written to when a run is added, so the watcher's `poll` includes it at once.
    wake: std::os::fd::OwnedFd,
}

fn shared_watcher() -> std::io::Result<&'static SharedWatcher> {
    static WATCHER: std::sync::OnceLock<SharedWatcher> = std::sync::OnceLock::new();
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(w) = WATCHER.get() {
        return Ok(w);
    }
    let _one = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = WATCHER.get() {
        return Ok(w);
    }
    use rustix::pipe::PipeFlags;
    let (wake_r, wake_w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sweep-watch".into())
        .spawn(move || watch_all(rx, wake_r))?;
    Ok(WATCHER.get_or_init(|| SharedWatcher {
        runs: tx,
        wake: wake_w,
    }))
}

/// Hands a run to the shared watcher, which sends its events until its `Exited`.
fn watch(
    req: &LaunchRequest,
    h: LocalHandle,
    exit: Exit,
    events: EventSender,
) -> Result<(), TargetError> {
    let watcher = shared_watcher()?;
    let dir = RunDir::new(&h.run_dir);
    let out = Tail::new(Stream::Output, dir.output_log());
    let mf = Tail::new(Stream::Metrics, dir.metrics());
    let run = Watched {
        w: Watch::new(&req.run_id, req.pattern.as_ref(), events),
        out,
        mf,
        tb: EventFiles::new(dir.clone()),
        h,
        exit,
        looked: None,
    };
    watcher
        .runs
        .send(run)
        .map_err(|_| TargetError::Launch("the run watcher has stopped".into()))?;
    // A full pipe already has the watcher awake.
    let _ = rustix::io::write(&watcher.wake, &[1]);
    Ok(())
}

fn watch_all(rx: std::sync::mpsc::Receiver<Watched>, wake: std::os::fd::OwnedFd) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    // Below malloc's mmap threshold (128 KiB): a larger buffer would be mapped and unmapped,
    // and every unmap of a multi-threaded process interrupts every core it runs on.
    let mut chunk = vec![0u8; 64 * 1024];
    let mut runs: Vec<Watched> = Vec::new();
    let mut busy = false;
    let mut ended: Vec<bool> = Vec::new();
    let mut warned = false;
    loop {
        while let Ok(r) = rx.try_recv() {
            runs.push(r);
        }
        // Wait for a supervisor to end, a new run, or the next look at the files.
        let timeout = if busy {
            Some(Duration::ZERO)
        } else if runs.is_empty() {
            None
        } else {
            Some(POLL)
        };
        ended.clear();
        ended.resize(runs.len(), false);
        {
            let mut fds = vec![PollFd::new(&wake, PollFlags::IN)];
            let mut which = Vec::new();
            for (i, r) in runs.iter().enumerate() {
                if let Exit::Child(sup) = &r.exit {
                    if let Some(fd) = sup.pidfd() {
                        fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                        which.push(i);
                    }
                }
            }
            let t = timeout.map(|d| Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            });
            match rustix::event::poll(&mut fds, t.as_ref()) {
                Ok(_) => {
                    for (fd, &i) in fds[1..].iter().zip(&which) {
                        // Readable once it has exited; an error also means there is nothing
                        // left to wait for.
                        ended[i] = !fd.revents().is_empty();
                    }
                    if !fds[0].revents().is_empty() {
                        let mut b = [0u8; 64];
                        while matches!(rustix::io::read(&wake, &mut b), Ok(n) if n > 0) {}
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    // Cannot wait (say, too many descriptors): look at each supervisor
                    // instead, at the idle pace rather than in a busy loop.
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!("run watcher: poll failed ({e}); looking every {POLL:?}");
                    }
                    std::thread::sleep(POLL);
                    for &i in &which {
                        if let Exit::Child(sup) = &runs[i].exit {
                            ended[i] = sup.exited();
                        }
                    }
                }
            }
        }
        busy = false;
        let mut i = runs.len();
        while i > 0 {
            i -= 1;
            let r = &mut runs[i];
            busy |= drain(
                &mut r.w,
                &mut r.out,
                &mut r.mf,
                &mut chunk,
                Upto::Bytes(ROUND_BYTES),
            );
            busy |= r.tb.pump(&mut r.w, ROUND_BYTES, false);
            r.w.flush();
            let has_pidfd = matches!(&r.exit, Exit::Child(sup) if sup.pidfd().is_some());
            if ended[i] || (!has_pidfd && r.ended_by_looking()) {
                runs.swap_remove(i).finish(&mut chunk);
            }
        }
    }
}

/// What a run's `status` file says so far.
#[derive(Debug, Default, PartialEq)]
struct Status {
    pid: Option<i32>,
    exit: Option<ExitStatus>,
}

/// Reads `<run_dir>/status`; `None` if there is none.
fn read_status(dir: &RunDir) -> Option<Status> {
    let s = std::fs::read_to_string(dir.status()).ok()?;
    Some(parse_status(&s))
}

/// Parses a `status` file. Each line is written with one `write`: a line without its
/// newline was cut short and is ignored.
fn parse_status(s: &str) -> Status {
    let mut st = Status::default();
    for line in s.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            break;
        };
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "pid" => st.pid = v.parse().ok(),
            "unknown" => st.exit = Some(ExitStatus::Unknown(format!("the run's supervisor: {v}"))),
            "exit_code" | "signal" => st.exit = rundir::parse_exit(line),
            _ => {}
        }
    }
    st
}

/// The run's exit status, once its supervisor has recorded it.
fn read_exit_file(dir: &RunDir) -> Option<ExitStatus> {
    match read_status(dir) {
        Some(s) => s.exit,
        // A run started by an older sweep.
        None => {
            let s = std::fs::read_to_string(dir.exit_status()).ok()?;
            parse_status(&s).exit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Report;
    use crate::target::TargetEvent;

    fn req(dir: &Path, argv: &[&str]) -> LaunchRequest {
        LaunchRequest {
            sweep_id: "s".into(),
            run_id: "s_0".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![("MY_VAR".into(), "x y".into())],
            params_json: r#"{"--lr":0.1}"#.into(),
            snapshot: dir.join("snap"),
            run_dir: dir.join("run"),
            primary_metric: "acc".into(),
            output_dirs: Vec::new(),
            pattern: None,
        }
    }

    async fn collect(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<TargetEvent>,
    ) -> (Vec<Report>, Vec<String>, ExitStatus, Vec<String>) {
        let mut reports = Vec::new();
        let mut malformed = Vec::new();
        while let Some(e) = rx.recv().await {
            match e {
                TargetEvent::Metrics { reports: r, .. } => reports.extend(r),
                TargetEvent::Malformed { message, .. } => malformed.push(message),
                TargetEvent::Logged { .. } => {}
                TargetEvent::Restarted { .. } => panic!("local runs are never restarted"),
                TargetEvent::Exited { status, tail, .. } => {
                    return (reports, malformed, status, tail)
                }
            }
        }
        panic!("no exit event");
    }

    #[tokio::test]
    async fn runs_reads_metrics_from_both_channels_and_reports_exit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("snap")).unwrap();
        std::fs::write(dir.path().join("snap/data.txt"), "hi\n").unwrap();
        let script = r#"
cat data.txt
echo "@sweep {\"metric\":\"acc\",\"value\":0.5,\"step\":1}"
echo "acc=0.75" 1>&2
echo '{"metric":"loss","value":2}' >> "$SWEEP_METRICS_FILE"
echo "@sweep {bad"
echo "@sweep {worse"
echo "$MY_VAR|$SWEEP_RUN_ID|$SWEEP_PARAMS"
exit 3
"#;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let r = req(dir.path(), &["sh", "-c", script]);
        let h = handle::decode::<LocalHandle>(&LocalTarget.launch(&r, tx).unwrap()).unwrap();
        let (reports, malformed, status, tail) = collect(rx).await;
        assert_eq!(status, ExitStatus::Code(3));
        // The supervisor's record: its pid, then the program's exit.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("run/status")).unwrap(),
            format!("pid {}\nexit_code 3\n", h.pid)
        );
        let names: Vec<(&str, f64)> = reports.iter().map(|r| (r.name.as_str(), r.value)).collect();
        assert!(
            names.contains(&("acc", 0.5)) && names.contains(&("acc", 0.75)),
            "{names:?} {tail:?}"
        );
        assert!(names.contains(&("loss", 2.0)));
        assert_eq!(malformed.len(), 1, "warned once: {malformed:?}");
        assert_eq!(tail.first().map(String::as_str), Some("hi"));
        assert_eq!(tail.last().unwrap(), r#"x y|s_0|{"--lr":0.1}"#);
        assert!(dir.path().join("run/work/data.txt").exists());
    }

    #[test]
    fn a_status_file_line_counts_only_once_complete() {
        let st = |s: &str| parse_status(s);
        assert_eq!(st(""), Status::default());
        assert_eq!(st("pid 12"), Status::default(), "cut short");
        assert_eq!(
            st("pid 12\n"),
            Status {
                pid: Some(12),
                exit: None
            }
        );
        assert_eq!(st("pid 12\nexit_code 1").exit, None, "cut short");
        assert_eq!(st("pid 12\nexit_code 1\n").exit, Some(ExitStatus::Code(1)));
        assert_eq!(st("pid 12\nsignal 15\n").exit, Some(ExitStatus::Signal(15)));
        assert!(matches!(
            st("pid 12\nunknown waitpid failed\n").exit,
            Some(ExitStatus::Unknown(w)) if w.contains("waitpid failed")
        ));
        // The supervisor could not write its pid: the exit line comes first.
        assert_eq!(st("exit_code 0\n").exit, Some(ExitStatus::Code(0)));
    }

    #[test]
    fn runs_started_by_earlier_versions_are_read_from_their_two_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(tmp.path());
        assert!(LocalHandle::from_status_file(&dir).is_none());
        assert_eq!(read_exit_file(&dir), None);
        std::fs::write(tmp.path().join("pid"), "4242\n").unwrap();
        std::fs::write(tmp.path().join("exit_status"), "signal 9\n").unwrap();
        assert_eq!(LocalHandle::from_status_file(&dir).unwrap().pid, 4242);
        assert_eq!(read_exit_file(&dir), Some(ExitStatus::Signal(9)));
        // The new file, once there, is the one read.
        std::fs::write(tmp.path().join("status"), "pid 7\n").unwrap();
        assert_eq!(LocalHandle::from_status_file(&dir).unwrap().pid, 7);
        assert_eq!(read_exit_file(&dir), None);
    }

    /// Launches `sh -c script`, waits until it prints `started` (having written the pid of
    /// the process under test to `pid_file` in its working directory), stops it with a
    /// 300 ms grace, and returns that pid and the run's exit status.
    async fn stop_once_started(dir: &Path, script: &str, pid_file: &str) -> (i32, ExitStatus) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let r = req(dir, &["sh", "-c", script]);
        let h = LocalTarget.launch(&r, tx).unwrap();
        let log = dir.join("run/output.log");
        while !std::fs::read_to_string(&log).unwrap().contains("started") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid: i32 = std::fs::read_to_string(dir.join("run/work").join(pid_file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        LocalTarget.stop(&h, Duration::from_millis(300));
        loop {
            if let Some(TargetEvent::Exited { status, .. }) = rx.recv().await {
                return (pid, status);
            }
        }
    }

    #[tokio::test]
    async fn stop_kills_a_grandchild_that_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"sh -c 'trap "" TERM; echo $$ > gc.pid; while true; do sleep 0.05; done' &
while [ ! -s gc.pid ]; do sleep 0.01; done
echo started
wait"#;
        let (gc, status) = stop_once_started(dir.path(), script, "gc.pid").await;
        assert!(matches!(status, ExitStatus::Signal(_)), "{status:?}");
        assert!(dir.path().join("run/stop").exists());
        // The group is killed before Exited is sent; the grandchild may linger as a zombie
        // of init for an instant, so wait on the kernel, not on a clock assumption.
        for _ in 0..200 {
            if nix::sys::signal::kill(Pid::from_raw(gc), None).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("grandchild {gc} survived");
    }

    /// A run that ignores SIGTERM is killed past its grace period; its supervisor, spared,
    /// records the signal that ended the program, and a process that left the run's group
    /// (and ignores SIGTERM too) ends with the run.
    #[tokio::test]
    async fn a_run_killed_after_its_grace_takes_what_left_its_group_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"trap '' TERM
python3 -c 'import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); os.setpgid(0, 0); open("esc.pid", "w").write(str(os.getpid())); time.sleep(600)' &
while [ ! -s esc.pid ]; do sleep 0.01; done
echo started
while true; do sleep 0.05; done"#;
        let (esc, status) = stop_once_started(dir.path(), script, "esc.pid").await;
        let gone = (0..500).any(|_| {
            nix::sys::signal::kill(Pid::from_raw(esc), None).is_err() || {
                std::thread::sleep(Duration::from_millis(10));
                false
            }
        });
        if !gone {
            let _ = nix::sys::signal::kill(Pid::from_raw(esc), Signal::SIGKILL);
        }
        assert_eq!(status, ExitStatus::Signal(9));
        assert!(gone, "process {esc} left the run's group and outlived it");
    }

    /// The program starts as `exec` would leave it after `std::process::Command`: no
    /// signal blocked, SIGPIPE back to its default, and no descriptor of sweep's but the
    /// three standard streams.
    #[tokio::test]
    async fn the_program_inherits_no_blocked_signals_no_sigpipe_ignore_and_no_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        // Descriptors sweep holds open while the run starts, some without close-on-exec
        // (which `exec` alone would pass on).
        let held = File::open("/dev/null").unwrap();
        let inheritable: Vec<i32> = (0..3)
            .map(|_| unsafe { libc::dup(std::os::fd::AsRawFd::as_raw_fd(&held)) })
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let r = req(dir.path(), &["sh", "-c", "echo \"pid $$\"; exec sleep 60"]);
        let h = LocalTarget.launch(&r, tx).unwrap();
        let log = dir.path().join("run/output.log");
        let pid = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if let Some(p) = text
                .strip_prefix("pid ")
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        // Once started, `sleep` holds only what it inherited; while the dynamic loader runs
        // it briefly has a library open too, so look until that is over. Looked at from
        // outside, so no shell's own descriptors get in the way.
        let list = |dir: String| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        let mut fds: Vec<String> = Vec::new();
        let mut status = String::new();
        for _ in 0..500 {
            status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            if status.contains("Name:\tsleep") {
                fds = list(format!("/proc/{pid}/fd"));
                if fds == ["0", "1", "2"] {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The supervisor too: it holds no one else's descriptors either, only its streams
        // and its `status` file.
        let sup = handle::decode::<LocalHandle>(&h).unwrap().pid;
        let sup_fds = list(format!("/proc/{sup}/fd"));
        let sup_files: Vec<PathBuf> = sup_fds
            .iter()
            .filter(|fd| !["0", "1", "2"].contains(&fd.as_str()))
            .filter_map(|fd| std::fs::read_link(format!("/proc/{sup}/fd/{fd}")).ok())
            .collect();
        LocalTarget.kill(&h);
        while !matches!(rx.recv().await, Some(TargetEvent::Exited { .. }) | None) {}
        for fd in inheritable {
            unsafe { libc::close(fd) };
        }
        assert_eq!(fds, ["0", "1", "2"], "{status}");
        assert_eq!(sup_fds.len(), 4, "{sup_fds:?}");
        assert_eq!(
            sup_files,
            [dir.path().join("run/status").canonicalize().unwrap()]
        );
        let field = |name: &str| {
            let l = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(field("SigBlk:"), 0, "{status}");
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(field("SigIgn:") & sigpipe, 0, "{status}");
    }

    #[tokio::test]
    async fn a_bare_program_name_is_found_on_the_runs_own_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let prog = bin.join("my-trainer");
        std::fs::write(&prog, "#!/bin/sh\necho found \"$1\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut r = req(dir.path(), &["my-trainer", "x y"]);
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        r.env.push(("PATH".into(), path));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        LocalTarget.launch(&r, tx).unwrap();
        let (_, _, status, tail) = collect(rx).await;
        assert_eq!(status, ExitStatus::Code(0));
        assert_eq!(tail.last().unwrap(), "found x y");

        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let e = LocalTarget
            .launch(&req(dir.path(), &["no-such-program-anywhere"]), tx)
            .unwrap_err();
        assert!(
            e.to_string().contains("no-such-program-anywhere")
                && e.to_string().contains("not found")
                || e.to_string().contains("No such file"),
            "{e}"
        );
        assert!(
            !dir.path().join("run/pid").exists(),
            "no run left to recover"
        );
    }

    #[tokio::test]
    async fn launch_failure_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let e = LocalTarget
            .launch(&req(dir.path(), &["/nonexistent/program"]), tx)
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/program"), "{e}");
    }
}
