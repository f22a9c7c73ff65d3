//! Dependency files of managed environments: a conda environment YAML
//! (`condaDependenciesFile`) or a pip requirements file (`requirementsFile`), read into one
//! [`DepsFile`] with positions for diagnostics, and normalised so that formatting (order,
//! whitespace, comments) never changes the cache key.

use super::diag::{did_you_mean, Diagnostic, Sink};
use super::yaml::{self, Node, Span};
use crate::spec::{Dependencies, DepsKind};
use std::collections::BTreeMap;
use std::path::Path;

/// A conda package spec with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The spec, normalised (see [`normalise_line`]).
    pub spec: String,
    /// Its position in the dependency file.
    pub span: Span,
}

/// A dependency file as read: the lists the spec keeps, and where each conda spec was
/// written, for diagnostics about what this machine cannot build.
#[derive(Debug, Clone, PartialEq)]
pub struct DepsFile {
    /// The lists.
    pub deps: Dependencies,
    /// The file's text.
    pub text: String,
    /// Where each conda spec (`python` included) was first written.
    spans: BTreeMap<String, Span>,
}

/// A pinned Python version (`python=3.11` or `python=3.11.7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonPin {
    /// `3.11`.
    pub minor: String,
    /// `3.11.7` when the patch level was pinned too.
    pub full: Option<String>,
}

impl DepsFile {
    /// A file with empty lists.
    fn new(path: &Path, shown: &str, text: &str, kind: DepsKind) -> DepsFile {
        DepsFile {
            deps: Dependencies {
                file: path.to_path_buf(),
                shown: shown.to_string(),
                kind,
                python: None,
                channels: Vec::new(),
                conda: Vec::new(),
                pip: Vec::new(),
            },
            text: text.to_string(),
            spans: BTreeMap::new(),
        }
    }

    /// A conda spec of the file (`python` included) with where it was first written.
    pub fn located(&self, spec: &str) -> Located {
        Located {
            spec: spec.to_string(),
            span: self.spans.get(spec).copied().unwrap_or_default(),
        }
    }

    /// The Python pin of a conda file: `Ok(None)` without a `python` entry (or a bare
    /// `python`), `Err` with the entry when it is a constraint a virtualenv cannot honour
    /// (`python>=3.9`): only conda resolves those.
    pub fn python_pin(&self) -> Result<Option<PythonPin>, Located> {
        let Some(p) = self.deps.python.as_deref().map(|p| self.located(p)) else {
            return Ok(None);
        };
        let rest = p.spec["python".len()..].trim();
        if rest.is_empty() {
            return Ok(None);
        }
        let version = rest
            .strip_prefix("==")
            .or_else(|| rest.strip_prefix('='))
            .map(|v| v.trim().trim_end_matches(".*").trim_end_matches('*'));
        let Some(version) = version else {
            return Err(p);
        };
        let parts: Vec<&str> = version.split('.').collect();
        let numeric = parts
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        match (numeric, parts.len()) {
            (true, 2) => Ok(Some(PythonPin {
                minor: version.to_string(),
                full: None,
            })),
            (true, 3) => Ok(Some(PythonPin {
                minor: format!("{}.{}", parts[0], parts[1]),
                full: Some(version.to_string()),
            })),
            _ => Err(p),
        }
    }

    /// A sink for located diagnostics about the dependency file.
    pub fn sink(&self) -> Sink {
        Sink::new(&self.deps.shown, &self.text)
    }
}

/// Whether a pip requirement or conda spec names an Azure ML SDK package (`azureml-core`,
/// `azureml-defaults`, `azureml_mlflow[x]>=1`, ...): names compared as pip compares them,
/// case-insensitively with `_` and `.` as `-`.
pub fn is_azureml(spec: &str) -> bool {
    let s = spec.rsplit_once("::").map_or(spec, |(_, s)| s).trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(s.len());
    let name = s[..end].to_ascii_lowercase().replace(['_', '.'], "-");
    name.starts_with("azureml-")
}

impl DepsFile {
    /// Leaves the Azure ML SDK packages out of the lists (sweep provides what runs use of
    /// them, `azureml.core.Run`); returns what was left out, as written.
    pub fn drop_azureml(&mut self) -> Vec<String> {
        let mut dropped = Vec::new();
        for list in [&mut self.deps.pip, &mut self.deps.conda] {
            list.retain(|s| {
                let azure = is_azureml(s);
                if azure {
                    dropped.push(s.clone());
                }
                !azure
            });
        }
        dropped
    }
}

