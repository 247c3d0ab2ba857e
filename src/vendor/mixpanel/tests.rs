//! Tests of the Mixpanel file format and resolved flag.

use serde_json::{Value, json};

use super::*;
use crate::model::Percent;

/// A spec read from YAML text as flagops' loader reads flag files.
pub(super) fn spec_from_yaml(text: &str) -> MixpanelSpec {
    let parsed = crate::source::yaml::parse(text);
    assert_eq!(parsed.errors, vec![], "YAML errors");
    let value = parsed.documents[0].value.clone();
    serde_json::from_value(value).expect("a Mixpanel spec")
}

/// A spec as `import` writes flag files.
pub(super) fn yaml(spec: &MixpanelSpec) -> String {
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: false,
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(spec, options).expect("YAML")
}

/// A resolved flag from spec JSON.
pub(super) fn flag(spec: Value) -> MixpanelFlag {
    MixpanelFlag::from_spec(&serde_json::from_value(spec).expect("a Mixpanel spec"))
}

const FULL: &str = r"key: checkout-v2
name: Checkout v2
description: The new checkout.
status: enabled
tags:
  - payments
  - web
context: account_id
serving_method: remote_or_local
data_group_id: 7
experiment_id: 0b8e1a52-6c6f-4a43-9d0e-0d4d0b0c2f11
is_experiment_active: true
hash_salt: 0123456789abcdef0123456789abcdef
variants:
  - key: control
    value: false
    is_control: true
    split: 50
  - key: treatment
    value:
      color: blue
      steps: 2
    split: 50
    description: Blue, two steps.
    is_sticky: true
rollout:
  - name: Premium
    rollout_percentage: 25.5
    variant_splits:
      control: 10
      treatment: 90
    runtime_evaluation_rule:
      ==:
        - var: plan
        - premium
    runtime_event_rule:
      event_name: Signed up
      time_window: while_flag_enabled
      duration: end_of_session
  - rollout_percentage: 100
    cohort_definition:
      id: 42
    runtime_evaluation_definition:
      country: FR
    variant_override:
      key: control
test_users:
  alice@example.com: treatment
  bob: control
depends_on:
  - payments-enabled
";

#[test]
fn a_full_flag_round_trips_byte_for_byte() {
    let spec = spec_from_yaml(FULL);
    let flag = MixpanelFlag::from_spec(&spec);
    assert_eq!(flag.rollout[0].rollout_percentage, Percent(25.5));
    assert_eq!(
        flag.variants[1].value.value(),
        json!({"color": "blue", "steps": 2})
    );
    assert_eq!(flag.to_spec(), spec);
    assert_eq!(yaml(&flag.to_spec()), FULL);
}

#[test]
fn a_short_file_takes_the_documented_defaults() {
    let spec = spec_from_yaml("key: gate\n");
    let flag = MixpanelFlag::from_spec(&spec);
    assert_eq!(
        flag,
        MixpanelFlag {
            key: "gate".into(),
            name: "gate".into(),
            status: Status::Disabled,
            context: "distinct_id".into(),
            serving_method: ServingMethod::Client,
            ..MixpanelFlag::default()
        }
    );
    assert_eq!(yaml(&flag.to_spec()), "key: gate\n");
}

#[test]
fn a_group_without_variant_splits_takes_the_variants_splits() {
    let text = "key: exp\nvariants:\n  - key: a\n    value: a\n    is_control: true\n    split: 30\n  - key: b\n    value: b\n    split: 70\nrollout:\n  - rollout_percentage: 10\n";
    let flag = MixpanelFlag::from_spec(&spec_from_yaml(text));
    assert_eq!(
        serde_json::to_value(&flag.rollout[0].variant_splits).unwrap(),
        json!({"a": 30, "b": 70})
    );
    // Written back, the default is left out again.
    assert_eq!(yaml(&flag.to_spec()), text);
}

#[test]
fn overrides_and_environments_are_read_and_ignored_by_from_spec() {
    let spec = spec_from_yaml(
        "key: a\nstatus: enabled\nenvironments:\n  staging:\n    status: disabled\n    hash_salt: 0123456789abcdef0123456789abcdef\n",
    );
    assert_eq!(spec.environments["staging"].status, Some(Status::Disabled));
    assert!(MixpanelFlag::from_spec(&spec).is_enabled());
    assert!(spec_from_yaml("key: a\n").environments.is_empty());
}

