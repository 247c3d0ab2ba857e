//! The canonical form of a flag: what the plan compares, so that a flag in sync never shows a
//! difference.
//!
//! Pure. Both sides (the repository's resolved flag and the backend's live flag) go through
//! [`normalize`] before diffing. The rules, and why:
//!
//! - **tags** are a set: trimmed, lower-cased (PostHog stores them so), deduplicated, sorted;
//! - **evaluation contexts** are a set: deduplicated and sorted;
//! - **aggregation**: each condition's effective `aggregation_group_type_index` is written out
//!   (the flag-level value folded in), and the flag-level value is recomputed the way PostHog
//!   does it on save: the value every condition shares, else none; with no condition it is kept;
//! - **rollout**: an absent condition rollout is 100%; percentages are compared numerically
//!   (`50`, `50.0` and `5e1` are equal) and rounded to 1e-9 (PostHog's tolerance);
//!   remote-configuration flags have every condition at 100% and at least one condition;
//! - **operators**: an absent operator is `exact` (`flag_evaluates_to` for `type: flag`);
//! - **defaults written out by the server** are removed: `negation: false`, empty strings in
//!   `name`/`description`/`label`/`variant`, `exposure_frozen: false`;
//! - **JSON values** (property values and payloads) are parsed values, whole floats become
//!   integers (`1.0` == `1`);
//! - **`depends_on`** is sorted and deduplicated; it is repository-only (no vendor stores it),
//!   so the diff never compares it;
//! - **display-only fields** (`label` of a property, `description` and `sort_key` of a
//!   condition) are managed when the repository writes them. When the repository leaves one
//!   out, the live value is adopted by [`adopt_display_fields`]: it is not a difference and an
//!   apply keeps it. PostHog's UI writes them on its own (`label` of a flag dependency is the
//!   target key), and a plan that fights the UI over a label would be noise.

use crate::util::{canonicalize, sorted_set};

use super::flag::Flag;
use super::property::{Condition, Property, PropertyType};
use super::spec::FlagSpec;
use crate::model::Percent;

/// The file form of a (live) flag, as `import` writes it: the canonical form, then
/// `Flag::to_spec` (fields at their default left out), with a condition's aggregation equal
/// to the flag-level aggregation left to inherit it (for readability). Reading it back and
/// normalizing gives the canonical form again.
pub fn file_form(flag: &Flag) -> FlagSpec {
    let mut flag = normalize(flag);
    if let Some(level) = flag.aggregation_group_type_index {
        for condition in &mut flag.conditions {
            if condition.aggregation_group_type_index == Some(level) {
                condition.aggregation_group_type_index = None;
            }
        }
    }
    // The same for a group type written by name (import).
    if let Some(name) = &flag.aggregation {
        for condition in &mut flag.conditions {
            if condition.aggregation.as_ref() == Some(name) {
                condition.aggregation = None;
            }
        }
    }
    flag.to_spec()
}

/// The canonical form of `flag` (see the module documentation for the rules).
pub fn normalize(flag: &Flag) -> Flag {
    let mut out = flag.clone();
    out.tags = tag_set(&flag.tags);
    out.evaluation_contexts = sorted_set(std::mem::take(&mut out.evaluation_contexts));
    out.depends_on = sorted_set(std::mem::take(&mut out.depends_on));

    if out.is_remote_configuration && out.conditions.is_empty() {
        out.conditions.push(Condition::default());
    }
    out.make_aggregation_explicit();
    for condition in &mut out.conditions {
        let rollout = if flag.is_remote_configuration {
            Percent::FULL
        } else {
            condition.rollout_percentage.unwrap_or(Percent::FULL)
        };
        condition.rollout_percentage = Some(percent(rollout));
        condition.variant = non_empty(condition.variant.take());
        condition.description = non_empty(condition.description.take());
        if condition.exposure_frozen == Some(false) {
            condition.exposure_frozen = None;
        }
        for property in &mut condition.properties {
            normalize_property(property);
        }
    }

    for variant in &mut out.variants {
        variant.rollout_percentage = percent(variant.rollout_percentage);
        variant.name = non_empty(variant.name.take());
        variant.description = non_empty(variant.description.take());
    }
    out.payloads.values_mut().for_each(canonicalize);
    if let Some(holdout) = &mut out.holdout {
        holdout.exclusion_percentage = percent(holdout.exclusion_percentage);
    }
    out
}

fn normalize_property(property: &mut Property) {
    property.operator = Some(property.effective_operator());
    if property.negation == Some(false) {
        property.negation = None;
    }
    property.label = non_empty(property.label.take());
    if let Some(value) = &mut property.value {
        canonicalize(value);
    }
    if property.kind == PropertyType::Flag {
        property.key = None;
    }
}

