//! The PostHog adapter against the strict fake: listing, writes, dependency translation,
//! error mapping and secret hygiene.

use std::time::Duration;

use flagops::backend::pacing::RetryPolicy;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings, SettingsError};
use flagops::backend::{Backend, BackendError, LiveFlag};
use flagops::config::Environment;
use flagops::model::Percent;
use flagops::vendor::posthog::{Condition, Flag, Operator, Property, PropertyType, Variant};
use serde_json::{Value, json};

use crate::support::fake_posthog::{
    FakePosthog, Fault, NO_SCOPE_KEY, PROJECT_ID, READ_KEY, RateLimitRule, RecordedRequest,
    WRITE_KEY,
};

const KEY_VAR: &str = "FLAGOPS_TEST_POSTHOG_KEY";

fn settings(fake: &FakePosthog, key: &str) -> PosthogSettings {
    let mut s = PosthogSettings::new(
        format!("{}/", fake.base_url()),
        PROJECT_ID,
        ApiKey::new(key),
    );
    s.api_key_env = Some(KEY_VAR.to_owned());
    s
}

fn backend(fake: &FakePosthog, key: &str) -> PosthogBackend {
    PosthogBackend::new(settings(fake, key)).unwrap()
}

fn simple(key: &str) -> Value {
    json!({"key": key, "name": format!("{key} flag"), "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}})
}

fn depends_on(key: &str, target_id: i64) -> Value {
    json!({"key": key, "filters": {"groups": [{"properties": [
        {"key": target_id.to_string(), "type": "flag", "operator": "flag_evaluates_to", "value": true}
    ], "rollout_percentage": 100}]}})
}

fn flag_dependency(target: &str) -> Property {
    Property {
        kind: PropertyType::Flag,
        key: None,
        flag: Some(target.to_owned()),
        operator: Some(Operator::FlagEvaluatesTo),
        value: Some(json!(true)),
        negation: None,
        cohort: None,
        group_type_index: None,
        group_type: None,
        label: None,
    }
}

fn flag(key: &str, conditions: Vec<Condition>) -> Flag {
    Flag {
        key: key.to_owned(),
        name: format!("{key} flag"),
        active: true,
        conditions,
        ..Flag::default()
    }
}

fn lines(fake: &FakePosthog) -> Vec<String> {
    fake.requests().iter().map(RecordedRequest::line).collect()
}

#[tokio::test]
async fn list_follows_next_links_and_includes_archived_flags() {
    let fake = FakePosthog::start().await;
    let mut seeds: Vec<Value> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|k| simple(k))
        .collect();
    seeds.push(json!({"key": "old", "active": false, "archived": true, "filters": {"groups": [{"properties": []}]}}));
    seeds.push(json!({"key": "gone", "deleted": true, "filters": {"groups": []}}));
    fake.seed(seeds);
    fake.set_max_page_size(Some(2));

    let state = backend(&fake, READ_KEY).list().await.unwrap();

    let keys: Vec<&str> = state.flags.iter().map(|f| f.flag.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "old"]);
    assert!(state.unsupported.is_empty());
    assert!(state.get("old").unwrap().flag.archived);
    assert_eq!(state.get("a").unwrap().token, Some(1.into()));
    let base = "GET /api/projects/1/feature_flags/";
    assert_eq!(
        lines(&fake),
        [
            format!("{base}?limit=1000"),
            format!("{base}?limit=2&offset=2"),
            format!("{base}?limit=2&offset=4"),
            format!("{base}?archived=true&limit=1000"),
        ]
    );
    let first = &fake.requests()[0];
    assert_eq!(
        first.authorization.as_deref(),
        Some(format!("Bearer {READ_KEY}").as_str())
    );
    assert_eq!(
        first.user_agent.as_deref(),
        Some(concat!("flagops/", env!("CARGO_PKG_VERSION")))
    );
}