#[test]
fn unknown_fields_and_values_are_refused() {
    let read = |v: Value| serde_json::from_value::<MixpanelSpec>(v).map_err(|e| e.to_string());
    assert_eq!(
        read(json!({"key": "a", "active": true})).unwrap_err(),
        "unknown field `active`, expected one of `key`, `name`, `description`, `status`, `tags`, `context`, `serving_method`, `data_group_id`, `experiment_id`, `is_experiment_active`, `hash_salt`, `variants`, `rollout`, `test_users`, `depends_on`, `environments`"
    );
    assert_eq!(
        read(json!({"key": "a", "status": "active"})).unwrap_err(),
        "unknown variant `active`, expected one of `enabled`, `disabled`, `archived`"
    );
    assert_eq!(
        read(json!({"key": "a", "rollout": [{"rollout_percentage": 1,
            "runtime_event_rule": {"event_name": "e", "time_window": "forever"}}]}))
        .unwrap_err(),
        "unknown variant `forever`, expected `while_flag_enabled`"
    );
    assert_eq!(
        read(json!({"key": "a", "rollout": [{"rollout_percentage": 1,
            "runtime_event_rule": {"event_name": "e", "duration": "a_week"}}]}))
        .unwrap_err(),
        "unknown variant `a_week`, expected `end_of_session` or `indefinitely`"
    );
    assert_eq!(
        read(json!({"key": "a", "variants": [{"key": "v", "split": 100}]})).unwrap_err(),
        "missing field `value`"
    );
    assert!(read(json!({"key": "a", "environments": {"p": {"key": "b"}}})).is_err());
}

#[test]
fn the_overridable_fields_are_the_override_fields() {
    let every = serde_json::to_value(MixpanelOverride {
        name: Some(String::new()),
        description: Some(String::new()),
        status: Some(Status::Enabled),
        tags: Some(vec![]),
        context: Some(String::new()),
        serving_method: Some(ServingMethod::Server),
        data_group_id: Some(DataGroupId::Number(1)),
        experiment_id: Some(String::new()),
        is_experiment_active: Some(true),
        hash_salt: Some(String::new()),
        variants: Some(vec![]),
        rollout: Some(vec![]),
        test_users: Some(std::collections::BTreeMap::new()),
        depends_on: Some(vec![]),
    })
    .unwrap();
    let names: Vec<&str> = every
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = OVERRIDABLE_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
}

/// The schema as `flagops schema` writes files: pretty JSON and a newline.
fn schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&crate::schema::flag_schema::<MixpanelFlag>()).expect("JSON");
    text.push('\n');
    text
}

fn committed_schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(<MixpanelFlag as crate::model::FlagFile>::SCHEMA_FILE)
}

/// The committed `schemas/mixpanel-flag.schema.json` is the one the types generate. To
/// regenerate it: `FLAGOPS_WRITE_SCHEMA=1 cargo test --lib vendor::mixpanel::tests::the_committed_schema`.
#[test]
fn the_committed_schema_is_generated_from_the_types() {
    let path = committed_schema_path();
    if std::env::var_os("FLAGOPS_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, schema_text()).expect("written");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema_text(),
        "schemas/mixpanel-flag.schema.json is out of date: run \
         `FLAGOPS_WRITE_SCHEMA=1 cargo test --lib vendor::mixpanel::tests::the_committed_schema`"
    );
}

