//! The closed request body: unknown, read-only and missing fields, ranges, sums; PUT replaces.

use serde_json::{Value, json};

use super::{Api, error, gate, with};
use crate::support::fake_mixpanel::{DEFAULT_WORKSPACE_ID, FakeMixpanel, PROJECT_ID, WORKSPACE_ID};

#[tokio::test]
async fn closed_bodies_refuse_unknown_read_only_and_missing_fields_naming_them() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let v0 = "/ruleset/variants/0";
    let r0 = "/ruleset/rollout/0";
    let cases: Vec<(String, Option<Value>, &str)> = vec![
        (
            "/id".to_owned(),
            Some(json!("3f0e0c1e-2b1a-4c3d-8e4f-5a6b7c8d9e0f")),
            "id: Extra inputs are not permitted",
        ),
        (
            "/created".to_owned(),
            Some(json!("2026-01-01T00:00:00Z")),
            "created: Extra inputs are not permitted",
        ),
        (
            "/modified".to_owned(),
            Some(json!("2026-01-01T00:00:00Z")),
            "modified: Extra inputs are not permitted",
        ),
        (
            "/creator_id".to_owned(),
            Some(json!(1)),
            "creator_id: Extra inputs are not permitted",
        ),
        (
            "/enabled_at".to_owned(),
            Some(Value::Null),
            "enabled_at: Extra inputs are not permitted",
        ),
        (
            "/project_id".to_owned(),
            Some(json!(PROJECT_ID)),
            "project_id: Extra inputs are not permitted",
        ),
        (
            "/test_users".to_owned(),
            Some(json!({})),
            "test_users: Extra inputs are not permitted",
        ),
        (
            "/ruleset/groups".to_owned(),
            Some(json!([])),
            "ruleset.groups: Extra inputs are not permitted",
        ),
        (
            format!("{v0}/weight"),
            Some(json!(1)),
            "ruleset.variants.0.weight: Extra inputs are not permitted",
        ),
        (
            format!("{r0}/filters"),
            Some(json!({})),
            "ruleset.rollout.0.filters: Extra inputs are not permitted",
        ),
        (
            format!("{r0}/variant_override"),
            Some(json!({"key": "on", "x": 1})),
            "ruleset.rollout.0.variant_override.x: Extra inputs are not permitted",
        ),
        ("/name".to_owned(), None, "name: Field required"),
        ("/tags".to_owned(), None, "tags: Field required"),
        (
            "/serving_method".to_owned(),
            None,
            "serving_method: Field required",
        ),
        (
            "/ruleset/rollout".to_owned(),
            None,
            "ruleset.rollout: Field required",
        ),
        (
            format!("{r0}/variant_splits"),
            None,
            "ruleset.rollout.0.variant_splits: Field required",
        ),
        (
            format!("{v0}/is_control"),
            None,
            "ruleset.variants.0.is_control: Field required",
        ),
        (
            "/name".to_owned(),
            Some(json!("")),
            "name: String should have at least 1 character",
        ),
        (
            "/key".to_owned(),
            Some(json!("k".repeat(256))),
            "key: String should have at most 255 characters",
        ),
        (
            "/tags".to_owned(),
            Some(json!("beta")),
            "tags: Input should be a valid list",
        ),
        (
            "/status".to_owned(),
            Some(json!("active")),
            "status: Input should be 'enabled', 'disabled' or 'archived'",
        ),
        (
            "/serving_method".to_owned(),
            Some(json!("both")),
            "serving_method: Input should be 'client', 'server', 'remote_or_local' or 'remote_only'",
        ),
        (
            "/experiment_id".to_owned(),
            Some(json!("not-a-uuid")),
            "experiment_id: Input should be a valid UUID version 4",
        ),
        (
            "/hash_salt".to_owned(),
            Some(json!("short")),
            "hash_salt: String should have at least 32 characters",
        ),
        (
            "/reset_hash_salt".to_owned(),
            Some(json!("yes")),
            "reset_hash_salt: Input should be a valid boolean",
        ),
        (
            format!("{v0}/split"),
            Some(json!(50)),
            "ruleset.variants.0.split: Input should be less than or equal to 1",
        ),
        (
            format!("{r0}/rollout_percentage"),
            Some(json!(25)),
            "ruleset.rollout.0.rollout_percentage: Input should be less than or equal to 1",
        ),
        (
            format!("{r0}/rollout_percentage"),
            Some(json!(-0.1)),
            "ruleset.rollout.0.rollout_percentage: Input should be greater than or equal to 0",
        ),
        (
            format!("{v0}/split"),
            Some(json!(0.4)),
            "ruleset.variants: Variant splits must sum to 1, not 0.9",
        ),
        (
            format!("{r0}/variant_splits"),
            Some(json!({"on": 0.5})),
            "ruleset.rollout.0.variant_splits: Variant splits must sum to 1, not 0.5",
        ),
        (
            format!("{r0}/variant_splits"),
            Some(json!({"On": 1.0})),
            "ruleset.rollout.0.variant_splits.On: Unknown variant 'On'",
        ),
        (
            format!("{r0}/variant_override"),
            Some(json!({"key": "maybe"})),
            "ruleset.rollout.0.variant_override.key: Unknown variant \"maybe\"",
        ),
        (
            format!("{r0}/runtime_event_rule"),
            Some(json!({"event_name": "x", "time_window": "forever"})),
            "ruleset.rollout.0.runtime_event_rule.time_window: Input should be 'while_flag_enabled'",
        ),
        (
            "/ruleset/test".to_owned(),
            Some(json!({"users": {"alice": "maybe"}})),
            "ruleset.test.users.alice: Unknown variant 'maybe'",
        ),
        (
            "/ruleset/variants/1/key".to_owned(),
            Some(json!("off")),
            "ruleset.variants.1.key: Duplicate variant key 'off'",
        ),
    ];
    for (at, value, message) in cases {
        let body = with(gate("a"), &at, value);
        assert_eq!(api.create(&body).await, (400, error(message)), "{at}");
    }
    let eleven: Vec<Value> = (0..12)
        .map(|i| json!({"key": format!("v{i:02}"), "value": i, "is_control": i == 0, "split": if i == 0 { 1.0 } else { 0.0 }}))
        .collect();
    let body = with(gate("a"), "/ruleset/variants", Some(json!(eleven)));
    let body = with(body, "/ruleset/rollout", Some(json!([])));
    assert_eq!(
        api.create(&body).await,
        (
            400,
            error("ruleset.variants: List should have at most 11 items after validation, not 12")
        )
    );
    assert_eq!(
        api.create(&json!(["not", "an", "object"])).await,
        (400, error("body: Input should be a valid dictionary"))
    );
    let (status, body) = {
        let resp = api
            .http
            .post(format!("{}{}", fake.base_url(), FakeMixpanel::flags_path()))
            .header("authorization", fake.authorization())
            .header("content-type", "application/json")
            .body("{\"key\": ")
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!((status, body), (400, error("Invalid JSON body")));
    assert!(fake.flags().is_empty(), "nothing refused was stored");

    // The same rules hold for PUT, and PUT is the only update.
    let (_, created) = api.create(&gate("a")).await;
    let id = created["results"]["id"].clone();
    assert_eq!(
        api.put(&id, &with(gate("a"), "/id", Some(id.clone())))
            .await,
        (400, error("id: Extra inputs are not permitted"))
    );
    let rest = format!("{}/", id.as_str().unwrap());
    assert_eq!(
        api.call(reqwest::Method::PATCH, &rest, Some(&json!({"name": "b"})))
            .await,
        (405, error("Method \"PATCH\" not allowed."))
    );
    assert_eq!(fake.flag("a").unwrap(), created["results"]);
}

#[tokio::test]
async fn put_replaces_the_whole_flag_and_workspace_ids_must_match() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let full = with(gate("a"), "/description", Some(json!("why")));
    let full = with(full, "/tags", Some(json!(["beta"])));
    let full = with(full, "/workspace_id", Some(json!(WORKSPACE_ID)));
    let (status, created) = api.create(&full).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["results"]["description"], "why");
    let id = created["results"]["id"].clone();
    let (_, replaced) = api.put(&id, &gate("a")).await;
    assert_eq!(replaced["results"]["description"], Value::Null);
    assert_eq!(replaced["results"]["tags"], json!([]));
    assert_eq!(
        api.put(
            &id,
            &with(
                gate("a"),
                "/workspace_id",
                Some(json!(DEFAULT_WORKSPACE_ID))
            )
        )
        .await,
        (
            400,
            error(&format!(
                "workspace_id: {DEFAULT_WORKSPACE_ID} does not match the workspace of the path ({WORKSPACE_ID})"
            ))
        )
    );
}
