//! PostHog's field-level diff: the changes between two of its flags (both normalized), in
//! the vocabulary of `plan::Change`.
//!
//! Conditions and their properties are ordered lists: they are matched with a sequence diff
//! (`plan::pairs`, so removing the first condition shows one removal, not every condition
//! changed), and a condition that was replaced in place is described field by field. Variants
//! and payloads are matched by key, tags and evaluation contexts are sets. `depends_on` is not
//! compared: no service stores it. Condition and property numbers are 1-based, as people
//! count.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Condition, Flag, Property};
use crate::plan::{ChangeOp, pairs, to_value};

/// PostHog's `Change`.
type Change = crate::plan::Change<Field>;

/// A top-level field of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Field {
    Name,
    Active,
    Archived,
    Tags,
    EvaluationContexts,
    Conditions,
    AggregationGroupTypeIndex,
    Variants,
    Payloads,
    Holdout,
    EarlyExit,
    FeatureEnrollment,
    EnsureExperienceContinuity,
    EvaluationRuntime,
    BucketingIdentifier,
    IsRemoteConfiguration,
    HasEncryptedPayloads,
}

impl Field {
    /// The field's name in flag files.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Active => "active",
            Field::Archived => "archived",
            Field::Tags => "tags",
            Field::EvaluationContexts => "evaluation_contexts",
            Field::Conditions => "conditions",
            Field::AggregationGroupTypeIndex => "aggregation_group_type_index",
            Field::Variants => "variants",
            Field::Payloads => "payloads",
            Field::Holdout => "holdout",
            Field::EarlyExit => "early_exit",
            Field::FeatureEnrollment => "feature_enrollment",
            Field::EnsureExperienceContinuity => "ensure_experience_continuity",
            Field::EvaluationRuntime => "evaluation_runtime",
            Field::BucketingIdentifier => "bucketing_identifier",
            Field::IsRemoteConfiguration => "is_remote_configuration",
            Field::HasEncryptedPayloads => "has_encrypted_payloads",
        }
    }
}

/// Every change that turns `before` into `after`. Empty when they are the same flag.
pub(super) fn diff(before: &Flag, after: &Flag) -> Vec<Change> {
    let mut out = Vec::new();
    let mut scalar = |field: Field, b: Value, a: Value| {
        if b != a {
            out.push(Change::new(field, ChangeOp::Changed).values(Some(b), Some(a)));
        }
    };
    scalar(Field::Name, to_value(&before.name), to_value(&after.name));
    scalar(
        Field::Active,
        to_value(&before.active),
        to_value(&after.active),
    );
    scalar(
        Field::Archived,
        to_value(&before.archived),
        to_value(&after.archived),
    );
    if before.conditions.is_empty() && after.conditions.is_empty() {
        // With conditions, the flag-level aggregation is derived from them.
        scalar(
            Field::AggregationGroupTypeIndex,
            to_value(&before.aggregation_group_type_index),
            to_value(&after.aggregation_group_type_index),
        );
    }
    scalar(
        Field::Holdout,
        to_value(&before.holdout),
        to_value(&after.holdout),
    );
    scalar(
        Field::EarlyExit,
        to_value(&before.early_exit),
        to_value(&after.early_exit),
    );
    scalar(
        Field::FeatureEnrollment,
        to_value(&before.feature_enrollment),
        to_value(&after.feature_enrollment),
    );
    scalar(
        Field::EnsureExperienceContinuity,
        to_value(&before.ensure_experience_continuity),
        to_value(&after.ensure_experience_continuity),
    );
    scalar(
        Field::EvaluationRuntime,
        to_value(&before.evaluation_runtime),
        to_value(&after.evaluation_runtime),
    );
    scalar(
        Field::BucketingIdentifier,
        to_value(&before.bucketing_identifier),
        to_value(&after.bucketing_identifier),
    );
    scalar(
        Field::IsRemoteConfiguration,
        to_value(&before.is_remote_configuration),
        to_value(&after.is_remote_configuration),
    );
    scalar(
        Field::HasEncryptedPayloads,
        to_value(&before.has_encrypted_payloads),
        to_value(&after.has_encrypted_payloads),
    );
    set_changes(&mut out, Field::Tags, &before.tags, &after.tags);
    set_changes(
        &mut out,
        Field::EvaluationContexts,
        &before.evaluation_contexts,
        &after.evaluation_contexts,
    );
    condition_changes(&mut out, &before.conditions, &after.conditions);
    variant_changes(&mut out, before, after);
    payload_changes(&mut out, before, after);
    out
}

fn set_changes(out: &mut Vec<Change>, field: Field, before: &[String], after: &[String]) {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    for removed in b.difference(&a) {
        out.push(Change::new(field, ChangeOp::Removed).item(removed));
    }
    for added in a.difference(&b) {
        out.push(Change::new(field, ChangeOp::Added).item(added));
    }
}

