//! Mixpanel's field-level diff: the changes between two of its flags (both normalized), in
//! the vocabulary of `plan::Change`.
//!
//! Rollout groups are an ordered list, matched with a sequence diff (`plan::pairs`) and
//! numbered from 1 in `Change::condition`; a group replaced in place is described attribute
//! by attribute, a group that only moved is one change. Variants are matched by key, test
//! users by distinct id, tags are a set. `depends_on` is not compared: Mixpanel does not store
//! it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flag::MixpanelFlag;
use super::spec::{RolloutGroup, Variant};
use crate::plan::{ChangeOp, pairs, to_value};

/// Mixpanel's `Change`.
type Change = crate::plan::Change<MixpanelField>;

/// A top-level field of a Mixpanel flag, named as in flag files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum MixpanelField {
    Name,
    Description,
    Status,
    Tags,
    Context,
    ServingMethod,
    DataGroupId,
    ExperimentId,
    IsExperimentActive,
    HashSalt,
    Variants,
    Rollout,
    TestUsers,
}

impl MixpanelField {
    /// The field's name in flag files.
    pub fn as_str(self) -> &'static str {
        match self {
            MixpanelField::Name => "name",
            MixpanelField::Description => "description",
            MixpanelField::Status => "status",
            MixpanelField::Tags => "tags",
            MixpanelField::Context => "context",
            MixpanelField::ServingMethod => "serving_method",
            MixpanelField::DataGroupId => "data_group_id",
            MixpanelField::ExperimentId => "experiment_id",
            MixpanelField::IsExperimentActive => "is_experiment_active",
            MixpanelField::HashSalt => "hash_salt",
            MixpanelField::Variants => "variants",
            MixpanelField::Rollout => "rollout",
            MixpanelField::TestUsers => "test_users",
        }
    }
}

/// Every change that turns `before` into `after`. Empty when they are the same flag.
pub(super) fn diff(before: &MixpanelFlag, after: &MixpanelFlag) -> Vec<Change> {
    let mut out = Vec::new();
    let scalars = [
        (
            MixpanelField::Name,
            to_value(&before.name),
            to_value(&after.name),
        ),
        (
            MixpanelField::Description,
            to_value(&before.description),
            to_value(&after.description),
        ),
        (
            MixpanelField::Status,
            to_value(&before.status),
            to_value(&after.status),
        ),
        (
            MixpanelField::Context,
            to_value(&before.context),
            to_value(&after.context),
        ),
        (
            MixpanelField::ServingMethod,
            to_value(&before.serving_method),
            to_value(&after.serving_method),
        ),
        (
            MixpanelField::DataGroupId,
            to_value(&before.data_group_id),
            to_value(&after.data_group_id),
        ),
        (
            MixpanelField::ExperimentId,
            to_value(&before.experiment_id),
            to_value(&after.experiment_id),
        ),
        (
            MixpanelField::IsExperimentActive,
            to_value(&before.is_experiment_active),
            to_value(&after.is_experiment_active),
        ),
        (
            MixpanelField::HashSalt,
            to_value(&before.hash_salt),
            to_value(&after.hash_salt),
        ),
    ];
    for (field, b, a) in scalars {
        if b != a {
            out.push(Change::new(field, ChangeOp::Changed).values(Some(b), Some(a)));
        }
    }
    tag_changes(&mut out, &before.tags, &after.tags);
    variant_changes(&mut out, before, after);
    rollout_changes(&mut out, &before.rollout, &after.rollout);
    test_user_changes(&mut out, &before.test_users, &after.test_users);
    out
}

fn tag_changes(out: &mut Vec<Change>, before: &[String], after: &[String]) {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    for removed in b.difference(&a) {
        out.push(Change::new(MixpanelField::Tags, ChangeOp::Removed).item(removed));
    }
    for added in a.difference(&b) {
        out.push(Change::new(MixpanelField::Tags, ChangeOp::Added).item(added));
    }
}

/// The `n`th variant (0-based) with key `key` in `variants`: a key written twice (a rule
/// error) still pairs each variant with its own counterpart.
fn nth_with_key<'a>(variants: &'a [Variant], key: &str, n: usize) -> Option<&'a Variant> {
    variants.iter().filter(|v| v.key == key).nth(n)
}

