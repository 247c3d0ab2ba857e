//! PostHog's plan changes in words: "rollout 10% → 50% in condition 2", "variant `test`
//! added" (`render::plan::ChangeWords` for its `Field`, `FlagWords` for its `Flag`).
//!
//! Shared by the human and markdown renderings and the apply reports. Each function returns text without styling,
//! with every name and value from the plan escaped for the output it is for ([`Inline`]):
//! names in backticks (a code span in markdown), values as JSON. Payload changes come back as
//! several lines (a line diff of the pretty JSON), escaped for the terminal (markdown shows
//! them inside a code block).

use std::fmt::Write;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::model::Percent;
use crate::plan::{Change, ChangeOp, Field, MASK, Step};
use crate::render::escape::{Inline, terminal};
use crate::render::plan::{ChangeWords, Described, FlagWords, Risk};
use crate::vendor::posthog::{Condition, Flag, Property, PropertyType};

impl ChangeWords for Field {
    fn describe(change: &Change, to: Inline) -> Described {
        describe_for(change, to)
    }
}

impl FlagWords for Flag {
    fn created(&self, to: Inline) -> Vec<Described> {
        created(self, to)
    }

    fn risks(step: &Step, to: Inline) -> Vec<Risk> {
        super::risk::risks(step, to)
    }
}

/// A value as JSON (a string in quotes), escaped for `out`.
fn json(value: &Value, out: Inline) -> String {
    out.value(&value.to_string())
}

fn opt(value: Option<&Value>, out: Inline) -> String {
    match value {
        None | Some(Value::Null) => "none".to_owned(),
        Some(v) => json(v, out),
    }
}

fn percent(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_f64)
        .map_or_else(|| "100%".to_owned(), |p| Percent(p).to_string())
}

fn aggregation(value: Option<&Value>) -> String {
    match value.and_then(Value::as_u64) {
        None => "persons".to_owned(),
        Some(i) => format!("group type {i}"),
    }
}

/// A property filter in words: `` `email` icontains "@example.com" ``, `` flag `b` is true ``.
pub(crate) fn property(p: &Property, out: Inline) -> String {
    let value = p.value.as_ref();
    let not = if p.negation == Some(true) { "not " } else { "" };
    let op = p.effective_operator().as_str();
    let text = match p.kind {
        PropertyType::Flag => {
            let target = out.name(p.flag.as_deref().unwrap_or("?"));
            if op == "flag_evaluates_to" {
                format!("flag {target} is {}", opt(value, out))
            } else {
                format!("flag {target} {op} {}", opt(value, out))
            }
        }
        PropertyType::Cohort => format!("cohort {op} {}", opt(value, out)),
        PropertyType::Group => {
            // The group type is the condition's aggregation, shown with the condition.
            let key = out.name(p.key.as_deref().unwrap_or("?"));
            format!("group property {key} {op} {}", opt(value, out))
        }
        PropertyType::Person | PropertyType::PersonMetadata => {
            let key = out.name(p.key.as_deref().unwrap_or("?"));
            if matches!(op, "is_set" | "is_not_set") {
                format!("{key} {op}")
            } else {
                format!("{key} {op} {}", opt(value, out))
            }
        }
    };
    format!("{not}{text}")
}

fn property_value(value: Option<&Value>, out: Inline) -> String {
    value
        .and_then(|v| serde_json::from_value::<Property>(v.clone()).ok())
        .map_or_else(|| opt(value, out), |p| property(&p, out))
}

/// A condition in words: `10% where `email` icontains "x" and flag `b` …`.
pub(crate) fn condition(c: &Condition, out: Inline) -> String {
    let rollout = Flag::rollout(c);
    let mut text = if c.properties.is_empty() {
        format!("{rollout} of everyone")
    } else {
        let props: Vec<String> = c.properties.iter().map(|p| property(p, out)).collect();
        format!("{rollout} where {}", props.join(" and "))
    };
    if let Some(i) = c.aggregation_group_type_index {
        let _ = write!(text, " (groups of type {i})");
    }
    if let Some(v) = &c.variant {
        let _ = write!(text, ", variant {}", out.name(v));
    }
    text
}

fn condition_value(value: Option<&Value>, out: Inline) -> String {
    value
        .and_then(|v| serde_json::from_value::<Condition>(v.clone()).ok())
        .map_or_else(|| opt(value, out), |c| condition(&c, out))
}

