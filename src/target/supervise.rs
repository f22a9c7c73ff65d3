//! The per-run supervisor of the local target, and how it is started.
//! Hand-written (`clone(CLONE_VM)`, not `fork`): a fork per run was most of a launch's cost.
//!
//! The supervisor leads a run's process group. It writes its pid to the run's `status` file,
//! starts the program, waits for it, appends the program's exit status to that file, then
//! kills whatever the program left: its group, and every process of the run that moved out
//! of it, which a child subreaper keeps as its own children (see [`super::procs`]). It is a
//! process of its own, so a run outlives a killed `sweep` and still has its real exit
//! status when `sweep resume` re-adopts it.
//!
//! It is started the way `posix_spawn` starts its short-lived child: `clone(CLONE_VM)` on a
//! stack of its own, sharing sweep's memory instead of copying it. A `fork` would mark all of
//! sweep's memory copy-on-write for as long as the run lives, so every page sweep wrote
//! meanwhile would be copied, with a TLB shootdown on every core; at a few hundred short runs
//! a second that was most of the cost of launching one. Sharing memory has three rules:
//!
//! - The supervisor touches only its own stack and its [`Launch`], which sweep keeps alive
//!   until the supervisor has exited (or, if sweep dies first, which the supervisor keeps
//!   alive itself: the memory is freed when the last process using it exits).
//! - It runs with every signal blocked, so none of sweep's signal handlers can run in it.
//!   It cannot be stopped but by SIGKILL, and a stop (SIGTERM to the group) reaches only the
//!   program, whose status the supervisor then records.
//! - Once it has reported back, it makes only raw system calls (rustix): libc's wrappers
//!   write `errno` on failure, and its `errno` is the thread-local one of the sweep thread
//!   that started it. Before the report that thread is blocked reading the report pipe with
//!   every signal blocked, so libc calls are harmless there.

use std::ffi::{c_char, c_int, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The supervisor's process name (`comm`), by which sweep tells it from its program.
pub(crate) const SUPERVISOR_NAME: &std::ffi::CStr = c"sweep-superv";

/// What the supervisor and the program need, prepared before the clone. Owned by sweep
/// until the supervisor has exited.
pub(crate) struct Launch {
    /// The resolved executable.
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const c_char>,
    workdir: CString,
    /// The run's `status` file, open for writing (sweep created it).
    status: RawFd,
    stdin: RawFd,
    log: RawFd,
    report: RawFd,
    close_range: bool,
    /// The starting thread's signal mask, which the program gets back.
    mask: libc::sigset_t,
    /// Set by the program's side of the clone when `execve` fails.
    exec_errno: AtomicI32,
    stack: Stack,
}

// SAFETY: the raw pointers point into `_argv`/`_envp`, which move with the struct (their
// heap buffers do not move).
unsafe impl Send for Launch {}

/// The run's files and streams, as the local target prepared them.
pub(crate) struct Spec<'a> {
    /// The executable, already resolved against `PATH`.
    pub path: &'a std::path::Path,
    /// The argument vector, program name first.
    pub argv: &'a [std::ffi::OsString],
    /// The whole environment.
    pub env: &'a [(std::ffi::OsString, std::ffi::OsString)],
    /// The working directory (the supervisor's too, which is how a live run is recognised).
    pub workdir: &'a std::path::Path,
    /// The run's `status` file, created empty and open for writing.
    pub status: OwnedFd,
    /// Standard input of the program.
    pub stdin: OwnedFd,
    /// Standard output and error of the program.
    pub log: OwnedFd,
}

/// A supervisor that has started its program.
pub(crate) struct Started {
    /// The supervisor's pid, which is also the run's process group.
    pub pid: i32,
    /// `None` once the supervisor is reaped (or its memory given up).
    launch: Option<Box<Launch>>,
    /// Readable once the supervisor has exited (Linux 5.3); without it, the watcher looks
    /// with [`Started::exited`] now and then.
    pidfd: Option<OwnedFd>,
}

