//! Diagnostics: located problems with a source snippet and a hint, rendered the way compilers
//! do, so a user can jump straight to `file:line:col`.

use super::yaml::{Node, Span};
use std::fmt::Display;
use std::fmt::Write as _;
use std::sync::Arc;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// Usable, but probably not what was meant.
    Warning,
    /// Information (e.g. an Azure key that has no effect here).
    Note,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A config file's name (as the user gave it) and text.
#[derive(Debug)]
pub struct Source {
    /// The path as given on the command line.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// One located problem.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The file it is in.
    pub source: Arc<Source>,
    /// Where; `None` for whole-file problems.
    pub span: Option<Span>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// `file:line:col`, or just the file for whole-file problems.
    pub fn location(&self) -> String {
        match self.span {
            Some(s) => format!("{}:{}:{}", self.source.name, s.line, s.col),
            None => self.source.name.clone(),
        }
    }

    /// Renders the diagnostic: a headline, the location, the source line with the offending
    /// token underlined, and the hint.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.severity.label(), self.message);
        match self.span {
            Some(span) => {
                let line_text = self
                    .source
                    .text
                    .lines()
                    .nth(span.line.saturating_sub(1))
                    .unwrap_or("");
                let num = span.line.to_string();
                let pad = " ".repeat(num.len());
                let _ = writeln!(out, "{pad}--> {}", self.location());
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{num} | {}", line_text.trim_end());
                let width = line_text.chars().count();
                let len = span
                    .len
                    .max(1)
                    .min(width.saturating_sub(span.col - 1).max(1));
                let lead: String = line_text
                    .chars()
                    .take(span.col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(out, "{pad} | {lead}{}", "^".repeat(len));
                if let Some(h) = &self.hint {
                    let _ = writeln!(out, "{pad} = hint: {h}");
                }
            }
            None => {
                let _ = writeln!(out, " --> {}", self.location());
                if let Some(h) = &self.hint {
                    let _ = writeln!(out, "  = hint: {h}");
                }
            }
        }
        out
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Sink {
    source: Arc<Source>,
    /// Everything reported so far.
    pub diags: Vec<Diagnostic>,
}

impl Sink {
    /// A sink for a file.
    pub fn new(name: &str, text: &str) -> Sink {
        Sink {
            source: Arc::new(Source {
                name: name.to_string(),
                text: text.to_string(),
            }),
            diags: Vec::new(),
        }
    }

    /// The file's name as shown.
    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.source.text
    }

    /// Reports an error at `span` with an optional hint.
    pub fn error(&mut self, span: Span, msg: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Error, Some(span), msg.into(), hint);
    }

    /// Reports an error at `node`, a value of the wrong type: `expected` (what it should
    /// be, e.g. "`hosts` should be a list"), then what it is (", found a mapping").
    pub fn wrong_type(&mut self, node: &Node, expected: impl Display, hint: Option<String>) {
        let msg = format!("{expected}, found {}", node.type_name());
        self.error(node.span, msg, hint);
    }

    /// Reports a warning.
    pub fn warn(&mut self, span: Span, msg: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Warning, Some(span), msg.into(), hint);
    }

    /// Reports a note.
    pub fn note(&mut self, span: Span, msg: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Note, Some(span), msg.into(), hint);
    }

    /// Reports a whole-file error.
    pub fn file_error(&mut self, msg: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Error, None, msg.into(), hint);
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Option<Span>,
        message: String,
        hint: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            severity,
            message,
            source: self.source.clone(),
            span,
            hint,
        });
    }

    /// Whether any error was reported.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
}

/// The closest known name to `got`, for "did you mean" hints.
pub fn did_you_mean<'a>(got: &str, known: &[&'a str]) -> Option<&'a str> {
    let g = got.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&g, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Renders a list of diagnostics, errors first then in source order, with a closing count.
pub fn render_all(diags: &[Diagnostic]) -> String {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by(|a, b| {
        (a.severity, &a.source.name, a.span.map(|s| (s.line, s.col))).cmp(&(
            b.severity,
            &b.source.name,
            b.span.map(|s| (s.line, s.col)),
        ))
    });
    let mut out = String::new();
    for d in &sorted {
        out.push_str(&d.render());
        out.push('\n');
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if errors > 0 {
        let _ = writeln!(
            out,
            "{errors} error{}{}",
            if errors == 1 { "" } else { "s" },
            if warnings > 0 {
                format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
    out
}