/// How many variants before `index` share its key.
fn occurrence(variants: &[Variant], index: usize) -> usize {
    variants[..index]
        .iter()
        .filter(|v| v.key == variants[index].key)
        .count()
}

fn variant_changes(out: &mut Vec<Change>, before: &MixpanelFlag, after: &MixpanelFlag) {
    for (i, b) in before.variants.iter().enumerate() {
        let n = occurrence(&before.variants, i);
        if nth_with_key(&after.variants, &b.key, n).is_none() {
            out.push(
                Change::new(MixpanelField::Variants, ChangeOp::Removed)
                    .item(&b.key)
                    .values(Some(to_value(b)), None),
            );
        }
    }
    for (i, a) in after.variants.iter().enumerate() {
        let n = occurrence(&after.variants, i);
        let Some(b) = nth_with_key(&before.variants, &a.key, n) else {
            out.push(
                Change::new(MixpanelField::Variants, ChangeOp::Added)
                    .item(&a.key)
                    .values(None, Some(to_value(a))),
            );
            continue;
        };
        let attributes = [
            ("value", b.value.value(), a.value.value()),
            (
                "is_control",
                to_value(&b.is_control),
                to_value(&a.is_control),
            ),
            ("split", to_value(&b.split), to_value(&a.split)),
            (
                "description",
                to_value(&b.description),
                to_value(&a.description),
            ),
            ("is_sticky", to_value(&b.is_sticky), to_value(&a.is_sticky)),
        ];
        for (name, bv, av) in attributes {
            if bv != av {
                let mut c = Change::new(MixpanelField::Variants, ChangeOp::Changed)
                    .item(&a.key)
                    .values(Some(bv), Some(av));
                c.attribute = Some(name.to_owned());
                out.push(c);
            }
        }
    }
}

fn rollout_changes(out: &mut Vec<Change>, before: &[RolloutGroup], after: &[RolloutGroup]) {
    let found = pairs(before, after);
    // A removed group identical to an added one moved: one change, not two.
    let mut moved: BTreeMap<usize, usize> = BTreeMap::new();
    for (old, _) in found.iter().filter(|(o, n)| o.is_some() && n.is_none()) {
        let Some(o) = *old else { continue };
        let target = found.iter().find_map(|(x, n)| match (x, n) {
            (None, Some(n)) if before[o] == after[*n] && !moved.values().any(|m| m == n) => {
                Some(*n)
            }
            _ => None,
        });
        if let Some(n) = target {
            moved.insert(o, n);
        }
    }
    for (old, new) in found {
        match (old, new) {
            (Some(o), Some(n)) => changed_group(out, o + 1, n + 1, &before[o], &after[n]),
            (None, Some(n)) => {
                let mut c = if let Some((&o, _)) = moved.iter().find(|(_, m)| **m == n) {
                    let value = to_value(&after[n]);
                    let mut c = Change::new(MixpanelField::Rollout, ChangeOp::Changed)
                        .values(Some(value.clone()), Some(value));
                    c.previous_condition = Some(o + 1);
                    c.attribute = Some("position".to_owned());
                    c
                } else {
                    Change::new(MixpanelField::Rollout, ChangeOp::Added)
                        .values(None, Some(to_value(&after[n])))
                };
                c.condition = Some(n + 1);
                out.push(c);
            }
            (Some(o), None) if moved.contains_key(&o) => {}
            (Some(o), None) => {
                let mut c = Change::new(MixpanelField::Rollout, ChangeOp::Removed)
                    .values(Some(to_value(&before[o])), None);
                c.condition = Some(o + 1);
                out.push(c);
            }
            (None, None) => {}
        }
    }
}