/// Every error `validate` reports for `document` under the Mixpanel schema, as
/// (instance pointer, message).
fn schema_errors(document: &Value) -> Vec<(String, String)> {
    let schema = crate::schema::flag_schema::<MixpanelFlag>();
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .expect("the schema compiles");
    validator
        .iter_errors(document)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

#[test]
fn the_schema_accepts_the_file_format_and_refuses_what_serde_refuses() {
    let full = crate::source::yaml::parse(FULL).documents[0].value.clone();
    assert_eq!(schema_errors(&full), vec![]);
    assert_eq!(schema_errors(&json!({"key": "a"})), vec![]);
    // (document, where the schema reports it or below, whether serde refuses it as well: lengths and
    // ranges are the schema's and the rules' only).
    let bad: Vec<(Value, &str, bool)> = vec![
        (json!({"name": "no key"}), "", true),
        (json!({"key": "a", "active": true}), "", true),
        (json!({"key": "a", "status": "active"}), "/status", true),
        (
            json!({"key": "a", "serving_method": "edge"}),
            "/serving_method",
            true,
        ),
        (json!({"key": ""}), "/key", false),
        (
            json!({"key": "a", "hash_salt": "short"}),
            "/hash_salt",
            false,
        ),
        (
            json!({"key": "a", "variants": [{"key": "v", "value": 1, "split": 101}]}),
            "/variants/0/split",
            false,
        ),
        (
            json!({"key": "a", "variants": [{"key": "v", "split": 100}]}),
            "/variants/0",
            true,
        ),
        (
            json!({"key": "a", "rollout": [{"variant_splits": {}}]}),
            "/rollout/0",
            true,
        ),
        (
            json!({"key": "a", "rollout": [{"rollout_percentage": 1, "runtime_event_rule": {"event_name": "e", "time_window": "forever"}}]}),
            "/rollout/0/runtime_event_rule/time_window",
            true,
        ),
        (
            json!({"key": "a", "rollout": [{"rollout_percentage": 1, "runtime_event_rule": {"event_name": "e", "duration": "a_week"}}]}),
            "/rollout/0/runtime_event_rule/duration",
            true,
        ),
        (
            json!({"key": "a", "test_users": {"u": 1}}),
            "/test_users/u",
            true,
        ),
        (
            json!({"key": "a", "environments": {"p": {"key": "b"}}}),
            "/environments/p",
            true,
        ),
    ];
    for (document, pointer, serde_refuses) in bad {
        let errors = schema_errors(&document);
        assert!(
            // A nullable object's error is reported at the object (`anyOf` with null).
            errors.iter().any(|(p, _)| pointer.starts_with(p.as_str())),
            "{document}: {errors:?}"
        );
        assert_eq!(
            serde_json::from_value::<MixpanelSpec>(document.clone()).is_err(),
            serde_refuses,
            "{document}"
        );
    }
}

/// The README's section on Mixpanel flag files.
fn readme_section() -> String {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README");
    let start = readme
        .find("### Mixpanel flag files")
        .expect("README has a Mixpanel flag files section");
    let rest = &readme[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// The README's example parses, passes the schema and breaks no rule, and its table of rules
/// lists exactly the codes the rules report.
#[test]
fn the_readme_example_and_rule_table_are_true() {
    let section = readme_section();
    let example = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("an example");
    let parsed = crate::source::yaml::parse(example);
    assert_eq!(parsed.errors, vec![]);
    let document = parsed.documents[0].value.clone();
    assert_eq!(schema_errors(&document), vec![]);
    let spec: MixpanelSpec = serde_json::from_value(document).expect("a Mixpanel spec");
    let problems = crate::rules::FlagRules::problems(
        &MixpanelFlag::from_spec(&spec),
        &std::collections::BTreeMap::new(),
    );
    assert_eq!(problems, vec![]);

    let table = section
        .split("Rules (codes shared")
        .nth(1)
        .expect("a rule table");
    let mut documented = std::collections::BTreeSet::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        for code in line.split('|').nth(1).unwrap_or("").split(", ") {
            documented.insert(code.trim().trim_matches('`').to_owned());
        }
    }
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/vendor/mixpanel/rules/mod.rs"),
    )
    .expect("rules source");
    let reported: std::collections::BTreeSet<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.starts_with("mixpanel-")
                || [
                    "variant-sum",
                    "duplicate-variant",
                    "variant-override",
                    "duplicate-tag",
                    "no-conditions",
                ]
                .contains(s)
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(documented, reported);
}

mod import_round_trip {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{spec_from_yaml, yaml};
    use crate::model::{Json, Percent, VendorFlag};
    use crate::vendor::mixpanel::normalize::file_form;
    use crate::vendor::mixpanel::*;

    /// A percentage as it comes back from Mixpanel: a whole or one-decimal percentage stored
    /// as a fraction, read back times 100 (with the float error that brings).
    fn percent() -> impl Strategy<Value = Percent> {
        (0u32..=1000).prop_map(|tenths| Percent(f64::from(tenths) / 1000.0 * 100.0))
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9_-]{0,12}",
            // Text YAML would read as something else unless quoted.
            Just("true".to_owned()),
            Just("1.5".to_owned()),
            Just("null".to_owned()),
            Just("- x: y #z".to_owned()),
            Just("multi\nline ".to_owned()),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            text().prop_map(Value::String),
            (0i64..1000).prop_map(|n| json!({"n": n, "list": [n, "x"]})),
            Just(json!(1.5)),
        ]
    }

    fn variant() -> impl Strategy<Value = Variant> {
        (
            text(),
            value(),
            any::<bool>(),
            percent(),
            proptest::option::of(text()),
            any::<bool>(),
        )
            .prop_map(
                |(key, value, is_control, split, description, is_sticky)| Variant {
                    key,
                    value: Json::new(&value),
                    is_control,
                    split,
                    description,
                    is_sticky,
                },
            )
    }

    fn group() -> impl Strategy<Value = RolloutGroup> {
        (
            proptest::option::of(text()),
            percent(),
            proptest::collection::btree_map(text(), percent(), 0..3),
            proptest::option::of(text().prop_map(|p| Json::new(&json!({"==": [{"var": p}, "x"]})))),
            proptest::option::of(text().prop_map(|event_name| RuntimeEventRule {
                event_name,
                time_window: TimeWindow::WhileFlagEnabled,
                duration: Some(Duration::Indefinitely),
                property_filters: None,
            })),
        )
            .prop_map(|(name, rollout_percentage, variant_splits, rule, event)| {
                RolloutGroup {
                    name,
                    rollout_percentage,
                    variant_splits,
                    runtime_evaluation_rule: rule,
                    runtime_event_rule: event,
                    ..RolloutGroup::default()
                }
            })
    }

    fn live_flag() -> impl Strategy<Value = MixpanelFlag> {
        (
            (
                text(),
                text(),
                proptest::option::of(text()),
                prop_oneof![
                    Just(Status::Enabled),
                    Just(Status::Disabled),
                    Just(Status::Archived)
                ],
                proptest::collection::vec(text(), 0..3),
                prop_oneof![Just("distinct_id".to_owned()), text()],
                prop_oneof![
                    Just(ServingMethod::Client),
                    Just(ServingMethod::Server),
                    Just(ServingMethod::RemoteOrLocal),
                    Just(ServingMethod::RemoteOnly)
                ],
            ),
            (
                proptest::option::of(prop_oneof![
                    (0i64..99).prop_map(DataGroupId::Number),
                    text().prop_map(DataGroupId::Text)
                ]),
                proptest::option::of(any::<bool>()),
                proptest::option::of("[a-f0-9]{32}"),
                proptest::collection::vec(variant(), 0..4),
                proptest::collection::vec(group(), 0..3),
                proptest::collection::btree_map(text(), text(), 0..3),
            ),
        )
            .prop_map(
                |(
                    (key, name, description, status, tags, context, serving_method),
                    (data_group_id, is_experiment_active, hash_salt, variants, rollout, test_users),
                )| MixpanelFlag {
                    key,
                    name,
                    description,
                    status,
                    tags,
                    context,
                    serving_method,
                    data_group_id,
                    experiment_id: None,
                    is_experiment_active,
                    hash_salt,
                    variants,
                    rollout,
                    test_users,
                    depends_on: Vec::new(),
                    enabled_at: None,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Import writes a live flag so that reading it back means the same flag (no diff)
        /// and writing it again gives the same bytes.
        #[test]
        fn an_imported_flag_reads_back_the_same_and_rewrites_byte_for_byte(live in live_flag()) {
            let text = yaml(&file_form(&live));
            let back = MixpanelFlag::from_spec(&spec_from_yaml(&text));
            prop_assert_eq!(MixpanelFlag::diff(&live.normalized(), &back.normalized()), vec![]);
            prop_assert_eq!(back.normalized(), live.normalized());
            prop_assert_eq!(yaml(&file_form(&back)), text);
        }
    }

    #[test]
    fn fractions_read_back_are_written_as_the_percentages_they_were() {
        let live = MixpanelFlag {
            key: "a".into(),
            name: "a".into(),
            context: "distinct_id".into(),
            rollout: vec![RolloutGroup {
                rollout_percentage: Percent(0.255 * 100.0),
                ..RolloutGroup::default()
            }],
            ..MixpanelFlag::default()
        };
        assert_eq!(
            yaml(&file_form(&live)),
            "key: a\nrollout:\n  - rollout_percentage: 25.5\n"
        );
    }
}

/// A group's `variant_splits` means what Mixpanel's evaluators make of it: in a file, a
/// variant it leaves out gets 0 (the named ones add up to 100); in a live flag read back, a
/// variant left out gets its own split, as the evaluators give it. Either way the canonical
/// form names every variant.
#[test]
fn a_group_that_leaves_variants_out_names_them_all() {
    let text = "key: exp\nvariants:\n  - {key: a, value: a, is_control: true, split: 50}\n  - {key: b, value: b, split: 50}\nrollout:\n  - rollout_percentage: 10\n    variant_splits: {b: 100}\n";
    let from_file = MixpanelFlag::from_spec(&spec_from_yaml(text));
    assert_eq!(
        serde_json::to_value(&from_file.rollout[0].variant_splits).unwrap(),
        json!({"a": 0, "b": 100})
    );
    let mut live = from_file.clone();
    live.rollout[0].variant_splits = [("b".to_owned(), Percent(100.0))].into_iter().collect();
    let read_back = super::normalize::normalize(&live);
    assert_eq!(
        serde_json::to_value(&read_back.rollout[0].variant_splits).unwrap(),
        json!({"a": 50, "b": 100})
    );
}
