//! The processes a local run left behind, found in `/proc` and ended, for the run's
//! supervisor and for sweep's kill of a run.
//!
//! A run is its supervisor's descendants. The supervisor is a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`): a process of the run whose parent dies is handed to it, not
//! to init, whatever process group or session it moved to. So once the program has ended,
//! killing the supervisor's process group and its children, round after round until it has
//! no child left, ends every process the run started, including those that left the group
//! (`setpgid`, `setsid`, a double fork).
//!
//! The supervisor runs in sweep's memory with sweep's thread-local `errno` (see
//! `supervise.rs`), so this module makes raw system calls only (rustix) and allocates
//! nothing: directory entries and `stat` files are read into buffers on the stack.
//! Hand-written for that reason: the crates that list processes allocate.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::process::{Pid, Signal};
use std::mem::MaybeUninit;

/// A process, as its `/proc/PID/stat` line shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    /// Its pid.
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
}

/// Reads `/proc/<name>/stat` of the process `pid` through the open `/proc` directory.
fn stat(proc_dir: &OwnedFd, name: &[u8], pid: i32) -> Option<Proc> {
    // "<pid>/stat\0", at most 10 + 6 bytes.
    let mut path = [0u8; 32];
    let tail = b"/stat\0";
    let len = name.len() + tail.len();
    path.get_mut(..name.len())?.copy_from_slice(name);
    path.get_mut(name.len()..len)?.copy_from_slice(tail);
    let path = std::ffi::CStr::from_bytes_with_nul(&path[..len]).ok()?;
    let fd = rustix::fs::openat(
        proc_dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // `pid (comm) state ppid pgrp ...`: comm is at most 16 bytes but may hold spaces and
    // parentheses, so the fields are read after its last `)`.
    let mut buf = [0u8; 512];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    parse_stat(&buf[..n]).map(|(ppid, pgrp)| Proc { pid, ppid, pgrp })
}

/// The parent pid and process group of a `/proc/PID/stat` line.
fn parse_stat(line: &[u8]) -> Option<(i32, i32)> {
    let close = line.iter().rposition(|&b| b == b')')?;
    let mut fields = line[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let _state = fields.next()?;
    let ppid = number(fields.next()?)?;
    let pgrp = number(fields.next()?)?;
    Some((ppid, pgrp))
}

/// A non-negative decimal number that fits in an `i32`.
fn number(digits: &[u8]) -> Option<i32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    i32::try_from(n).ok()
}

/// Calls `f` with every process in `/proc`. Whether `/proc` could be read.
pub(crate) fn each(mut f: impl FnMut(Proc)) -> bool {
    let Ok(dir) = rustix::fs::open(
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(dir.as_fd(), &mut buf);
    while let Some(entry) = entries.next() {
        let Ok(entry) = entry else {
            return false;
        };
        let name = entry.file_name().to_bytes();
        let Some(pid) = number(name) else {
            continue;
        };
        // A process that ended since the directory was read has no `stat` any more.
        if let Some(p) = stat(&dir, name, pid) {
            f(p);
        }
    }
    true
}

/// SIGKILLs every process of group `pgrp` but `spare`, and every child of `parent` (pass 0
/// for none); how many it signalled, or `None` when `/proc` cannot be read.
pub(crate) fn kill_group_and_children(pgrp: i32, spare: i32, parent: i32) -> Option<usize> {
    let mut n = 0;
    let read = each(|p| {
        let ours = p.pgrp == pgrp || (parent > 0 && p.ppid == parent);
        if ours && p.pid != spare {
            if let Some(pid) = Pid::from_raw(p.pid) {
                if rustix::process::kill_process(pid, Signal::KILL).is_ok() {
                    n += 1;
                }
            }
        }
    });
    read.then_some(n)
}

/// Kills a local run now. Every process of its group but its supervisor (the group's leader,
/// known by its name) gets SIGKILL, so the supervisor lives to record how the program ended
/// and then ends the rest of the run, inside the group or out of it. A group led by anything
/// else (a run of an earlier sweep), or a `/proc` that cannot be read, gets SIGKILL whole.
pub(crate) fn kill_run(pgid: i32) {
    let comm = std::fs::read(format!("/proc/{pgid}/comm")).unwrap_or_default();
    let name = crate::target::supervise::SUPERVISOR_NAME.to_bytes();
    let led = comm.strip_suffix(b"\n") == Some(name);
    if !led || kill_group_and_children(pgid, pgid, 0).is_none() {
        if let Some(pid) = Pid::from_raw(pgid) {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_last_parenthesis() {
        assert_eq!(
            parse_stat(b"42 (python3) S 7 42 42 0 -1 4194560 ..."),
            Some((7, 42))
        );
        // A command name may hold spaces and parentheses.
        assert_eq!(parse_stat(b"9 (a) b) (c) R 1 9 9 0"), Some((1, 9)));
        assert_eq!(parse_stat(b"9 (x) Z"), None);
        assert_eq!(number(b"2147483648"), None);
        assert_eq!(number(b"12a"), None);
    }

    #[test]
    fn every_process_is_listed_with_its_parent_and_group() {
        let me = std::process::id() as i32;
        let mut seen = None;
        let mut count = 0;
        assert!(each(|p| {
            count += 1;
            if p.pid == me {
                seen = Some(p);
            }
        }));
        let mine = seen.expect("this process is listed");
        assert_eq!(mine.ppid, nix::unistd::getppid().as_raw());
        assert_eq!(mine.pgrp, nix::unistd::getpgrp().as_raw());
        assert!(count > 1);
    }
}
