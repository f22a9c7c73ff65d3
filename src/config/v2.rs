//! The Azure ML v2 sweep-job YAML (`type: sweep`): `search_space` with named arguments,
//! `objective`, `limits`, `early_termination` and `trial.command` with
//! `${{search_space.x}}` placeholders, compiled into the same [`SweepPart`] as the v1 format.
//! A `choice` whose options are mappings gives a conditional (nested) space.

use super::diag::{did_you_mean, Sink};
use super::expr;
use super::fields::{fields, Fields};
use super::hdconfig::{
    read_goal, read_policy_fields, read_resume_from, read_seed, sampling_type, POLICY_KEYS,
};
use super::yaml::{Node, Span};
use super::{ParamDraft, SweepPart};
use crate::space::{Domain, Value};
use std::path::Path;

const TOP: &[&str] = &[
    "type",
    "sampling_algorithm",
    "search_space",
    "objective",
    "limits",
    "early_termination",
    "trial",
    "inputs",
    "outputs",
    "resume_from",
    "metrics",
];
const TOP_INERT: &[&str] = &[
    "$schema",
    "compute",
    "experiment_name",
    "display_name",
    "name",
    "description",
    "tags",
    "identity",
    "properties",
    "services",
    "resources",
    "queue_settings",
];

/// Whether a parsed document is a v2 sweep job (`type: sweep`, or v2-only keys).
pub fn is_v2(root: &Node) -> bool {
    let Some(map) = root.as_map() else {
        return false;
    };
    map.iter().any(|(k, v)| match k.as_text().as_deref() {
        Some("type") => v.as_str().is_some_and(|t| t.eq_ignore_ascii_case("sweep")),
        Some("search_space" | "sampling_algorithm" | "objective" | "trial" | "$schema") => true,
        _ => false,
    })
}

/// Reads a v2 document found at `path`.
pub fn read(sink: &mut Sink, root: &Node, path: &Path) -> SweepPart {
    let mut part = SweepPart::default();
    let Some(top) = fields(sink, root, "sweep job", TOP, TOP_INERT) else {
        return part;
    };
    if let Some((t, span)) = top.string(sink, "type") {
        if !t.eq_ignore_ascii_case("sweep") {
            sink.error(
                span,
                format!("this reads sweep jobs (`type: sweep`), not `{t}`"),
                None,
            );
        }
    }
    match top.get("sampling_algorithm") {
        None => sink.error(
            top.span,
            "the sweep job needs `sampling_algorithm`",
            Some("random, grid or bayesian".into()),
        ),
        Some(n) if n.as_map().is_some() => {
            if let Some(f) = fields(
                sink,
                n,
                "sampling_algorithm",
                &["type", "rule", "seed"],
                &[],
            ) {
                let rule = f.string(sink, "rule");
                part.sampling = f
                    .string(sink, "type")
                    .and_then(|(t, s)| sampling_type(sink, &t, s, rule.as_ref()));
                part.seed = read_seed(sink, &f);
            }
        }
        Some(n) => match n.as_str() {
            Some(t) => part.sampling = sampling_type(sink, t, n.span, None),
            None => sink.wrong_type(
                n,
                "`sampling_algorithm` should be a name or a mapping",
                None,
            ),
        },
    }
    match top.get("search_space") {
        Some(s) => read_space(sink, s, &mut part),
        None => {
            sink.error(top.span, "the sweep job needs `search_space`", None);
            part.params_broken = true;
        }
    }
    match top.get("objective") {
        Some(o) => {
            if let Some(f) = fields(sink, o, "objective", &["primary_metric", "goal"], &[]) {
                part.primary_metric = f
                    .require(sink, "primary_metric", None)
                    .and(f.string(sink, "primary_metric"));
                part.goal = read_goal(sink, &f, "goal");
                let hint = Some("maximize or minimize".into());
                f.needs(sink, "goal", "`objective` needs `goal`", hint);
            }
        }
        None => sink.error(
            top.span,
            "the sweep job needs `objective`",
            Some("`objective: {primary_metric: accuracy, goal: maximize}`".into()),
        ),
    }
    if let Some(l) = top.get("limits") {
        if let Some(f) = fields(
            sink,
            l,
            "limits",
            &[
                "max_total_trials",
                "max_concurrent_trials",
                "timeout",
                "trial_timeout",
            ],
            &[],
        ) {
            part.max_total = f.positive(sink, "max_total_trials");
            let hint = "write how many trials the sweep may launch, or leave the key out (a grid then runs every point)";
            part.max_total_given = f.has("max_total_trials")
                || f.reject_empty(sink, "max_total_trials", Some(hint.into()));
            part.max_concurrent = f.positive(sink, "max_concurrent_trials");
            part.max_minutes = f
                .positive_number(sink, "timeout", " seconds")
                .map(|(t, span)| (t / 60.0, span));
            part.trial_timeout = f
                .positive_number(sink, "trial_timeout", " seconds")
                .map(|t| t.0);
        }
    }
    if let Some(e) = top.get("early_termination") {
        read_policy(sink, e, &mut part);
    }
    if let Some(i) = top.get("inputs") {
        part.io.inputs = super::v2io::read_inputs(sink, i, path);
    }
    if let Some(o) = top.get("outputs") {
        part.io.outputs = super::v2io::read_outputs(sink, o);
    }
    match top.get("trial") {
        Some(t) => read_trial(sink, t, path, &mut part),
        None => sink.error(
            top.span,
            "the sweep job needs `trial`",
            Some("`trial: {command: python train.py --lr ${{search_space.lr}}, code: .}`".into()),
        ),
    }
    part.resume_from = read_resume_from(sink, &top);
    part.metric_pattern = super::metrics::read(sink, &top);
    part
}

