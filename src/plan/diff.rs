//! Field-level changes between a live flag and its desired form (both normalized).
//!
//! Conditions and their properties are ordered lists: they are matched with a sequence diff
//! (so removing the first condition shows one removal, not every condition changed), and a
//! condition that was replaced in place is described field by field. Variants and payloads are
//! matched by key, tags and evaluation contexts are sets. `depends_on` is not compared: no
//! service stores it. Condition and property numbers are 1-based, as people count.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::to_value;
use crate::model::{Condition, Flag, Property};

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

/// Whether something was added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// Present only after.
    Added,
    /// Present only before.
    Removed,
    /// Present on both sides with different values.
    Changed,
}

/// One field-level change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The top-level field.
    pub field: Field,
    /// Added, removed or changed.
    pub op: ChangeOp,
    /// Condition number (1-based; the new number, or the old one for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<usize>,
    /// The condition's number before the plan, when it differs from `condition` (the
    /// condition moved: conditions were inserted, removed or reordered before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_condition: Option<usize>,
    /// Property number within the condition (1-based, same convention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<usize>,
    /// The tag, evaluation context, variant key or payload key concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The sub-field of a condition or variant (`rollout_percentage`, `variant`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The value before (absent for an addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after (absent for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl Change {
    fn new(field: Field, op: ChangeOp) -> Self {
        Change {
            field,
            op,
            condition: None,
            previous_condition: None,
            property: None,
            item: None,
            attribute: None,
            before: None,
            after: None,
        }
    }

    /// Set the values; JSON `null` (an unset field) is stored as absent, as it reads back.
    fn values(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before.filter(|v| !v.is_null());
        self.after = after.filter(|v| !v.is_null());
        self
    }

    fn item(mut self, item: &str) -> Self {
        self.item = Some(item.to_owned());
        self
    }
}

/// Every change that turns `before` into `after`. Empty when they are the same flag.
pub fn diff(before: &Flag, after: &Flag) -> Vec<Change> {
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

/// Pairs of (old range, new range) from a sequence diff, with adjacent delete + insert merged
/// into one replacement.
fn matched_ranges<T: Serialize>(before: &[T], after: &[T]) -> Vec<DiffOp> {
    let b: Vec<String> = before.iter().map(|x| to_value(x).to_string()).collect();
    let a: Vec<String> = after.iter().map(|x| to_value(x).to_string()).collect();
    let ops = capture_diff_slices(Algorithm::Myers, &b, &a);
    let mut merged: Vec<DiffOp> = Vec::new();
    for op in ops {
        match (merged.last().copied(), op) {
            (
                Some(DiffOp::Delete {
                    old_index,
                    old_len,
                    new_index,
                }),
                DiffOp::Insert { new_len, .. },
            ) => {
                merged.pop();
                merged.push(DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                });
            }
            _ => merged.push(op),
        }
    }
    merged
}

/// Matched items of a sequence diff: `(Some(old), Some(new))` for an item replaced in place,
/// `(None, Some(new))` for an addition, `(Some(old), None)` for a removal.
fn pairs<T: Serialize>(before: &[T], after: &[T]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut found = Vec::new();
    for op in matched_ranges(before, after) {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                found.extend((old_index..old_index + old_len).map(|o| (Some(o), None)));
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                found.extend((new_index..new_index + new_len).map(|n| (None, Some(n))));
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                // Pair the shorter side with the most similar run of the longer side, so an
                // item inserted before a changed one is an addition, not a cascade of changes.
                let paired = old_len.min(new_len);
                let shift = best_shift(
                    &before[old_index..old_index + old_len],
                    &after[new_index..new_index + new_len],
                );
                let (old_at, new_at) = if old_len > new_len {
                    (old_index + shift, new_index)
                } else {
                    (old_index, new_index + shift)
                };
                found.extend((old_index..old_at).map(|o| (Some(o), None)));
                found.extend((new_index..new_at).map(|n| (None, Some(n))));
                found.extend((0..paired).map(|i| (Some(old_at + i), Some(new_at + i))));
                found.extend((old_at + paired..old_index + old_len).map(|o| (Some(o), None)));
                found.extend((new_at + paired..new_index + new_len).map(|n| (None, Some(n))));
            }
        }
    }
    found
}

/// How far to shift the shorter of `before` and `after` along the longer one so that paired
/// items share the most fields (the first best shift).
fn best_shift<T: Serialize>(before: &[T], after: &[T]) -> usize {
    let (short, long) = if before.len() <= after.len() {
        (before, after)
    } else {
        (after, before)
    };
    let short: Vec<Value> = short.iter().map(to_value).collect();
    let long: Vec<Value> = long.iter().map(to_value).collect();
    let mut best = (0, 0);
    for shift in 0..=long.len() - short.len() {
        let score: usize = short
            .iter()
            .zip(&long[shift..])
            .map(|(a, b)| shared_fields(a, b))
            .sum();
        if score > best.1 {
            best = (shift, score);
        }
    }
    best.0
}

/// How many fields two JSON objects have in common (same key, same value).
fn shared_fields(a: &Value, b: &Value) -> usize {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .filter(|(k, v)| b.get(k.as_str()) == Some(v))
            .count(),
        _ => 0,
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
