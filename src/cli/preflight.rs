//! What `sweep run` will hit that the config alone cannot show, checked on this machine
//! before anything runs (by `validate`, and by `run` before it records the sweep): the
//! interpreter (or a command's program) exists and runs, and what the source snapshot
//! leaves out, with sizes, warning when the script's arguments or its source name an
//! excluded path (it works by hand in the source directory and fails in every run).
//! Only for the `local` target: a remote host has its own interpreter and files.

use std::path::{Path, PathBuf};
// Sizes read as `sweep env list` shows cache sizes: `512 B`, `1.1 MiB`.
use sweep::human::format_size as human_bytes;
use sweep::spec::SweepSpec;
use sweep::target::snapshot::Ignore;

/// A path the snapshot leaves out, with what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Excluded {
    /// Relative to the source directory, `/`-separated; a directory ends with `/`.
    pub path: String,
    /// Files under it (1 for a file).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Problems that make every run fail: `sweep validate` and `sweep run` exit 2.
    pub errors: Vec<String>,
    /// Likely mistakes.
    pub warnings: Vec<String>,
    /// What was checked and passed, for the summary.
    pub checked: Vec<String>,
    /// The ignore file the snapshot follows, if any.
    pub ignore_file: Option<&'static str>,
    /// What it leaves out.
    pub excluded: Vec<Excluded>,
}

/// How many directory entries the size of an excluded directory is counted over at most
/// (a dataset of millions of files is not walked whole to print its size).
const SIZE_WALK_LIMIT: u64 = 200_000;

/// A script read for path literals only up to this size.
const SCRIPT_READ_LIMIT: u64 = 4 << 20;

impl Preflight {
    /// The summary lines: what was checked, and the snapshot's exclusions.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (i, c) in self.checked.iter().enumerate() {
            let lead = if i == 0 { "checked:   " } else { "           " };
            lines.push(format!("{lead} {c}"));
        }
        if let Some(l) = self.exclusions_line() {
            lines.push(format!("snapshot:   {l}"));
        }
        lines
    }

    /// `excluded by .gitignore: data/ (2 files, 1.1 MiB), *.ckpt …`, if anything is.
    pub fn exclusions_line(&self) -> Option<String> {
        let file = self.ignore_file?;
        if self.excluded.is_empty() {
            return Some(format!("{file} excludes nothing here"));
        }
        let items: Vec<String> = self
            .excluded
            .iter()
            .map(|e| {
                format!(
                    "{} ({} file{}, {})",
                    e.path,
                    e.files,
                    if e.files == 1 { "" } else { "s" },
                    human_bytes(e.bytes)
                )
            })
            .collect();
        Some(format!("excluded by {file}: {}", items.join(", ")))
    }
}

/// Runs every check for `spec` (nothing for a target other than `local`).
pub fn check(spec: &SweepSpec) -> Preflight {
    let mut p = Preflight::default();
    if !(spec.run.target.is_empty() || spec.run.target == "local") {
        return p;
    }
    interpreter(spec, &mut p);
    exclusions(spec, &mut p);
    p
}

/// The program a run starts, and what the config calls it.
fn program(spec: &SweepSpec) -> Option<(String, &'static str)> {
    let run = &spec.run;
    if run.is_command {
        return run
            .arguments
            .first()
            .map(|a| (a.clone(), "the command's program"));
    }
    if let Some(i) = &run.interpreter {
        return Some((i.clone(), "the interpreter (`interpreterPath`)"));
    }
    None
}