fn read_policy(sink: &mut Sink, node: &Node, part: &mut SweepPart) {
    let Some(f) = fields(sink, node, "early_termination", POLICY_KEYS, &[]) else {
        return;
    };
    let Some((t, span)) = f.string(sink, "type") else {
        let hint = Some("bandit, median_stopping or truncation_selection".into());
        f.needs(sink, "type", "`early_termination` needs `type`", hint);
        return;
    };
    let kind = match t.to_ascii_lowercase().as_str() {
        "bandit" => "banditpolicy",
        "median_stopping" => "medianstoppingpolicy",
        "truncation_selection" => "truncationselectionpolicy",
        "none" | "no_termination" => "noterminationpolicy",
        _ => {
            let names = ["bandit", "median_stopping", "truncation_selection"];
            let hint = did_you_mean(&t, &names)
                .map_or_else(|| names.join(", "), |k| format!("did you mean `{k}`?"));
            sink.error(
                span,
                format!("unknown early termination type `{t}`"),
                Some(hint),
            );
            return;
        }
    };
    part.policy = read_policy_fields(sink, &f, kind, span);
}

/// Named argument keys of each v2 expression, in positional order: the v1 names, but the
/// bounds are spelled `min_value` and `max_value`; a choice has its `values`.
fn v2_args(e: &str) -> Vec<&'static str> {
    match expr::positional(e) {
        [] => vec!["values"],
        args => args
            .iter()
            .map(|a| match *a {
                "min" => "min_value",
                "max" => "max_value",
                a => a,
            })
            .collect(),
    }
}

fn read_space(sink: &mut Sink, node: &Node, part: &mut SweepPart) {
    let Some(map) = node.as_map() else {
        sink.wrong_type(node, "`search_space` should map names to expressions", None);
        part.params_broken = true;
        return;
    };
    if map.is_empty() {
        sink.error(node.span, "`search_space` is empty", None);
        part.params_broken = true;
    }
    let mut seen: Vec<(String, Span)> = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_text() else {
            sink.error(k.span, "parameter names must be plain names", None);
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            sink.error(
                k.span,
                format!("duplicate parameter `{name}`"),
                Some(format!("it is already defined at line {}", first.line)),
            );
            part.params_broken = true;
            continue;
        }
        seen.push((name.clone(), k.span));
        if !read_param(sink, &name, k.span, v, None, part) {
            part.params_broken = true;
        }
    }
}

