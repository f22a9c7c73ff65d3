//! A v2 job's `inputs` and `outputs` as its command sees them: `${{inputs.NAME}}` becomes a
//! literal input's text (numbers as sweep writes parameter values, booleans as Python spells
//! them) or a local input's path (resolved against the job file, made absolute);
//! `${{outputs.NAME}}` becomes `../outputs/NAME`, relative to the run's working directory:
//! the directory `NAME` of the run's outputs (`$SWEEP_OUTPUT_DIR/NAME`), on every target,
//! created before the program starts. What sweep cannot provide (an Azure data asset, a
//! remote URI) is an error at its position, never a value passed on as if it were a path.

use super::diag::{did_you_mean, Sink};
use super::fields::fields;
use super::yaml::{Node, Scalar, Span};
use std::path::Path;

/// Input types whose `path` names a file or a folder.
const PATH_TYPES: &[&str] = &[
    "uri_file",
    "uri_folder",
    "mltable",
    "custom_model",
    "mlflow_model",
    "triton_model",
];
/// Output types; all but `uri_file` are folders.
const OUTPUT_TYPES: &[&str] = &["uri_folder", "uri_file", "mlflow_model", "custom_model"];

/// One input of the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Its name.
    pub name: String,
    /// What `${{inputs.NAME}}` becomes.
    pub text: String,
}

/// One output of the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its name.
    pub name: String,
    /// Whether it is a folder (made for each run) rather than a file.
    pub folder: bool,
}

/// A job's inputs and outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Io {
    /// The inputs, in file order.
    pub inputs: Vec<Input>,
    /// The outputs, in file order.
    pub outputs: Vec<Output>,
}

/// Where output `name` is, relative to a run's working directory (`<run_dir>/work`).
pub fn output_path(name: &str) -> String {
    format!("../outputs/{name}")
}