fn condition_changes(out: &mut Vec<Change>, before: &[Condition], after: &[Condition]) {
    let found = pairs(before, after);
    // A removed condition identical to an added one moved: one change, not two.
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
            (Some(o), Some(n)) => changed_condition(out, o + 1, n + 1, &before[o], &after[n]),
            (None, Some(n)) => {
                if let Some((&o, _)) = moved.iter().find(|(_, m)| **m == n) {
                    let value = to_value(&after[n]);
                    let mut c = Change::new(Field::Conditions, ChangeOp::Changed)
                        .values(Some(value.clone()), Some(value));
                    c.condition = Some(n + 1);
                    c.previous_condition = Some(o + 1);
                    c.attribute = Some("position".to_owned());
                    out.push(c);
                    continue;
                }
                let mut c = Change::new(Field::Conditions, ChangeOp::Added)
                    .values(None, Some(to_value(&after[n])));
                c.condition = Some(n + 1);
                out.push(c);
            }
            (Some(o), None) if moved.contains_key(&o) => {}
            (Some(o), None) => {
                let mut c = Change::new(Field::Conditions, ChangeOp::Removed)
                    .values(Some(to_value(&before[o])), None);
                c.condition = Some(o + 1);
                out.push(c);
            }
            (None, None) => {}
        }
    }
}

fn changed_condition(
    out: &mut Vec<Change>,
    previous: usize,
    number: usize,
    before: &Condition,
    after: &Condition,
) {
    let previous = (previous != number).then_some(previous);
    let attributes: [(&str, Value, Value); 7] = [
        (
            "rollout_percentage",
            to_value(&before.rollout_percentage),
            to_value(&after.rollout_percentage),
        ),
        (
            "variant",
            to_value(&before.variant),
            to_value(&after.variant),
        ),
        (
            "aggregation_group_type_index",
            to_value(&before.aggregation_group_type_index),
            to_value(&after.aggregation_group_type_index),
        ),
        (
            "description",
            to_value(&before.description),
            to_value(&after.description),
        ),
        (
            "sort_key",
            to_value(&before.sort_key),
            to_value(&after.sort_key),
        ),
        (
            "exposure_frozen",
            to_value(&before.exposure_frozen),
            to_value(&after.exposure_frozen),
        ),
        (
            "exposure_frozen_cohort",
            to_value(&before.exposure_frozen_cohort),
            to_value(&after.exposure_frozen_cohort),
        ),
    ];
    for (name, b, a) in attributes {
        if b != a {
            let mut c = Change::new(Field::Conditions, ChangeOp::Changed).values(Some(b), Some(a));
            c.condition = Some(number);
            c.previous_condition = previous;
            c.attribute = Some(name.to_owned());
            out.push(c);
        }
    }
    let (bp, ap): (&[Property], &[Property]) = (&before.properties, &after.properties);
    for (old, new) in pairs(bp, ap) {
        let op = match (old, new) {
            (Some(_), Some(_)) => ChangeOp::Changed,
            (None, _) => ChangeOp::Added,
            (Some(_), None) => ChangeOp::Removed,
        };
        let mut c = Change::new(Field::Conditions, op);
        c.condition = Some(number);
        c.previous_condition = previous;
        c.attribute = Some("properties".to_owned());
        c.property = new.or(old).map(|i| i + 1);
        c.before = old.map(|o| to_value(&bp[o]));
        c.after = new.map(|n| to_value(&ap[n]));
        out.push(c);
    }
}

fn variant_changes(out: &mut Vec<Change>, before: &Flag, after: &Flag) {
    for b in &before.variants {
        if !after.variants.iter().any(|a| a.key == b.key) {
            out.push(
                Change::new(Field::Variants, ChangeOp::Removed)
                    .item(&b.key)
                    .values(Some(to_value(b)), None),
            );
        }
    }
    for a in &after.variants {
        let Some(b) = before.variants.iter().find(|b| b.key == a.key) else {
            out.push(
                Change::new(Field::Variants, ChangeOp::Added)
                    .item(&a.key)
                    .values(None, Some(to_value(a))),
            );
            continue;
        };
        let attributes = [
            (
                "rollout_percentage",
                to_value(&b.rollout_percentage),
                to_value(&a.rollout_percentage),
            ),
            ("name", to_value(&b.name), to_value(&a.name)),
            (
                "description",
                to_value(&b.description),
                to_value(&a.description),
            ),
        ];
        for (name, bv, av) in attributes {
            if bv != av {
                let mut c = Change::new(Field::Variants, ChangeOp::Changed)
                    .item(&a.key)
                    .values(Some(bv), Some(av));
                c.attribute = Some(name.to_owned());
                out.push(c);
            }
        }
    }
    let order = |f: &Flag| -> Vec<String> { f.variants.iter().map(|v| v.key.clone()).collect() };
    let common = |f: &Flag, other: &Flag| -> Vec<String> {
        order(f)
            .into_iter()
            .filter(|k| other.variants.iter().any(|v| &v.key == k))
            .collect()
    };
    let (b, a) = (common(before, after), common(after, before));
    if b != a {
        let mut c = Change::new(Field::Variants, ChangeOp::Changed).values(
            Some(to_value(&order(before))),
            Some(to_value(&order(after))),
        );
        c.attribute = Some("order".to_owned());
        out.push(c);
    }
}

fn payload_changes(out: &mut Vec<Change>, before: &Flag, after: &Flag) {
    for (key, value) in &before.payloads {
        match after.payloads.get(key) {
            None => out.push(
                Change::new(Field::Payloads, ChangeOp::Removed)
                    .item(key)
                    .values(Some(value.clone()), None),
            ),
            Some(new) if new != value => out.push(
                Change::new(Field::Payloads, ChangeOp::Changed)
                    .item(key)
                    .values(Some(value.clone()), Some(new.clone())),
            ),
            Some(_) => {}
        }
    }
    for (key, value) in &after.payloads {
        if !before.payloads.contains_key(key) {
            out.push(
                Change::new(Field::Payloads, ChangeOp::Added)
                    .item(key)
                    .values(None, Some(value.clone())),
            );
        }
    }
}
