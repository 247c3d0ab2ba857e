//! Unit tests of import: YAML quoting round trips, key order, canonical form, modeline paths.

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::backend::{LiveFlag, Unsupported};
use crate::vendor::posthog::{Flag, FlagSpec};

fn flag(value: Value) -> Flag {
    let spec: FlagSpec = serde_json::from_value(value).unwrap();
    spec.resolve(None).0
}

fn state(flags: Vec<Value>) -> LiveState {
    LiveState {
        flags: flags
            .into_iter()
            .enumerate()
            .map(|(i, v)| LiveFlag {
                id: i.to_string(),
                flag: flag(v),
                token: Some(1.into()),
            })
            .collect(),
        unsupported: vec![Unsupported {
            key: "rules-v2".into(),
            id: "99".into(),
            reason: "it uses `filters.version` 2".into(),
        }],
    }
}

fn written(value: Value) -> String {
    render::<Flag>(
        &canonical(&flag(value)),
        "../schemas/posthog-flag.schema.json",
    )
    .unwrap()
}

#[test]
fn select_skips_unsupported_and_dangling_dependencies() {
    let live = state(vec![
        json!({"key": "b"}),
        json!({"key": "a", "conditions": [{"properties": [{"type": "flag", "flag": "#42", "value": true}]}]}),
        json!({"key": "c", "conditions": [{"properties": [{"type": "flag", "flag": "b", "value": true}]}]}),
    ]);
    let all = select(&live, None);
    let keys: Vec<&str> = all.flags.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["b", "c"]);
    assert_eq!(
        all.skipped,
        vec![
            Skipped {
                key: "a".into(),
                reason: "it depends on flag id 42, which is not a live flag (deleted?); fix the condition in the service first".into(),
            },
            Skipped {
                key: "rules-v2".into(),
                reason: "it uses `filters.version` 2".into(),
            },
        ]
    );
    let only = globset::Glob::new("c*").unwrap().compile_matcher();
    let some = select(&live, Some(&only));
    assert_eq!(some.flags.len(), 1);
    assert!(some.skipped.is_empty());
}

#[test]
fn canonical_leaves_defaults_out_and_folds_shared_aggregation() {
    let text = written(json!({
        "key": "k", "active": true, "tags": ["Beta", "alpha ", "beta"],
        "aggregation_group_type_index": 0,
        "conditions": [{"aggregation_group_type_index": 0, "properties": [
            {"type": "group", "group_type_index": 0, "key": "plan", "value": "pro", "negation": false}]}],
        "evaluation_runtime": "all"
    }));
    assert_eq!(
        text,
        "# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: k
tags:
  - alpha
  - beta
conditions:
  - properties:
      - type: group
        key: plan
        operator: exact
        value: pro
        group_type_index: 0
    rollout_percentage: 100
aggregation_group_type_index: 0
"
    );
}

#[test]
fn strings_that_yaml_would_misread_are_quoted_and_read_back() {
    let tricky = [
        "123",
        "1.5",
        "0x1F",
        "1e3",
        "true",
        "False",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "~",
        "",
        " lead",
        "trail ",
        "a: b",
        "a #b",
        "#c",
        "- x",
        "multi\nline\n",
        "multi\nline",
        "tab\there",
        "quote\"s",
        "it's",
        "@at",
        "`bt",
        "*star",
        "&amp",
        "!bang",
        "%pc",
        "{x}",
        "[y]",
        "a,b",
        "?q",
        "|p",
        ">g",
        "2025-06-01",
        "12:30",
        "ünï",
        ".inf",
        "-.inf",
        ".nan",
        "+1",
        "1_000",
        "\u{7f}ctl",
        "\u{0}nul",
        "crlf\r\nx",
        "trailing\n\n",
        "<<",
        "---",
        "...",
        "=",
        "$feature_enrollment/x",
        "^(qa|test)\\+.*@acme\\.io$",
    ];
    for s in tricky {
        let spec = canonical(&flag(json!({
            "key": "k", "name": s, "tags": [s.to_lowercase().trim()],
            "conditions": [{"description": s, "properties": [{"type": "person", "key": s, "value": [s, {s: s}]}]}],
            "payloads": {"true": s, s: {"n": s}},
        })));
        let text = render::<Flag>(&spec, "x.json").unwrap();
        check_round_trip::<Flag>(&text, &spec, Path::new("k.yaml"))
            .unwrap_or_else(|e| panic!("{s:?}: {e}\n{text}"));
        assert!(
            text.lines()
                .all(|l| !l.ends_with(' ') && !l.ends_with('\t')),
            "{s:?}: trailing whitespace\n{text}"
        );
    }
}

