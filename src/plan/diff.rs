//! The vocabulary of a field-level change, shared by every vendor's flag model, and what the
//! plan compares.
//!
//! A [`Change`] names a top-level field of the vendor's model (`VendorFlag::Field`) and
//! carries its detail (rule number, item, attribute, values before and after); each vendor
//! produces its changes (`VendorFlag::diff`; PostHog's in `model::diff`) and may use the
//! sequence matcher [`pairs`] for ordered lists. [`differences`] and [`drift`] compare a
//! desired and a live flag exactly as `plan::build` does.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::to_value;
use crate::model::VendorFlag;
pub use crate::vendor::posthog::Field;

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
pub struct Change<K = Field> {
    /// The top-level field, in the vendor's model (`VendorFlag::Field`).
    pub field: K,
    /// Added, removed or changed.
    pub op: ChangeOp,
    /// Rule number (PostHog: condition; 1-based; the new number, or the old one for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<usize>,
    /// The rule's number before the plan, when it differs from `condition` (the
    /// rule moved: rules were inserted, removed or reordered before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_condition: Option<usize>,
    /// Property number within the rule (1-based, same convention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<usize>,
    /// The item concerned (PostHog: a tag, evaluation context, variant or payload key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The sub-field of the rule or item concerned, as the vendor's model names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The value before (absent for an addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after (absent for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl<K> Change<K> {
    /// A change of `field` with no detail yet.
    pub fn new(field: K, op: ChangeOp) -> Self {
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
    #[must_use]
    pub fn values(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before.filter(|v| !v.is_null());
        self.after = after.filter(|v| !v.is_null());
        self
    }

    /// Name the item concerned (a tag, variant key, …).
    #[must_use]
    pub fn item(mut self, item: &str) -> Self {
        self.item = Some(item.to_owned());
        self
    }
}

/// Every change that turns `before` into `after` (the vendor's `VendorFlag::diff`). Empty
/// when they are the same flag: most flags of a plan are, and that is one comparison instead
/// of a field-by-field diff.
pub fn diff<F: VendorFlag>(before: &F, after: &F) -> Vec<Change<F::Field>> {
    if before == after {
        return Vec::new();
    }
    F::diff(before, after)
}

/// What still differs between `desired` (a repository flag) and `live` after both are
/// normalized, compared exactly as `plan::build` compares them; empty when they are in sync.
/// Changes read from live to desired (what a plan would do).
pub fn differences<F: VendorFlag>(desired: &F, live: &F) -> Vec<Change<F::Field>> {
    let (want, have) = comparable(desired, live);
    diff(&have, &want)
}

/// The same comparison read the other way, from desired to live: what the service holds that
/// differs from what was written (for reporting fields a server changed on its own).
pub fn drift<F: VendorFlag>(desired: &F, live: &F) -> Vec<Change<F::Field>> {
    let (want, have) = comparable(desired, live);
    diff(&want, &have)
}

/// Both sides normalized, the live flag's display fields adopted by the desired one, and the
/// values the service does not reveal taken from the desired flag.
pub(super) fn comparable<F: VendorFlag>(desired: &F, live: &F) -> (F, F) {
    let mut want = desired.normalized();
    let have = live.normalized();
    want.adopt_display_fields(&have);
    let revealed = match have.reveal_unknown(&want) {
        Cow::Owned(revealed) => Some(revealed),
        Cow::Borrowed(_) => None,
    };
    (want, revealed.unwrap_or(have))
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

/// Matched items of a sequence diff (for a vendor's ordered lists, such as rules): `(Some(old), Some(new))` for an item replaced in place,
/// `(None, Some(new))` for an addition, `(Some(old), None)` for a removal.
pub fn pairs<T: Serialize>(before: &[T], after: &[T]) -> Vec<(Option<usize>, Option<usize>)> {
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