impl Started {
    /// A descriptor that becomes readable once the supervisor has exited (Linux 5.3+).
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.pidfd.as_ref().map(|f| f.as_fd())
    }

    /// Whether the supervisor has exited, looking without waiting. Does not reap it:
    /// [`Started::wait`] does.
    pub(crate) fn exited(&self) -> bool {
        use rustix::process::{Pid, WaitId, WaitIdOptions};
        let Some(pid) = Pid::from_raw(self.pid) else {
            return true;
        };
        let opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        // An error means there is nothing left to wait for.
        !matches!(rustix::process::waitid(WaitId::Pid(pid), opts), Ok(None))
    }

    /// Waits for the supervisor to exit, then frees what it used. Returns its wait status
    /// (it normally ends killed by its own SIGKILL to the group, after writing the exit file).
    pub(crate) fn wait(mut self) -> io::Result<std::process::ExitStatus> {
        self.reap()
    }

    fn reap(&mut self) -> io::Result<std::process::ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        let mut status: c_int = 0;
        loop {
            // SAFETY: plain waitpid on our own child, in an ordinary thread.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) };
            if r == self.pid {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                // Without its status we cannot know it has exited: keep its memory.
                std::mem::forget(self.launch.take());
                return Err(e);
            }
        }
        drop(self.launch.take());
        Ok(std::process::ExitStatus::from_raw(status))
    }
}

impl Drop for Started {
    /// A supervisor given up on before it was waited for (its run could not be handed to a
    /// watcher) still runs on memory this owns: its run is ended and it is reaped first.
    fn drop(&mut self) {
        if self.launch.is_some() {
            // SAFETY: signals the run's own process group.
            unsafe { libc::killpg(self.pid, libc::SIGKILL) };
            let _ = self.reap();
        }
    }
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"))
}

/// Moves `fd` above the standard streams, so that making the supervisor's 0, 1 and 2 the
/// program's never overwrites it.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let fd2 = rustix::io::fcntl_dupfd_cloexec(&fd, 3)?;
    Ok(fd2)
}

/// Whether the kernel has `close_range` (Linux 5.9), probed once: the supervisor must not
/// call it just to learn that it fails.
fn have_close_range() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        // A range with no open descriptors: succeeds wherever the call exists.
        // SAFETY: closes nothing.
        unsafe { libc::syscall(libc::SYS_close_range, u32::MAX - 1, u32::MAX, 0u32) == 0 }
    })
}