/// One requirement or spec line, normalised: surrounding whitespace trimmed and every run of
/// inner whitespace collapsed to one space (inner spaces can be significant: conda's
/// `numpy 1.26 py311_0`, pip's environment markers).
pub fn normalise_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The package name of a conda spec (`numpy>=1.2` → `numpy`, `conda-forge::numpy` → `numpy`).
pub fn conda_name(spec: &str) -> &str {
    let s = spec.rsplit_once("::").map_or(spec, |(_, s)| s);
    let end = s.find(|c: char| "=<>!~ [".contains(c)).unwrap_or(s.len());
    &s[..end]
}

fn sorted_unique<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// Reads a dependency file. `shown` is how it is named in messages. Errors come back as
/// located diagnostics against the file itself.
pub fn read(path: &Path, shown: &str, kind: DepsKind) -> Result<DepsFile, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut sink = Sink::new(shown, "");
        sink.file_error(format!("cannot read the dependency file: {e}"), None);
        sink.diags
    })?;
    match kind {
        DepsKind::Conda => parse_conda(path, shown, &text),
        DepsKind::Requirements => parse_requirements(path, shown, &text),
    }
}

/// Parses a pip requirements file: comments (`#` at the start of a line or after
/// whitespace) and blank lines dropped, `\` continuations joined. `-r`/`-c` includes are
/// refused: their content would not be part of the cache key.
pub fn parse_requirements(
    path: &Path,
    shown: &str,
    text: &str,
) -> Result<DepsFile, Vec<Diagnostic>> {
    let mut sink = Sink::new(shown, text);
    let mut lines = Vec::new();
    let mut pending = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start_line = i + 1;
        }
        let no_comment = strip_comment(raw);
        if let Some(cont) = no_comment.trim_end().strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(no_comment);
        let line = normalise_line(&pending);
        pending.clear();
        if line.is_empty() {
            continue;
        }
        let word = line.split([' ', '=']).next().unwrap_or("");
        if matches!(word, "-r" | "--requirement" | "-c" | "--constraint") {
            let col = raw.find(word).map_or(1, |b| b + 1);
            sink.error(
                Span {
                    line: start_line,
                    col,
                    len: word.len(),
                },
                format!("`{word}` includes another file, which sweep does not follow"),
                Some(
                    "list the packages in this file: the cache key covers only its own lines"
                        .into(),
                ),
            );
            continue;
        }
        lines.push(line);
    }
    if !pending.trim().is_empty() {
        lines.push(normalise_line(&pending));
    }
    if sink.has_errors() {
        return Err(sink.diags);
    }
    let mut file = DepsFile::new(path, shown, text, DepsKind::Requirements);
    file.deps.pip = sorted_unique(lines);
    Ok(file)
}

/// pip's comment rule: `#` at the start of a line or preceded by whitespace starts a comment
/// (a `#` inside a URL fragment, `pkg @ https://x/y.whl#sha256=…`, does not).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

const CONDA_KEYS: &[&str] = &["name", "channels", "dependencies", "prefix"];

