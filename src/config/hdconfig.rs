//! The HyperDrive CLI v1 format (`hdconfig.yml`, as `az ml run submit-hyperdrive` reads it):
//! `sampling`, `policy`, `primary_metric_*`, `max_*`, read into a [`SweepPart`].

use super::diag::{did_you_mean, Sink};
use super::expr;
use super::fields::{describe, fields, Fields};
use super::yaml::{Node, Span};
use super::{ParamDraft, SweepPart};
use crate::spec::{Goal, PolicyKind, RandomRule, Sampling};

const TOP: &[&str] = &[
    "sampling",
    "policy",
    "primary_metric_name",
    "primary_metric_goal",
    "max_total_runs",
    "max_concurrent_runs",
    "max_duration_minutes",
    "resume_from",
    "resume_child_runs",
    "metrics",
];
/// HyperDrive settings that are legal but mean nothing for a local scheduler.
const TOP_INERT: &[&str] = &[
    "description",
    "tags",
    "properties",
    "debug_flag",
    "platform_config",
];

/// Reads a v1 document.
pub fn read(sink: &mut Sink, root: &Node) -> SweepPart {
    let mut part = SweepPart::default();
    let Some(top) = fields(sink, root, "hdconfig", TOP, TOP_INERT) else {
        return part;
    };
    match top.require(
        sink,
        "sampling",
        Some("add `sampling: {type: random, parameter_space: [...]}`".into()),
    ) {
        Some(s) => read_sampling(sink, s, &mut part),
        None => part.params_broken = true,
    }
    if let Some(p) = top.get("policy") {
        read_policy(sink, p, &mut part);
    }
    part.primary_metric = top.string(sink, "primary_metric_name");
    top.needs(
        sink,
        "primary_metric_name",
        "`hdconfig` needs `primary_metric_name`",
        Some("name the metric your script reports, e.g. `primary_metric_name: accuracy`".into()),
    );
    part.goal = read_goal(sink, &top, "primary_metric_goal");
    top.needs(
        sink,
        "primary_metric_goal",
        "`hdconfig` needs `primary_metric_goal`",
        Some("`Maximize` or `Minimize`".into()),
    );
    part.max_total = top.positive(sink, "max_total_runs");
    let hint = "write how many runs the sweep may launch, or leave the key out (a grid then runs every point)";
    part.max_total_given =
        top.has("max_total_runs") || top.reject_empty(sink, "max_total_runs", Some(hint.into()));
    part.max_concurrent = top.positive(sink, "max_concurrent_runs");
    part.max_minutes = top.positive_number(sink, "max_duration_minutes", "");
    part.resume_from = read_resume_from(sink, &top);
    part.resume_child_runs = read_list(sink, &top, "resume_child_runs");
    part.metric_pattern = super::metrics::read(sink, &top);
    part
}

/// `resume_from`: a sweep id or name, or a list of them.
pub fn read_resume_from(sink: &mut Sink, f: &Fields) -> Vec<String> {
    read_list(sink, f, "resume_from")
}

/// A text or a list of texts.
fn read_list(sink: &mut Sink, f: &Fields, key: &str) -> Vec<String> {
    match f.get(key) {
        None => Vec::new(),
        Some(n) if n.as_seq().is_some() => f
            .text_list(sink, key)
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        Some(_) => f.text(sink, key).map(|(s, _)| vec![s]).unwrap_or_default(),
    }
}

/// `Maximize`/`Minimize`, any case.
pub fn read_goal(sink: &mut Sink, f: &Fields, key: &str) -> Option<(Goal, Span)> {
    let (g, span) = f.string(sink, key)?;
    match g.to_ascii_lowercase().as_str() {
        "maximize" | "max" => Some((Goal::Maximize, span)),
        "minimize" | "min" => Some((Goal::Minimize, span)),
        _ => {
            sink.error(
                span,
                format!("`{key}` must be Maximize or Minimize, got `{g}`"),
                None,
            );
            None
        }
    }
}