/// Starts the supervisor and, through it, the program. Returns once the program has been
/// exec'd (or failed to be).
pub(crate) fn start(spec: Spec<'_>) -> io::Result<Started> {
    use std::os::unix::ffi::OsStrExt;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| {
            let mut b = Vec::with_capacity(k.len() + v.len() + 1);
            b.extend_from_slice(k.as_bytes());
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            cstring(&b)
        })
        .collect::<io::Result<_>>()?;
    let ptrs = |v: &[CString]| {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<_>>()
    };
    let status = above_stdio(spec.status)?;
    let stdin = above_stdio(spec.stdin)?;
    let log = above_stdio(spec.log)?;
    let (report_r, report_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let report_w = above_stdio(report_w)?;
    let launch = Box::new(Launch {
        path: cstring(spec.path.as_os_str().as_bytes())?,
        argv_ptrs: ptrs(&argv),
        _argv: argv,
        envp_ptrs: ptrs(&envp),
        _envp: envp,
        workdir: cstring(spec.workdir.as_os_str().as_bytes())?,
        status: status.as_raw_fd(),
        stdin: stdin.as_raw_fd(),
        log: log.as_raw_fd(),
        report: report_w.as_raw_fd(),
        close_range: have_close_range(),
        // SAFETY: an all-zero sigset_t is valid; it is overwritten below.
        mask: unsafe { std::mem::zeroed() },
        exec_errno: AtomicI32::new(0),
        stack: Stack::take()?,
    });
    let ptr = Box::into_raw(launch);
    // SAFETY: `ptr` is a live Launch; every signal is blocked in this thread from before the
    // clone until the report is read (see the module docs), and restored after.
    let (pid, got) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut (*ptr).mask);
        let pid = libc::clone(
            supervisor_main,
            (*ptr).stack.supervisor_top(),
            libc::CLONE_VM | libc::SIGCHLD,
            ptr.cast(),
        );
        let err = io::Error::last_os_error();
        // The supervisor has its own copies of these now.
        drop((status, stdin, log, report_w));
        let got = if pid < 0 {
            Err(err)
        } else {
            read_report(&report_r)
        };
        libc::pthread_sigmask(libc::SIG_SETMASK, &(*ptr).mask, std::ptr::null_mut());
        (pid, got)
    };
    // SAFETY: reclaimed exactly once; the supervisor (if any) is reaped before it is dropped.
    let launch = unsafe { Box::from_raw(ptr) };
    if pid < 0 {
        return Err(got.err().unwrap_or_else(io::Error::last_os_error));
    }
    let pidfd = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    let started = Started {
        pid,
        launch: Some(launch),
        pidfd,
    };
    match got {
        Ok(Report::Started) => Ok(started),
        Ok(Report::Failed(stage, errno)) => {
            let _ = started.wait();
            let e = io::Error::from_raw_os_error(errno);
            Err(match stage {
                Stage::Exec => e,
                s => io::Error::new(e.kind(), format!("{}: {e}", s.doing())),
            })
        }
        Err(e) => {
            let _ = started.wait();
            Err(e)
        }
    }
}

enum Report {
    Started,
    Failed(Stage, i32),
}

#[derive(Clone, Copy)]
#[repr(i32)]
enum Stage {
    Group = 1,
    Chdir = 2,
    Streams = 3,
    Clone = 4,
    Exec = 5,
}

impl Stage {
    fn from(n: i32) -> Option<Stage> {
        [
            Stage::Group,
            Stage::Chdir,
            Stage::Streams,
            Stage::Clone,
            Stage::Exec,
        ]
        .into_iter()
        .find(|s| *s as i32 == n)
    }

    fn doing(self) -> &'static str {
        match self {
            Stage::Group => "creating the run's process group",
            Stage::Chdir => "entering the run's working directory",
            Stage::Streams => "connecting the run's output",
            Stage::Clone => "starting the program",
            Stage::Exec => "executing the program",
        }
    }
}

fn read_report(fd: &OwnedFd) -> io::Result<Report> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if got < buf.len() {
        return Err(io::Error::other(
            "the run's supervisor ended before starting the program",
        ));
    }
    let stage = i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let value = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok(match Stage::from(stage) {
        None => Report::Started,
        Some(s) => Report::Failed(s, value),
    })
}

/// A supervisor's stack, with room at its low end for the program's side of the clone and a
/// guard page below that. Reused: mapping and unmapping one per run costs a TLB shootdown.
struct Stack {
    base: usize,
}

const STACK_LEN: usize = 256 * 1024;
const GUARD: usize = 64 * 1024;
const CHILD_STACK: usize = 64 * 1024;

static STACKS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

impl Stack {
    fn take() -> io::Result<Stack> {
        if let Some(base) = STACKS.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(Stack { base });
        }
        // SAFETY: a fresh private anonymous mapping; the guard is made inaccessible.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                STACK_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            libc::mprotect(p, GUARD, libc::PROT_NONE);
            Ok(Stack { base: p as usize })
        }
    }

    fn supervisor_top(&self) -> *mut c_void {
        (self.base + STACK_LEN) as *mut c_void
    }

    fn program_top(&self) -> *mut c_void {
        (self.base + GUARD + CHILD_STACK) as *mut c_void
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        STACKS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.base);
    }
}

