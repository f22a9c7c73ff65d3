//! The sweep's source snapshot: a copy of the source directory taken when the sweep starts,
//! so that editing the code during a sweep does not change the runs still to come.
//!
//! Ignore rules come from the source directory's top-level `.amlignore`, else its
//! `.gitignore` (nested ignore files are not read), matched with gitignore's semantics by
//! the `ignore` crate (globs compiled to automata: linear in the path, whatever the
//! pattern). An ignore file is read only if it is a regular file of at most
//! [`MAX_IGNORE_FILE_BYTES`]. `.git`, `.sweep`, the workspace and any other directory that
//! holds a sweep workspace (a `sweep.db`) are never copied. [`plan`] lists what a snapshot
//! would hold and leave out without copying anything; a snapshot over [`Limits`] is refused,
//! naming its largest entries.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The largest ignore file read (1 MiB): a `.amlignore` that is a link to `/dev/zero` or a
/// huge file is an error, not a read without end.
pub const MAX_IGNORE_FILE_BYTES: u64 = 1 << 20;

/// The ignore files read, in order of preference.
pub const IGNORE_FILES: [&str; 2] = [".amlignore", ".gitignore"];

/// The file whose presence marks a directory as a sweep workspace.
pub const WORKSPACE_MARK: &str = "sweep.db";

/// How large a snapshot may be. Every run's working directory is a copy of it, so a source
/// directory holding data sets or another sweep's workspace would be copied once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Regular files, at most.
    pub max_files: u64,
    /// Bytes of regular files, at most.
    pub max_bytes: u64,
}

impl Default for Limits {
    /// Azure ML's snapshot limits: 2,000 files and 300 MB.
    fn default() -> Limits {
        Limits {
            max_files: 2_000,
            max_bytes: 300 * 1_000_000,
        }
    }
}

/// Directories past which a plan stops keeping entries: a tree of a million empty
/// directories is refused rather than listed.
const MAX_DIRS: u64 = 100_000;

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading the source or writing the copy failed.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done (`cannot read`, `cannot copy`).
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The ignore file cannot be used.
    #[error("ignore file `{}` {why}; sweep reads ignore rules only from a regular file of at most {MAX_IGNORE_FILE_BYTES} bytes", path.display())]
    IgnoreFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (`is a FIFO`, `is larger than ...`).
        why: String,
    },
    /// The snapshot would be larger than the limits.
    #[error("{}", too_large_message(.source_dir, .files, .bytes, .dirs, .limits, .largest))]
    TooLarge {
        /// The source directory.
        source_dir: PathBuf,
        /// Regular files it would hold.
        files: u64,
        /// Their bytes.
        bytes: u64,
        /// Directories it would hold.
        dirs: u64,
        /// The limits.
        limits: Limits,
        /// The largest top-level entries: name (`data/` for a directory), bytes, files.
        largest: Vec<(String, u64, u64)>,
    },
    /// Stopped by [`Cancel`] (an interrupted sweep).
    #[error("interrupted")]
    Interrupted,
}

fn too_large_message(
    source: &Path,
    files: &u64,
    bytes: &u64,
    dirs: &u64,
    limits: &Limits,
    largest: &[(String, u64, u64)],
) -> String {
    use std::fmt::Write as _;
    let mut m = format!(
        "the source snapshot of `{}` would hold {files} files ({}){}; the limit is {} files and {} (Azure ML's), since every run's working directory is a copy of it\nlargest entries:",
        source.display(),
        human_bytes(*bytes),
        if *dirs > MAX_DIRS {
            format!(" in more than {MAX_DIRS} directories")
        } else {
            String::new()
        },
        limits.max_files,
        human_bytes(limits.max_bytes),
    );
    for (name, b, f) in largest {
        let _ = write!(m, "\n  {name:<24} {:>10}, {f} files", human_bytes(*b));
    }
    let example = largest.first().map_or("data/", |l| l.0.as_str());
    let _ = write!(
        m,
        "\nhint: leave them out with lines in `{}` (e.g. `{example}`), or move them out of the source directory",
        source.join(".amlignore").display()
    );
    m
}