/// A `next` link on another origin (a proxy, or a hostile server) is followed on the
/// configured origin: the key is never sent anywhere else.
#[tokio::test]
async fn next_links_on_another_origin_are_followed_on_the_configured_one() {
    let fake = FakePosthog::start().await;
    let elsewhere = FakePosthog::start().await;
    fake.seed(["a", "b", "c"].iter().map(|k| simple(k)).collect());
    fake.set_max_page_size(Some(2));
    fake.set_link_origin(Some(elsewhere.base_url()));

    let state = backend(&fake, READ_KEY).list().await.unwrap();
    let keys: Vec<&str> = state.flags.iter().map(|f| f.flag.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert!(elsewhere.requests().is_empty());
    assert_eq!(
        lines(&fake)[1],
        "GET /api/projects/1/feature_flags/?limit=2&offset=2"
    );
}

#[tokio::test]
async fn dependencies_read_as_keys_and_a_vanished_target_stays_visible() {
    let fake = FakePosthog::start().await;
    let ids = fake.seed(vec![
        simple("target"),
        json!({"key": "dead", "deleted": true, "filters": {"groups": []}}),
    ]);
    fake.seed(vec![
        depends_on("dependent", ids[0]),
        depends_on("orphan", ids[1]),
    ]);

    let state = backend(&fake, READ_KEY).list().await.unwrap();

    let dependent = &state.get("dependent").unwrap().flag;
    assert_eq!(
        dependent.conditions[0].properties[0].flag.as_deref(),
        Some("target")
    );
    assert_eq!(dependent.conditions[0].properties[0].key, None);
    let orphan = &state.get("orphan").unwrap().flag;
    assert_eq!(
        orphan.conditions[0].properties[0].flag,
        Some(format!("#{}", ids[1]))
    );
}

#[tokio::test]
async fn create_update_delete_round_trip() {
    let fake = FakePosthog::start().await;
    let target_id = fake.seed(vec![simple("target")])[0];
    let adapter = backend(&fake, WRITE_KEY);
    adapter.list().await.unwrap();
    fake.clear_requests();

    let mut desired = flag(
        "checkout",
        vec![Condition {
            properties: vec![flag_dependency("target")],
            rollout_percentage: Some(Percent(50.0)),
            ..Condition::default()
        }],
    );
    desired.tags = vec!["Payments".into()];
    desired.variants = vec![
        Variant {
            key: "control".into(),
            name: None,
            rollout_percentage: Percent(50.0),
            description: None,
        },
        Variant {
            key: "test".into(),
            name: None,
            rollout_percentage: Percent(50.0),
            description: None,
        },
    ];
    desired
        .payloads
        .insert("test".into(), json!({"button": "blue"}));
    let created = adapter.create(&desired).await.unwrap();

    let post = &fake.requests()[0];
    assert_eq!(post.line(), "POST /api/projects/1/feature_flags/");
    let sent = post.body.as_ref().unwrap();
    assert_eq!(
        sent["filters"]["groups"][0]["properties"][0],
        json!({"key": target_id.to_string(), "type": "flag", "operator": "flag_evaluates_to", "label": "target", "value": true})
    );
    assert_eq!(
        sent["filters"]["payloads"],
        json!({"test": "{\"button\":\"blue\"}"})
    );
    assert_eq!(sent["tags"], json!(["payments"]));
    assert_eq!(created.token, Some(1.into()));
    assert_eq!(
        created.flag.conditions[0].properties[0].flag.as_deref(),
        Some("target")
    );
    // What was created reads back as desired (tags are stored lower-cased).
    let mut expected = desired.clone();
    expected.tags = vec!["payments".into()];
    assert_eq!(created.flag, expected);

    // Update: only the changed field (filters) is sent, with version and original_flag.
    fake.clear_requests();
    let mut changed = created.flag.clone();
    changed.conditions[0].rollout_percentage = Some(Percent(75.0));
    let updated = adapter.update(&created, &changed).await.unwrap();
    let patch = &fake.requests()[0];
    assert_eq!(
        patch.line(),
        format!("PATCH /api/projects/1/feature_flags/{}/", created.id)
    );
    let body = patch.body.as_ref().unwrap();
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["filters", "original_flag", "version"]);
    assert_eq!(body["version"], json!(1));
    assert_eq!(body["original_flag"]["version"], json!(1));
    assert_eq!(updated.token, Some(2.into()));
    assert_eq!(updated.flag, changed);
    assert_eq!(
        fake.flag("checkout").unwrap()["filters"]["groups"][0]["rollout_percentage"],
        json!(75)
    );

    // No change: no request.
    fake.clear_requests();
    assert_eq!(adapter.update(&updated, &changed).await.unwrap(), updated);
    assert!(fake.requests().is_empty());

    // Removing the variants sends `multivariate: null`.
    let mut boolean = changed.clone();
    boolean.variants.clear();
    boolean.payloads.clear();
    let updated = adapter.update(&updated, &boolean).await.unwrap();
    assert_eq!(
        fake.requests()[0].body.as_ref().unwrap()["filters"]["multivariate"],
        Value::Null
    );
    assert!(fake.flag("checkout").unwrap()["filters"]["multivariate"].is_null());

    // Delete: re-read, then soft delete with PATCH.
    fake.clear_requests();
    adapter.delete(&updated).await.unwrap();
    let flag_path = format!("/api/projects/1/feature_flags/{}/", created.id);
    assert_eq!(
        lines(&fake),
        [format!("GET {flag_path}"), format!("PATCH {flag_path}")]
    );
    assert_eq!(
        fake.requests()[1].body.as_ref().unwrap()["deleted"],
        json!(true)
    );
    let stored = fake
        .flags()
        .into_iter()
        .find(|f| f["key"] == "checkout")
        .unwrap();
    assert_eq!(stored["deleted"], json!(true));
    let state = adapter.list().await.unwrap();
    assert!(state.get("checkout").is_none());
    assert!(adapter.get("checkout").await.unwrap().is_none());
}