/// Formats `n` in decimal into `buf`, returning the used tail.
fn itoa(mut n: i64, buf: &mut [u8; 24]) -> &[u8] {
    let neg = n < 0;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10).unsigned_abs() as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Writes `parts` to `fd` at `offset` with one `pwrite`, so a reader never sees part of a
/// line: what is there ends with a newline or is not there yet. At most 64 bytes. Returns
/// the offset after them. Raw system calls only.
fn write_parts(fd: BorrowedFd<'_>, offset: u64, parts: &[&[u8]]) -> Option<u64> {
    let mut buf = [0u8; 64];
    let mut len = 0;
    for p in parts {
        let dst = buf.get_mut(len..len + p.len())?;
        dst.copy_from_slice(p);
        len += p.len();
    }
    match rustix::io::pwrite(fd, &buf[..len], offset) {
        Ok(n) if n == len => Some(offset + len as u64),
        _ => None,
    }
}

/// Tells sweep how the start went; the supervisor's first and only message.
fn report(l: &Launch, stage: i32, value: i32) {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&stage.to_ne_bytes());
    buf[4..].copy_from_slice(&value.to_ne_bytes());
    // SAFETY: the report descriptor is open in the supervisor until it closes it.
    let fd = unsafe { BorrowedFd::borrow_raw(l.report) };
    let _ = rustix::io::write(fd, &buf);
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The supervisor: entered on its own stack, every signal blocked.
extern "C" fn supervisor_main(arg: *mut c_void) -> c_int {
    // SAFETY: sweep keeps the Launch alive until this process has exited.
    let l = unsafe { &*(arg as *const Launch) };
    let fail = |stage: Stage, errno: i32| -> ! {
        report(l, stage as i32, errno);
        // SAFETY: ends only this process.
        unsafe { libc::_exit(127) }
    };
    if let Err(e) = rustix::process::setpgid(None, None) {
        fail(Stage::Group, e.raw_os_error());
    }
    if let Err(e) = rustix::process::chdir(l.workdir.as_c_str()) {
        fail(Stage::Chdir, e.raw_os_error());
    }
    // SAFETY: the descriptors were opened by sweep for this run and are open here.
    let (stdin, log) = unsafe {
        (
            BorrowedFd::borrow_raw(l.stdin),
            BorrowedFd::borrow_raw(l.log),
        )
    };
    let streams = rustix::stdio::dup2_stdin(stdin)
        .and_then(|_| rustix::stdio::dup2_stdout(log))
        .and_then(|_| rustix::stdio::dup2_stderr(log));
    if let Err(e) = streams {
        fail(Stage::Streams, e.raw_os_error());
    }
    // Every other descriptor sweep had open goes; among them are the report pipes of other
    // runs starting at this moment, whose readers must see EOF when those supervisors
    // report, not when this run ends.
    // SAFETY: closes descriptors of this process only; the report pipe and the status file
    // are kept.
    unsafe {
        let keep = [l.report.min(l.status) as u32, l.report.max(l.status) as u32];
        if l.close_range {
            let mut from = 3u32;
            for k in keep {
                if k > from {
                    libc::syscall(libc::SYS_close_range, from, k - 1, 0u32);
                }
                from = k + 1;
            }
            libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32);
        } else {
            for fd in 3..4096 {
                if fd != l.report && fd != l.status {
                    rustix::io::close(fd);
                }
            }
        }
        // Shown by `ps` and `top`, so it is not mistaken for a second `sweep`; sweep's kill
        // of a run knows its supervisor by it (and spares it: see `procs`).
        libc::prctl(libc::PR_SET_NAME, SUPERVISOR_NAME.as_ptr());
        // A process of the run whose parent dies comes to the supervisor rather than to
        // init, whatever group or session it moved to: nothing the run started can leave
        // its tree, so nothing outlives the run.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    // SAFETY: open until this process exits.
    let status_fd = unsafe { BorrowedFd::borrow_raw(l.status) };
    let mut buf = [0u8; 24];
    let me = itoa(
        i64::from(rustix::process::getpid().as_raw_nonzero().get()),
        &mut buf,
    );
    // Before the program starts: a run whose launch was interrupted can still be found.
    let at = write_parts(status_fd, 0, &[b"pid ", me, b"\n"]).unwrap_or(0);

    // SAFETY: the program's side runs on its own part of the stack mapping and only until it
    // execs; CLONE_VFORK holds this process until then.
    let child = unsafe {
        libc::clone(
            program_main,
            l.stack.program_top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            arg,
        )
    };
    if child < 0 {
        fail(Stage::Clone, errno());
    }
    let child = rustix::process::Pid::from_raw(child);
    let exec_errno = l.exec_errno.load(Ordering::Acquire);
    if exec_errno != 0 {
        let _ = rustix::process::waitpid(child, rustix::process::WaitOptions::empty());
        fail(Stage::Exec, exec_errno);
    }
    report(l, 0, 0);
    // SAFETY: the report descriptor is ours and not used again.
    unsafe { rustix::io::close(l.report) };

    // Any child: processes of the run orphaned on the way are reaped as they end, rather
    // than kept as zombies until the run does.
    let status = loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((pid, s))) if Some(pid) == child => break Some(s),
            Ok(_) | Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break None,
        }
    };
    // Written in place after the pid line, through the descriptor sweep opened (no path
    // lookup, no new file): it is read only once this process is gone, and a write cut
    // short by a SIGKILL leaves no newline, which readers reject.
    let mut buf = [0u8; 24];
    let _ = match status {
        None => write_parts(status_fd, at, &[b"unknown waitpid failed\n"]),
        Some(s) => match (s.exit_status(), s.terminating_signal()) {
            (Some(code), _) => write_parts(
                status_fd,
                at,
                &[b"exit_code ", itoa(i64::from(code), &mut buf), b"\n"],
            ),
            (None, Some(sig)) => write_parts(
                status_fd,
                at,
                &[b"signal ", itoa(i64::from(sig), &mut buf), b"\n"],
            ),
            (None, None) => write_parts(status_fd, at, &[b"unknown no code and no signal\n"]),
        },
    };
    // A run is over when its program is: nothing it started outlives it. Whatever is left
    // in the group, and every child (orphans of the run handed here, in any group), is
    // killed, round after round as the killed processes' orphans come here, until no child
    // is left. Then the group, which ends the supervisor too.
    // A round that signals nothing ends it: what is left, if anything, cannot be killed by
    // the run's user (a setuid program) and is not waited for. (A process's orphans are
    // handed over before its parent can reap it, so the next round sees them.)
    let me = rustix::process::getpid().as_raw_nonzero().get();
    while let Some(1..) = crate::target::procs::kill_group_and_children(me, me, me) {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
        while let Ok(Some(_)) = rustix::process::wait(rustix::process::WaitOptions::NOHANG) {}
    }
    let _ = rustix::process::kill_current_process_group(rustix::process::Signal::KILL);
    // SAFETY: ends only this process.
    unsafe { libc::_exit(0) }
}