/// Pretty JSON lines of a payload value.
fn pretty_lines(value: &Value) -> Vec<String> {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A payload value, one line if it is short.
pub(crate) fn payload_value(value: &Value, out: Inline) -> String {
    if value.as_str() == Some(MASK) {
        return MASK.to_owned();
    }
    out.value(&value.to_string())
}

fn payload(change: &Change, item: &str, out: Inline) -> Described {
    let name = out.name(item);
    let masked = [&change.before, &change.after]
        .into_iter()
        .flatten()
        .any(|v| v.as_str() == Some(MASK));
    let verb = match change.op {
        ChangeOp::Added => "added",
        ChangeOp::Removed => "removed",
        ChangeOp::Changed => "changed",
    };
    if masked {
        return Described {
            headline: format!("payload {name} {verb} (sensitive value, not shown)"),
            lines: Vec::new(),
        };
    }
    let before = change
        .before
        .as_ref()
        .map(pretty_lines)
        .unwrap_or_default()
        .join("\n");
    let after = change
        .after
        .as_ref()
        .map(pretty_lines)
        .unwrap_or_default()
        .join("\n");
    let before = if before.is_empty() {
        String::new()
    } else {
        format!("{before}\n")
    };
    let after = if after.is_empty() {
        String::new()
    } else {
        format!("{after}\n")
    };
    let diff = TextDiff::from_lines(&before, &after);
    let lines = diff
        .iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            format!(
                "{sign} {}",
                terminal::text(c.value().trim_end_matches('\n'))
            )
        })
        .collect();
    Described {
        headline: format!("payload {name} {verb}:"),
        lines,
    }
}

fn one(headline: String) -> Described {
    Described::one(headline)
}

/// A change in words, escaped for `out`.
pub(crate) fn describe_for(change: &Change, out: Inline) -> Described {
    let before = change.before.as_ref();
    let after = change.after.as_ref();
    let item = change.item.as_deref().unwrap_or("");
    let n = change.condition.unwrap_or(0);
    // A condition that moved is named by its new number, with its old one.
    let place = match change.previous_condition {
        Some(was) => format!("{n} (was {was})"),
        None => n.to_string(),
    };
    let attribute = change.attribute.as_deref().unwrap_or("");
    let name = out.name(item);
    match (change.field, change.op) {
        (Field::Active, _) => one(if after == Some(&Value::Bool(true)) {
            "enabled (active false → true)".to_owned()
        } else {
            "disabled (active true → false)".to_owned()
        }),
        (Field::Tags, ChangeOp::Added) => one(format!("tag {name} added")),
        (Field::Tags, _) => one(format!("tag {name} removed")),
        (Field::EvaluationContexts, ChangeOp::Added) => {
            one(format!("evaluation context {name} added"))
        }
        (Field::EvaluationContexts, _) => one(format!("evaluation context {name} removed")),
        (Field::Conditions, ChangeOp::Added) if attribute == "properties" => one(format!(
            "property {} added to condition {place}: {}",
            change.property.unwrap_or(0),
            property_value(after, out)
        )),
        (Field::Conditions, ChangeOp::Removed) if attribute == "properties" => one(format!(
            "property {} removed from condition {place}: {}",
            change.property.unwrap_or(0),
            property_value(before, out)
        )),
        (Field::Conditions, ChangeOp::Changed) if attribute == "properties" => one(format!(
            "property {} of condition {place}: {} → {}",
            change.property.unwrap_or(0),
            property_value(before, out),
            property_value(after, out)
        )),
        (Field::Conditions, ChangeOp::Added) => one(format!(
            "condition {place} added: {}",
            condition_value(after, out)
        )),
        (Field::Conditions, ChangeOp::Removed) => one(format!(
            "condition {place} removed: {}",
            condition_value(before, out)
        )),
        (Field::Conditions, ChangeOp::Changed) if attribute == "position" => one(format!(
            "condition {} moved to {n}: {}",
            change.previous_condition.unwrap_or(0),
            condition_value(after, out)
        )),
        (Field::Conditions, ChangeOp::Changed) => one(match attribute {
            "rollout_percentage" => {
                format!(
                    "rollout {} → {} in condition {place}",
                    percent(before),
                    percent(after)
                )
            }
            "variant" => format!(
                "forced variant {} → {} in condition {place}",
                opt(before, out),
                opt(after, out)
            ),
            "aggregation_group_type_index" => format!(
                "aggregation {} → {} in condition {place}",
                aggregation(before),
                aggregation(after)
            ),
            other => format!(
                "{} {} → {} in condition {place}",
                out.text(other),
                opt(before, out),
                opt(after, out)
            ),
        }),
        (Field::Variants, ChangeOp::Added) => {
            let share = after.and_then(|v| v.get("rollout_percentage"));
            one(format!("variant {name} added ({})", percent(share)))
        }
        (Field::Variants, ChangeOp::Removed) => one(format!("variant {name} removed")),
        (Field::Variants, ChangeOp::Changed) => one(match attribute {
            "order" => format!(
                "variant order {} → {}",
                key_list(before, out),
                key_list(after, out)
            ),
            "rollout_percentage" => {
                format!(
                    "variant {name} rollout {} → {}",
                    percent(before),
                    percent(after)
                )
            }
            other => format!(
                "variant {name} {} {} → {}",
                out.text(other),
                opt(before, out),
                opt(after, out)
            ),
        }),
        (Field::Payloads, _) => payload(change, item, out),
        (Field::Holdout, _) => one(format!(
            "holdout {} → {}",
            holdout_value(before),
            holdout_value(after)
        )),
        (Field::AggregationGroupTypeIndex, _) => one(format!(
            "aggregation {} → {}",
            aggregation(before),
            aggregation(after)
        )),
        (field, _) => one(format!(
            "{} {} → {}",
            field.as_str(),
            opt(before, out),
            opt(after, out)
        )),
    }
}