fn read_sampling(sink: &mut Sink, node: &Node, part: &mut SweepPart) {
    let Some(s) = fields(
        sink,
        node,
        "sampling",
        &["type", "parameter_space", "rule", "seed"],
        &["properties"],
    ) else {
        part.params_broken = true;
        return;
    };
    let ty = s.string(sink, "type");
    s.needs(
        sink,
        "type",
        "`sampling` needs `type`",
        Some("random, grid or bayesian".into()),
    );
    let rule = s.string(sink, "rule");
    part.sampling = ty.and_then(|(t, span)| sampling_type(sink, &t, span, rule.as_ref()));
    if let (Some((_, span)), Some((samp, _))) = (&rule, &part.sampling) {
        if !matches!(samp, Sampling::Random { .. }) {
            sink.error(*span, "`rule` applies only to random sampling", None);
        }
    }
    part.seed = read_seed(sink, &s);
    match s.require(
        sink,
        "parameter_space",
        Some("list the parameters to tune".into()),
    ) {
        Some(space) => read_space(sink, space, part),
        None => part.params_broken = true,
    }
}

/// `seed`: a non-negative integer.
pub fn read_seed(sink: &mut Sink, f: &Fields) -> Option<u64> {
    f.integer_at_least(sink, "seed", 0).map(|(seed, _)| seed)
}

/// A sampling type name, with the optional `rule` of random sampling.
pub fn sampling_type(
    sink: &mut Sink,
    t: &str,
    span: Span,
    rule: Option<&(String, Span)>,
) -> Option<(Sampling, Span)> {
    let s = match t.to_ascii_lowercase().as_str() {
        "grid" => Sampling::Grid,
        "bayesian" => Sampling::Bayesian,
        "random" => {
            let rule = match rule.map(|(r, s)| (r.to_ascii_lowercase(), *s)) {
                None => RandomRule::Plain,
                Some((r, _)) if r == "random" || r == "plain" => RandomRule::Plain,
                Some((r, _)) if r == "sobol" => RandomRule::Sobol,
                Some((r, rs)) => {
                    sink.error(
                        rs,
                        format!("unknown random rule `{r}`"),
                        Some("`sobol` or `random`".into()),
                    );
                    RandomRule::Plain
                }
            };
            Sampling::Random { rule }
        }
        "sobol" => Sampling::Random {
            rule: RandomRule::Sobol,
        },
        _ => {
            let known = ["random", "grid", "bayesian"];
            let hint = match did_you_mean(t, &known) {
                Some(k) => format!("did you mean `{k}`?"),
                None => "random, grid or bayesian".into(),
            };
            sink.error(span, format!("unknown sampling type `{t}`"), Some(hint));
            return None;
        }
    };
    Some((s, span))
}

fn read_space(sink: &mut Sink, node: &Node, part: &mut SweepPart) {
    let Some(items) = node.as_seq() else {
        sink.wrong_type(
            node,
            "`parameter_space` should be a list of parameters",
            Some(
                "each item: `- name: --lr` / `expression: uniform` / `values: [0.01, 0.1]`".into(),
            ),
        );
        part.params_broken = true;
        return;
    };
    if items.is_empty() {
        sink.error(
            node.span,
            "`parameter_space` is empty",
            Some("list at least one parameter".into()),
        );
        part.params_broken = true;
    }
    for item in items {
        let Some(f) = fields(
            sink,
            item,
            "parameter",
            &["name", "expression", "values"],
            &[],
        ) else {
            part.params_broken = true;
            continue;
        };
        let name = f
            .text(sink, "name")
            .filter(|(n, span)| expr::passable(sink, *span, "the parameter name", n));
        f.needs(
            sink,
            "name",
            "parameter needs `name`",
            Some("e.g. `name: --learning_rate`".into()),
        );
        let expr_name = match f.string(sink, "expression") {
            Some((e, span)) => expr::expression_name(sink, &e, span),
            None => {
                let hint = format!("one of {}", expr::EXPRESSIONS.join(", "));
                f.needs(
                    sink,
                    "expression",
                    "parameter needs `expression`",
                    Some(hint),
                );
                None
            }
        };
        let values = f.get("values");
        if values.is_none() {
            sink.error(
                f.key_node("values").map_or(f.span, |k| k.span),
                format!(
                    "parameter `{}` needs `values`",
                    name.as_ref().map_or("?", |n| n.0.as_str())
                ),
                expr_name.map(|e| format!("the arguments of {e}: [{}]", arg_names(e))),
            );
        }
        let (Some((name, name_span)), Some(e), Some(values)) = (name, expr_name, values) else {
            part.params_broken = true;
            continue;
        };
        match domain_from_values(sink, &name, e, values) {
            Some(domain) => part.params.push(ParamDraft {
                name,
                name_span,
                domain,
                condition: None,
            }),
            None => part.params_broken = true,
        }
    }
}