impl Io {
    /// The names of the inputs.
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    /// The names of the outputs.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|o| o.name.as_str()).collect()
    }

    /// `word` with every `${{inputs.NAME}}` and `${{outputs.NAME}}` of a known name replaced;
    /// other placeholders are left as they are.
    pub fn substitute(&self, word: &str) -> String {
        let mut out = String::with_capacity(word.len());
        let mut rest = word;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let inner = after[..end].trim();
            let whole = &rest[start..start + 3 + end + 2];
            let value = if let Some(n) = inner.strip_prefix("inputs.") {
                self.inputs
                    .iter()
                    .find(|i| i.name == n)
                    .map(|i| i.text.clone())
            } else if let Some(n) = inner.strip_prefix("outputs.") {
                self.outputs
                    .iter()
                    .find(|o| o.name == n)
                    .map(|o| output_path(&o.name))
            } else {
                None
            };
            out.push_str(value.as_deref().unwrap_or(whole));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// Whether `name` can be a directory name under `outputs/` on every target.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The text a literal input gives the command.
fn literal(v: &Scalar) -> Option<String> {
    match v {
        Scalar::Null => None,
        Scalar::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::Float(f) => Some(crate::space::Value::Float(*f).to_string()),
        Scalar::Str(s) => Some(s.clone()),
    }
}

/// Reads the job's top-level `inputs`, resolving local paths against `job` (the job file).
pub fn read_inputs(sink: &mut Sink, node: &Node, job: &Path) -> Vec<Input> {
    let mut out = Vec::new();
    for_each_named(sink, node, "input", |sink, name, k, v| {
        if let Some(s) = v.scalar() {
            match literal(s) {
                Some(text) => out.push(Input { name, text }),
                None => sink.error(
                    k.span,
                    format!("input `{name}` has no value"),
                    Some("give it a value (`A: 0.5`) or a local path (`{type: uri_folder, path: ./data}`)".into()),
                ),
            }
            return;
        }
        // A rejected input is still declared: its error is said once, at the input, not
        // again at every placeholder naming it (the config fails, nothing runs).
        let text = read_path_input(sink, &name, v, job).unwrap_or_default();
        out.push(Input { name, text });
    });
    out
}

/// Calls `each` with every entry of the job's top-level `{what}s` (`inputs`, `outputs`)
/// and its name, in file order; an entry whose key is not a plain name is reported instead.
fn for_each_named(
    sink: &mut Sink,
    node: &Node,
    what: &str,
    mut each: impl FnMut(&mut Sink, String, &Node, &Node),
) {
    let Some(map) = entries(sink, node, &format!("{what}s")) else {
        return;
    };
    for (k, v) in map {
        match k.as_text() {
            Some(name) => each(sink, name, k, v),
            None => sink.error(k.span, format!("{what} names must be plain names"), None),
        }
    }
}

/// Whether `t`, the `type` of an input or output (`what`) at `span`, is one of `known`; if
/// not, it is reported as not one sweep `does` (`reads`, `writes`), with `otherwise` as the
/// hint when no known type is close.
fn known_type(
    sink: &mut Sink,
    what: &str,
    (t, span): (&str, Span),
    known: &[&str],
    does: &str,
    otherwise: String,
) -> bool {
    if known.contains(&t) {
        return true;
    }
    let hint = did_you_mean(t, known).map_or(otherwise, |k| format!("did you mean `{k}`?"));
    sink.error(
        span,
        format!("{what} type `{t}` is not one sweep {does}"),
        Some(hint),
    );
    false
}

/// An input written as a mapping: `type` and a local `path`.
fn read_path_input(sink: &mut Sink, name: &str, v: &Node, job: &Path) -> Option<String> {
    let what = format!("inputs.{name}");
    let f = fields(
        sink,
        v,
        &what,
        &["type", "path", "value", "default"],
        &["mode", "description", "datastore", "path_on_compute"],
    )?;
    for k in ["value", "default"] {
        if let Some(n) = f.get(k) {
            return match n.scalar().and_then(literal) {
                Some(t) => Some(t),
                None => {
                    sink.error(n.span, format!("`{what}.{k}` should be a value"), None);
                    None
                }
            };
        }
    }
    let kind = f.string(sink, "type");
    if let Some((t, span)) = &kind {
        let otherwise = format!("sweep reads inputs of type {}", PATH_TYPES.join(", "));
        if !known_type(sink, "input", (t, *span), PATH_TYPES, "reads", otherwise) {
            return None;
        }
    }
    let Some((path, span)) = f.string(sink, "path") else {
        f.needs(
            sink,
            "path",
            format!("`{what}` needs `path`"),
            Some("a file or folder on this machine, relative to the job file".into()),
        );
        return None;
    };
    if path.starts_with("azureml:") || (path.contains("://") && !path.starts_with("file://")) {
        sink.error(
            span,
            format!("input `{name}` is `{path}`, data sweep cannot fetch: it reads local files and folders only"),
            Some(if path.starts_with("azureml:") {
                "download the data asset (`az ml data download` or the studio), then give its local path: `path: ./data`".into()
            } else {
                "download it first, then give its local path: `path: ./data`".into()
            }),
        );
        return None;
    }
    let local = path
        .strip_prefix("file://")
        .or_else(|| path.strip_prefix("file:"))
        .unwrap_or(&path);
    let base = job.parent().unwrap_or(Path::new("."));
    let full = base.join(local);
    let Ok(abs) = full.canonicalize() else {
        sink.error(
            span,
            format!("input `{name}`: `{}` does not exist", full.display()),
            Some("a local `path` is relative to the job file".into()),
        );
        return None;
    };
    // A path of the other kind than its type says: the type and what it needs, then the
    // type that fits.
    let (file, folder) = (("uri_file", "a file"), ("uri_folder", "a folder"));
    let mismatch = match kind.as_ref().map(|k| k.0.as_str()) {
        Some("uri_file") if !abs.is_file() => Some((file, folder)),
        Some("uri_folder") if !abs.is_dir() => Some((folder, file)),
        _ => None,
    };
    if let Some(((t, needs), (other, other_is))) = mismatch {
        sink.error(
            span,
            format!(
                "input `{name}` is a `{t}` but `{}` is not {needs}",
                abs.display()
            ),
            Some(format!("use `type: {other}` for {other_is}")),
        );
    }
    Some(abs.display().to_string())
}

/// Reads the job's top-level `outputs`.
pub fn read_outputs(sink: &mut Sink, node: &Node) -> Vec<Output> {
    let mut out = Vec::new();
    for_each_named(sink, node, "output", |sink, name, k, v| {
        if !plain_name(&name) {
            sink.error(
                k.span,
                format!("output `{name}` cannot be a directory name under the run's outputs/"),
                Some("use letters, digits, `_`, `-` and `.`".into()),
            );
            return;
        }
        let mut folder = true;
        if !v.is_null() {
            let what = format!("outputs.{name}");
            let Some(f) = fields(sink, v, &what, &["type", "path", "mode"], &["description"])
            else {
                return;
            };
            if let Some((t, span)) = f.string(sink, "type") {
                let otherwise = OUTPUT_TYPES.join(", ");
                if !known_type(
                    sink,
                    "output",
                    (&t, span),
                    OUTPUT_TYPES,
                    "writes",
                    otherwise,
                ) {
                    return;
                }
                folder = t != "uri_file";
            }
            for k in ["path", "mode"] {
                if let Some(n) = f.key_node(k) {
                    sink.note(
                        n.span,
                        format!("`{what}.{k}` has no effect in sweep: the output is the run's outputs/{name}"),
                        None,
                    );
                }
            }
        }
        out.push(Output { name, folder });
    });
    out
}

/// A mapping's entries, or an error at `node` naming `what`.
fn entries<'a>(sink: &mut Sink, node: &'a Node, what: &str) -> Option<&'a [(Node, Node)]> {
    if node.is_null() {
        return None;
    }
    let map = node.as_map();
    if map.is_none() {
        sink.wrong_type(node, format!("`{what}` should map names to values"), None);
    }
    map
}