fn interpreter(spec: &SweepSpec, p: &mut Preflight) {
    if let Some(env) = &spec.run.managed_env {
        // The runs use the environment sweep builds; the builder was checked with the config.
        p.checked.push(format!(
            "runs use a managed environment built by {} from {}",
            env.tool.name(),
            env.deps.shown
        ));
        return;
    }
    let Some((prog, what)) = program(spec) else {
        return;
    };
    let found: Result<PathBuf, String> = if prog.contains('/') {
        let path = Path::new(&prog);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            spec.run.source_dir.join(path)
        };
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{what} `{prog}` does not exist ({})",
                path.display()
            ))
        }
    } else {
        which::which(&prog)
            .map_err(|_| format!("{what} `{prog}` is not on PATH: every run would fail to start"))
    };
    let path = match found {
        Ok(path) => path,
        Err(e) => {
            p.errors.push(format!(
                "{e}; install it, or name an interpreter that exists (`interpreterPath` in the runconfig, the first word of `command`, or the program after `--`)"
            ));
            return;
        }
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if name.as_deref().is_some_and(|n| n.starts_with("python")) {
        match sweep::config::env_tool::probe_python(&path) {
            Ok((version, _)) => {
                p.checked.push(format!(
                    "{what} `{prog}` runs: Python {version} ({})",
                    path.display()
                ));
                if let Some(w) = pinned_elsewhere(spec, &version, &format!("{what} `{prog}`")) {
                    p.warnings.push(w);
                }
            }
            Err(why) => p
                .errors
                .push(format!("{what} `{prog}` exists but does not run: {why}")),
        }
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let executable = std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if executable {
        p.checked
            .push(format!("{what} `{prog}` found ({})", path.display()));
    } else {
        p.errors.push(format!(
            "{what} `{prog}` ({}) is not executable: `chmod +x` it, or run it through its interpreter",
            path.display()
        ));
    }
}

/// The warning for a user-managed environment whose dependency file pins another Python
/// than `version`, the one `interpreter` runs: the script was likely written for the pinned
/// one, and sweep does not build it.
fn pinned_elsewhere(spec: &SweepSpec, version: &str, interpreter: &str) -> Option<String> {
    let (file, kind) = spec.run.unbuilt_deps.as_ref()?;
    let shown = file.display().to_string();
    let deps = sweep::config::deps::read(file, &shown, *kind).ok()?;
    let pin = deps.python_pin().ok()??;
    let same = match &pin.full {
        Some(full) => full == version,
        None => version == pin.minor || version.starts_with(&format!("{}.", pin.minor)),
    };
    if same {
        return None;
    }
    let at = deps.deps.python.as_deref().map(|p| deps.located(p))?;
    let pinned = pin.full.as_deref().unwrap_or(&pin.minor);
    Some(format!(
        "{shown}:{}:{}: Python {pinned} is pinned (`{}`), but {interpreter} is Python {version}, and with `userManagedDependencies: true` runs use it as it is; point `interpreterPath` at a Python {pinned}, or set `userManagedDependencies: false` to have sweep build the environment",
        at.span.line, at.span.col, at.spec
    ))
}

/// Whether `rel` (a relative path, `/`-separated) or a directory above it is left out.
fn excluded_by(ignore: &Ignore, source: &Path, rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    for i in 1..=parts.len() {
        let prefix = parts[..i].join("/");
        let is_dir = i < parts.len() || source.join(&prefix).is_dir();
        if ignore.ignored(&prefix, is_dir) {
            return Some(if is_dir { format!("{prefix}/") } else { prefix });
        }
    }
    None
}

/// Relative paths named in `text` as quoted literals (`"data/train.csv"`, `'data'`).
fn path_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        let mut parts = text.split(quote);
        parts.next();
        // Every other piece is inside quotes.
        while let Some(inside) = parts.next() {
            let _ = parts.next();
            let looks_like_path = !inside.is_empty()
                && inside.len() < 256
                && !inside.starts_with('/')
                && !inside.contains(['\n', ' ', '{', '}', '%', '$'])
                && (inside.contains('/') || inside.contains('.'))
                && !out.iter().any(|o| o == inside);
            if looks_like_path {
                out.push(inside.to_string());
            }
        }
    }
    out
}

