//! The environment cache on disk: where it lives, one entry per key, the lock that makes a
//! build happen once, the marker that says an entry is complete, and listing and pruning.
//!
//! ```text
//! <root>/<hash>.lock            flock: exclusive while building or pruning, shared while in use
//! <root>/<hash>/env/            the environment (virtualenv or conda prefix)
//! <root>/<hash>/requirements.txt  the normalised pip lines that were installed
//! <root>/<hash>/build.log       every installer command and its output
//! <root>/<hash>/sweep-env.json  metadata, written last by rename: the entry is complete
//! <root>/<hash>/last-used       unix time of the last sweep that used it
//! ```
//!
//! Environments are built in place rather than in a temporary folder renamed afterwards:
//! neither a virtualenv nor a conda prefix survives a move (script shebangs and conda's
//! prefix rewriting record the absolute path). The atomic step is the metadata file,
//! written to a temporary name and renamed; an entry without it is a build that failed or
//! was killed, and whoever takes the exclusive lock next discards it.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The metadata file whose presence marks a complete entry.
pub const MARKER: &str = "sweep-env.json";

/// The cache root: `$SWEEP_ENV_CACHE`, else `$XDG_CACHE_HOME/sweep/envs`, else
/// `~/.cache/sweep/envs`.
pub fn root() -> PathBuf {
    if let Some(p) = std::env::var_os("SWEEP_ENV_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map_or_else(std::env::temp_dir, PathBuf::from)
            .join(".cache")
    });
    base.join("sweep").join("envs")
}

/// The current time in unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An open lock file holding an flock (released when dropped, or by the kernel when the
/// process dies, so a killed build never leaves a stale lock).
#[derive(Debug)]
pub struct Lock {
    /// Held open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Many holders: sweeps using a complete entry.
    Shared,
    /// One holder: a build or a prune.
    Exclusive,
}

impl Lock {
    /// Takes the lock at `path` in `mode`; with `wait` false, returns `Ok(None)` when it is
    /// held elsewhere. The lock file may be deleted by a prune while we wait on it, so after
    /// locking we check that the path still names the file we locked, and retry if not.
    pub fn take(path: &Path, mode: Mode, wait: bool) -> io::Result<Option<Lock>> {
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            let mut op = match mode {
                Mode::Shared => libc::LOCK_SH,
                Mode::Exclusive => libc::LOCK_EX,
            };
            if !wait {
                op |= libc::LOCK_NB;
            }
            if !flock(&file, op)? {
                return Ok(None);
            }
            let ours = file.metadata()?;
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {
                    return Ok(Some(Lock {
                        _file: file,
                        path: path.to_path_buf(),
                    }))
                }
                _ => continue,
            }
        }
    }

    /// Deletes the lock file while holding the lock (a prune); later lockers create a new one.
    pub fn remove_file(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `flock(2)`, retrying on EINTR; `Ok(false)` when a non-blocking request would block.
fn flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: the descriptor is open for the duration of the call.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// One cache entry's paths.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key's hash (the folder name).
    pub hash: String,
    /// `<root>/<hash>`.
    pub dir: PathBuf,
}

impl Entry {
    /// The entry for `hash` under `root`.
    pub fn new(root: &Path, hash: &str) -> Entry {
        Entry {
            hash: hash.to_string(),
            dir: root.join(hash),
        }
    }

    /// `<root>/<hash>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.with_extension("lock")
    }

    /// The environment's prefix.
    pub fn prefix(&self) -> PathBuf {
        self.dir.join("env")
    }

    /// The build log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("build.log")
    }

    /// The metadata, if the entry is complete.
    pub fn meta(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.join(MARKER)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the metadata atomically: this is what makes the entry complete.
    pub fn write_meta(&self, meta: &serde_json::Value) -> io::Result<()> {
        let tmp = self.dir.join(format!(".{MARKER}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            io::Write::write_all(&mut f, serde_json::to_string_pretty(meta)?.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(MARKER))?;
        // The rename itself must reach the disk before a sweep relies on it.
        File::open(&self.dir).and_then(|d| d.sync_all())
    }

    /// Records that a sweep uses the entry now.
    pub fn touch(&self) {
        let _ = std::fs::write(self.dir.join("last-used"), now().to_string());
    }

    /// When a sweep last used the entry (its build time if never).
    pub fn last_used(&self) -> Option<u64> {
        std::fs::read_to_string(self.dir.join("last-used"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .or_else(|| self.meta()?.get("created")?.as_u64())
    }
}

/// Bytes used by a folder (files and symlinks themselves, never their targets).
pub fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// Every entry folder under `root` (complete or not), sorted by hash.
pub fn entries(root: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<Entry> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            (name.len() == super::HASH_LEN && name.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| Entry::new(root, &name))
        })
        .collect();
    out.sort_by(|a, b| a.hash.cmp(&b.hash));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_modes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = Lock::take(&p, Mode::Shared, false).unwrap().unwrap();
        let b = Lock::take(&p, Mode::Shared, false).unwrap().unwrap();
        assert!(Lock::take(&p, Mode::Exclusive, false).unwrap().is_none());
        drop((a, b));
        let x = Lock::take(&p, Mode::Exclusive, false).unwrap().unwrap();
        assert!(Lock::take(&p, Mode::Shared, false).unwrap().is_none());
        // A pruner deletes the file while holding it: a new locker gets a fresh file.
        x.remove_file();
        let y = Lock::take(&p, Mode::Exclusive, false).unwrap();
        assert!(y.is_some() && p.exists());
    }
}