/// `1.2 MB`: bytes in decimal units, for messages.
fn human_bytes(b: u64) -> String {
    match b {
        0..1_000 => format!("{b} B"),
        1_000..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.1} GB", b as f64 / 1e9),
    }
}

/// A flag that stops a snapshot in progress ([`SnapshotError::Interrupted`]), checked
/// before each entry.
pub type Cancel = AtomicBool;

/// The ignore rules of a source directory.
#[derive(Debug, Clone)]
pub struct Ignore {
    rules: Gitignore,
    /// The file they were read from, if any.
    pub file: Option<PathBuf>,
}

impl Ignore {
    /// Rules from ignore-file text, relative to `root`.
    pub fn parse(root: &Path, text: &str) -> Ignore {
        let mut b = GitignoreBuilder::new(root);
        for line in text.lines() {
            // A line the crate cannot read (an unclosed `[`) matches nothing, as in git.
            let _ = b.add_line(None, line);
        }
        Ignore {
            rules: b.build().unwrap_or_else(|_| Gitignore::empty()),
            file: None,
        }
    }

    /// Reads `.amlignore`, else `.gitignore`, from a source directory (no rules if neither
    /// exists). An ignore file that is not a regular file, or is larger than
    /// [`MAX_IGNORE_FILE_BYTES`], is an error: it is opened without blocking (a FIFO) and
    /// read no further than the bound (a link to `/dev/zero`).
    pub fn for_source(source: &Path) -> Result<Ignore, SnapshotError> {
        for name in IGNORE_FILES {
            let path = source.join(name);
            if let Some(text) = read_ignore_file(&path)? {
                let mut ig = Ignore::parse(source, &text);
                ig.file = Some(path);
                return Ok(ig);
            }
        }
        Ok(Ignore::parse(source, ""))
    }

    /// The pattern that leaves out a path relative to the source root (with `/`
    /// separators), if one does: the last matching pattern wins, and a `!pattern` that
    /// matches last keeps the path.
    pub fn rule_for(&self, rel: &str, is_dir: bool) -> Option<String> {
        match self.rules.matched(rel, is_dir) {
            ignore::Match::Ignore(g) => Some(g.original().to_string()),
            _ => None,
        }
    }

    /// Whether a path relative to the source root is left out.
    pub fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        self.rule_for(rel, is_dir).is_some()
    }
}

/// The text of an ignore file; `None` if there is none (or it is a dangling link).
fn read_ignore_file(path: &Path) -> Result<Option<String>, SnapshotError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let bad = |why: String| SnapshotError::IgnoreFile {
        path: path.to_path_buf(),
        why,
    };
    let io = |source| SnapshotError::Io {
        what: "cannot read",
        path: path.to_path_buf(),
        source,
    };
    // Opening a FIFO for reading would wait for a writer: never block here.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    let ty = meta.file_type();
    if !ty.is_file() {
        let kind = if ty.is_fifo() {
            "a FIFO"
        } else if ty.is_char_device() || ty.is_block_device() {
            "a device"
        } else if ty.is_socket() {
            "a socket"
        } else if ty.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(bad(format!("is {kind}")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_IGNORE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_IGNORE_FILE_BYTES {
        return Err(bad(format!("is larger than {MAX_IGNORE_FILE_BYTES} bytes")));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Why [`plan`] leaves an entry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// A `.git` or `.sweep` directory.
    Builtin,
    /// The workspace the sweep records into.
    Workspace,
    /// A directory holding another sweep workspace (it has a `sweep.db`).
    OtherWorkspace,
    /// A pattern of the ignore file.
    Pattern(String),
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exclusion::Builtin => f.write_str("never copied"),
            Exclusion::Workspace => f.write_str("the sweep's workspace"),
            Exclusion::OtherWorkspace => f.write_str("a sweep workspace"),
            Exclusion::Pattern(p) => write!(f, "ignore pattern `{p}`"),
        }
    }
}

/// An entry of a snapshot, relative to the source root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEntry {
    /// The path relative to the source root.
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
}

/// What a planned entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory (its entries follow it).
    Dir,
    /// A regular file of this many bytes.
    File(u64),
    /// A symbolic link, copied as a link.
    Symlink,
}