fn arg_names(e: &str) -> String {
    if e == "choice" {
        "v1, v2, ...".into()
    } else {
        expr::positional(e).join(", ")
    }
}

fn domain_from_values(
    sink: &mut Sink,
    name: &str,
    e: &'static str,
    values: &Node,
) -> Option<crate::space::Domain> {
    let Some(items) = values.as_seq() else {
        sink.error(
            values.span,
            format!(
                "`values` of `{name}` should be a list, found {}",
                describe(values)
            ),
            Some(format!("write `values: [{}]`", arg_names(e))),
        );
        return None;
    };
    if e == "choice" {
        let mut opts = Vec::new();
        let mut ok = true;
        for it in items {
            match expr::choice_value(sink, it, name) {
                Some(v) => opts.push((v, it.span)),
                None => ok = false,
            }
        }
        return if ok {
            expr::finish_choice(sink, name, opts, values.span)
        } else {
            None
        };
    }
    let want = expr::positional(e);
    if items.len() != want.len() {
        sink.error(
            values.span,
            format!(
                "`{e}` takes {} value{} [{}], `{name}` has {}",
                want.len(),
                if want.len() == 1 { "" } else { "s" },
                want.join(", "),
                items.len()
            ),
            Some(match e {
                "randint" => "randint(upper) draws integers in [0, upper)".to_string(),
                _ => format!("write `values: [{}]`", want.join(", ")),
            }),
        );
        return None;
    }
    let args: Vec<&Node> = items.iter().collect();
    expr::numeric(sink, name, e, &args)
}

/// The keys of a policy section, the same in both formats.
pub const POLICY_KEYS: &[&str] = &[
    "type",
    "evaluation_interval",
    "delay_evaluation",
    "slack_factor",
    "slack_amount",
    "truncation_percentage",
];

fn read_policy(sink: &mut Sink, node: &Node, part: &mut SweepPart) {
    let mut keys = POLICY_KEYS.to_vec();
    keys.push("properties");
    let Some(p) = fields(sink, node, "policy", &keys, &["exclude_finished_jobs"]) else {
        return;
    };
    let kinds = [
        ("banditpolicy", "BanditPolicy"),
        ("medianstoppingpolicy", "MedianStoppingPolicy"),
        ("truncationselectionpolicy", "TruncationSelectionPolicy"),
        ("noterminationpolicy", "NoTerminationPolicy"),
    ];
    let Some((ty, span)) = p.string(sink, "type") else {
        let hint = kinds.map(|k| k.1).join(", ");
        p.needs(sink, "type", "`policy` needs `type`", Some(hint));
        return;
    };
    let norm: String = ty
        .to_ascii_lowercase()
        .chars()
        .filter(|c| *c != '_')
        .collect();
    let norm = match norm.as_str() {
        "bandit" => "banditpolicy".to_string(),
        "medianstopping" => "medianstoppingpolicy".to_string(),
        "truncationselection" => "truncationselectionpolicy".to_string(),
        "notermination" | "none" => "noterminationpolicy".to_string(),
        _ => norm,
    };
    let Some(&(kind, _)) = kinds.iter().find(|k| k.0 == norm) else {
        let names = kinds.map(|k| k.1);
        let hint = match did_you_mean(&ty, &names) {
            Some(k) => format!("did you mean `{k}`?"),
            None => names.join(", "),
        };
        sink.error(span, format!("unknown policy type `{ty}`"), Some(hint));
        return;
    };
    // The v1 documentation's form nests the numbers in `properties:`, as the SDK's
    // policy objects hold them; both forms are read.
    match p.get("properties") {
        Some(props) => {
            for k in &POLICY_KEYS[1..] {
                if let Some(kn) = p.key_node(k) {
                    sink.error(
                        kn.span,
                        format!("`{k}` is given beside `properties`"),
                        Some("put every policy number in `properties`, or none".into()),
                    );
                }
            }
            let Some(pf) = fields(sink, props, "policy.properties", &POLICY_KEYS[1..], &[]) else {
                return;
            };
            part.policy = read_policy_fields(sink, &pf, kind, span);
        }
        None => part.policy = read_policy_fields(sink, &p, kind, span),
    }
}