/// One tag as PostHog stores it: trimmed and lower-cased.
pub fn tag(tag: &str) -> String {
    tag.trim().to_lowercase()
}

/// Tags as PostHog stores them, as a sorted set.
pub fn tag_set(tags: &[String]) -> Vec<String> {
    sorted_set(tags.iter().map(|t| tag(t)).filter(|t| !t.is_empty()))
}

/// Round a percentage to PostHog's 1e-9 tolerance so equal values compare equal.
fn percent(p: Percent) -> Percent {
    let rounded = (p.get() * 1e9).round() / 1e9;
    // `-0.0` and `0.0` are the same rollout.
    Percent(if rounded == 0.0 { 0.0 } else { rounded })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

/// Copy the live flag's display-only fields into `desired` where the repository leaves them
/// out: `label` of a property, `description` and `sort_key` of a condition. Conditions are
/// matched by position, properties by position and what they look at. Both flags should be
/// normalized first.
pub fn adopt_display_fields(desired: &mut Flag, live: &Flag) {
    for (mine, theirs) in desired.conditions.iter_mut().zip(&live.conditions) {
        if mine.description.is_none() {
            mine.description.clone_from(&theirs.description);
        }
        if mine.sort_key.is_none() {
            mine.sort_key.clone_from(&theirs.sort_key);
        }
        for (p, q) in mine.properties.iter_mut().zip(&theirs.properties) {
            let same_target = p.kind == q.kind && p.key == q.key && p.flag == q.flag;
            if same_target && p.label.is_none() {
                p.label.clone_from(&q.label);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::vendor::posthog::{Holdout, Operator, SortKey, Variant};

    fn flag(value: Value) -> Flag {
        let spec: crate::vendor::posthog::FlagSpec = serde_json::from_value(value).unwrap();
        spec.resolve(None).0
    }

    /// Pairs that must normalize to the same flag: (what, repository side, live side).
    #[test]
    fn equivalent_forms_normalize_equal() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "tags are a trimmed lower-case set",
                json!({"key": "a", "tags": ["Beta", " beta", "alpha"]}),
                json!({"key": "a", "tags": ["alpha", "beta"]}),
            ),
            (
                "evaluation contexts are a set",
                json!({"key": "a", "evaluation_contexts": ["web", "app", "web"]}),
                json!({"key": "a", "evaluation_contexts": ["app", "web"]}),
            ),
            (
                "absent rollout is 100",
                json!({"key": "a", "conditions": [{}]}),
                json!({"key": "a", "conditions": [{"rollout_percentage": 100.0}]}),
            ),
            (
                "numbers compare numerically",
                json!({"key": "a", "conditions": [{"rollout_percentage": 50}]}),
                json!({"key": "a", "conditions": [{"rollout_percentage": 50.000_000_000_01}]}),
            ),
            (
                "absent operator is exact",
                json!({"key": "a", "conditions": [{"properties": [{"type": "person", "key": "e", "value": "x"}]}]}),
                json!({"key": "a", "conditions": [{"properties": [{"type": "person", "key": "e", "value": "x", "operator": "exact"}]}]}),
            ),
            (
                "absent operator of a flag property is flag_evaluates_to",
                json!({"key": "a", "conditions": [{"properties": [{"type": "flag", "flag": "b", "value": true}]}]}),
                json!({"key": "a", "conditions": [{"properties": [{"type": "flag", "flag": "b", "value": true, "operator": "flag_evaluates_to"}]}]}),
            ),
            (
                "negation false is absent",
                json!({"key": "a", "conditions": [{"properties": [{"type": "person", "key": "e", "value": 1}]}]}),
                json!({"key": "a", "conditions": [{"properties": [{"type": "person", "key": "e", "value": 1.0, "negation": false}]}]}),
            ),
            (
                "flag-level aggregation is folded into each condition",
                json!({"key": "a", "aggregation_group_type_index": 1, "conditions": [{}, {}]}),
                json!({"key": "a", "aggregation_group_type_index": 1, "conditions": [
                    {"aggregation_group_type_index": 1}, {"aggregation_group_type_index": 1}]}),
            ),
            (
                "flag-level aggregation is recomputed from the conditions",
                json!({"key": "a", "conditions": [{"aggregation_group_type_index": 2}]}),
                json!({"key": "a", "aggregation_group_type_index": 2, "conditions": [{"aggregation_group_type_index": 2}]}),
            ),
            (
                "payloads are parsed values",
                json!({"key": "a", "payloads": {"true": {"n": 1.0, "l": [2.0]}}}),
                json!({"key": "a", "payloads": {"true": {"l": [2], "n": 1}}}),
            ),
            (
                "empty display strings are absent",
                json!({"key": "a", "variants": [{"key": "c", "rollout_percentage": 100}]}),
                json!({"key": "a", "variants": [{"key": "c", "rollout_percentage": 100, "name": "", "description": ""}]}),
            ),
            (
                "remote configuration forces 100% and one condition",
                json!({"key": "a", "is_remote_configuration": true}),
                json!({"key": "a", "is_remote_configuration": true, "conditions": [{"rollout_percentage": 0}]}),
            ),
            (
                "depends_on is a set",
                json!({"key": "a", "depends_on": ["b", "a", "b"]}),
                json!({"key": "a", "depends_on": ["a", "b"]}),
            ),
        ];
        for (what, repo, live) in cases {
            assert_eq!(normalize(&flag(repo)), normalize(&flag(live)), "{what}");
        }
    }

    /// Pairs that must stay different.
    #[test]
    fn real_differences_survive() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "rollout",
                json!({"key": "a", "conditions": [{"rollout_percentage": 10}]}),
                json!({"key": "a", "conditions": [{"rollout_percentage": 50}]}),
            ),
            (
                "negation",
                json!({"key": "a", "conditions": [{"properties": [{"type": "person", "key": "e", "value": 1}]}]}),
                json!({"key": "a", "conditions": [{"properties": [{"type": "person", "key": "e", "value": 1, "negation": true}]}]}),
            ),
            (
                "condition order",
                json!({"key": "a", "conditions": [{"rollout_percentage": 10}, {}]}),
                json!({"key": "a", "conditions": [{}, {"rollout_percentage": 10}]}),
            ),
            (
                "mixed aggregation is not folded",
                json!({"key": "a", "conditions": [{"aggregation_group_type_index": 1}, {}]}),
                json!({"key": "a", "conditions": [{"aggregation_group_type_index": 1}, {"aggregation_group_type_index": 1}]}),
            ),
            (
                "payload string vs number",
                json!({"key": "a", "payloads": {"true": "1"}}),
                json!({"key": "a", "payloads": {"true": 1}}),
            ),
            (
                "variant order",
                json!({"key": "a", "variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]}),
                json!({"key": "a", "variants": [{"key": "b", "rollout_percentage": 50}, {"key": "a", "rollout_percentage": 50}]}),
            ),
        ];
        for (what, a, b) in cases {
            assert_ne!(normalize(&flag(a)), normalize(&flag(b)), "{what}");
        }
    }

    #[test]
    fn mixed_aggregation_makes_the_flag_level_none() {
        let f = normalize(&flag(json!({"key": "a", "aggregation_group_type_index": 1,
            "conditions": [{}, {"aggregation_group_type_index": 2}]})));
        assert_eq!(f.aggregation_group_type_index, None);
        assert_eq!(f.conditions[0].aggregation_group_type_index, Some(1));
        assert_eq!(f.conditions[1].aggregation_group_type_index, Some(2));
        assert_eq!(f.conditions[0].properties.len(), 0);
    }

    #[test]
    fn normalize_is_idempotent() {
        let f = flag(
            json!({"key": "a", "tags": ["B"], "aggregation_group_type_index": 0,
            "conditions": [{"properties": [{"type": "person", "key": "e", "value": [1.0]}]}],
            "variants": [{"key": "c", "rollout_percentage": 100}], "holdout": {"id": 1, "exclusion_percentage": 10.0}}),
        );
        let once = normalize(&f);
        assert_eq!(normalize(&once), once);
        assert_eq!(
            once.conditions[0].properties[0].operator,
            Some(Operator::Exact)
        );
        assert_eq!(
            once.variants,
            vec![Variant {
                key: "c".into(),
                name: None,
                rollout_percentage: Percent(100.0),
                description: None
            }]
        );
        assert_eq!(
            once.holdout,
            Some(Holdout {
                id: 1,
                exclusion_percentage: Percent(10.0)
            })
        );
    }

    #[test]
    fn display_fields_are_adopted_only_when_the_repository_leaves_them_out() {
        let live = normalize(&flag(
            json!({"key": "a", "conditions": [{"description": "ui", "sort_key": 3,
            "properties": [{"type": "flag", "flag": "b", "value": true, "label": "b"}]}]}),
        ));
        let mut desired = normalize(&flag(json!({"key": "a", "conditions": [{
            "properties": [{"type": "flag", "flag": "b", "value": true}]}]})));
        adopt_display_fields(&mut desired, &live);
        assert_eq!(desired, live);

        let mut written = normalize(&flag(
            json!({"key": "a", "conditions": [{"description": "mine",
            "properties": [{"type": "flag", "flag": "c", "value": true}]}]}),
        ));
        adopt_display_fields(&mut written, &live);
        assert_eq!(written.conditions[0].description.as_deref(), Some("mine"));
        assert_eq!(
            written.conditions[0].sort_key,
            Some(SortKey::Number(3.into()))
        );
        // A different target keeps no label from the old one.
        assert_eq!(written.conditions[0].properties[0].label, None);
    }
}