/// What a snapshot of a source directory would hold and leave out, without copying.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The source directory.
    pub source: PathBuf,
    /// The ignore file the rules came from, if any.
    pub ignore_file: Option<PathBuf>,
    /// Entries to copy, parents before their contents (empty once the plan is over its
    /// limits: only the totals are kept then).
    pub entries: Vec<PlannedEntry>,
    /// Entries left out (the top of each left-out tree), relative paths with why.
    pub excluded: Vec<(String, Exclusion)>,
    /// Regular files to copy.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Directories to make.
    pub dirs: u64,
    /// Per top-level entry: name (`data/` for a directory), bytes, files.
    pub top: Vec<(String, u64, u64)>,
}

impl Plan {
    /// Whether the snapshot fits `limits`.
    pub fn fits(&self, limits: &Limits) -> bool {
        self.files <= limits.max_files && self.bytes <= limits.max_bytes && self.dirs <= MAX_DIRS
    }

    /// The error for a plan over `limits`, naming its five largest top-level entries.
    pub fn too_large(&self, limits: Limits) -> SnapshotError {
        let mut largest = self.top.clone();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        largest.truncate(5);
        SnapshotError::TooLarge {
            source_dir: self.source.clone(),
            files: self.files,
            bytes: self.bytes,
            dirs: self.dirs,
            limits,
            largest,
        }
    }
}

/// Lists what a snapshot of `source` would hold and leave out (`workspace`: the sweep's
/// workspace, never copied). Nothing is copied; `limits` only bounds what is kept in
/// memory (past them, totals are still counted so the error can say how large it is).
pub fn plan(
    source: &Path,
    workspace: &Path,
    limits: Limits,
    cancel: &Cancel,
) -> Result<Plan, SnapshotError> {
    let ignore = Ignore::for_source(source)?;
    let workspace = workspace
        .canonicalize()
        .unwrap_or_else(|_| workspace.to_path_buf());
    let mut plan = Plan {
        source: source.to_path_buf(),
        ignore_file: ignore.file.clone(),
        entries: Vec::new(),
        excluded: Vec::new(),
        files: 0,
        bytes: 0,
        dirs: 0,
        top: Vec::new(),
    };
    let mut walk = Walk {
        ignore: &ignore,
        workspace: &workspace,
        limits,
        cancel,
        plan: &mut plan,
    };
    walk.dir(source, Path::new(""), None)?;
    if !plan.fits(&limits) {
        plan.entries.clear();
    }
    Ok(plan)
}

struct Walk<'a> {
    ignore: &'a Ignore,
    workspace: &'a Path,
    limits: Limits,
    cancel: &'a Cancel,
    plan: &'a mut Plan,
}

impl Walk<'_> {
    /// Plans the entries of `dir` (at `rel`); `top` is the index of the top-level entry it
    /// is under, which collects the sizes.
    fn dir(&mut self, dir: &Path, rel: &Path, top: Option<usize>) -> Result<(), SnapshotError> {
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotError::Io { what, path, source }
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io("cannot read", dir))?
            .collect::<Result<_, _>>()
            .map_err(io("cannot read", dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(SnapshotError::Interrupted);
            }
            let name = e.file_name();
            let path = e.path();
            let ty = e.file_type().map_err(io("cannot read", &path))?;
            let is_dir = ty.is_dir();
            let rel_child = rel.join(&name);
            let rel_s = rel_child.to_string_lossy().into_owned();
            let excluded = if is_dir && (name == ".git" || name == ".sweep") {
                Some(Exclusion::Builtin)
            } else if is_dir && path.canonicalize().is_ok_and(|p| p == self.workspace) {
                Some(Exclusion::Workspace)
            } else if is_dir && path.join(WORKSPACE_MARK).is_file() {
                Some(Exclusion::OtherWorkspace)
            } else {
                self.ignore.rule_for(&rel_s, is_dir).map(Exclusion::Pattern)
            };
            if let Some(why) = excluded {
                self.plan.excluded.push((rel_s, why));
                continue;
            }
            let kind = if is_dir {
                EntryKind::Dir
            } else if ty.is_symlink() {
                EntryKind::Symlink
            } else if ty.is_file() {
                EntryKind::File(e.metadata().map_err(io("cannot read", &path))?.len())
            } else {
                // FIFOs, sockets and devices are not source code.
                continue;
            };
            let top = top.unwrap_or_else(|| {
                let shown = if is_dir {
                    format!("{rel_s}/")
                } else {
                    rel_s.clone()
                };
                self.plan.top.push((shown, 0, 0));
                self.plan.top.len() - 1
            });
            match kind {
                EntryKind::Dir => self.plan.dirs += 1,
                EntryKind::File(n) => {
                    self.plan.files += 1;
                    self.plan.bytes += n;
                    self.plan.top[top].1 += n;
                    self.plan.top[top].2 += 1;
                }
                EntryKind::Symlink => {}
            }
            if self.plan.fits(&self.limits) {
                self.plan.entries.push(PlannedEntry {
                    path: rel_child.clone(),
                    kind,
                });
            } else {
                self.plan.entries.clear();
                if self.plan.dirs > MAX_DIRS {
                    // Far past any limit: the totals are large enough to say so.
                    return Ok(());
                }
            }
            if is_dir {
                self.dir(&path, &rel_child, Some(top))?;
            }
        }
        Ok(())
    }
}