/// The policy's numbers, shared by the v1 and v2 formats (`kind` is the normalised v1 name).
pub fn read_policy_fields(
    sink: &mut Sink,
    p: &Fields,
    kind: &str,
    span: Span,
) -> Option<crate::spec::Policy> {
    let applies: &[&str] = match kind {
        "banditpolicy" => &["slack_factor", "slack_amount"],
        "truncationselectionpolicy" => &["truncation_percentage"],
        _ => &[],
    };
    for k in ["slack_factor", "slack_amount", "truncation_percentage"] {
        if !applies.contains(&k) {
            if let Some(kn) = p.key_node(k) {
                sink.error(
                    kn.span,
                    format!("`{k}` does not apply to this policy"),
                    Some("remove it, or change the policy type".into()),
                );
            }
        }
    }
    let interval = p
        .integer_at_least(sink, "evaluation_interval", 1)
        .map(|(v, _)| u32::try_from(v).unwrap_or(u32::MAX));
    let delay = p
        .integer_at_least(sink, "delay_evaluation", 0)
        .map(|(v, _)| u32::try_from(v).unwrap_or(u32::MAX));
    let kind = match kind {
        "banditpolicy" => {
            let f = p.number(sink, "slack_factor");
            let a = p.number(sink, "slack_amount");
            for (name, v) in [("slack_factor", f), ("slack_amount", a)] {
                if let Some((x, s)) = v {
                    if x < 0.0 {
                        sink.error(s, format!("`{name}` must not be negative, got {x}"), None);
                    }
                }
            }
            match (f, a) {
                (Some(_), Some((_, s))) => {
                    sink.error(
                        s,
                        "Bandit takes either `slack_factor` or `slack_amount`, not both",
                        Some("keep one".into()),
                    );
                    return None;
                }
                (None, None) if !p.has("slack_factor") && !p.has("slack_amount") => {
                    sink.error(
                        span,
                        "BanditPolicy needs `slack_factor` or `slack_amount`",
                        Some(
                            "e.g. `slack_factor: 0.1` cancels runs more than 10% behind the best"
                                .into(),
                        ),
                    );
                    return None;
                }
                (f, a) => PolicyKind::Bandit {
                    slack_factor: f.map(|x| x.0),
                    slack_amount: a.map(|x| x.0),
                },
            }
        }
        "medianstoppingpolicy" => PolicyKind::MedianStopping,
        "truncationselectionpolicy" => match p.integer(sink, "truncation_percentage") {
            Some((pct, s)) if !(1..=99).contains(&pct) => {
                sink.error(
                    s,
                    format!("`truncation_percentage` must be between 1 and 99, got {pct}"),
                    None,
                );
                return None;
            }
            Some((pct, _)) => PolicyKind::TruncationSelection {
                truncation_percentage: pct as u32,
            },
            None => {
                if !p.has("truncation_percentage") {
                    sink.error(
                        span,
                        "TruncationSelectionPolicy needs `truncation_percentage`",
                        Some("e.g. `truncation_percentage: 20`".into()),
                    );
                }
                return None;
            }
        },
        _ => PolicyKind::NoTermination,
    };
    Some(crate::spec::Policy {
        kind,
        evaluation_interval: interval.unwrap_or(1),
        delay_evaluation: delay.unwrap_or(0),
    })
}