#[test]
fn payload_values_are_yaml_values_with_stable_key_order() {
    let text = written(json!({
        "key": "k", "variants": [{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50}],
        "payloads": {"test": {"z": 1.0, "a": [true, null, 2.5, "1"]}, "control": "plain"}
    }));
    assert!(
        text.ends_with(
            "payloads:
  control: plain
  test:
    a:
      - true
      - null
      - 2.5
      - \"1\"
    z: 1
"
        ),
        "{text}"
    );
    let spec = canonical(&flag(
        json!({"key": "k", "payloads": {"true": {"z": 1.0, "a": [1]}}}),
    ));
    let text = render::<Flag>(&spec, "x.json").unwrap();
    check_round_trip::<Flag>(&text, &spec, Path::new("k.yaml")).unwrap();
    assert_eq!(text, render::<Flag>(&spec, "x.json").unwrap());
}

#[test]
fn relative_paths_climb_to_the_schema() {
    let p = Path::new;
    assert_eq!(
        relative_path(p("/r/flags"), p("/r/schemas/f.json")),
        "../schemas/f.json"
    );
    assert_eq!(
        relative_path(p("/r/flags/a/b"), p("/r/schemas/f.json")),
        "../../../schemas/f.json"
    );
    assert_eq!(
        relative_path(p("/r"), p("/r/schemas/f.json")),
        "schemas/f.json"
    );
    assert_eq!(
        lexical_normal(p("/r/./flags/../x/")),
        p("/r/x").to_path_buf()
    );
}

#[test]
fn file_names_fit_file_systems_and_never_differ_only_in_case() {
    let mut taken = std::collections::BTreeMap::new();
    taken.insert("beta.yaml".to_owned(), "beta.yaml".to_owned());
    // The file of the same name (the flag's own) is not a clash.
    assert_eq!(file_name("beta", &mut taken), "beta.yaml");
    let other = file_name("Beta", &mut taken);
    let hex = other
        .strip_prefix("Beta-")
        .and_then(|rest| rest.strip_suffix(".yaml"));
    assert!(hex.is_some_and(|h| h.len() == 8), "{other}");
    assert_eq!(other.len(), "Beta-".len() + 8 + ".yaml".len());
    let long = file_name(&"k".repeat(400), &mut taken);
    assert_eq!(long.len(), 200 + 1 + 8 + ".yaml".len());
    // Deterministic.
    assert_eq!(
        file_name(
            "Beta",
            &mut std::collections::BTreeMap::from([(
                "beta.yaml".to_owned(),
                "beta.yaml".to_owned()
            )])
        ),
        other
    );
}

/// A key that holds what a file name must not (Mixpanel's keys may hold any text) becomes a
/// safe name: those characters as `_`, and the key's digest so two such keys never meet.
#[test]
fn keys_a_file_name_cannot_hold_are_written_safely() {
    let mut taken = std::collections::BTreeMap::new();
    let name = file_name("../checkout v2/é", &mut taken);
    let (stem, hex) = name
        .strip_suffix(".yaml")
        .and_then(|n| n.rsplit_once('-'))
        .unwrap();
    assert_eq!(stem, "___checkout_v2__");
    assert_eq!(hex.len(), 8);
    assert_ne!(file_name("../checkout v2/e", &mut taken), name);
    assert!(!name.contains('/'));
}
