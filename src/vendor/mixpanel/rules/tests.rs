//! Tests of Mixpanel's per-flag rules: each rule's passing and failing case, with its exact
//! message and pointer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::finding::Severity;
use crate::rules::{FlagRules, Problem};
use crate::vendor::mixpanel::MixpanelFlag;
use crate::vendor::mixpanel::tests::flag;

/// (code, pointer, message) of every problem of the flag `spec` describes.
fn problems(spec: Value) -> Vec<(&'static str, String, String)> {
    flag(spec)
        .problems(&BTreeMap::new())
        .into_iter()
        .map(|p| (p.code, p.pointer, p.message))
        .collect()
}

fn full(spec: Value) -> Vec<Problem> {
    flag(spec).problems(&BTreeMap::new())
}

fn one(code: &'static str, pointer: &str, message: &str) -> Vec<(&'static str, String, String)> {
    vec![(code, pointer.to_owned(), message.to_owned())]
}

/// A flag with a control and a treatment, on for a quarter of users.
fn good() -> Value {
    json!({"key": "checkout", "status": "enabled",
        "variants": [{"key": "control", "value": false, "is_control": true, "split": 50},
                     {"key": "treatment", "value": true, "split": 50}],
        "rollout": [{"rollout_percentage": 25,
                     "variant_splits": {"control": 10, "treatment": 90},
                     "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]},
                     "runtime_event_rule": {"event_name": "Signed up",
                                            "property_filters": {"in": [{"var": "country"}, ["fr"]]}}},
                    {"rollout_percentage": 100}],
        "test_users": {"qa@example.com": "Treatment"},
        "experiment_id": "0b8e1a52-6c6f-4a43-9d0e-0d4d0b0c2f11",
        "hash_salt": "0123456789abcdef0123456789abcdef",
        "tags": ["a", "b"]})
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base[field] = value;
    base
}

#[test]
fn a_good_flag_and_a_short_one_have_no_problems() {
    assert_eq!(problems(good()), vec![]);
    assert_eq!(problems(json!({"key": "gate"})), vec![]);
}

#[test]
fn key_name_and_context_lengths() {
    assert_eq!(
        problems(json!({"key": "k".repeat(256)})),
        // The name defaults to the key, so it is too long as well.
        vec![
            (
                "mixpanel-key",
                "/key".to_owned(),
                "a key is 1 to 255 characters; this one has 256".to_owned()
            ),
            (
                "mixpanel-name",
                "/name".to_owned(),
                "a name is 1 to 255 characters; this one has 256".to_owned()
            ),
        ]
    );
    assert_eq!(problems(json!({"key": "é".repeat(255)})), vec![]);
    assert_eq!(
        problems(json!({"key": "a", "name": ""})),
        one(
            "mixpanel-name",
            "/name",
            "a name is 1 to 255 characters; this one has 0"
        )
    );
    assert_eq!(
        problems(json!({"key": "a", "context": ""})),
        one(
            "mixpanel-context",
            "/context",
            "a context is 1 to 255 characters; this one has 0"
        )
    );
}

#[test]
fn hash_salt_is_32_characters() {
    let found = full(with(good(), "hash_salt", json!("short")));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, "mixpanel-hash-salt");
    assert_eq!(found[0].pointer, "/hash_salt");
    assert_eq!(
        found[0].message,
        "a hash_salt is exactly 32 characters; this one has 5"
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some("leave `hash_salt` out to keep the one Mixpanel generated")
    );
    assert_eq!(
        problems(with(good(), "hash_salt", json!("x".repeat(33)))).len(),
        1
    );
}

#[test]
fn experiment_id_is_a_uuid() {
    assert_eq!(
        problems(with(good(), "experiment_id", json!("exp-1"))),
        one(
            "mixpanel-experiment-id",
            "/experiment_id",
            "experiment id `exp-1` is not a UUID"
        )
    );
    assert_eq!(
        problems(with(
            good(),
            "experiment_id",
            json!("0b8e1a52-6c6f-4a43-9d0e-0d4d0b0c2f1g")
        ))
        .len(),
        1
    );
}

