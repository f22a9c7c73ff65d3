//! The sweep's source snapshot: a copy of the source directory taken when the sweep starts,
//! so that editing the code during a sweep does not change the runs still to come.
//!
//! Ignore rules come from the source directory's top-level `.amlignore`, else its
//! `.gitignore` (nested ignore files are not read). The supported pattern subset:
//! blank lines and `#` comments; `*` (not crossing `/`), `**` (any number of directories),
//! `?`; a trailing `/` matches directories only; a pattern containing a `/` (other than a
//! trailing one) is anchored at the source root, otherwise it matches a name at any depth;
//! `!pattern` re-includes a path an earlier pattern excluded (the last matching pattern
//! wins). `.git`, `.sweep` and the workspace directory itself are never copied.

use std::path::{Path, PathBuf};

/// One ignore pattern.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    glob: String,
    anchored: bool,
    dir_only: bool,
    negate: bool,
}

/// A set of ignore patterns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses ignore-file text.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, line) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (dir_only, line) = match line.strip_suffix('/') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let anchored = line.contains('/');
            let glob = line.trim_start_matches('/').to_string();
            if glob.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                glob,
                anchored,
                dir_only,
                negate,
            });
        }
        Ignore { patterns }
    }

    /// Reads `.amlignore`, else `.gitignore`, from a source directory (empty if neither).
    pub fn for_source(source: &Path) -> Ignore {
        for name in [".amlignore", ".gitignore"] {
            if let Ok(text) = std::fs::read_to_string(source.join(name)) {
                return Ignore::parse(&text);
            }
        }
        Ignore::default()
    }

    /// Whether a path relative to the source root (with `/` separators) is ignored.
    pub fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let mut out = false;
        for p in &self.patterns {
            if p.dir_only && !is_dir {
                continue;
            }
            let hit = if p.anchored {
                glob_match(p.glob.as_bytes(), rel.as_bytes())
            } else {
                glob_match(p.glob.as_bytes(), name.as_bytes())
            };
            if hit {
                out = !p.negate;
            }
        }
        out
    }
}

/// Matches `*`, `**`, `?` and literal bytes; `*` and `?` do not match `/`.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    if p.is_empty() {
        return s.is_empty();
    }
    if p.starts_with(b"**") {
        let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
        // `**` matches any sequence, including separators; try every split.
        return (0..=s.len()).any(|i| glob_match(rest, &s[i..]));
    }
    match p[0] {
        b'*' => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob_match(&p[1..], &s[i..])),
        b'?' => !s.is_empty() && s[0] != b'/' && glob_match(&p[1..], &s[1..]),
        c => !s.is_empty() && s[0] == c && glob_match(&p[1..], &s[1..]),
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

/// Copies `source` into `dest` honouring its ignore file, skipping `.git`, `.sweep` and
/// `exclude` (the workspace, which often lives inside the source directory).
pub fn create(source: &Path, dest: &Path, exclude: &Path) -> std::io::Result<SnapshotStats> {
    let ignore = Ignore::for_source(source);
    let exclude = exclude
        .canonicalize()
        .unwrap_or_else(|_| exclude.to_path_buf());
    let mut stats = SnapshotStats::default();
    std::fs::create_dir_all(dest)?;
    walk(source, dest, "", &ignore, &exclude, &mut stats)?;
    Ok(stats)
}

fn walk(
    src: &Path,
    dest: &Path,
    rel: &str,
    ignore: &Ignore,
    exclude: &Path,
    stats: &mut SnapshotStats,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        let path = e.path();
        let ty = e.file_type()?;
        let is_dir = ty.is_dir();
        let rel_child = if rel.is_empty() {
            name_s.to_string()
        } else {
            format!("{rel}/{name_s}")
        };
        if is_dir && (name_s == ".git" || name_s == ".sweep") {
            continue;
        }
        if is_dir && path.canonicalize().map(|p| p == exclude).unwrap_or(false) {
            continue;
        }
        if ignore.ignored(&rel_child, is_dir) {
            continue;
        }
        let target = dest.join(&name);
        if is_dir {
            std::fs::create_dir_all(&target)?;
            walk(&path, &target, &rel_child, ignore, exclude, stats)?;
        } else if ty.is_symlink() {
            let link = std::fs::read_link(&path)?;
            let _ = std::os::unix::fs::symlink(link, &target);
        } else if ty.is_file() {
            stats.bytes += std::fs::copy(&path, &target)?;
            stats.files += 1;
        }
    }
    Ok(())
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

    #[test]
    fn globs() {
        assert!(glob_match(b"*.pyc", b"a.pyc"));
        assert!(!glob_match(b"*.pyc", b"a/b.pyc"));
        assert!(glob_match(b"data/**", b"data/x/y.bin"));
        assert!(glob_match(b"**/cache", b"a/b/cache"));
        assert!(glob_match(b"**/cache", b"cache"));
        assert!(glob_match(b"f?o", b"foo"));
        assert!(!glob_match(b"f?o", b"f/o"));
    }

    #[test]
    fn ignore_rules() {
        let ig = Ignore::parse("# c\n*.log\n!keep.log\nbuild/\n/top.txt\n");
        assert!(ig.ignored("a/x.log", false));
        assert!(!ig.ignored("keep.log", false));
        assert!(ig.ignored("build", true));
        assert!(!ig.ignored("build", false));
        assert!(ig.ignored("top.txt", false));
        assert!(!ig.ignored("sub/top.txt", false));
    }

    #[test]
    fn snapshot_prefers_amlignore_and_skips_the_workspace() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("ws/sweeps")).unwrap();
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join(".amlignore"), "*.bin\n").unwrap();
        std::fs::write(src.join(".gitignore"), "*.py\n").unwrap();
        std::fs::write(src.join("train.py"), "print(1)").unwrap();
        std::fs::write(src.join("pkg/w.bin"), "x").unwrap();
        std::fs::write(src.join("pkg/m.py"), "x").unwrap();
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
        std::fs::create_dir_all(snap.join("a/b")).unwrap();
        std::fs::write(snap.join("a/b/f.txt"), "one").unwrap();
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
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("g.txt"), "two").unwrap();
        let w3 = d.path().join("w3");
        copy_tree(&snap, &w3).unwrap();
        assert_eq!(std::fs::read_to_string(w3.join("g.txt")).unwrap(), "two");
        assert!(!w3.join("a").exists());
        // No snapshot: an empty working directory.
        copy_tree(&d.path().join("none"), &d.path().join("w4")).unwrap();
        assert_eq!(std::fs::read_dir(d.path().join("w4")).unwrap().count(), 0);
    }
}