/// Reads one v2 parameter (and, for nested choices, its conditional children). Returns
/// whether it was valid.
fn read_param(
    sink: &mut Sink,
    name: &str,
    name_span: Span,
    v: &Node,
    condition: Option<(usize, usize)>,
    part: &mut SweepPart,
) -> bool {
    // A bare scalar inside a nested option is a constant.
    if v.scalar().is_some() && condition.is_some() {
        let Some(val) = expr::choice_value(sink, v, name) else {
            return false;
        };
        part.params.push(ParamDraft {
            name: name.to_string(),
            name_span,
            domain: Domain::Choice { options: vec![val] },
            condition,
        });
        return true;
    }
    let all_keys = [
        "type",
        "values",
        "upper",
        "min_value",
        "max_value",
        "q",
        "mu",
        "sigma",
    ];
    let Some(f) = fields(sink, v, name, &all_keys, &[]) else {
        return false;
    };
    let Some((t, tspan)) = f.string(sink, "type") else {
        let hint = format!("one of {}", expr::EXPRESSIONS.join(", "));
        f.needs(
            sink,
            "type",
            format!("parameter `{name}` needs `type`"),
            Some(hint),
        );
        return false;
    };
    let Some(e) = expr::expression_name(sink, &t, tspan) else {
        return false;
    };
    let wanted = v2_args(e);
    let mut ok = true;
    for k in all_keys
        .iter()
        .filter(|k| **k != "type" && !wanted.contains(k))
    {
        if let Some(kn) = f.key_node(k) {
            sink.error(
                kn.span,
                format!("`{k}` does not apply to `{e}`"),
                Some(format!("`{e}` takes {}", wanted.join(", "))),
            );
            ok = false;
        }
    }
    let mut args = Vec::new();
    for k in &wanted {
        match f.get(k) {
            Some(n) => args.push(n),
            None => {
                sink.error(
                    f.span,
                    format!("`{e}` parameter `{name}` needs `{k}`"),
                    Some(format!("`{e}` takes {}", wanted.join(", "))),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return false;
    }
    let domain = if e != "choice" {
        expr::numeric(sink, name, e, &args)
    } else {
        let list = args[0];
        let Some(items) = list.as_seq() else {
            sink.wrong_type(list, format!("`values` of `{name}` should be a list"), None);
            return false;
        };
        if items.iter().any(|i| i.as_map().is_some()) {
            return read_nested(sink, name, name_span, items, list.span, condition, part);
        }
        let mut opts = Vec::new();
        for it in items {
            match expr::choice_value(sink, it, name) {
                Some(v) => opts.push((v, it.span)),
                None => ok = false,
            }
        }
        if !ok {
            return false;
        }
        expr::finish_choice(sink, name, opts, list.span)
    };
    let Some(domain) = domain else {
        return false;
    };
    part.params.push(ParamDraft {
        name: name.to_string(),
        name_span,
        domain,
        condition,
    });
    true
}

/// A choice whose options are mappings: the choice itself takes the option's index, and the
/// option's keys become `name.key` parameters that exist only when that option is drawn.
fn read_nested(
    sink: &mut Sink,
    name: &str,
    name_span: Span,
    items: &[Node],
    list_span: Span,
    condition: Option<(usize, usize)>,
    part: &mut SweepPart,
) -> bool {
    let mut ok = true;
    if items.is_empty() {
        sink.error(
            list_span,
            format!("`choice` for `{name}` has no options"),
            None,
        );
        return false;
    }
    let index = part.params.len();
    part.params.push(ParamDraft {
        name: name.to_string(),
        name_span,
        domain: Domain::Choice {
            options: (0..items.len() as i64).map(Value::Int).collect(),
        },
        condition,
    });
    for (o, item) in items.iter().enumerate() {
        let Some(entries) = item.as_map() else {
            sink.error(
                item.span,
                format!("options of `{name}` mix mappings and plain values"),
                Some("make every option a mapping".into()),
            );
            ok = false;
            continue;
        };
        for (k, child) in entries {
            let Some(key) = k.as_text() else {
                sink.error(k.span, "parameter names must be plain names", None);
                ok = false;
                continue;
            };
            ok &= read_param(
                sink,
                &format!("{name}.{key}"),
                k.span,
                child,
                Some((index, o)),
                part,
            );
        }
    }
    ok
}

fn read_trial(sink: &mut Sink, node: &Node, path: &Path, part: &mut SweepPart) {
    let Some(f): Option<Fields> = fields(
        sink,
        node,
        "trial",
        &["command", "code", "environment_variables", "environment"],
        &["resources", "distribution", "type", "inputs", "outputs"],
    ) else {
        return;
    };
    if let Some(cmd) = f.require(
        sink,
        "command",
        Some("e.g. `command: python train.py --lr ${{search_space.lr}}`".into()),
    ) {
        match cmd.as_str() {
            Some(text) => match split_command(text) {
                Ok(words) if !words.is_empty() => part.command = Some((words, cmd.span)),
                Ok(_) => sink.error(cmd.span, "`command` is empty", None),
                Err(e) => sink.error(cmd.span, format!("cannot split `command`: {e}"), None),
            },
            None => sink.wrong_type(cmd, "`command` should be a string", None),
        }
    }
    if let (Some(k), Some(env)) = (f.key_node("environment"), f.get("environment")) {
        super::v2io::environment_note(sink, k.span, env);
    }
    if let Some((code, span)) = f.string(sink, "code") {
        let base = path.parent().unwrap_or(Path::new("."));
        let dir = base.join(code.trim_start_matches("file:"));
        if !dir.is_dir() {
            sink.error(
                span,
                format!("`code` directory `{}` does not exist", dir.display()),
                Some("it is relative to this file".into()),
            );
        }
        part.code = Some(dir);
    }
    if let Some(vars) = f.get("environment_variables") {
        match vars.as_map() {
            Some(entries) => {
                for (k, v) in entries {
                    if let Some(k) = k.as_text() {
                        part.environment.insert(k, v.as_text().unwrap_or_default());
                    }
                }
            }
            None => sink.wrong_type(vars, "`environment_variables` should be a mapping", None),
        }
    }
}

/// Splits a command line into words the way a POSIX shell would for plain words and
/// quotes (no expansion, no globbing, no operators): `'…'` is literal, `"…"` honours `\"`
/// and `\\`, a backslash outside quotes escapes the next character.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => cur.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split_command;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_command(
                r#"python train.py --lr ${{search_space.lr}} --name 'a b' "c \"d\"" e\ f"#
            )
            .unwrap(),
            [
                "python",
                "train.py",
                "--lr",
                "${{search_space.lr}}",
                "--name",
                "a b",
                "c \"d\"",
                "e f"
            ]
        );
        assert!(split_command("a 'b").is_err());
    }
}