#[test]
fn a_group_context_wants_a_data_group() {
    let found = full(json!({"key": "a", "context": "account_id"}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "mixpanel-data-group",
            "/context",
            "context `account_id` is neither `distinct_id` nor `device_id`, so it names a data \
             group's key, but `data_group_id` is not set"
        )
    );
    assert_eq!(
        problems(json!({"key": "a", "context": "account_id", "data_group_id": 4})),
        vec![]
    );
    assert_eq!(
        problems(json!({"key": "a", "context": "device_id"})),
        vec![]
    );
}

#[test]
fn duplicate_tags_are_a_warning() {
    let found = full(with(good(), "tags", json!(["a", "b", "a"])));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        ("duplicate-tag", "/tags/2", "tag `a` is listed twice")
    );
}

fn variants(n: usize) -> Value {
    let split = 100.0 / f64::from(u32::try_from(n).unwrap());
    Value::Array(
        (0..n)
            .map(|i| json!({"key": format!("v{i}"), "value": i, "split": split, "is_control": i == 0}))
            .collect(),
    )
}

#[test]
fn at_most_ten_variants() {
    assert_eq!(
        problems(json!({"key": "a", "variants": variants(10)})),
        vec![]
    );
    assert_eq!(
        problems(json!({"key": "a", "variants": variants(11)})),
        vec![(
            "mixpanel-variant-count",
            "/variants".to_owned(),
            "11 variants; Mixpanel allows at most 10".to_owned()
        ),]
    );
}

#[test]
fn variant_splits_sum_to_100() {
    let mut f = good();
    f["variants"][1]["split"] = json!(40);
    let found = full(f);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "variant-sum",
            "/variants",
            "variant splits add up to 90%, not 100"
        )
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some("adjust the variants' `split` so they sum to 100")
    );
}

#[test]
fn each_groups_variant_splits_sum_to_100() {
    let mut f = good();
    f["rollout"][0]["variant_splits"] = json!({"control": 10, "treatment": 80});
    assert_eq!(
        problems(f),
        one(
            "variant-sum",
            "/rollout/0/variant_splits",
            "variant splits of rollout group 1 add up to 90%, not 100"
        )
    );
    // Splits taken from the variants are reported once, at the variants.
    let mut f = good();
    f["variants"][1]["split"] = json!(40);
    f["rollout"][0]
        .as_object_mut()
        .unwrap()
        .remove("variant_splits");
    assert_eq!(
        problems(f),
        one(
            "variant-sum",
            "/variants",
            "variant splits add up to 90%, not 100"
        )
    );
}

#[test]
fn exactly_one_control() {
    let mut none = good();
    none["variants"][0]["is_control"] = json!(false);
    let found = full(none);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        ("mixpanel-control", "/variants", "no variant is the control")
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some("mark exactly one variant with `is_control: true`")
    );
    let mut two = good();
    two["variants"][1]["is_control"] = json!(true);
    assert_eq!(
        problems(two),
        one(
            "mixpanel-control",
            "/variants/1/is_control",
            "variant `treatment` is a second control (the first is `control`); a flag has exactly one"
        )
    );
}

#[test]
fn the_control_is_not_sticky() {
    let mut f = good();
    f["variants"][0]["is_sticky"] = json!(true);
    let found = full(f);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "mixpanel-sticky-control",
            "/variants/0/is_sticky",
            "Mixpanel never makes the control sticky; `is_sticky` is ignored"
        )
    );
    let mut treatment = good();
    treatment["variants"][1]["is_sticky"] = json!(true);
    assert_eq!(problems(treatment), vec![]);
}