fn changed_group(
    out: &mut Vec<Change>,
    previous: usize,
    number: usize,
    before: &RolloutGroup,
    after: &RolloutGroup,
) {
    let previous = (previous != number).then_some(previous);
    let attributes: [(&str, Value, Value); 8] = [
        ("name", to_value(&before.name), to_value(&after.name)),
        (
            "rollout_percentage",
            to_value(&before.rollout_percentage),
            to_value(&after.rollout_percentage),
        ),
        (
            "variant_splits",
            to_value(&before.variant_splits),
            to_value(&after.variant_splits),
        ),
        (
            "runtime_evaluation_rule",
            to_value(&before.runtime_evaluation_rule),
            to_value(&after.runtime_evaluation_rule),
        ),
        (
            "runtime_event_rule",
            to_value(&before.runtime_event_rule),
            to_value(&after.runtime_event_rule),
        ),
        (
            "cohort_definition",
            to_value(&before.cohort_definition),
            to_value(&after.cohort_definition),
        ),
        (
            "runtime_evaluation_definition",
            to_value(&before.runtime_evaluation_definition),
            to_value(&after.runtime_evaluation_definition),
        ),
        (
            "variant_override",
            to_value(&before.variant_override),
            to_value(&after.variant_override),
        ),
    ];
    for (name, b, a) in attributes {
        if b != a {
            let mut c =
                Change::new(MixpanelField::Rollout, ChangeOp::Changed).values(Some(b), Some(a));
            c.condition = Some(number);
            c.previous_condition = previous;
            c.attribute = Some(name.to_owned());
            out.push(c);
        }
    }
}

