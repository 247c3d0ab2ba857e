//! The fake PostHog refuses what PostHog refuses and normalises what PostHog normalises
//! (posthog-api.md §4–§7). Spoken to with plain HTTP, as any client would.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_posthog::{FakePosthog, PROJECT_ID, READ_KEY, RateLimitRule, WRITE_KEY};

struct Client {
    http: reqwest::Client,
    base: String,
    key: &'static str,
}

impl Client {
    fn new(fake: &FakePosthog, key: &'static str) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: format!(
                "{}/api/projects/{PROJECT_ID}/feature_flags/",
                fake.base_url()
            ),
            key,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "", Some(body)).await
    }

    async fn patch(&self, id: &Value, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, &format!("{id}/"), Some(body))
            .await
    }
}

#[allow(clippy::needless_pass_by_value)]
fn groups(properties: Value) -> Value {
    json!({"groups": [{"properties": properties, "rollout_percentage": 100}]})
}

fn dep(id: &Value) -> Value {
    json!([{"key": id, "type": "flag", "operator": "flag_evaluates_to", "value": true}])
}

#[tokio::test]
async fn auth_scopes_and_delete_are_enforced() {
    let fake = FakePosthog::start().await;
    let anonymous = reqwest::get(format!("{}/api/projects/1/feature_flags/", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let reader = Client::new(&fake, READ_KEY);
    let (status, body) = reader
        .post(json!({"key": "a", "filters": groups(json!([]))}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("permission_denied"))
    );

    let writer = Client::new(&fake, WRITE_KEY);
    let (status, flag) = writer
        .post(json!({"key": "a", "filters": groups(json!([]))}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = writer
        .call(reqwest::Method::DELETE, &format!("{}/", flag["id"]), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(fake.flag("a").unwrap()["deleted"], json!(false));
}

#[tokio::test]
async fn keys_groups_and_dependencies_are_validated() {
    let fake = FakePosthog::start().await;
    let c = Client::new(&fake, WRITE_KEY);
    let detail = |r: (u16, Value)| (r.0, r.1["detail"].as_str().unwrap_or_default().to_owned());

    assert_eq!(
        detail(
            c.post(json!({"key": "bad key", "filters": groups(json!([]))}))
                .await
        )
        .0,
        400
    );
    assert_eq!(
        detail(c.post(json!({"key": "a", "filters": {"groups": []}})).await),
        (
            400,
            "Feature flags must have at least one condition set (group).".to_owned()
        )
    );
    let (_, a) = c
        .post(json!({"key": "a", "filters": groups(json!([]))}))
        .await;
    assert_eq!(
        detail(
            c.post(json!({"key": "a", "filters": groups(json!([]))}))
                .await
        ),
        (
            400,
            "There is already a feature flag with this key.".to_owned()
        )
    );
    assert_eq!(
        detail(c.post(json!({"key": "b", "filters": groups(json!([{"key": "a", "type": "flag", "operator": "flag_evaluates_to", "value": true}]))})).await),
        (400, "Flag dependencies must reference flag IDs (integers), not flag keys".to_owned())
    );
    assert_eq!(
        detail(
            c.post(json!({"key": "b", "filters": groups(dep(&json!(999)))}))
                .await
        ),
        (
            400,
            "Flag dependency references non-existent flag with ID 999".to_owned()
        )
    );
    let (_, off) = c
        .post(json!({"key": "off", "active": false, "filters": groups(json!([]))}))
        .await;
    assert_eq!(
        detail(
            c.post(json!({"key": "b", "filters": groups(dep(&off["id"]))}))
                .await
        ),
        (
            400,
            format!(
                "Cannot create dependency on disabled flag 'off' (ID: {})",
                off["id"]
            )
        )
    );
    assert_eq!(
        detail(c.post(json!({"key": "b", "filters": groups(json!([{"key": "id", "type": "cohort", "value": 5}]))})).await),
        (400, "Cohort with id 5 does not exist".to_owned())
    );

    // a ← b, then a → b would close a cycle.
    let (status, b) = c
        .post(json!({"key": "b", "filters": groups(dep(&a["id"]))}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        detail(
            c.patch(&a["id"], json!({"filters": groups(dep(&b["id"]))}))
                .await
        ),
        (400, "Circular dependency detected: a → b → a".to_owned())
    );
    // a has an active dependent: it can be neither disabled nor deleted.
    assert_eq!(
        detail(c.patch(&a["id"], json!({"active": false})).await),
        (
            400,
            format!(
                "Cannot disable this feature flag because other flags depend on it: b (ID: {})",
                b["id"]
            )
        )
    );
    assert_eq!(
        detail(c.patch(&a["id"], json!({"deleted": true})).await),
        (
            400,
            format!(
                "Cannot delete this feature flag because other flags depend on it: b (ID: {})",
                b["id"]
            )
        )
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {WRITE_KEY}")))
    );
}

#[tokio::test]
async fn soft_delete_versions_and_conflicts() {
    let fake = FakePosthog::start().await;
    let c = Client::new(&fake, WRITE_KEY);
    let (_, flag) = c
        .post(json!({"key": "f", "name": "one", "filters": groups(json!([]))}))
        .await;
    assert_eq!(flag["version"], json!(1));
    let (_, v2) = c.patch(&flag["id"], json!({"name": "two"})).await;
    assert_eq!(v2["version"], json!(2));

    // A stale write overlapping a change made since → 409; a stale write elsewhere is merged.
    let (status, body) = c
        .patch(
            &flag["id"],
            json!({"name": "three", "version": 1, "original_flag": flag}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    let (status, merged) = c
        .patch(
            &flag["id"],
            json!({"active": false, "version": 1, "original_flag": flag}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            merged["name"].as_str(),
            merged["active"].as_bool(),
            merged["version"].as_i64()
        ),
        (Some("two"), Some(false), Some(3))
    );

    let (status, deleted) = c.patch(&flag["id"], json!({"deleted": true})).await;
    assert_eq!((status, deleted["deleted"].as_bool()), (200, Some(true)));
    let (status, by_id) = c
        .call(reqwest::Method::GET, &format!("{}/", flag["id"]), None)
        .await;
    assert_eq!((status, by_id["deleted"].as_bool()), (200, Some(true)));
    let (_, list) = c.call(reqwest::Method::GET, "", None).await;
    assert_eq!(list["count"], json!(0));
    // The key is free again.
    assert_eq!(
        c.post(json!({"key": "f", "filters": groups(json!([]))}))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn writes_are_normalised_like_posthog() {
    let fake = FakePosthog::start().await;
    fake.add_cohort(PROJECT_ID, 7, "Beta users");
    let c = Client::new(&fake, WRITE_KEY);
    let (status, flag) = c
        .post(json!({
            "key": "n", "tags": ["Payments", " payments", "Core"],
            "filters": {
                "aggregation_group_type_index": null,
                "groups": [{"properties": [
                    {"key": "id", "type": "cohort", "value": 7},
                    {"key": "age", "type": "person", "operator": "min", "value": 18}
                ], "rollout_percentage": 50.0}],
                "payloads": {"true": {"a": 1, "b": [true, null]}}
            }
        }))
        .await;
    assert_eq!(status, 201);
    let group = &flag["filters"]["groups"][0];
    assert_eq!(group["properties"][0]["cohort_name"], json!("Beta users"));
    assert_eq!(group["properties"][1]["operator"], json!("gte"));
    assert_eq!(group["rollout_percentage"], json!(50));
    assert!(
        group
            .as_object()
            .unwrap()
            .contains_key("aggregation_group_type_index")
    );
    assert_eq!(
        flag["filters"]["payloads"]["true"],
        json!("{\"a\": 1, \"b\": [true, null]}")
    );
    assert_eq!(flag["tags"], json!(["core", "payments"]));

    // PATCH merges top-level filter keys: payloads alone leave the groups untouched.
    let (_, patched) = c
        .patch(&flag["id"], json!({"filters": {"payloads": {}}}))
        .await;
    assert_eq!(patched["filters"]["groups"], flag["filters"]["groups"]);
    assert_eq!(patched["filters"]["payloads"], json!({}));
}

#[tokio::test]
async fn rules_v2_flags_and_the_rate_limit() {
    let fake = FakePosthog::start().await;
    let id = fake.seed(vec![
        json!({"key": "v2", "filters": {"version": 2, "rules": []}}),
    ])[0];
    let c = Client::new(&fake, WRITE_KEY);
    let (status, body) = c
        .patch(&json!(id), json!({"filters": groups(json!([]))}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unsupported_config_version"))
    );
    let (status, body) = c
        .post(json!({"key": "w", "filters": {"version": 2, "groups": [{}]}}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("reserved_config_version"))
    );

    fake.set_rate_limit(Some(RateLimitRule {
        max_requests: 1,
        window: Duration::from_secs(3600),
        retry_after_secs: 9,
    }));
    let url = format!("{}/api/projects/1/feature_flags/", fake.base_url());
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(&url)
            .bearer_auth(READ_KEY)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let throttled = http.get(&url).bearer_auth(READ_KEY).send().await.unwrap();
    assert_eq!(throttled.status().as_u16(), 429);
    assert_eq!(throttled.headers()["retry-after"], "9");
}

#[tokio::test]
async fn pagination_links_honour_limit_and_offset() {
    let fake = FakePosthog::start().await;
    fake.seed(
        (0..5)
            .map(|i| json!({"key": format!("f{i}"), "filters": groups(json!([]))}))
            .collect(),
    );
    let c = Client::new(&fake, READ_KEY);
    let (_, page) = c
        .call(reqwest::Method::GET, "?limit=2&offset=2", None)
        .await;
    assert_eq!(page["count"], json!(5));
    let keys: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["f2", "f1"]); // newest first
    let base = format!("{}/api/projects/1/feature_flags/", fake.base_url());
    assert_eq!(page["next"], json!(format!("{base}?limit=2&offset=4")));
    assert_eq!(page["previous"], json!(format!("{base}?limit=2")));
}
