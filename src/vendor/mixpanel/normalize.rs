//! The canonical form of a Mixpanel flag: what the plan compares, so that a flag in sync never
//! shows a difference.
//!
//! Pure. Both sides (the repository's resolved flag and the adapter's live flag) go through
//! [`normalize`] before diffing. The rules, and why:
//!
//! - **tags** are a set: deduplicated and sorted (their order means nothing);
//! - **variants** are sorted by key: Mixpanel's evaluators walk the variants in key order, so
//!   two flags that differ only in variant order serve the same users;
//! - **the control is never sticky** (Mixpanel forces it);
//! - **percentages** (`split`, `rollout_percentage`, `variant_splits`) are compared
//!   numerically and rounded to 1e-9, so a 0–1 fraction read back from Mixpanel equals the
//!   percentage written;
//! - **a rollout group without `variant_splits`** takes the variants' splits (what
//!   `from_spec` fills in);
//! - **JSON values** (variant values, JsonLogic rules, cohort definitions, property filters)
//!   are parsed values, whole floats become integers (`1.0` == `1`);
//! - **empty display strings** (`description`, a group's `name`) are absent;
//! - **`depends_on`** is sorted and deduplicated; it is repository-only (Mixpanel does not
//!   store it), so the diff never compares it.
//!
//! [`adopt_display_fields`] takes from the live flag what the repository leaves to Mixpanel:
//! the `hash_salt` Mixpanel generated and the names of rollout groups (by position).

use super::flag::{MixpanelFlag, default_splits};
use super::spec::MixpanelSpec;
use crate::model::{Json, Percent};
use crate::util::sorted_set;

/// The file form of a (live) flag, as `import` writes it: the canonical form, then
/// `MixpanelFlag::to_spec` (fields at their default left out). Reading it back and normalizing
/// gives the canonical form again, and percentages read back from Mixpanel's fractions are
/// written as the percentages they were (`25.5`, not `25.500000000000004`).
pub fn file_form(flag: &MixpanelFlag) -> MixpanelSpec {
    normalize(flag).to_spec()
}

/// The canonical form of `flag` (see the module documentation for the rules).
pub fn normalize(flag: &MixpanelFlag) -> MixpanelFlag {
    let mut out = flag.clone();
    // When Mixpanel enabled it is a fact about the live flag, not part of what it means.
    out.enabled_at = None;
    out.tags = sorted_set(std::mem::take(&mut out.tags));
    out.depends_on = sorted_set(std::mem::take(&mut out.depends_on));
    out.description = non_empty(out.description.take());
    out.variants.sort_by(|a, b| a.key.cmp(&b.key));
    for variant in &mut out.variants {
        variant.split = percent(variant.split);
        variant.value.canonicalize();
        variant.description = non_empty(variant.description.take());
        if variant.is_control {
            variant.is_sticky = false;
        }
    }
    let defaults = default_splits(&out.variants);
    for group in &mut out.rollout {
        group.name = non_empty(group.name.take());
        group.rollout_percentage = percent(group.rollout_percentage);
        // Every variant named, as Mixpanel's evaluators read a group: one it leaves out gets
        // its own split (a file's flag names them all, the ones left out as 0).
        for (key, split) in &defaults {
            group.variant_splits.entry(key.clone()).or_insert(*split);
        }
        for split in group.variant_splits.values_mut() {
            *split = percent(*split);
        }
        for rule in [
            &mut group.runtime_evaluation_rule,
            &mut group.cohort_definition,
        ]
        .into_iter()
        .flatten()
        {
            rule.canonicalize();
        }
        if let Some(event) = &mut group.runtime_event_rule
            && let Some(filters) = &mut event.property_filters
        {
            filters.canonicalize();
        }
        if let Some(definition) = &mut group.runtime_evaluation_definition {
            definition.values_mut().for_each(Json::canonicalize);
        }
    }
    out
}

/// Copy what the repository leaves to Mixpanel from `live` into `desired`: the generated
/// `hash_salt` and the names of rollout groups (matched by position). Both flags should be
/// normalized first.
pub fn adopt_display_fields(desired: &mut MixpanelFlag, live: &MixpanelFlag) {
    if desired.hash_salt.is_none() {
        desired.hash_salt.clone_from(&live.hash_salt);
    }
    for (mine, theirs) in desired.rollout.iter_mut().zip(&live.rollout) {
        if mine.name.is_none() {
            mine.name.clone_from(&theirs.name);
        }
    }
}