#[tokio::test]
async fn a_created_flag_can_be_depended_on_in_the_same_run() {
    let fake = FakePosthog::start().await;
    let adapter = backend(&fake, WRITE_KEY);
    let full = || {
        vec![Condition {
            rollout_percentage: Some(Percent(100.0)),
            ..Condition::default()
        }]
    };
    let base = adapter.create(&flag("base", full())).await.unwrap();
    let dependent = flag(
        "dependent",
        vec![Condition {
            properties: vec![flag_dependency("base")],
            ..Condition::default()
        }],
    );
    adapter.create(&dependent).await.unwrap();
    let stored = fake.flag("dependent").unwrap();
    assert_eq!(
        stored["filters"]["groups"][0]["properties"][0]["key"],
        json!(base.id)
    );
}

#[tokio::test]
async fn an_unknown_dependency_is_refused_before_any_request() {
    let fake = FakePosthog::start().await;
    let adapter = backend(&fake, WRITE_KEY);
    let dependent = flag(
        "dependent",
        vec![Condition {
            properties: vec![flag_dependency("missing")],
            ..Condition::default()
        }],
    );
    let error = adapter.create(&dependent).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "flag `dependent`: condition 1, property 1 depends on flag `missing`, which does not exist in this project; create it first"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn get_uses_the_key_filter_and_resolves_dependency_ids() {
    let fake = FakePosthog::start().await;
    let target = fake.seed(vec![simple("target")])[0];
    fake.seed(vec![depends_on("dependent", target)]);
    let adapter = backend(&fake, READ_KEY);

    let live = adapter.get("dependent").await.unwrap().unwrap();

    assert_eq!(
        live.flag.conditions[0].properties[0].flag.as_deref(),
        Some("target")
    );
    assert_eq!(
        lines(&fake),
        [
            "GET /api/projects/1/feature_flags/?key=dependent&limit=1000",
            "POST /api/projects/1/feature_flags/bulk_keys/"
        ]
    );
    assert!(adapter.get("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn a_rules_v2_flag_is_unsupported_and_never_written() {
    let fake = FakePosthog::start().await;
    let id = fake.seed(vec![
        json!({"key": "v2", "filters": {"version": 2, "rules": []}}),
    ])[0];
    let adapter = backend(&fake, WRITE_KEY);
    let state = adapter.list().await.unwrap();
    assert!(state.flags.is_empty());
    assert_eq!(state.unsupported.len(), 1);
    assert_eq!(state.unsupported[0].id, id.to_string());
    assert_eq!(
        state.unsupported[0].reason,
        "it uses `filters.version` 2 (feature flag rules v2), which flagops cannot manage"
    );
    fake.clear_requests();
    let live = LiveFlag {
        id: id.to_string(),
        flag: flag("v2", vec![]),
        token: Some(1.into()),
    };
    let error = adapter
        .update(&live, &flag("v2", vec![Condition::default()]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "flag `v2` cannot be managed: it uses `filters.version` 2 (feature flag rules v2), which flagops cannot manage"
    );
    assert!(matches!(
        adapter.delete(&live).await,
        Err(BackendError::Unsupported { .. })
    ));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_change_to_another_field_merges_but_an_overlapping_one_conflicts() {
    let fake = FakePosthog::start().await;
    let id = fake.seed(vec![simple("f")])[0];
    let adapter = backend(&fake, WRITE_KEY);
    let live = adapter.list().await.unwrap().get("f").unwrap().clone();

    fake.patch_as_other(id, &json!({"name": "renamed in the UI"}))
        .unwrap();
    let mut desired = live.flag.clone();
    desired.active = false;
    let merged = adapter.update(&live, &desired).await.unwrap();
    assert_eq!(merged.flag.name, "renamed in the UI");
    assert!(!merged.flag.active);

    fake.patch_as_other(id, &json!({"active": true})).unwrap();
    let mut desired = live.flag.clone();
    desired.active = false;
    desired.name = "mine".into();
    let error = adapter.update(&live, &desired).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "flag `f` was changed by someone else since it was read: The feature flag was updated by fake@example.com since you started editing it. Please refresh and try again."
    );
    assert!(matches!(error, BackendError::Conflict { .. }));
}

/// `apply` passes the live flag as listed and the plan's desired flag (normalized): a field
/// that differs only in form (null rollout, `negation: false`, no operator, context order)
/// is not a change and is not sent.
#[tokio::test]
async fn an_update_sends_only_the_fields_that_really_change() {
    let fake = FakePosthog::start().await;
    fake.seed(vec![json!({"key": "legacy", "name": "old",
        "evaluation_contexts": ["web", "app"], "tags": ["b", "a"],
        "filters": {"groups": [{"properties": [
            {"key": "email", "type": "person", "value": "a@b.c", "negation": false}
        ], "rollout_percentage": null, "variant": null}], "payloads": {}}})]);
    let adapter = backend(&fake, WRITE_KEY);
    let live = adapter.list().await.unwrap().get("legacy").unwrap().clone();
    let mut desired = flagops::vendor::posthog::normalize::normalize(&live.flag);
    desired.name = "new".into();
    fake.clear_requests();
    adapter.update(&live, &desired).await.unwrap();
    let body = fake.requests()[0].body.clone().unwrap();
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["name", "original_flag", "version"]);
    assert_eq!(
        fake.flag("legacy").unwrap()["evaluation_contexts"],
        json!(["web", "app"])
    );
}

/// A deleted key can be created again (the server frees the tombstone); the new flag gets a
/// new id, and dependencies written afterwards point at it, not at the tombstone.
#[tokio::test]
async fn a_deleted_key_can_be_created_again_and_depended_on() {
    let fake = FakePosthog::start().await;
    let adapter = backend(&fake, WRITE_KEY);
    adapter.list().await.unwrap();
    let first = adapter
        .create(&flag("a", vec![Condition::default()]))
        .await
        .unwrap();
    adapter.delete(&first).await.unwrap();
    let again = adapter
        .create(&flag("a", vec![Condition::default()]))
        .await
        .unwrap();
    assert_ne!(again.id, first.id);
    let dependent = adapter
        .create(&flag(
            "b",
            vec![Condition {
                properties: vec![flag_dependency("a")],
                ..Condition::default()
            }],
        ))
        .await
        .unwrap();
    assert_eq!(
        dependent.flag.conditions[0].properties[0].flag.as_deref(),
        Some("a")
    );
    assert_eq!(
        fake.flag("b").unwrap()["filters"]["groups"][0]["properties"][0]["key"],
        json!(again.id)
    );
    let state = adapter.list().await.unwrap();
    let keys: Vec<&str> = state.flags.iter().map(|f| f.flag.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(adapter.get("a").await.unwrap().unwrap().id, again.id);
}

#[tokio::test]
async fn delete_refuses_a_flag_changed_since_it_was_read() {
    let fake = FakePosthog::start().await;
    let id = fake.seed(vec![simple("f")])[0];
    let adapter = backend(&fake, WRITE_KEY);
    let live = adapter.list().await.unwrap().get("f").unwrap().clone();
    fake.patch_as_other(id, &json!({"name": "x"})).unwrap();
    let error = adapter.delete(&live).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "flag `f` was changed by someone else since it was read: its version is 2 now, 1 when it was read; plan again"
    );
    assert_eq!(fake.flag("f").unwrap()["deleted"], json!(false));
}

mod errors;
mod faults;