/// What a snapshot copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Files copied.
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// Copies `source` into `dest` as [`plan`] lists it, within the default [`Limits`].
pub fn create(
    source: &Path,
    dest: &Path,
    workspace: &Path,
) -> Result<SnapshotStats, SnapshotError> {
    create_within(
        source,
        dest,
        workspace,
        Limits::default(),
        &Cancel::new(false),
    )
}

/// Copies `source` into `dest` as [`plan`] lists it, refusing a snapshot over `limits`
/// ([`SnapshotError::TooLarge`]) before copying anything, and stopping when `cancel` is
/// set.
pub fn create_within(
    source: &Path,
    dest: &Path,
    workspace: &Path,
    limits: Limits,
    cancel: &Cancel,
) -> Result<SnapshotStats, SnapshotError> {
    let plan = plan(source, workspace, limits, cancel)?;
    if !plan.fits(&limits) {
        return Err(plan.too_large(limits));
    }
    let io = |what, path: PathBuf| move |source| SnapshotError::Io { what, path, source };
    std::fs::create_dir_all(dest).map_err(io("cannot create", dest.to_path_buf()))?;
    let mut stats = SnapshotStats::default();
    for e in &plan.entries {
        if cancel.load(Ordering::Relaxed) {
            return Err(SnapshotError::Interrupted);
        }
        let (from, to) = (source.join(&e.path), dest.join(&e.path));
        match e.kind {
            EntryKind::Dir => std::fs::create_dir(&to).map_err(io("cannot create", to))?,
            EntryKind::Symlink => {
                let link = std::fs::read_link(&from).map_err(io("cannot read", from))?;
                let _ = std::os::unix::fs::symlink(link, &to);
            }
            EntryKind::File(_) => {
                stats.bytes += std::fs::copy(&from, &to).map_err(io("cannot copy", from))?;
                stats.files += 1;
            }
        }
    }
    Ok(stats)
}

/// Copies a snapshot into a run's working directory (everything; the snapshot is already
/// filtered). `dest` may exist already; its parent must.
pub fn copy_tree(src: &Path, dest: &Path) -> std::io::Result<()> {
    mkdir(dest)?;
    let Some(listing) = listing(src)? else {
        return Ok(());
    };
    for e in listing.iter() {
        let target = dest.join(&e.path);
        match &e.kind {
            Kind::Dir => mkdir(&target)?,
            Kind::Symlink(to) => {
                let _ = std::os::unix::fs::symlink(to, &target);
            }
            Kind::File => {
                std::fs::copy(src.join(&e.path), &target)?;
            }
        }
    }
    Ok(())
}

/// Makes directory `p`, whose parent exists; an existing one is fine.
pub(super) fn mkdir(p: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(p) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
        r => r,
    }
}

/// One entry of a snapshot, relative to its root.
struct Entry {
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
}