/// Parses a conda environment YAML: `name` and `prefix` are ignored (the cache names the
/// environment), `channels` keep their order (it is conda's priority), `dependencies` holds
/// conda specs and at most one `pip:` list.
pub fn parse_conda(path: &Path, shown: &str, text: &str) -> Result<DepsFile, Vec<Diagnostic>> {
    let mut sink = Sink::new(shown, text);
    let root = match yaml::parse(text) {
        Ok(r) => r,
        Err(e) => {
            sink.error(
                e.span,
                format!("YAML syntax error: {}", e.message),
                Some("check indentation, colons and dashes".into()),
            );
            return Err(sink.diags);
        }
    };
    let mut file = DepsFile::new(path, shown, text, DepsKind::Conda);
    let req = &mut file.deps;
    let Some(map) = root.as_map() else {
        sink.wrong_type(
            &root,
            "a conda environment file is a mapping with `dependencies`",
            Some("e.g. `dependencies: [python=3.11, {pip: [tomli]}]`".into()),
        );
        return Err(sink.diags);
    };
    let mut deps: Option<&Node> = None;
    for (k, v) in map {
        let key = k.as_text().unwrap_or_default();
        match key.as_str() {
            "name" | "prefix" => {}
            "channels" => {
                for item in seq_of_text(&mut sink, v, "channels") {
                    req.channels.push(item.spec);
                }
            }
            "dependencies" => deps = Some(v),
            "variables" => sink.error(
                k.span,
                "`variables` of a conda file are not applied by sweep",
                Some("set them in the runconfig's `environment.environmentVariables`".into()),
            ),
            _ => sink.error(
                k.span,
                format!("unknown key `{key}` in a conda environment file"),
                Some(match did_you_mean(&key, CONDA_KEYS) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("known keys: {}", CONDA_KEYS.join(", ")),
                }),
            ),
        }
    }
    let Some(deps) = deps.filter(|d| !d.is_null()) else {
        sink.error(
            root.span,
            "the conda environment file has no `dependencies`",
            Some("list the packages, e.g. `dependencies: [python=3.11, {pip: [tomli]}]`".into()),
        );
        return Err(sink.diags);
    };
    let Some(items) = deps.as_seq() else {
        sink.wrong_type(deps, "`dependencies` should be a list", None);
        return Err(sink.diags);
    };
    let mut saw_pip_list: Option<Span> = None;
    let mut python: Option<Located> = None;
    let mut conda = Vec::new();
    for item in items {
        if let Some(entries) = item.as_map() {
            for (k, v) in entries {
                let key = k.as_text().unwrap_or_default();
                if key != "pip" {
                    sink.error(
                        k.span,
                        format!("unknown nested list `{key}` in `dependencies`"),
                        Some("only `pip:` may nest a list of packages".into()),
                    );
                    continue;
                }
                if let Some(first) = saw_pip_list {
                    sink.error(
                        k.span,
                        "a second `pip:` list",
                        Some(format!("merge it into the one at line {}", first.line)),
                    );
                    continue;
                }
                saw_pip_list = Some(k.span);
                for p in seq_of_text(&mut sink, v, "pip") {
                    req.pip.push(p.spec);
                }
            }
            continue;
        }
        let Some(spec) = item.as_text().map(|s| normalise_line(&s)) else {
            sink.wrong_type(
                item,
                "a dependency should be a package spec or a `pip:` list",
                None,
            );
            continue;
        };
        if spec.is_empty() {
            continue;
        }
        let located = Located {
            spec: spec.clone(),
            span: item.span,
        };
        if conda_name(&spec) == "python" {
            if let Some(first) = &python {
                sink.error(
                    item.span,
                    format!("`python` is listed twice (also `{}`)", first.spec),
                    Some(format!(
                        "keep one; the other is at line {}",
                        first.span.line
                    )),
                );
            } else {
                python = Some(located);
            }
        } else {
            conda.push(located);
        }
    }
    req.python = python.as_ref().map(|p| p.spec.clone());
    req.conda = sorted_unique(conda.iter().map(|c| c.spec.clone()).collect());
    req.pip = sorted_unique(std::mem::take(&mut req.pip));
    for l in python.into_iter().chain(conda) {
        file.spans.entry(l.spec).or_insert(l.span);
    }
    if sink.has_errors() {
        return Err(sink.diags);
    }
    Ok(file)
}

