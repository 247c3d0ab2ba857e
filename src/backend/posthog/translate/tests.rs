//! Unit tests of the wire translation.

use super::*;
use serde_json::json;

fn wire(value: Value) -> WireFlag {
    serde_json::from_value(value).unwrap()
}

#[test]
fn injected_fields_are_dropped_and_dependencies_become_keys() {
    let mut ids = Ids::default();
    ids.insert(7, "target");
    let flag = from_wire(
        &wire(json!({
            "id": 1, "key": "a", "version": 3,
            "filters": {
                "aggregation_group_type_index": null,
                "groups": [{
                    "properties": [
                        {"key": "id", "type": "cohort", "value": 4, "cohort_name": "Beta", "operator": "in"},
                        {"key": "7", "type": "flag", "value": true, "operator": "flag_evaluates_to", "label": "target"},
                        {"key": 9, "type": "flag", "value": "x", "operator": "flag_evaluates_to"},
                        {"key": "age", "type": "person", "value": 3, "operator": "min"}
                    ],
                    "rollout_percentage": 50.0,
                    "aggregation_group_type_index": null
                }],
                "payloads": {"true": "{\"a\": [1, 2]}"}
            }
        })),
        &ids,
    )
    .unwrap();
    let props = &flag.conditions[0].properties;
    assert_eq!(props[0].key.as_deref(), Some("id"));
    assert_eq!(props[1].flag.as_deref(), Some("target"));
    assert_eq!(props[1].label, None);
    assert_eq!(props[2].flag.as_deref(), Some("#9"));
    assert_eq!(props[3].operator, Some(Operator::Gte));
    assert_eq!(flag.conditions[0].rollout_percentage, Some(Percent(50.0)));
    assert_eq!(flag.payloads["true"], json!({"a": [1, 2]}));

    let body = to_wire(&flag, &ids).unwrap();
    let sent = &body["filters"]["groups"][0]["properties"];
    assert_eq!(
        sent[1],
        json!({"key": "7", "type": "flag", "operator": "flag_evaluates_to", "label": "target", "value": true})
    );
    assert_eq!(sent[2]["key"], json!("9"));
    assert_eq!(body["filters"]["payloads"]["true"], json!("{\"a\":[1,2]}"));
}

#[test]
fn group_index_equal_to_the_flag_level_reads_as_inherited() {
    let flag = from_wire(
        &wire(json!({"id": 1, "key": "a", "filters": {
            "aggregation_group_type_index": 1,
            "groups": [{"properties": [], "aggregation_group_type_index": 1}]
        }})),
        &Ids::default(),
    )
    .unwrap();
    assert_eq!(flag.aggregation_group_type_index, Some(1));
    assert_eq!(flag.conditions[0].aggregation_group_type_index, None);
}

#[test]
fn what_the_model_cannot_hold_is_a_reason() {
    let ids = Ids::default();
    let v2 = wire(json!({"id": 1, "key": "a", "filters": {"version": 2, "rules": []}}));
    assert_eq!(
        from_wire(&v2, &ids).unwrap_err(),
        "it uses `filters.version` 2 (feature flag rules v2), which flagops cannot manage"
    );
    let extra =
        wire(json!({"id": 1, "key": "a", "filters": {"groups": [{"properties": [], "shiny": 1}]}}));
    assert_eq!(
        from_wire(&extra, &ids).unwrap_err(),
        "condition 1 has field `shiny`, which flagops cannot represent"
    );
    let bad_payloads = wire(json!({"id": 1, "key": "a", "filters": {"payloads": ["x"]}}));
    assert_eq!(
        from_wire(&bad_payloads, &ids).unwrap_err(),
        "`payloads` is a list"
    );
}

/// Older servers accepted payload strings that are not JSON; SDKs serve the raw text. Such a
/// payload reads as that text and compares equal to the JSON string of it, the only stored
/// form newer servers accept and what a write sends.
#[test]
fn a_legacy_payload_that_is_not_json_reads_as_its_text() {
    let ids = Ids::default();
    let legacy = wire(json!({"id": 1, "key": "a", "filters": {
        "groups": [{"properties": [], "rollout_percentage": 100}],
        "multivariate": {"variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]},
        "payloads": {"a": "blue button", "b": "\"blue button\""}}}));
    let flag = from_wire(&legacy, &ids).unwrap();
    assert_eq!(flag.payloads["a"], json!("blue button"));
    assert_eq!(flag.payloads["a"], flag.payloads["b"]);
    let body = to_wire(&flag, &ids).unwrap();
    assert_eq!(
        body["filters"]["payloads"],
        json!({"a": "\"blue button\"", "b": "\"blue button\""})
    );
    // Text that is JSON is read as JSON, as before.
    let json_text = wire(json!({"id": 1, "key": "a", "filters": {"payloads": {"true": "[1, 2]"}}}));
    assert_eq!(
        from_wire(&json_text, &ids).unwrap().payloads["true"],
        json!([1, 2])
    );
}

/// The sentinel PostHog shows for an encrypted payload (posthog-api.md §3) is sent back as it
/// came, which keeps the stored ciphertext; JSON-encoding it would overwrite the secret.
#[test]
fn the_encrypted_sentinel_goes_back_as_it_came() {
    let ids = Ids::default();
    let sentinel = crate::vendor::posthog::ENCRYPTED_SENTINEL;
    let encrypted = wire(json!({"id": 1, "key": "a", "is_remote_configuration": true,
        "has_encrypted_payloads": true, "filters": {"payloads": {"true": sentinel}}}));
    let flag = from_wire(&encrypted, &ids).unwrap();
    assert_eq!(flag.payloads["true"], json!(sentinel));
    let body = to_wire(&flag, &ids).unwrap();
    assert_eq!(body["filters"]["payloads"]["true"], json!(sentinel));
    let clear = Flag {
        has_encrypted_payloads: false,
        ..flag
    };
    assert_eq!(
        to_wire(&clear, &ids).unwrap()["filters"]["payloads"]["true"],
        json!(format!("\"{sentinel}\""))
    );
}

#[test]
fn an_unknown_dependency_key_is_refused_on_write() {
    let flag = Flag {
        key: "a".into(),
        conditions: vec![Condition {
            properties: vec![Property {
                kind: PropertyType::Flag,
                key: None,
                flag: Some("ghost".into()),
                operator: None,
                value: Some(json!(true)),
                negation: None,
                cohort: None,
                group_type_index: None,
                group_type: None,
                label: None,
            }],
            ..Condition::default()
        }],
        ..Flag::default()
    };
    assert_eq!(
        to_wire(&flag, &Ids::default()).unwrap_err(),
        "condition 1, property 1 depends on flag `ghost`, which does not exist in this project; create it first"
    );
}

/// Servers from before the rename (posthog-api.md §0) send `evaluation_tags`; an import or
/// plan against them must not lose the contexts.
#[test]
fn evaluation_tags_of_older_servers_read_as_evaluation_contexts() {
    let ids = Ids::default();
    let older =
        wire(json!({"id": 1, "key": "a", "evaluation_tags": ["web"], "filters": {"groups": []}}));
    assert_eq!(
        from_wire(&older, &ids).unwrap().evaluation_contexts,
        ["web"]
    );
    let both = wire(json!({"id": 1, "key": "a", "evaluation_tags": ["old"],
        "evaluation_contexts": ["new"], "filters": {"groups": []}}));
    assert_eq!(from_wire(&both, &ids).unwrap().evaluation_contexts, ["new"]);
}