#[test]
fn variant_keys_are_unique_and_not_empty() {
    let mut f = good();
    f["variants"][1]["key"] = json!("control");
    f["rollout"][0]["variant_splits"] = json!({"control": 100});
    f["test_users"] = json!({});
    assert_eq!(
        problems(f),
        one(
            "duplicate-variant",
            "/variants/1/key",
            "variant `control` is defined twice (first as variant 1)"
        )
    );
    let mut f = good();
    f["variants"][1]["key"] = json!("");
    f["rollout"][0]["variant_splits"] = json!({"control": 10, "": 90});
    f["test_users"] = json!({});
    assert_eq!(
        problems(f),
        one(
            "mixpanel-variant-key",
            "/variants/1/key",
            "a variant key is 1 to 255 characters"
        )
    );
}

#[test]
fn one_value_type_across_variants() {
    let mut f = good();
    f["variants"][1]["value"] = json!({"color": "blue"});
    assert_eq!(
        problems(f),
        one(
            "mixpanel-value-type",
            "/variants/1/value",
            "variant `treatment` serves an object but variant `control` serves a boolean; the variants of a flag serve one type"
        )
    );
    let mut f = good();
    f["variants"][0]["value"] = json!("off");
    f["variants"][1]["value"] = json!("on");
    assert_eq!(problems(f), vec![]);
}

#[test]
fn a_value_is_at_most_32_kib() {
    let mut f = good();
    f["variants"][0]["value"] = json!("x".repeat(32 * 1024 - 2));
    f["variants"][1]["value"] = json!("y".repeat(32 * 1024 - 1));
    assert_eq!(
        problems(f),
        one(
            "mixpanel-value-size",
            "/variants/1/value",
            "variant `treatment`'s value is 32769 bytes as JSON; Mixpanel allows at most 32768"
        )
    );
}

#[test]
fn split_keys_name_variants() {
    let mut f = good();
    f["rollout"][0]["variant_splits"] = json!({"control": 10, "treatmnt": 90});
    let found = full(f);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "mixpanel-split-key",
            "/rollout/0/variant_splits/treatmnt",
            "`treatmnt` in `variant_splits` is not a variant of this flag"
        )
    );
    assert!(found[0].on_key);
    assert_eq!(
        found[0].help.as_deref(),
        Some("variants are: control, treatment")
    );
    assert_eq!(
        problems(
            json!({"key": "a", "rollout": [{"rollout_percentage": 5, "variant_splits": {"on": 100}}]})
        ),
        one(
            "mixpanel-split-key",
            "/rollout/0/variant_splits/on",
            "`on` in `variant_splits` is not a variant of this flag"
        )
    );
}

#[test]
fn a_variant_override_names_a_variant_and_is_deprecated() {
    let mut f = good();
    f["rollout"][1]["variant_override"] = json!({"key": "TREATMENT"});
    assert_eq!(
        problems(f.clone()),
        one(
            "mixpanel-deprecated",
            "/rollout/1/variant_override",
            "`variant_override` is deprecated in Mixpanel; use `variant_splits`"
        )
    );
    f["rollout"][1]["variant_override"] = json!({"key": "other"});
    assert_eq!(
        problems(f),
        vec![
            (
                "variant-override",
                "/rollout/1/variant_override/key".to_owned(),
                "variant override `other` is not a variant of this flag; evaluators ignore it"
                    .to_owned()
            ),
            (
                "mixpanel-deprecated",
                "/rollout/1/variant_override".to_owned(),
                "`variant_override` is deprecated in Mixpanel; use `variant_splits`".to_owned()
            ),
        ]
    );
}

#[test]
fn the_legacy_runtime_definition_is_deprecated() {
    let mut f = good();
    f["rollout"][1]["runtime_evaluation_definition"] = json!({"plan": "premium"});
    let found = full(f);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "mixpanel-deprecated",
            "/rollout/1/runtime_evaluation_definition",
            "`runtime_evaluation_definition` is deprecated in Mixpanel; use `runtime_evaluation_rule`"
        )
    );
}