fn holdout_text(h: &crate::vendor::posthog::Holdout) -> String {
    format!("{} ({} excluded)", h.id, h.exclusion_percentage)
}

fn holdout_value(value: Option<&Value>) -> String {
    value
        .and_then(|v| serde_json::from_value::<crate::vendor::posthog::Holdout>(v.clone()).ok())
        .map_or_else(|| "none".to_owned(), |h| holdout_text(&h))
}

fn key_list(value: Option<&Value>, out: Inline) -> String {
    value
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(|k| out.name(k))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The lines describing a new flag: its non-default fields in words.
pub(crate) fn created(flag: &Flag, to: Inline) -> Vec<Described> {
    let mut out = Vec::new();
    if !flag.name.is_empty() {
        out.push(one(format!(
            "name {}",
            json(&Value::String(flag.name.clone()), to)
        )));
    }
    if !flag.active {
        out.push(one("disabled".to_owned()));
    }
    if flag.archived {
        out.push(one("archived".to_owned()));
    }
    if !flag.tags.is_empty() {
        let tags: Vec<String> = flag.tags.iter().map(|t| to.name(t)).collect();
        out.push(one(format!("tags {}", tags.join(", "))));
    }
    if !flag.evaluation_contexts.is_empty() {
        let ctx: Vec<String> = flag
            .evaluation_contexts
            .iter()
            .map(|t| to.name(t))
            .collect();
        out.push(one(format!("evaluation contexts {}", ctx.join(", "))));
    }
    if flag.conditions.is_empty() {
        out.push(one("no conditions (off for everyone)".to_owned()));
    }
    for (i, c) in flag.conditions.iter().enumerate() {
        out.push(one(format!("condition {}: {}", i + 1, condition(c, to))));
    }
    for v in &flag.variants {
        out.push(one(format!(
            "variant {} {}",
            to.name(&v.key),
            v.rollout_percentage
        )));
    }
    for (key, value) in &flag.payloads {
        out.push(one(format!(
            "payload {}: {}",
            to.name(key),
            payload_value(value, to)
        )));
    }
    if let Some(h) = &flag.holdout {
        out.push(one(format!("holdout {}", holdout_text(h))));
    }
    let switches = [
        ("early_exit", flag.early_exit),
        ("feature_enrollment", flag.feature_enrollment),
        (
            "ensure_experience_continuity",
            flag.ensure_experience_continuity,
        ),
        ("is_remote_configuration", flag.is_remote_configuration),
        ("has_encrypted_payloads", flag.has_encrypted_payloads),
    ];
    for (name, on) in switches {
        if on {
            out.push(one(format!("{name} true")));
        }
    }
    let defaults = Flag::default();
    if flag.evaluation_runtime != defaults.evaluation_runtime {
        out.push(one(format!(
            "evaluation_runtime {}",
            opt(Some(&crate::plan::to_value(&flag.evaluation_runtime)), to)
        )));
    }
    if flag.bucketing_identifier != defaults.bucketing_identifier {
        out.push(one(format!(
            "bucketing_identifier {}",
            opt(Some(&crate::plan::to_value(&flag.bucketing_identifier)), to)
        )));
    }
    out
}
