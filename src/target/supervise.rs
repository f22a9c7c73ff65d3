//! The per-run supervisor of the local target: code that runs in the forked child of
//! `sweep`, between `fork` and `exec`, and splits it into the supervisor and the program.
//!
//! Everything here runs in a child of a multi-threaded process, so it may only make
//! async-signal-safe calls: no allocation, no locks, no formatting. Paths are prepared as
//! C strings before the fork; numbers are formatted into stack buffers.

use std::ffi::CString;
use std::io;

/// The paths the supervisor writes, prepared before the fork.
pub(crate) struct Files {
    pid: CString,
    exit_tmp: CString,
    exit: CString,
}

impl Files {
    /// Paths for `pid` and `exit_status` inside `run_dir`.
    pub(crate) fn new(run_dir: &std::path::Path) -> io::Result<Files> {
        use std::os::unix::ffi::OsStrExt;
        let c = |name: &str| {
            CString::new(run_dir.join(name).as_os_str().as_bytes())
                .map_err(|_| io::Error::other("run directory path contains a NUL byte"))
        };
        Ok(Files {
            pid: c(super::local::PID_FILE)?,
            exit_tmp: c(".exit_status.tmp")?,
            exit: c(super::local::EXIT_FILE)?,
        })
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

/// Writes `parts` to `path` (created or truncated). Async-signal-safe.
unsafe fn write_parts(path: &CString, parts: &[&[u8]]) -> bool {
    let fd = libc::open(
        path.as_ptr(),
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
        0o644,
    );
    if fd < 0 {
        return false;
    }
    let mut ok = true;
    for p in parts {
        let mut off = 0;
        while off < p.len() {
            let n = libc::write(fd, p[off..].as_ptr().cast(), p.len() - off);
            if n <= 0 {
                ok = false;
                break;
            }
            off += n as usize;
        }
    }
    libc::close(fd);
    ok
}

/// Called by `Command::pre_exec` in the forked child: returns `Ok` in the program's process
/// (which then goes on to `exec`), and never returns in the supervisor.
///
/// # Safety
/// Must only be called between `fork` and `exec` (it forks and may `_exit`).
pub(crate) unsafe fn split(files: &Files) -> io::Result<()> {
    // Signals that could reach the group between the fork and the supervisor's own
    // dispositions are held back; the program gets the original mask back.
    let mut block: libc::sigset_t = std::mem::zeroed();
    let mut old: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut block);
    for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
        libc::sigaddset(&mut block, s);
    }
    libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);

    let mut buf = [0u8; 24];
    let me = itoa(i64::from(libc::getpid()), &mut buf);
    write_parts(&files.pid, &[me, b"\n"]);

    let child = libc::fork();
    if child < 0 {
        let e = io::Error::last_os_error();
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        return Err(e);
    }
    if child == 0 {
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        return Ok(());
    }

    // The supervisor. Close every inherited descriptor above stderr: among them is the pipe
    // on which the parent learns whether `exec` succeeded, which must see EOF once the
    // program has exec'd, not when the run ends.
    if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
        for fd in 3..4096 {
            libc::close(fd);
        }
    }
    for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
        libc::signal(s, libc::SIG_IGN);
    }
    // Shown by `ps` and `top`, so it is not mistaken for a second `sweep`.
    libc::prctl(libc::PR_SET_NAME, c"sweep-superv".as_ptr());
    libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());

    let mut status: libc::c_int = 0;
    let got = loop {
        let r = libc::waitpid(child, &mut status, 0);
        if r == child {
            break true;
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break false;
        }
    };
    let mut buf = [0u8; 24];
    let written = if !got {
        write_parts(&files.exit_tmp, &[b"unknown waitpid failed\n"])
    } else if libc::WIFEXITED(status) {
        write_parts(
            &files.exit_tmp,
            &[
                b"exit_code ",
                itoa(i64::from(libc::WEXITSTATUS(status)), &mut buf),
                b"\n",
            ],
        )
    } else if libc::WIFSIGNALED(status) {
        write_parts(
            &files.exit_tmp,
            &[
                b"signal ",
                itoa(i64::from(libc::WTERMSIG(status)), &mut buf),
                b"\n",
            ],
        )
    } else {
        write_parts(&files.exit_tmp, &[b"unknown no code and no signal\n"])
    };
    if written {
        libc::rename(files.exit_tmp.as_ptr(), files.exit.as_ptr());
    }
    // A run is over when its program is: nothing it started outlives it. This signals the
    // supervisor too, which has nothing left to do.
    libc::kill(0, libc::SIGKILL);
    libc::_exit(0)
}

#[cfg(test)]
mod tests {
    use super::itoa;

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