#[test]
fn json_logic_rules_are_checked_where_they_are() {
    let mut f = good();
    f["rollout"][0]["runtime_evaluation_rule"] = json!({"==": [{"var": ""}, "premium"]});
    f["rollout"][0]["runtime_event_rule"]["property_filters"] = json!({"contains": [1, 2]});
    assert_eq!(
        problems(f),
        vec![
            (
                "mixpanel-json-logic",
                "/rollout/0/runtime_evaluation_rule/==/0/var".to_owned(),
                "`var` names a property with a non-empty string".to_owned()
            ),
            (
                "mixpanel-json-logic",
                "/rollout/0/runtime_event_rule/property_filters/contains".to_owned(),
                "`contains` is not an operator Mixpanel's evaluators know".to_owned()
            ),
        ]
    );
}

#[test]
fn a_runtime_event_rule_names_its_event() {
    let mut f = good();
    f["rollout"][0]["runtime_event_rule"]["event_name"] = json!("");
    assert_eq!(
        problems(f),
        one(
            "mixpanel-event-rule",
            "/rollout/0/runtime_event_rule/event_name",
            "a runtime event rule names its event"
        )
    );
}

#[test]
fn test_users_name_variants() {
    let found = full(with(
        good(),
        "test_users",
        json!({"qa/1": "treatment", "qa/2": "nope"}),
    ));
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "mixpanel-test-user",
            "/test_users/qa~12",
            "test user `qa/2` is given variant `nope`, which is not a variant of this flag"
        )
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some("variants are: control, treatment")
    );
    assert_eq!(
        full(json!({"key": "a", "test_users": {"u": "on"}}))[0]
            .help
            .as_deref(),
        Some("the flag has no variants")
    );
}

#[test]
fn an_enabled_flag_without_rollout_groups_serves_no_one() {
    let found = full(json!({"key": "a", "status": "enabled"}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(
        (
            found[0].code,
            found[0].pointer.as_str(),
            found[0].message.as_str()
        ),
        (
            "no-conditions",
            "/rollout",
            "the flag is enabled but has no rollout groups, so it serves no one"
        )
    );
    // Disabled, or serving its test users only: nothing to say.
    assert_eq!(problems(json!({"key": "a"})), vec![]);
    assert_eq!(
        problems(
            json!({"key": "a", "status": "enabled", "test_users": {"u": "on"},
            "variants": [{"key": "on", "value": true, "split": 100, "is_control": true}]})
        ),
        vec![]
    );
}

#[test]
fn repeats_over_one_list_are_collapsed() {
    let users: serde_json::Map<String, Value> =
        (0..10).map(|i| (format!("u{i}"), json!("nope"))).collect();
    let found = problems(with(good(), "test_users", Value::Object(users)));
    assert_eq!(found.len(), 3);
    assert_eq!(
        found[2].2,
        "test user `u2` is given variant `nope`, which is not a variant of this flag (and 7 \
         more in `test_users`)"
    );
}

#[test]
fn the_seam_answers_for_mixpanel() {
    assert_eq!(MixpanelFlag::needs("mixpanel-test-user"), ["variants"]);
    assert_eq!(MixpanelFlag::needs("mixpanel-hash-salt"), [] as [&str; 0]);
    assert_eq!(MixpanelFlag::state_fields(), ["status"]);
    assert!(MixpanelFlag::read_by_references().is_empty());
    assert_eq!(
        flag(json!({"key": "a", "status": "archived"})).off(),
        ("status", "archived")
    );
    assert_eq!(flag(json!({"key": "a"})).off(), ("status", "disabled"));
    let reference = crate::model::Reference {
        target: "b".into(),
        pointer: "/depends_on/0".into(),
        field: "depends_on",
    };
    assert!(!MixpanelFlag::evaluates(&reference));
}