/// A percentage rounded to 1e-9, so equal values compare equal (as PostHog's model does).
fn percent(p: Percent) -> Percent {
    let rounded = (p.get() * 1e9).round() / 1e9;
    // `-0.0` and `0.0` are the same share.
    Percent(if rounded == 0.0 { 0.0 } else { rounded })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::vendor::mixpanel::tests::flag;

    /// Pairs that mean the same flag to Mixpanel.
    #[test]
    fn equal_flags_normalize_equal() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "tags are a set",
                json!({"key": "a", "tags": ["b", "a", "b"]}),
                json!({"key": "a", "tags": ["a", "b"]}),
            ),
            (
                "variant order",
                json!({"key": "a", "variants": [{"key": "on", "value": true, "split": 50}, {"key": "off", "value": false, "split": 50, "is_control": true}]}),
                json!({"key": "a", "variants": [{"key": "off", "value": false, "split": 50, "is_control": true}, {"key": "on", "value": true, "split": 50}]}),
            ),
            (
                "a fraction read back equals the percentage",
                json!({"key": "a", "rollout": [{"rollout_percentage": 0.255 * 100.0}]}),
                json!({"key": "a", "rollout": [{"rollout_percentage": 25.5}]}),
            ),
            (
                "whole floats in values",
                json!({"key": "a", "variants": [{"key": "c", "value": {"n": 1.0}, "split": 100.0}]}),
                json!({"key": "a", "variants": [{"key": "c", "value": {"n": 1}, "split": 100}]}),
            ),
            (
                "the control is never sticky",
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100, "is_control": true, "is_sticky": true}]}),
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100, "is_control": true}]}),
            ),
            (
                "empty display strings",
                json!({"key": "a", "description": "", "rollout": [{"name": "", "rollout_percentage": 1}]}),
                json!({"key": "a", "rollout": [{"rollout_percentage": 1}]}),
            ),
            (
                "variant_splits written out",
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100}], "rollout": [{"rollout_percentage": 5}]}),
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100}], "rollout": [{"rollout_percentage": 5, "variant_splits": {"c": 100}}]}),
            ),
            (
                "JsonLogic numbers",
                json!({"key": "a", "rollout": [{"rollout_percentage": 1, "runtime_evaluation_rule": {">": [{"var": "age"}, 18.0]}}]}),
                json!({"key": "a", "rollout": [{"rollout_percentage": 1, "runtime_evaluation_rule": {">": [{"var": "age"}, 18]}}]}),
            ),
            (
                "depends_on is a set",
                json!({"key": "a", "depends_on": ["c", "b", "c"]}),
                json!({"key": "a", "depends_on": ["b", "c"]}),
            ),
        ];
        for (what, a, b) in cases {
            assert_eq!(normalize(&flag(a)), normalize(&flag(b)), "{what}");
        }
    }

    /// Pairs that must stay different.
    #[test]
    fn real_differences_survive() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "group order",
                json!({"key": "a", "rollout": [{"rollout_percentage": 1}, {"rollout_percentage": 2}]}),
                json!({"key": "a", "rollout": [{"rollout_percentage": 2}, {"rollout_percentage": 1}]}),
            ),
            (
                "value type",
                json!({"key": "a", "variants": [{"key": "c", "value": "1", "split": 100}]}),
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100}]}),
            ),
            (
                "a sticky treatment",
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100, "is_sticky": true}]}),
                json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": 100}]}),
            ),
            (
                "tag case",
                json!({"key": "a", "tags": ["A"]}),
                json!({"key": "a", "tags": ["a"]}),
            ),
        ];
        for (what, a, b) in cases {
            assert_ne!(normalize(&flag(a)), normalize(&flag(b)), "{what}");
        }
    }

    #[test]
    fn normalize_is_idempotent() {
        let f = flag(json!({"key": "a", "tags": ["z", "y"], "description": "",
            "variants": [{"key": "b", "value": 2.0, "split": 50}, {"key": "a", "value": 1, "split": 50, "is_control": true}],
            "rollout": [{"rollout_percentage": 33.333_333_333_3}]}));
        let once = normalize(&f);
        assert_eq!(normalize(&once), once);
        assert_eq!(once.variants[0].key, "a");
        assert_eq!(once.variants[1].value.value(), json!(2));
        assert_eq!(once.rollout[0].rollout_percentage, Percent(33.333_333_333));
    }

    #[test]
    fn the_salt_and_group_names_are_adopted_only_when_left_out() {
        let live = normalize(&flag(json!({"key": "a", "hash_salt": "s".repeat(32),
            "rollout": [{"name": "Group 1", "rollout_percentage": 1}, {"name": "Group 2", "rollout_percentage": 2}]})));
        let mut desired = normalize(&flag(json!({"key": "a",
            "rollout": [{"rollout_percentage": 1}, {"name": "Mine", "rollout_percentage": 2}]})));
        adopt_display_fields(&mut desired, &live);
        assert_eq!(desired.hash_salt, Some("s".repeat(32)));
        assert_eq!(desired.rollout[0].name.as_deref(), Some("Group 1"));
        assert_eq!(desired.rollout[1].name.as_deref(), Some("Mine"));

        let mut salted = normalize(&flag(json!({"key": "a", "hash_salt": "t".repeat(32)})));
        adopt_display_fields(&mut salted, &live);
        assert_eq!(salted.hash_salt, Some("t".repeat(32)));
    }
}
