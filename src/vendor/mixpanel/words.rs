//! Mixpanel's plan changes in words: "rollout 10% → 50% in group 2", "variant `on` added
//! (50%)", "test user `ann` added: variant `on`" (`render::plan::ChangeWords` for its
//! `MixpanelField`, `FlagWords` for its `MixpanelFlag`).
//!
//! Every name and value from the plan is escaped for the output it is for ([`Inline`]): names
//! in backticks (a code span in markdown), values as JSON. Rollout groups are numbered from 1
//! as in the plan's changes.

use serde_json::Value;

use super::diff::MixpanelField;
use super::flag::{DEFAULT_CONTEXT, MixpanelFlag};
use super::spec::{RolloutGroup, ServingMethod};
use crate::model::Percent;
use crate::plan::{Change, ChangeOp, Step, to_value};
use crate::render::escape::Inline;
use crate::render::plan::{ChangeWords, Described, FlagWords, Risk};

impl ChangeWords for MixpanelField {
    fn describe(change: &Change<MixpanelField>, to: Inline) -> Described {
        Described::one(describe(change, to))
    }
}

impl FlagWords for MixpanelFlag {
    fn created(&self, to: Inline) -> Vec<Described> {
        created(self, to).into_iter().map(Described::one).collect()
    }

    fn risks(step: &Step<Self>, to: Inline) -> Vec<Risk> {
        super::risk::risks(step, to)
    }
}

/// A value as JSON (a string in quotes), escaped for `out`; `none` when absent.
fn opt(value: Option<&Value>, out: Inline) -> String {
    match value {
        None | Some(Value::Null) => "none".to_owned(),
        Some(v) => out.value(&v.to_string()),
    }
}

fn percent(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_f64)
        .map_or_else(|| "none".to_owned(), |p| Percent(p).to_string())
}

/// Whom a group targets, without its rollout: `everyone`, `users where rule {…}`.
pub(super) fn whom(group: &RolloutGroup, out: Inline) -> String {
    let mut filters = Vec::new();
    if let Some(rule) = &group.runtime_evaluation_rule {
        filters.push(format!("rule {}", out.value(&rule.to_string())));
    }
    if let Some(definition) = &group.runtime_evaluation_definition {
        filters.push(format!(
            "properties {}",
            out.value(&to_value(definition).to_string())
        ));
    }
    if let Some(event) = &group.runtime_event_rule {
        filters.push(format!(
            "event {} was performed",
            out.name(&event.event_name)
        ));
    }
    if let Some(cohort) = &group.cohort_definition {
        filters.push(format!("cohort {}", out.value(&cohort.to_string())));
    }
    if filters.is_empty() {
        "everyone".to_owned()
    } else {
        format!("users where {}", filters.join(" and "))
    }
}

/// A rollout group in words: `25% of users where rule {…}, variant `on``.
pub(super) fn group(group: &RolloutGroup, out: Inline) -> String {
    let mut text = format!("{} of {}", group.rollout_percentage, whom(group, out));
    if let Some(name) = &group.name {
        text = format!("{} {text}", out.name(name));
    }
    if let Some(over) = &group.variant_override {
        text = format!("{text}, variant {}", out.name(&over.key));
    }
    text
}

fn group_value(value: Option<&Value>, out: Inline) -> String {
    value
        .and_then(|v| serde_json::from_value::<RolloutGroup>(v.clone()).ok())
        .map_or_else(|| opt(value, out), |g| group(&g, out))
}