/// What `src` holds, parents before their contents; `None` if it does not exist. A snapshot
/// is not changed once made, and every run copies it, so each is read once: the listing is
/// kept, keyed by the root's identity and modification time (a snapshot made again at the
/// same path is read again).
fn listing(src: &Path) -> std::io::Result<Option<std::sync::Arc<Vec<Entry>>>> {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex};
    type Key = (PathBuf, u64, u64, i64, i64);
    static KEPT: Mutex<Option<HashMap<Key, Arc<Vec<Entry>>>>> = Mutex::new(None);
    let meta = match std::fs::metadata(src) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let key = (
        src.to_path_buf(),
        meta.dev(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
    );
    if let Some(l) = KEPT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(&key))
    {
        return Ok(Some(l.clone()));
    }
    let mut entries = Vec::new();
    list_into(src, Path::new(""), &mut entries)?;
    let l = Arc::new(entries);
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    let m = kept.get_or_insert_with(HashMap::new);
    // A process runs a few sweeps; one embedding sweep for long may run many.
    if m.len() >= 64 {
        m.clear();
    }
    m.insert(key, l.clone());
    Ok(Some(l))
}

fn list_into(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> std::io::Result<()> {
    for e in std::fs::read_dir(root.join(rel))? {
        let e = e?;
        let ty = e.file_type()?;
        let path = rel.join(e.file_name());
        if ty.is_dir() {
            out.push(Entry {
                path: path.clone(),
                kind: Kind::Dir,
            });
            list_into(root, &path, out)?;
        } else if ty.is_symlink() {
            out.push(Entry {
                kind: Kind::Symlink(std::fs::read_link(e.path())?),
                path,
            });
        } else {
            out.push(Entry {
                path,
                kind: Kind::File,
            });
        }
    }
    Ok(())
}

/// The git commit of `dir` and whether its work tree is dirty, if it is in a git repository
/// and `git` is available.
pub fn git_state(dir: &Path) -> Option<(String, bool)> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"])?;
    let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    Some((commit, dirty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(Path::new("/src"), text)
    }

    /// Writes each `(path, text)` under `root`, making the directories it needs.
    fn write_files(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
    }

    #[test]
    fn ignore_rules() {
        let ig = ignore("# c\n*.log\n!keep.log\nbuild/\n/top.txt\ndata/**\n**/cache\nf?o\n");
        assert!(ig.ignored("a/x.log", false));
        assert!(!ig.ignored("keep.log", false));
        assert!(ig.ignored("build", true));
        assert!(!ig.ignored("build", false));
        assert!(ig.ignored("top.txt", false));
        assert!(!ig.ignored("sub/top.txt", false));
        assert!(ig.ignored("data/x/y.bin", false));
        assert!(ig.ignored("a/b/cache", true));
        assert!(ig.ignored("cache", false));
        assert!(ig.ignored("foo", false));
        assert!(!ig.ignored("fooo", false));
        assert_eq!(ig.rule_for("a/x.log", false).as_deref(), Some("*.log"));
    }

    #[test]
    fn globs_match_in_linear_time() {
        // A backtracking matcher takes seconds on this, and minutes with one more `*a`.
        let ig = ignore("*a*a*a*a*a*a*a*a*a*a*a*a*b\n");
        let name = "a".repeat(5_000);
        let t = std::time::Instant::now();
        assert!(!ig.ignored(&name, false));
        assert!(ig.ignored(&format!("{name}b"), false));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn ignore_files_are_read_only_if_regular_and_bounded() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        std::fs::create_dir(&fifo).unwrap();
        nix::unistd::mkfifo(&fifo.join(".amlignore"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Would block forever if opened for reading like a file.
        let e = Ignore::for_source(&fifo).unwrap_err();
        assert!(e.to_string().contains("is a FIFO"), "{e}");
        let zero = d.path().join("zero");
        std::fs::create_dir(&zero).unwrap();
        std::os::unix::fs::symlink("/dev/zero", zero.join(".amlignore")).unwrap();
        let e = Ignore::for_source(&zero).unwrap_err();
        assert!(e.to_string().contains("is a device"), "{e}");
        let big = d.path().join("big");
        std::fs::create_dir(&big).unwrap();
        let f = std::fs::File::create(big.join(".gitignore")).unwrap();
        f.set_len(MAX_IGNORE_FILE_BYTES + 1).unwrap();
        let e = Ignore::for_source(&big).unwrap_err();
        assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
        // A regular file reached through a link is fine.
        let linked = d.path().join("linked");
        std::fs::create_dir(&linked).unwrap();
        std::fs::write(d.path().join("rules"), "*.bin\n").unwrap();
        std::os::unix::fs::symlink(d.path().join("rules"), linked.join(".amlignore")).unwrap();
        assert!(Ignore::for_source(&linked).unwrap().ignored("x.bin", false));
    }

    #[test]
    fn other_workspaces_are_left_out_and_a_large_snapshot_names_its_largest_entries() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("ws1/sweeps/sw_1/runs")).unwrap();
        write_files(&src, &[("ws1/sweep.db", ""), ("train.py", "print(1)")]);
        std::fs::create_dir_all(src.join("data")).unwrap();
        for i in 0..6 {
            std::fs::write(src.join(format!("data/{i}.bin")), vec![0u8; 1000]).unwrap();
        }
        let cancel = Cancel::new(false);
        let p = plan(&src, &src.join("ws2"), Limits::default(), &cancel).unwrap();
        assert_eq!(p.excluded, [("ws1".to_string(), Exclusion::OtherWorkspace)]);
        assert_eq!((p.files, p.bytes), (7, 6008));
        let small = Limits {
            max_files: 5,
            max_bytes: 1_000_000,
        };
        let dest = d.path().join("snap");
        let e = create_within(&src, &dest, &src.join("ws2"), small, &cancel).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("would hold 7 files (6.0 kB)"), "{m}");
        assert!(m.contains("the limit is 5 files"), "{m}");
        assert!(m.contains("\n  data/ "), "{m}");
        assert!(m.contains("(e.g. `data/`)"), "{m}");
        assert!(!dest.exists(), "nothing is copied");
        cancel.store(true, Ordering::Relaxed);
        let e = create_within(&src, &dest, &src.join("ws2"), Limits::default(), &cancel);
        assert!(matches!(e, Err(SnapshotError::Interrupted)));
    }

    #[test]
    fn snapshot_prefers_amlignore_and_skips_the_workspace() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("ws/sweeps")).unwrap();
        write_files(
            &src,
            &[
                (".amlignore", "*.bin\n"),
                (".gitignore", "*.py\n"),
                ("train.py", "print(1)"),
                ("pkg/w.bin", "x"),
                ("pkg/m.py", "x"),
            ],
        );
        let dest = d.path().join("snap");
        let stats = create(&src, &dest, &src.join("ws")).unwrap();
        assert!(dest.join("train.py").exists());
        assert!(dest.join("pkg/m.py").exists());
        assert!(!dest.join("pkg/w.bin").exists());
        assert!(!dest.join("ws").exists());
        assert_eq!(stats.files, 4); // .amlignore, .gitignore, train.py, pkg/m.py
    }

    #[test]
    fn copies_nested_files_and_links_and_reads_a_remade_snapshot_again() {
        let d = tempfile::tempdir().unwrap();
        let snap = d.path().join("snap");
        write_files(&snap, &[("a/b/f.txt", "one")]);
        std::os::unix::fs::symlink("a/b/f.txt", snap.join("link")).unwrap();
        for run in ["w1", "w2"] {
            copy_tree(&snap, &d.path().join(run)).unwrap();
            let w = d.path().join(run);
            assert_eq!(std::fs::read_to_string(w.join("a/b/f.txt")).unwrap(), "one");
            assert_eq!(
                std::fs::read_link(w.join("link")).unwrap(),
                Path::new("a/b/f.txt")
            );
        }
        // Made again at the same path with other contents (say, by another sweep).
        std::fs::remove_dir_all(&snap).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_files(&snap, &[("g.txt", "two")]);
        let w3 = d.path().join("w3");
        copy_tree(&snap, &w3).unwrap();
        assert_eq!(std::fs::read_to_string(w3.join("g.txt")).unwrap(), "two");
        assert!(!w3.join("a").exists());
        // No snapshot: an empty working directory.
        copy_tree(&d.path().join("none"), &d.path().join("w4")).unwrap();
        assert_eq!(std::fs::read_dir(d.path().join("w4")).unwrap().count(), 0);
    }
}
