//! The `metrics` key (a sweep extension, in the runconfig, the hdconfig and a v2 sweep
//! job): `metrics: {pattern: '…', name: …}`, the pattern output lines are also read with.
//! The regular expression is compiled here, once; an unusable one is a located error.

use super::diag::Sink;
use super::fields::{fields, Fields};
use crate::metrics::Pattern;

/// Reads `metrics` from `top`, if it is there.
pub fn read(sink: &mut Sink, top: &Fields) -> Option<Pattern> {
    let node = top.get("metrics")?;
    let f = fields(sink, node, "metrics", &["pattern", "name"], &[])?;
    let name = f.string(sink, "name");
    let Some((pattern, span)) = f.string(sink, "pattern") else {
        f.needs(
            sink,
            "pattern",
            "`metrics` needs `pattern`",
            Some("a regular expression with groups `(?P<name>…)` and `(?P<value>…)`, e.g. `pattern: '(?P<name>\\w+) = (?P<value>\\S+)'`".into()),
        );
        return None;
    };
    match Pattern::new(&pattern, name.as_ref().map(|n| n.0.as_str())) {
        Ok(p) => Some(p),
        Err(e) => {
            sink.error(
                span,
                format!("`metrics.pattern`: {e}"),
                Some("the pattern is a regular expression of the Rust `regex` crate (no look-around or back-references); name the number `(?P<value>…)`, and the metric `(?P<name>…)` or with `name:`".into()),
            );
            None
        }
    }
}