/// The program's side of the second clone: restores what the program should inherit and
/// execs it. Runs in the supervisor's memory, which is suspended until the exec.
extern "C" fn program_main(arg: *mut c_void) -> c_int {
    // SAFETY: the Launch outlives the supervisor, which outlives this.
    let l = unsafe { &*(arg as *const Launch) };
    // SAFETY: sigaction and sigprocmask on valid signals; execve with NUL-terminated arrays.
    unsafe {
        // Handlers (sweep's, inherited) would run here if a signal came before the exec:
        // back to the default, as posix_spawn does. SIGPIPE, which Rust programs ignore,
        // goes back to the default too, as `std::process::Command` does.
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..libc::SIGRTMAX() {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && (old.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE)
                && old.sa_sigaction != libc::SIG_DFL
            {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        libc::sigprocmask(libc::SIG_SETMASK, &l.mask, std::ptr::null_mut());
        libc::execve(l.path.as_ptr(), l.argv_ptrs.as_ptr(), l.envp_ptrs.as_ptr());
        l.exec_errno.store(errno(), Ordering::Release);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::itoa;

    /// Starts `argv` (its program at `path`) with environment `env` under a supervisor,
    /// working in `dir` with its `status` and `log` files there and no input.
    fn start_in(
        dir: &std::path::Path,
        path: &str,
        argv: &[&str],
        env: &[(std::ffi::OsString, std::ffi::OsString)],
    ) -> super::Started {
        use std::fs::File;
        let argv: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
        super::start(super::Spec {
            path: std::path::Path::new(path),
            argv: &argv,
            env,
            workdir: dir,
            status: File::create(dir.join("status")).unwrap().into(),
            stdin: File::open("/dev/null").unwrap().into(),
            log: File::create(dir.join("log")).unwrap().into(),
        })
        .unwrap()
    }

    /// Whether `done` holds within 5 s, asked every 10 ms.
    fn within_5s(mut done: impl FnMut() -> bool) -> bool {
        (0..500).any(|_| {
            done() || {
                std::thread::sleep(std::time::Duration::from_millis(10));
                false
            }
        })
    }

    #[test]
    fn a_supervisor_dropped_unwaited_ends_its_run_and_is_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let started = start_in(dir.path(), "/bin/sleep", &["sleep", "60"], &[]);
        let pid = started.pid;
        let group_alive = || unsafe { libc::killpg(pid, 0) } == 0;
        assert!(group_alive());
        drop(started);
        // Reaped by the drop: no zombie is left to answer for the pid.
        assert!(
            unsafe { libc::kill(pid, 0) } != 0,
            "the supervisor is still there"
        );
        // The program got the SIGKILL; its parent gone, init reaps it.
        let gone = within_5s(|| !group_alive());
        assert!(gone, "the run's group is still there");
    }

    /// Waits up to 5 s for `pid` to be gone (a zombie counts as gone).
    fn ends(pid: i32) -> bool {
        within_5s(|| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
            stat.map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        })
    }

    /// A program that starts processes outside its group (its own group, its own session,
    /// a daemon of a double fork) and exits: its run ends with all of them, and the
    /// program's own status is recorded.
    #[test]
    fn processes_that_left_the_run_s_group_end_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
python3 -c 'import os, time; os.setpgid(0, 0); open("group.pid", "w").write(str(os.getpid())); time.sleep(600)' &
setsid sh -c 'echo $$ > session.pid; exec sleep 600' &
( sleep 600 & echo $! > daemon.pid ) &
for f in group.pid session.pid daemon.pid; do while [ ! -s $f ]; do sleep 0.01; done; done
exit 3
"#;
        let path = [("PATH".into(), std::env::var_os("PATH").unwrap())];
        let started = start_in(dir.path(), "/bin/sh", &["sh", "-c", script], &path);
        let supervisor = started.pid;
        started.wait().unwrap();
        let status = std::fs::read_to_string(dir.path().join("status")).unwrap();
        assert_eq!(status, format!("pid {supervisor}\nexit_code 3\n"));
        let outlived: Vec<(&str, i32)> = ["group.pid", "session.pid", "daemon.pid"]
            .into_iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
                (f, text.trim().parse().unwrap())
            })
            .filter(|&(_, pid)| !ends(pid))
            .collect();
        for &(_, pid) in &outlived {
            // SAFETY: ends a process this test's run started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(outlived.is_empty(), "outlived their run: {outlived:?}");
    }

    #[test]
    fn itoa_formats_every_sign_and_magnitude() {
        for n in [
            0i64,
            7,
            -7,
            10,
            4_194_304,
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ] {
            let mut b = [0u8; 24];
            assert_eq!(itoa(n, &mut b), n.to_string().as_bytes());
        }
    }
}
