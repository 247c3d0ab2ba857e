//! Unit tests of import's merge, on PostHog flags.

use serde_json::json;

use super::*;
use crate::vendor::posthog::{Flag, FlagSpec};

fn merge(
    file: &FlagSpec,
    env: &str,
    live: &Flag,
    others: &BTreeSet<String>,
    ignored: &[&str],
) -> Result<FlagSpec, String> {
    super::merge::<Flag>(file, env, live, others, ignored)
}

fn spec(value: Value) -> FlagSpec {
    serde_json::from_value(value).unwrap()
}

fn live(value: Value) -> Flag {
    spec(value).resolve(None).0
}

fn envs(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

#[test]
fn differing_fields_land_in_the_environments_override() {
    let file = spec(json!({"key": "a", "name": "Search", "tags": ["x"],
        "conditions": [{"rollout_percentage": 10}],
        "environments": {"staging": {"conditions": [{"rollout_percentage": 100}]}}}));
    let prod = live(json!({"key": "a", "name": "Search", "tags": ["x", "y"],
        "conditions": [{"rollout_percentage": 50}]}));
    let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({"key": "a", "name": "Search", "tags": ["x"],
            "conditions": [{"rollout_percentage": 10}],
            "environments": {
                "production": {"tags": ["x", "y"], "conditions": [{"rollout_percentage": 50}]},
                "staging": {"conditions": [{"rollout_percentage": 100}]}}})
    );
}

#[test]
fn an_override_equal_to_the_base_is_dropped_and_a_synced_file_is_kept() {
    let file = spec(json!({"key": "a", "active": true,
        "environments": {"staging": {"active": false}, "production": {"active": false}}}));
    let prod = live(json!({"key": "a", "active": true}));
    let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({"key": "a", "active": true, "environments": {"staging": {"active": false}}})
    );
    let in_sync = merge(&merged, "production", &prod, &envs(&["staging"]), &[]).unwrap();
    assert_eq!(in_sync, merged);
}

#[test]
fn a_value_an_override_cannot_remove_moves_out_of_the_base() {
    let file = spec(
        json!({"key": "a", "holdout": {"id": 1, "exclusion_percentage": 10},
        "environments": {"dev": {"name": "d"}}}),
    );
    let prod = live(json!({"key": "a"}));
    let merged = merge(&file, "production", &prod, &envs(&["staging", "dev"]), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({"key": "a", "environments": {
            "dev": {"name": "d", "holdout": {"id": 1, "exclusion_percentage": 10}},
            "staging": {"holdout": {"id": 1, "exclusion_percentage": 10}}}})
    );
}

#[test]
fn ignored_fields_stay_as_written() {
    let file =
        spec(json!({"key": "a", "tags": ["x"], "environments": {"staging": {"active": false}}}));
    let prod = live(json!({"key": "a"}));
    let merged = merge(&file, "production", &prod, &envs(&["staging"]), &["tags"]).unwrap();
    assert_eq!(merged, file);
}

#[test]
fn removing_the_variants_moves_what_names_them_out_of_the_base() {
    let file = spec(json!({"key": "a",
        "conditions": [{"variant": "control"}],
        "variants": [{"key": "control", "rollout_percentage": 100}],
        "payloads": {"control": 1}}));
    let prod = live(json!({"key": "a", "conditions": [{"rollout_percentage": 20}]}));
    let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({"key": "a", "environments": {
            "production": {"conditions": [{"rollout_percentage": 20}], "payloads": {}},
            "staging": {"conditions": [{"variant": "control"}],
                "variants": [{"key": "control", "rollout_percentage": 100}],
                "payloads": {"control": 1}}}})
    );
}

/// Found by the property test: moving the conditions out of the base must bring the
/// aggregation their live form leaves to the flag level.
#[test]
fn conditions_moved_out_of_the_base_keep_their_aggregation() {
    let file = spec(
        json!({"key": "a", "conditions": [{"aggregation_group_type_index": 0}],
        "variants": [{"key": "control", "rollout_percentage": 100}]}),
    );
    let prod = live(json!({"key": "a", "conditions": [{"aggregation_group_type_index": 0}]}));
    let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({"key": "a", "environments": {
            "production": {"conditions": [{"rollout_percentage": 100}],
                "aggregation_group_type_index": 0},
            "staging": {"conditions": [{"aggregation_group_type_index": 0}],
                "variants": [{"key": "control", "rollout_percentage": 100}]}}})
    );
}

fn config(value: Value) -> Config {
    serde_json::from_value(value).unwrap()
}

#[test]
fn an_existing_file_is_kept_rewritten_or_merged() {
    let one =
        config(json!({"backend": "local", "environments": {"production": {"ignore": ["tags"]}}}));
    let two =
        config(json!({"backend": "local", "environments": {"production": {}, "staging": {}}}));
    let file = spec(json!({"key": "a", "name": "A", "tags": ["mine"], "depends_on": ["b"]}));
    // In sync but for an ignored field: kept as it is.
    let prod = live(json!({"key": "a", "name": "A"}));
    assert_eq!(existing_file(&file, &prod, "production", &one), Ok(None));
    // Only one environment reads it: canonical, with its `depends_on` and ignored tags.
    let renamed = live(json!({"key": "a", "name": "B"}));
    assert_eq!(
        existing_file(&file, &renamed, "production", &one),
        Ok(Some(spec(
            json!({"key": "a", "name": "B", "tags": ["mine"], "conditions": [], "depends_on": ["b"]})
        )))
    );
    // Another environment reads it: merged.
    assert_eq!(
        existing_file(&file, &renamed, "production", &two),
        Ok(Some(spec(
            json!({"key": "a", "name": "A", "tags": ["mine"], "depends_on": ["b"],
            "environments": {"production": {"name": "B", "tags": []}}})
        )))
    );
}