/// A list of scalars (a single scalar counts as a one-item list), normalised, empty ones
/// dropped; anything else is reported.
fn seq_of_text(sink: &mut Sink, node: &Node, what: &str) -> Vec<Located> {
    let one;
    let items: &[Node] = match node.as_seq() {
        Some(s) => s,
        None if node.is_null() => &[],
        None if node.scalar().is_some() => {
            one = [node.clone()];
            &one
        }
        None => {
            sink.wrong_type(node, format!("`{what}` should be a list"), None);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_text() {
            Some(t) => {
                let spec = normalise_line(strip_comment(&t));
                if !spec.is_empty() {
                    out.push(Located {
                        spec,
                        span: item.span,
                    });
                }
            }
            None if item.is_null() => {}
            None => sink.wrong_type(item, format!("an entry of `{what}` should be text"), None),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conda(text: &str) -> DepsFile {
        parse_conda(Path::new("env.yml"), "env.yml", text).unwrap_or_else(|d| {
            panic!("{}", crate::config::diag::render_all(&d));
        })
    }

    fn conda_err(text: &str) -> String {
        crate::config::diag::render_all(
            &parse_conda(Path::new("env.yml"), "env.yml", text).unwrap_err(),
        )
    }

    #[test]
    fn conda_file_read_with_positions() {
        let r = conda(
            "name: project_environment\nchannels:\n  - conda-forge\n  - defaults\ndependencies:\n  - python=3.11\n  - numpy  >=1.26\n  - pip\n  - pip:\n    - tomli==2.0.1\n    - six  # comment\n",
        );
        assert_eq!(r.deps.kind, DepsKind::Conda);
        assert_eq!(r.deps.channels, ["conda-forge", "defaults"]);
        assert_eq!(r.deps.python.as_deref(), Some("python=3.11"));
        assert_eq!(r.located("python=3.11").span.line, 6);
        let conda: Vec<_> = r
            .deps
            .conda
            .iter()
            .map(|c| (c.as_str(), r.located(c).span.line))
            .collect();
        assert_eq!(conda, [("numpy >=1.26", 7), ("pip", 8)]);
        assert_eq!(r.deps.pip, ["six", "tomli==2.0.1"]);
        assert_eq!(
            r.python_pin().unwrap(),
            Some(PythonPin {
                minor: "3.11".into(),
                full: None
            })
        );
    }

    #[test]
    fn azure_sdk_packages_are_left_out_and_the_rest_kept() {
        let mut r = conda(
            "dependencies:\n  - python=3.11\n  - azureml-core\n  - numpy\n  - pip:\n    - azureml-defaults==1.48.0\n    - AzureML_MLflow[x]>=1\n    - azure-ai-ml\n    - mlflow\n",
        );
        let dropped = r.drop_azureml();
        assert_eq!(
            dropped,
            [
                "AzureML_MLflow[x]>=1",
                "azureml-defaults==1.48.0",
                "azureml-core"
            ]
        );
        assert_eq!(r.deps.pip, ["azure-ai-ml", "mlflow"]);
        assert_eq!(r.deps.conda, ["numpy"]);
        assert!(is_azureml("conda-forge::azureml.core"));
        assert!(!is_azureml("azureml") && !is_azureml("azure-ai-ml"));
    }

    #[test]
    fn python_pins() {
        let pin = |spec: &str| {
            let r = conda(&format!("dependencies: [\"{spec}\"]\n"));
            r.python_pin().map_err(|l| l.spec.clone())
        };
        assert_eq!(pin("python").unwrap(), None);
        assert_eq!(pin("python==3.10").unwrap().unwrap().minor, "3.10");
        assert_eq!(pin("python=3.12.*").unwrap().unwrap().minor, "3.12");
        let full = pin("python=3.11.7").unwrap().unwrap();
        assert_eq!(
            (full.minor.as_str(), full.full.as_deref()),
            ("3.11", Some("3.11.7"))
        );
        assert_eq!(pin("python>=3.9").unwrap_err(), "python>=3.9");
        assert_eq!(pin("python=3").unwrap_err(), "python=3");
    }

    #[test]
    fn conda_file_problems_are_located() {
        let e = conda_err("dependencies:\n  - python=3.11\n  - {pip: [a]}\n  - {pip: [b]}\n  - {r: [x]}\nvariables: {A: 1}\nchanels: [x]\n");
        assert!(e.contains("env.yml:4:6"), "{e}");
        assert!(e.contains("a second `pip:` list"), "{e}");
        assert!(e.contains("env.yml:5:6"), "{e}");
        assert!(
            e.contains("`variables` of a conda file are not applied"),
            "{e}"
        );
        assert!(e.contains("unknown key `chanels`"), "{e}");
        assert!(e.contains("4 errors"), "{e}");
        assert!(e.contains("did you mean `channels`?"), "{e}");
        let e = conda_err("name: x\n");
        assert!(e.contains("has no `dependencies`"), "{e}");
        let e = conda_err("dependencies: [python=3.11, python=3.12]\n");
        assert!(e.contains("`python` is listed twice"), "{e}");
        let e = conda_err("dependencies:\n  - [a, b]\n");
        assert!(e.contains("env.yml:2:5"), "{e}");
    }

    #[test]
    fn requirements_normalised() {
        let r = parse_requirements(
            Path::new("r.txt"),
            "r.txt",
            "# tools\n\n  tomli  >= 2.0   # parser\nsix\\\n\nhttps://x.org/p.whl#sha256=ab\n--index-url https://pypi.org/simple\nsix\n",
        )
        .unwrap();
        assert_eq!(
            r.deps.pip,
            [
                "--index-url https://pypi.org/simple",
                "https://x.org/p.whl#sha256=ab",
                "six",
                "tomli >= 2.0"
            ]
        );
        let e =
            parse_requirements(Path::new("r.txt"), "r.txt", "six\n  -r base.txt\n").unwrap_err();
        let e = crate::config::diag::render_all(&e);
        assert!(e.contains("r.txt:2:3"), "{e}");
        assert!(e.contains("`-r` includes another file"), "{e}");
    }

    #[test]
    fn conda_names() {
        assert_eq!(conda_name("numpy>=1.2"), "numpy");
        assert_eq!(conda_name("conda-forge::numpy=1.2"), "numpy");
        assert_eq!(conda_name("numpy 1.26 py311_0"), "numpy");
        assert_eq!(conda_name("python"), "python");
    }
}