fn splits(value: Option<&Value>, out: Inline) -> String {
    let Some(Value::Object(map)) = value.filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    else {
        return "none".to_owned();
    };
    map.iter()
        .map(|(k, v)| format!("{} {}", out.name(k), percent(Some(v))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A change in words, escaped for `out`.
fn describe(change: &Change<MixpanelField>, out: Inline) -> String {
    let before = change.before.as_ref();
    let after = change.after.as_ref();
    let name = out.name(change.item.as_deref().unwrap_or(""));
    let n = change.condition.unwrap_or(0);
    let place = match change.previous_condition {
        Some(was) => format!("{n} (was {was})"),
        None => n.to_string(),
    };
    let attribute = change.attribute.as_deref().unwrap_or("");
    match (change.field, change.op) {
        (MixpanelField::Status, _) => {
            let verb = after.and_then(Value::as_str).unwrap_or("?");
            format!(
                "{} (status {} → {})",
                out.text(verb),
                opt(before, out),
                opt(after, out)
            )
        }
        (MixpanelField::Tags, ChangeOp::Added) => format!("tag {name} added"),
        (MixpanelField::Tags, _) => format!("tag {name} removed"),
        (MixpanelField::Variants, ChangeOp::Added) => format!(
            "variant {name} added ({}): {}",
            percent(after.and_then(|v| v.get("split"))),
            opt(after.and_then(|v| v.get("value")), out)
        ),
        (MixpanelField::Variants, ChangeOp::Removed) => format!("variant {name} removed"),
        (MixpanelField::Variants, _) if attribute == "split" => format!(
            "variant {name} split {} → {}",
            percent(before),
            percent(after)
        ),
        (MixpanelField::Variants, _) => format!(
            "variant {name} {} {} → {}",
            out.text(attribute),
            opt(before, out),
            opt(after, out)
        ),
        (MixpanelField::Rollout, ChangeOp::Added) => {
            format!("rollout group {place} added: {}", group_value(after, out))
        }
        (MixpanelField::Rollout, ChangeOp::Removed) => {
            format!(
                "rollout group {place} removed: {}",
                group_value(before, out)
            )
        }
        (MixpanelField::Rollout, _) => match attribute {
            "position" => format!(
                "rollout group {} moved to {n}: {}",
                change.previous_condition.unwrap_or(0),
                group_value(after, out)
            ),
            "rollout_percentage" => format!(
                "rollout {} → {} in group {place}",
                percent(before),
                percent(after)
            ),
            "variant_splits" => format!(
                "variant splits {} → {} in group {place}",
                splits(before, out),
                splits(after, out)
            ),
            other => format!(
                "{} {} → {} in group {place}",
                out.text(other),
                opt(before, out),
                opt(after, out)
            ),
        },
        (MixpanelField::TestUsers, ChangeOp::Added) => {
            format!("test user {name} added: variant {}", opt(after, out))
        }
        (MixpanelField::TestUsers, ChangeOp::Removed) => {
            format!(
                "test user {name} removed (was variant {})",
                opt(before, out)
            )
        }
        (MixpanelField::TestUsers, _) => format!(
            "test user {name} variant {} → {}",
            opt(before, out),
            opt(after, out)
        ),
        (field, _) => format!(
            "{} {} → {}",
            field.as_str(),
            opt(before, out),
            opt(after, out)
        ),
    }
}

/// The lines describing a new flag: its non-default fields in words.
fn created(flag: &MixpanelFlag, to: Inline) -> Vec<String> {
    let mut out = Vec::new();
    let value = |v: &Value| to.value(&v.to_string());
    if flag.name != flag.key {
        out.push(format!("name {}", value(&Value::String(flag.name.clone()))));
    }
    out.push(format!("status {}", value(&to_value(&flag.status))));
    if let Some(d) = &flag.description {
        out.push(format!("description {}", value(&Value::String(d.clone()))));
    }
    if !flag.tags.is_empty() {
        let tags: Vec<String> = flag.tags.iter().map(|t| to.name(t)).collect();
        out.push(format!("tags {}", tags.join(", ")));
    }
    if flag.context != DEFAULT_CONTEXT {
        out.push(format!("context {}", to.name(&flag.context)));
    }
    if flag.serving_method != ServingMethod::default() {
        out.push(format!(
            "serving_method {}",
            value(&to_value(&flag.serving_method))
        ));
    }
    let optional = [
        ("data_group_id", to_value(&flag.data_group_id)),
        ("experiment_id", to_value(&flag.experiment_id)),
        ("is_experiment_active", to_value(&flag.is_experiment_active)),
        ("hash_salt", to_value(&flag.hash_salt)),
    ];
    for (name, v) in optional {
        if !v.is_null() {
            out.push(format!("{name} {}", value(&v)));
        }
    }
    for v in &flag.variants {
        let control = if v.is_control { " (control)" } else { "" };
        out.push(format!(
            "variant {} {}{control}: {}",
            to.name(&v.key),
            v.split,
            to.value(v.value.as_str())
        ));
    }
    if flag.rollout.is_empty() {
        out.push("no rollout groups (serves no one)".to_owned());
    }
    for (i, g) in flag.rollout.iter().enumerate() {
        out.push(format!("rollout group {}: {}", i + 1, group(g, to)));
    }
    for (user, variant) in &flag.test_users {
        out.push(format!(
            "test user {}: variant {}",
            to.name(user),
            to.name(variant)
        ));
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::model::VendorFlag;
    use crate::plan::{Action, LiveSnapshot};
    use crate::vendor::mixpanel::tests::flag;

    fn said(before: Value, after: Value) -> Vec<String> {
        let (b, a) = (flag(before).normalized(), flag(after).normalized());
        MixpanelFlag::diff(&b, &a)
            .iter()
            .map(|c| MixpanelField::describe(c, Inline::Terminal).headline)
            .collect()
    }

    pub(in crate::vendor::mixpanel) fn step(
        action: Action,
        live: Option<Value>,
        desired: Option<Value>,
    ) -> Step<MixpanelFlag> {
        let live = live.map(|v| flag(v).normalized());
        let desired = desired.map(|v| flag(v).normalized());
        let changes = match (&live, &desired) {
            (Some(l), Some(d)) => MixpanelFlag::diff(l, d),
            _ => Vec::new(),
        };
        Step {
            level: 0,
            action,
            key: "a".into(),
            reason: None,
            changes,
            live: live.map(|flag| LiveSnapshot {
                id: "1".into(),
                token: None,
                fingerprint: String::new(),
                flag,
            }),
            desired,
            masked_payloads: BTreeMap::new(),
        }
    }

    #[test]
    fn changes_read_in_words() {
        let rule = json!({"==": [{"var": "plan"}, "premium"]});
        let before = json!({"key": "a", "tags": ["old"], "test_users": {"ann": "off", "bob": "on"},
            "variants": [{"key": "off", "value": false, "split": 50, "is_control": true}, {"key": "on", "value": true, "split": 50}],
            "rollout": [{"rollout_percentage": 10}, {"rollout_percentage": 5}]});
        let after = json!({"key": "a", "status": "enabled", "tags": ["new"], "context": "device_id",
            "test_users": {"bob": "off", "cy": "on"},
            "variants": [{"key": "off", "value": false, "split": 40, "is_control": true}, {"key": "on", "value": "yes", "split": 60}],
            "rollout": [{"rollout_percentage": 20}, {"rollout_percentage": 5, "variant_splits": {"off": 0, "on": 100}},
                        {"name": "Premium", "rollout_percentage": 100, "runtime_evaluation_rule": rule}]});
        assert_eq!(
            said(before, after),
            vec![
                "enabled (status \"disabled\" → \"enabled\")",
                "context \"distinct_id\" → \"device_id\"",
                "tag `old` removed",
                "tag `new` added",
                "variant `off` split 50% → 40%",
                "variant `on` value true → \"yes\"",
                "variant `on` split 50% → 60%",
                "rollout 10% → 20% in group 1",
                "variant splits `off` 50%, `on` 50% → `off` 40%, `on` 60% in group 1",
                "variant splits `off` 50%, `on` 50% → `off` 0%, `on` 100% in group 2",
                "rollout group 3 added: `Premium` 100% of users where rule {\"==\":[{\"var\":\"plan\"},\"premium\"]}",
                "test user `ann` removed (was variant \"off\")",
                "test user `bob` variant \"on\" → \"off\"",
                "test user `cy` added: variant \"on\"",
            ]
        );
        let g = |p: u32| json!({"rollout_percentage": p, "runtime_event_rule": {"event_name": "Signed up"}});
        assert_eq!(
            said(
                json!({"key": "a", "hash_salt": "s".repeat(32), "rollout": [g(1), g(2)],
                    "variants": [{"key": "x", "value": 1, "split": 100}]}),
                json!({"key": "a", "hash_salt": "t".repeat(32), "rollout": [g(2), g(1)],
                    "variants": [{"key": "x", "value": 1, "split": 100}]})
            ),
            vec![
                format!("hash_salt \"{}\" → \"{}\"", "s".repeat(32), "t".repeat(32)),
                "rollout group 2 moved to 1: 2% of users where event `Signed up` was performed"
                    .to_owned(),
            ]
        );
        assert_eq!(
            said(
                json!({"key": "a", "rollout": [{"rollout_percentage": 1, "cohort_definition": {"id": 1}}]}),
                json!({"key": "a", "status": "archived", "variants": [{"key": "x", "value": 1, "split": 100}]})
            ),
            vec![
                "archived (status \"disabled\" → \"archived\")",
                "variant `x` added (100%): 1",
                "rollout group 1 removed: 1% of users where cohort {\"id\":1}",
            ]
        );
    }

    #[test]
    fn names_and_values_are_escaped() {
        let before = flag(json!({"key": "a"})).normalized();
        let after =
            flag(json!({"key": "a", "tags": ["x`y\u{1b}[31m"], "name": "**b**"})).normalized();
        let changes = MixpanelFlag::diff(&before, &after);
        let md: Vec<String> = changes
            .iter()
            .map(|c| MixpanelField::describe(c, Inline::Markdown).headline)
            .collect();
        let term: Vec<String> = changes
            .iter()
            .map(|c| MixpanelField::describe(c, Inline::Terminal).headline)
            .collect();
        assert!(term.iter().all(|l| !l.contains('\u{1b}')), "{term:?}");
        assert_eq!(md[0], "name `\"a\"` → `\"**b**\"`");
        assert!(md[1].starts_with("tag ``"), "{md:?}");
    }

    #[test]
    fn a_new_flag_reads_in_words() {
        let f = flag(
            json!({"key": "a", "name": "A", "status": "enabled", "tags": ["t"],
            "context": "account_id", "serving_method": "server", "data_group_id": 3,
            "variants": [{"key": "off", "value": false, "split": 0, "is_control": true}, {"key": "on", "value": true, "split": 100}],
            "rollout": [{"rollout_percentage": 25, "runtime_evaluation_rule": {"in": [{"var": "country"}, ["fr", "de"]]},
                         "variant_override": {"key": "on"}}],
            "test_users": {"qa": "on"}}),
        );
        let lines: Vec<String> = f
            .created(Inline::Terminal)
            .into_iter()
            .map(|d| d.headline)
            .collect();
        assert_eq!(
            lines,
            vec![
                "name \"A\"",
                "status \"enabled\"",
                "tags `t`",
                "context `account_id`",
                "serving_method \"server\"",
                "data_group_id 3",
                "variant `off` 0% (control): false",
                "variant `on` 100%: true",
                "rollout group 1: 25% of users where rule {\"in\":[{\"var\":\"country\"},[\"fr\",\"de\"]]}, variant `on`",
                "test user `qa`: variant `on`",
            ]
        );
        let short: Vec<String> = flag(json!({"key": "a"}))
            .created(Inline::Terminal)
            .into_iter()
            .map(|d| d.headline)
            .collect();
        assert_eq!(
            short,
            vec!["status \"disabled\"", "no rollout groups (serves no one)"]
        );
    }
}