fn test_user_changes(
    out: &mut Vec<Change>,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) {
    for (user, variant) in before {
        match after.get(user) {
            None => out.push(
                Change::new(MixpanelField::TestUsers, ChangeOp::Removed)
                    .item(user)
                    .values(Some(to_value(variant)), None),
            ),
            Some(new) if new != variant => out.push(
                Change::new(MixpanelField::TestUsers, ChangeOp::Changed)
                    .item(user)
                    .values(Some(to_value(variant)), Some(to_value(new))),
            ),
            Some(_) => {}
        }
    }
    for (user, variant) in after {
        if !before.contains_key(user) {
            out.push(
                Change::new(MixpanelField::TestUsers, ChangeOp::Added)
                    .item(user)
                    .values(None, Some(to_value(variant))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::vendor::mixpanel::normalize::normalize;
    use crate::vendor::mixpanel::tests::flag;

    fn changes(before: Value, after: Value) -> Vec<Value> {
        diff(&normalize(&flag(before)), &normalize(&flag(after)))
            .iter()
            .map(to_value)
            .collect()
    }

    #[test]
    fn the_same_flag_has_no_changes() {
        let f = json!({"key": "a", "status": "enabled", "tags": ["t"],
            "variants": [{"key": "c", "value": true, "split": 100, "is_control": true}],
            "rollout": [{"rollout_percentage": 50}], "test_users": {"u": "c"}});
        assert_eq!(changes(f.clone(), f), Vec::<Value>::new());
    }

    #[test]
    fn each_scalar_field_is_a_change() {
        let before = json!({"key": "a"});
        let cases = [
            ("name", json!("A"), json!("a"), json!("A")),
            ("description", json!("d"), Value::Null, json!("d")),
            (
                "status",
                json!("enabled"),
                json!("disabled"),
                json!("enabled"),
            ),
            (
                "context",
                json!("device_id"),
                json!("distinct_id"),
                json!("device_id"),
            ),
            (
                "serving_method",
                json!("server"),
                json!("client"),
                json!("server"),
            ),
            ("data_group_id", json!("g"), Value::Null, json!("g")),
            ("experiment_id", json!("e"), Value::Null, json!("e")),
            (
                "is_experiment_active",
                json!(false),
                Value::Null,
                json!(false),
            ),
            (
                "hash_salt",
                json!("s".repeat(32)),
                Value::Null,
                json!("s".repeat(32)),
            ),
        ];
        for (field, value, was, now) in cases {
            let mut after = before.clone();
            after[field] = value;
            let mut expected = json!({"field": field, "op": "changed", "after": now});
            if !was.is_null() {
                expected["before"] = was;
            }
            assert_eq!(changes(before.clone(), after), vec![expected], "{field}");
        }
    }

    #[test]
    fn tags_are_added_and_removed_one_by_one() {
        assert_eq!(
            changes(
                json!({"key": "a", "tags": ["x", "y"]}),
                json!({"key": "a", "tags": ["y", "z"]})
            ),
            vec![
                json!({"field": "tags", "op": "removed", "item": "x"}),
                json!({"field": "tags", "op": "added", "item": "z"}),
            ]
        );
    }

    #[test]
    fn variants_are_matched_by_key() {
        let before = json!({"key": "a", "variants": [
            {"key": "off", "value": false, "split": 50, "is_control": true},
            {"key": "on", "value": true, "split": 50},
            {"key": "old", "value": true, "split": 0}]});
        let after = json!({"key": "a", "variants": [
            {"key": "new", "value": true, "split": 0},
            {"key": "on", "value": "yes", "split": 40, "is_sticky": true, "description": "d"},
            {"key": "off", "value": false, "split": 60}]});
        assert_eq!(
            changes(before, after),
            vec![
                json!({"field": "variants", "op": "removed", "item": "old", "before": {"key": "old", "value": true, "split": 0}}),
                json!({"field": "variants", "op": "added", "item": "new", "after": {"key": "new", "value": true, "split": 0}}),
                json!({"field": "variants", "op": "changed", "item": "off", "attribute": "is_control", "before": true, "after": false}),
                json!({"field": "variants", "op": "changed", "item": "off", "attribute": "split", "before": 50, "after": 60}),
                json!({"field": "variants", "op": "changed", "item": "on", "attribute": "value", "before": true, "after": "yes"}),
                json!({"field": "variants", "op": "changed", "item": "on", "attribute": "split", "before": 50, "after": 40}),
                json!({"field": "variants", "op": "changed", "item": "on", "attribute": "description", "after": "d"}),
                json!({"field": "variants", "op": "changed", "item": "on", "attribute": "is_sticky", "before": false, "after": true}),
            ]
        );
    }

    #[test]
    fn rollout_groups_are_numbered_and_described_by_attribute() {
        let rule = json!({"==": [{"var": "plan"}, "premium"]});
        let before = json!({"key": "a", "rollout": [
            {"rollout_percentage": 10},
            {"rollout_percentage": 100, "runtime_evaluation_rule": rule}]});
        let after = json!({"key": "a", "rollout": [
            {"rollout_percentage": 20},
            {"rollout_percentage": 100, "runtime_evaluation_rule": rule,
             "runtime_event_rule": {"event_name": "e"}, "name": "n",
             "cohort_definition": {"id": 1}, "runtime_evaluation_definition": {"x": "y"},
             "variant_override": {"key": "v"}}]});
        assert_eq!(
            changes(before, after),
            vec![
                json!({"field": "rollout", "op": "changed", "condition": 1, "attribute": "rollout_percentage", "before": 10, "after": 20}),
                json!({"field": "rollout", "op": "changed", "condition": 2, "attribute": "name", "after": "n"}),
                json!({"field": "rollout", "op": "changed", "condition": 2, "attribute": "runtime_event_rule", "after": {"event_name": "e", "time_window": "while_flag_enabled"}}),
                json!({"field": "rollout", "op": "changed", "condition": 2, "attribute": "cohort_definition", "after": {"id": 1}}),
                json!({"field": "rollout", "op": "changed", "condition": 2, "attribute": "runtime_evaluation_definition", "after": {"x": "y"}}),
                json!({"field": "rollout", "op": "changed", "condition": 2, "attribute": "variant_override", "after": {"key": "v"}}),
            ]
        );
        let splits = changes(
            json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 50}, {"key": "t", "value": 2, "split": 50}], "rollout": [{"rollout_percentage": 5}]}),
            json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 50}, {"key": "t", "value": 2, "split": 50}], "rollout": [{"rollout_percentage": 5, "variant_splits": {"c": 10, "t": 90}}]}),
        );
        assert_eq!(
            splits,
            vec![
                json!({"field": "rollout", "op": "changed", "condition": 1, "attribute": "variant_splits", "before": {"c": 50, "t": 50}, "after": {"c": 10, "t": 90}})
            ]
        );
        let rule_changed = changes(
            json!({"key": "a", "rollout": [{"rollout_percentage": 5, "runtime_evaluation_rule": {"==": [1, 1]}}]}),
            json!({"key": "a", "rollout": [{"rollout_percentage": 5, "runtime_evaluation_rule": {"==": [1, 2]}}]}),
        );
        assert_eq!(
            rule_changed,
            vec![
                json!({"field": "rollout", "op": "changed", "condition": 1, "attribute": "runtime_evaluation_rule", "before": {"==": [1, 1]}, "after": {"==": [1, 2]}})
            ]
        );
    }

    #[test]
    fn a_group_added_removed_or_moved_is_one_change() {
        let g = |p: u32, name: &str| json!({"rollout_percentage": p, "name": name});
        assert_eq!(
            changes(
                json!({"key": "a", "rollout": [g(1, "a"), g(2, "b")]}),
                json!({"key": "a", "rollout": [g(2, "b")]})
            ),
            vec![json!({"field": "rollout", "op": "removed", "condition": 1, "before": g(1, "a")})]
        );
        assert_eq!(
            changes(
                json!({"key": "a", "rollout": [g(2, "b")]}),
                json!({"key": "a", "rollout": [g(2, "b"), g(3, "c")]})
            ),
            vec![json!({"field": "rollout", "op": "added", "condition": 2, "after": g(3, "c")})]
        );
        assert_eq!(
            changes(
                json!({"key": "a", "rollout": [g(1, "a"), g(2, "b"), g(3, "c")]}),
                json!({"key": "a", "rollout": [g(2, "b"), g(3, "c"), g(1, "a")]})
            ),
            vec![
                json!({"field": "rollout", "op": "changed", "condition": 3, "previous_condition": 1, "attribute": "position", "before": g(1, "a"), "after": g(1, "a")})
            ]
        );
    }

    #[test]
    fn test_users_are_matched_by_distinct_id() {
        assert_eq!(
            changes(
                json!({"key": "a", "test_users": {"ann": "on", "bob": "on"}}),
                json!({"key": "a", "test_users": {"bob": "off", "cy": "on"}})
            ),
            vec![
                json!({"field": "test_users", "op": "removed", "item": "ann", "before": "on"}),
                json!({"field": "test_users", "op": "changed", "item": "bob", "before": "on", "after": "off"}),
                json!({"field": "test_users", "op": "added", "item": "cy", "after": "on"}),
            ]
        );
    }

    #[test]
    fn a_key_written_twice_pairs_each_variant_with_its_own() {
        let twice = json!({"key": "a", "variants": [
            {"key": "v", "value": 1, "split": 0},
            {"key": "v", "value": 1, "split": 0, "description": "d"}]});
        assert_eq!(changes(twice.clone(), twice.clone()), Vec::<Value>::new());
        let once = json!({"key": "a", "variants": [{"key": "v", "value": 1, "split": 0}]});
        assert_eq!(
            changes(once, twice),
            vec![json!({"field": "variants", "op": "added", "item": "v",
                "after": {"key": "v", "value": 1, "split": 0, "description": "d"}})]
        );
    }

    #[test]
    fn depends_on_is_not_compared() {
        assert_eq!(
            changes(
                json!({"key": "a", "depends_on": ["b"]}),
                json!({"key": "a"})
            ),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn field_names_are_the_file_names() {
        for field in [
            MixpanelField::Name,
            MixpanelField::Description,
            MixpanelField::Status,
            MixpanelField::Tags,
            MixpanelField::Context,
            MixpanelField::ServingMethod,
            MixpanelField::DataGroupId,
            MixpanelField::ExperimentId,
            MixpanelField::IsExperimentActive,
            MixpanelField::HashSalt,
            MixpanelField::Variants,
            MixpanelField::Rollout,
            MixpanelField::TestUsers,
        ] {
            assert_eq!(to_value(&field), json!(field.as_str()));
            assert!(
                super::super::OVERRIDABLE_FIELDS.contains(&field.as_str()),
                "{field:?}"
            );
        }
    }
}