/// Notes, at `at`, that the trial's `environment` is not built by sweep.
pub fn environment_note(sink: &mut Sink, at: Span, env: &Node) {
    let shown = env
        .as_str()
        .map_or_else(|| "given inline".to_string(), |s| format!("`{s}`"));
    sink.note(
        at,
        format!("the trial's environment ({shown}) is not built by sweep: the command runs with the programs on the target's PATH"),
        Some("install what it needs where the runs execute, or run through a runconfig with `condaDependenciesFile` to have sweep build it".into()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> Io {
        Io {
            inputs: vec![
                Input {
                    name: "A".into(),
                    text: "0.5".into(),
                },
                Input {
                    name: "data".into(),
                    text: "/d/x".into(),
                },
            ],
            outputs: vec![Output {
                name: "model".into(),
                folder: true,
            }],
        }
    }

    #[test]
    fn placeholders_of_inputs_and_outputs_are_replaced_and_others_kept() {
        let io = io();
        for (text, want) in [
            ("--A=${{inputs.A}}", "--A=0.5"),
            ("${{ inputs.data }}/f", "/d/x/f"),
            ("${{outputs.model}}", "../outputs/model"),
            (
                "${{search_space.B}}${{inputs.nope}}",
                "${{search_space.B}}${{inputs.nope}}",
            ),
            ("a ${{inputs.A", "a ${{inputs.A"),
        ] {
            assert_eq!(io.substitute(text), want, "{text}");
        }
    }

    #[test]
    fn literals_are_written_as_parameter_values_are() {
        assert_eq!(literal(&Scalar::Bool(true)).unwrap(), "True");
        assert_eq!(literal(&Scalar::Float(0.5)).unwrap(), "0.5");
        assert_eq!(literal(&Scalar::Float(1e-5)).unwrap(), "1e-5");
        assert_eq!(literal(&Scalar::Int(3)).unwrap(), "3");
        assert_eq!(literal(&Scalar::Null), None);
        assert!(plain_name("model_v1.2") && !plain_name("..") && !plain_name("a/b"));
    }
}