fn exclusions(spec: &SweepSpec, p: &mut Preflight) {
    let source = &spec.run.source_dir;
    p.ignore_file = [".amlignore", ".gitignore"]
        .into_iter()
        .find(|f| source.join(f).is_file());
    let Some(file) = p.ignore_file else {
        return;
    };
    let ignore = match Ignore::for_source(source) {
        Ok(ignore) => ignore,
        // Not a regular file, or too large: the snapshot refuses it, and says why.
        Err(e) => {
            p.warnings
                .push(format!("{e}: the sweep's source snapshot will fail"));
            return;
        }
    };
    let mut budget = SIZE_WALK_LIMIT;
    list_excluded(source, "", &ignore, &mut p.excluded, &mut budget);
    if p.excluded.is_empty() {
        return;
    }
    let fix = format!(
        "runs start in a copy of the source directory without it, so the run fails while the same command works by hand here; stop excluding it in {file} (sweep reads `.amlignore` before `.gitignore`: an `.amlignore` can keep the data in), or use an absolute path"
    );
    // The script's fixed arguments (`--data data/train.csv`, `--data=data`).
    let args = spec
        .run
        .arguments
        .iter()
        .skip(usize::from(spec.run.is_command));
    for a in args {
        let value = a.split_once('=').map_or(a.as_str(), |(_, v)| v);
        if value.starts_with('-') || value.starts_with('/') {
            continue;
        }
        if let Some(ex) = excluded_by(&ignore, source, value) {
            p.warnings.push(format!(
                "the argument `{a}` names `{value}`, but `{ex}` is excluded from the snapshot by {file}: {fix}"
            ));
        }
    }
    // Relative paths the script's source opens.
    let script = spec.run.script.clone().or_else(|| {
        // A command's script: the first argument that is a file of the source directory.
        spec.run
            .arguments
            .iter()
            .skip(1)
            .find(|a| source.join(a).is_file())
            .cloned()
    });
    let Some(script) = script else {
        return;
    };
    let path = source.join(&script);
    let small = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() <= SCRIPT_READ_LIMIT);
    let Some(text) = small.then(|| std::fs::read(&path).ok()).flatten() else {
        return;
    };
    let text = String::from_utf8_lossy(&text);
    for lit in path_literals(&text) {
        if let Some(ex) = excluded_by(&ignore, source, &lit) {
            // Only paths that are there by hand: the trap is a script that works here.
            if source.join(&lit).exists() || ex.ends_with('/') {
                p.warnings.push(format!(
                    "`{script}` uses the relative path `{lit}`, but `{ex}` is excluded from the snapshot by {file}: {fix}"
                ));
            }
        }
    }
}

/// Collects the top-most excluded paths under `dir` (not descending into them), in name
/// order, skipping what the snapshot never copies (`.git`, `.sweep`).
fn list_excluded(
    dir: &Path,
    rel: &str,
    ignore: &Ignore,
    out: &mut Vec<Excluded>,
    budget: &mut u64,
) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ty) = e.file_type() else { continue };
        let is_dir = ty.is_dir();
        if is_dir && (name == ".git" || name == ".sweep") {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if ignore.ignored(&child, is_dir) {
            let (files, bytes) = size(&e.path(), budget);
            out.push(Excluded {
                path: if is_dir { format!("{child}/") } else { child },
                files,
                bytes,
            });
        } else if is_dir {
            list_excluded(&e.path(), &child, ignore, out, budget);
        }
    }
}

/// Files and bytes under `path` (not following symbolic links).
fn size(path: &Path, budget: &mut u64) -> (u64, u64) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return (0, 0);
    };
    if !meta.is_dir() {
        return (1, meta.len());
    }
    let mut total = (0, 0);
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.filter_map(Result::ok) {
            if *budget == 0 {
                break;
            }
            *budget -= 1;
            let (f, b) = size(&e.path(), budget);
            total.0 += f;
            total.1 += b;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_that_look_like_relative_paths() {
        let src = r#"
import pandas as pd
df = pd.read_csv("data/train.csv")
open('config.yaml')
print("hello world", '/abs/path.txt', f"{x}.png")
"#;
        assert_eq!(path_literals(src), ["data/train.csv", "config.yaml"]);
    }

    #[test]
    fn excluded_directories_with_their_sizes_and_the_paths_that_name_them() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path();
        std::fs::create_dir_all(s.join("data/raw")).unwrap();
        std::fs::write(s.join("data/train.csv"), vec![b'x'; 2048]).unwrap();
        std::fs::write(s.join("data/raw/a.csv"), b"abc").unwrap();
        std::fs::write(s.join("model.ckpt"), b"12345").unwrap();
        std::fs::write(s.join("train.py"), "open('data/train.csv')\n").unwrap();
        std::fs::write(s.join(".gitignore"), "data/\n*.ckpt\n").unwrap();
        let ignore = Ignore::for_source(s).unwrap();
        let mut out = Vec::new();
        list_excluded(s, "", &ignore, &mut out, &mut 1000);
        assert_eq!(
            out,
            [
                Excluded {
                    path: "data/".into(),
                    files: 2,
                    bytes: 2051
                },
                Excluded {
                    path: "model.ckpt".into(),
                    files: 1,
                    bytes: 5
                }
            ]
        );
        assert_eq!(
            excluded_by(&ignore, s, "data/train.csv").as_deref(),
            Some("data/")
        );
        assert_eq!(excluded_by(&ignore, s, "./data").as_deref(), Some("data/"));
        assert_eq!(excluded_by(&ignore, s, "train.py"), None);
        assert_eq!(human_bytes(2051), "2.0 KiB");
        assert_eq!(human_bytes(5), "5 B");
    }
}
