//! The fake Mixpanel refuses what Mixpanel refuses and owns what Mixpanel owns
//! (mixpanel-api.md §1.2, §2, §3). Spoken to with plain HTTP, as any client would.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_mixpanel::{
    DEFAULT_WORKSPACE_ID, FakeMixpanel, Fault, PROJECT_ID, RequestBudget, SA_SECRET, SA_USERNAME,
    WORKSPACE_ID, basic_auth, is_uuid4,
};

/// A client that never follows redirects, authenticated as the fake's service account.
struct Api {
    http: reqwest::Client,
    origin: String,
    flags: String,
    auth: Option<String>,
}

impl Api {
    fn new(fake: &FakeMixpanel) -> Self {
        Api {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            origin: fake.base_url(),
            flags: FakeMixpanel::flags_path(),
            auth: Some(fake.authorization()),
        }
    }

    fn with_auth(mut self, auth: Option<String>) -> Self {
        self.auth = auth;
        self
    }

    /// `method` on `path` (absolute, from the origin): status, `Retry-After`, JSON body.
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Option<String>, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.origin));
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        (
            status,
            retry,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// `method` on the flags collection + `rest`: status and JSON body.
    async fn call(
        &self,
        method: reqwest::Method,
        rest: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, _, value) = self
            .raw(method, &format!("{}{rest}", self.flags), body)
            .await;
        (status, value)
    }

    async fn create(&self, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "", Some(body)).await
    }

    async fn put(&self, id: &Value, body: &Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("{}/", id.as_str().unwrap()),
            Some(body),
        )
        .await
    }
}

/// A valid create body: a 25 % rollout of a boolean gate.
fn gate(key: &str) -> Value {
    json!({
        "name": format!("Flag {key}"), "key": key, "tags": [], "context": "distinct_id",
        "serving_method": "server",
        "ruleset": {
            "variants": [
                {"key": "off", "value": false, "is_control": true, "split": 0.5},
                {"key": "on", "value": true, "is_control": false, "split": 0.5}
            ],
            "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"off": 0.0, "on": 1.0}}]
        }
    })
}

/// `body` with the value at JSON pointer `at` set (`Some`) or removed (`None`).
fn with(mut body: Value, at: &str, value: Option<Value>) -> Value {
    let (parent, field) = at.rsplit_once('/').unwrap();
    let parent = body.pointer_mut(parent).unwrap();
    match (parent, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(field.to_owned(), v);
        }
        (Value::Object(map), None) => {
            map.remove(field);
        }
        (Value::Array(items), Some(v)) => items[field.parse::<usize>().unwrap()] = v,
        (Value::Array(items), None) => {
            items.remove(field.parse::<usize>().unwrap());
        }
        _ => panic!("{at} is not in a container"),
    }
    body
}

fn error(message: &str) -> Value {
    json!({"status": "error", "error": message})
}

#[tokio::test]
async fn slashless_paths_are_redirected_before_auth_and_a_following_client_loses_the_write() {
    let fake = FakeMixpanel::start().await;
    let slashless = FakeMixpanel::flags_path().trim_end_matches('/').to_owned();
    let anonymous = Api::new(&fake).with_auth(None);
    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::PUT,
    ] {
        let resp = anonymous
            .http
            .request(method, format!("{}{slashless}?a=1", fake.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 301);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            format!("{}{}?a=1", fake.base_url(), FakeMixpanel::flags_path())
        );
    }
    fake.clear_requests();

    // reqwest's default policy follows a 301 and, as browsers do, turns the POST into a GET
    // without its body: the "create" answers the list and creates nothing.
    let following = reqwest::Client::new();
    let resp = following
        .post(format!("{}{slashless}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok", "results": []}));
    assert!(fake.flags().is_empty());
    let log = fake.requests();
    let lines: Vec<(String, Option<u16>, bool)> = log
        .iter()
        .map(|r| (r.line(), r.status, r.body.is_some()))
        .collect();
    assert_eq!(
        lines,
        [
            (format!("POST {slashless}"), Some(301), true),
            (
                format!("GET {}", FakeMixpanel::flags_path()),
                Some(200),
                false
            ),
        ]
    );
}

#[tokio::test]
async fn only_the_service_account_basic_auth_is_let_in() {
    let fake = FakeMixpanel::start().await;
    let path = FakeMixpanel::flags_path();
    let cases = [
        (None, "Authentication required"),
        (
            Some(basic_auth(SA_USERNAME, "wrong")),
            "Invalid credentials",
        ),
        (Some(format!("Bearer {SA_SECRET}")), "Invalid credentials"),
    ];
    for (auth, message) in cases {
        let api = Api::new(&fake).with_auth(auth.clone());
        let (status, retry, body) = api
            .raw(reqwest::Method::POST, &path, Some(&gate("a")))
            .await;
        assert_eq!(
            (status, retry, body),
            (401, None, error(message)),
            "{auth:?}"
        );
    }
    assert!(fake.flags().is_empty());
    let (status, body) = Api::new(&fake).call(reqwest::Method::GET, "", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "results": []}))
    );
    let auths: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(auths[0], None);
    assert_eq!(auths[3].as_deref(), Some(&*fake.authorization()));
    assert_eq!(
        fake.authorization(),
        format!(
            "Basic {}",
            "ZmxhZ29wcy1mYWtlLjRmMmE5MS5tcC1zZXJ2aWNlLWFjY291bnQ6ZmFrZS1zYS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="
        )
    );
}

#[tokio::test]
async fn projects_workspaces_and_the_route_without_a_workspace() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let get = |path: String| {
        let api = &api;
        async move {
            let (status, _, body) = api.raw(reqwest::Method::GET, &path, None).await;
            (status, body)
        }
    };
    assert_eq!(
        get(format!("/api/app/projects/{PROJECT_ID}/feature-flags/")).await,
        (400, error("Workspace is required"))
    );
    assert_eq!(
        get(format!(
            "/api/app/projects/999/workspaces/{WORKSPACE_ID}/feature-flags/"
        ))
        .await,
        (403, error("You do not have access to this project"))
    );
    assert_eq!(
        get(format!(
            "/api/app/projects/{PROJECT_ID}/workspaces/1/feature-flags/"
        ))
        .await,
        (404, error("Workspace not found"))
    );
    assert_eq!(
        get(format!(
            "/api/app/projects/{PROJECT_ID}/workspaces/{WORKSPACE_ID}/feature-flags/nope/"
        ))
        .await,
        (404, error("Feature flag not found"))
    );
    for path in ["workspaces", "workspaces/public", "workspaces/public/"] {
        let (status, body) = get(format!("/api/app/projects/{PROJECT_ID}/{path}")).await;
        assert_eq!(status, 200, "{path}");
        let picked: Vec<(u64, bool, bool)> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["id"].as_u64().unwrap(),
                    w["is_global"].as_bool().unwrap(),
                    w["is_default"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            picked,
            [
                (DEFAULT_WORKSPACE_ID, false, true),
                (WORKSPACE_ID, true, false)
            ]
        );
    }
    // A flag lives in one workspace only.
    let (_, created) = api.create(&gate("a")).await;
    let other =
        format!("/api/app/projects/{PROJECT_ID}/workspaces/{DEFAULT_WORKSPACE_ID}/feature-flags/");
    assert_eq!(
        get(other.clone()).await,
        (200, json!({"status": "ok", "results": []}))
    );
    let id = created["results"]["id"].as_str().unwrap();
    assert_eq!(
        get(format!("{other}{id}/")).await,
        (404, error("Feature flag not found"))
    );
}

#[tokio::test]
async fn the_server_owns_ids_salts_and_timestamps() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let (status, created) = api.create(&gate("a")).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "ok");
    let flag = &created["results"];
    assert!(is_uuid4(flag["id"].as_str().unwrap()), "{flag}");
    let salt = flag["hash_salt"].as_str().unwrap().to_owned();
    assert_eq!(salt.len(), 32);
    assert_eq!(flag["status"], "disabled");
    assert_eq!(flag["enabled_at"], Value::Null);
    assert_eq!(flag["created"], flag["modified"]);
    assert_eq!(flag["content_type"], "feature-flags");
    assert_eq!(flag["project_id"], PROJECT_ID);
    assert_eq!(flag["workspace_id"], WORKSPACE_ID);
    assert_eq!(flag["ruleset"], gate("a")["ruleset"]);
    let id = flag["id"].clone();

    // The same body again: `modified` moves on every write, the salt is kept.
    let mut modified = vec![flag["modified"].as_str().unwrap().to_owned()];
    for _ in 0..3 {
        let (status, updated) = api.put(&id, &gate("a")).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["results"]["hash_salt"], salt.as_str());
        assert_eq!(updated["results"]["created"], flag["created"]);
        modified.push(updated["results"]["modified"].as_str().unwrap().to_owned());
    }
    let stamps: Vec<jiff::Timestamp> = modified.iter().map(|m| m.parse().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{modified:?}");

    // A salt given is kept; `reset_hash_salt` draws a new one and is not stored.
    let given = "0123456789abcdef0123456789abcdef";
    let (_, kept) = api
        .put(&id, &with(gate("a"), "/hash_salt", Some(json!(given))))
        .await;
    assert_eq!(kept["results"]["hash_salt"], given);
    let (_, reset) = api
        .put(&id, &with(gate("a"), "/reset_hash_salt", Some(json!(true))))
        .await;
    let new_salt = reset["results"]["hash_salt"].as_str().unwrap();
    assert_eq!(new_salt.len(), 32);
    assert_ne!(new_salt, given);
    assert!(reset["results"].get("reset_hash_salt").is_none());

    // GET answers what was stored; the list shows it.
    let (status, got) = api
        .call(
            reqwest::Method::GET,
            &format!("{}/", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((status, &got["results"]), (200, &reset["results"]));
    let (_, list) = api.call(reqwest::Method::GET, "", None).await;
    assert_eq!(list["results"], json!([reset["results"]]));
}

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

#[tokio::test]
async fn keys_stay_taken_by_archived_flags_and_archive_round_trips() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let (_, a) = api.create(&gate("a")).await;
    let id = a["results"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.create(&gate("a")).await,
        (400, error("key: Duplicate key 'a'"))
    );
    let (_, b) = api.create(&gate("b")).await;
    assert_eq!(
        api.put(&b["results"]["id"], &gate("a")).await,
        (400, error("key: Duplicate key 'a'"))
    );

    let (status, archived) = api
        .call(reqwest::Method::POST, &format!("{id}/archive/"), None)
        .await;
    assert_eq!(
        (status, &archived["results"]["status"]),
        (200, &json!("archived"))
    );
    assert!(archived["results"]["deleted"].is_string());
    let keys = |list: &Value| -> Vec<String> {
        list["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, listed) = api.call(reqwest::Method::GET, "", None).await;
    assert_eq!(keys(&listed), ["b"]);
    let (_, listed) = api
        .call(reqwest::Method::GET, "?include_archived=false", None)
        .await;
    assert_eq!(keys(&listed), ["b"]);
    let (_, listed) = api
        .call(reqwest::Method::GET, "?include_archived=true", None)
        .await;
    assert_eq!(keys(&listed), ["a", "b"]);
    assert_eq!(
        api.call(reqwest::Method::GET, "?include_archived=1", None)
            .await,
        (
            400,
            error("include_archived: Input should be 'true' or 'false', not '1'")
        )
    );
    assert_eq!(
        api.create(&gate("a")).await,
        (400, error("key: Duplicate key 'a'"))
    );

    let (status, restored) = api
        .call(reqwest::Method::DELETE, &format!("{id}/archive/"), None)
        .await;
    assert_eq!(
        (status, &restored["results"]["status"]),
        (200, &json!("disabled"))
    );
    assert_eq!(restored["results"]["deleted"], Value::Null);
    let (_, listed) = api.call(reqwest::Method::GET, "", None).await;
    assert_eq!(keys(&listed), ["a", "b"]);
}

#[tokio::test]
async fn context_freezes_once_enabled_and_an_enabled_flag_cannot_be_deleted() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let (_, created) = api.create(&gate("a")).await;
    let id = created["results"]["id"].clone();
    let rest = format!("{}/", id.as_str().unwrap());
    let device = with(gate("a"), "/context", Some(json!("device_id")));
    let (status, _) = api.put(&id, &device).await;
    assert_eq!(status, 200, "never enabled: the context may change");

    let enabled = with(device.clone(), "/status", Some(json!("enabled")));
    let (status, on) = api.put(&id, &enabled).await;
    assert_eq!(status, 200);
    let enabled_at = on["results"]["enabled_at"].clone();
    assert!(enabled_at.is_string());
    assert_eq!(
        api.call(reqwest::Method::DELETE, &rest, None).await,
        (
            400,
            error("Cannot delete enabled flag. Disable it first or archive it.")
        )
    );
    let frozen = error(
        "context: The variant assignment key cannot be changed once the flag has been enabled",
    );
    let back = with(enabled, "/context", Some(json!("distinct_id")));
    assert_eq!(api.put(&id, &back).await, (400, frozen.clone()));

    let (status, off) = api.put(&id, &device).await;
    assert_eq!(
        (status, &off["results"]["status"]),
        (200, &json!("disabled"))
    );
    assert_eq!(
        off["results"]["enabled_at"], enabled_at,
        "kept after a disable"
    );
    assert_eq!(
        api.put(&id, &gate("a")).await,
        (400, frozen),
        "still frozen once disabled"
    );

    assert_eq!(
        api.call(reqwest::Method::DELETE, &rest, None).await,
        (200, json!({"status": "ok", "results": {}}))
    );
    assert_eq!(
        api.call(reqwest::Method::GET, &rest, None).await,
        (404, error("Feature flag not found"))
    );
    assert!(fake.flags().is_empty(), "delete is permanent");
}

#[tokio::test]
async fn faults_budgets_and_the_request_log() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let path = FakeMixpanel::flags_path();

    fake.inject(Fault::RateLimited {
        retry_after: None,
        times: 1,
    });
    fake.inject(Fault::ServerError {
        status: 503,
        times: 2,
    });
    assert_eq!(
        api.raw(reqwest::Method::GET, &path, None).await,
        (
            429,
            None,
            json!({"code": 429, "error": "Too many requests", "status": "Too Many Requests"})
        )
    );
    for _ in 0..2 {
        assert_eq!(
            api.raw(reqwest::Method::GET, &path, None).await,
            (503, None, error("Internal server error"))
        );
    }
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);

    // A fault for one route: other requests pass it by.
    fake.inject_for("POST", "/feature-flags/", Fault::Drop { times: 1 });
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
    let dropped = api
        .http
        .post(format!("{}{path}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await;
    assert!(dropped.is_err(), "the connection is dropped");
    assert!(fake.flags().is_empty(), "a dropped request does nothing");
    fake.inject(Fault::DropAfterCommit { times: 1 });
    let dropped = api
        .http
        .post(format!("{}{path}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await;
    assert!(dropped.is_err());
    assert!(
        fake.flag("a").is_some(),
        "the write happened before the drop"
    );

    let log = fake.requests();
    let summary: Vec<(String, Option<u16>)> = log.iter().map(|r| (r.line(), r.status)).collect();
    let get = format!("GET {path}");
    let post = format!("POST {path}");
    assert_eq!(
        summary,
        [
            (get.clone(), Some(429)),
            (get.clone(), Some(503)),
            (get.clone(), Some(503)),
            (get.clone(), Some(200)),
            (get.clone(), Some(200)),
            (post.clone(), None),
            (post, None),
        ]
    );
    assert_eq!(log[6].body.as_ref(), Some(&gate("a")));
    assert!(
        log.iter()
            .all(|r| r.authorization.as_deref() == Some(&*fake.authorization()))
    );

    // A budget: the third request within the window is throttled, without Retry-After.
    fake.clear_requests();
    fake.set_budget(Some(RequestBudget {
        max_requests: 2,
        window: Duration::from_secs(3600),
    }));
    assert_eq!(
        api.call(reqwest::Method::GET, "?include_archived=true", None)
            .await
            .0,
        200
    );
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
    let (status, retry, _) = api.raw(reqwest::Method::GET, &path, None).await;
    assert_eq!((status, retry), (429, None));
    assert_eq!(
        fake.requests()[0].query_pairs(),
        [("include_archived".to_owned(), "true".to_owned())]
    );
    fake.set_budget(None);
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
}

#[tokio::test]
async fn seeded_flags_and_the_definitions_the_sdks_would_get() {
    let fake = FakeMixpanel::start().await;
    let mut on = gate("on");
    on["status"] = json!("enabled");
    on["ruleset"]["test"] = json!({"users": {"qa-1": "on"}});
    let mut archived = gate("gone");
    archived["status"] = json!("archived");
    let ids = fake.seed(vec![on, gate("off"), archived]);
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| is_uuid4(id)));
    let stored = fake.flag("on").unwrap();
    assert!(stored["enabled_at"].is_string());
    assert_eq!(stored["hash_salt"].as_str().unwrap().len(), 32);

    let definitions = fake.definitions();
    assert_eq!(
        definitions,
        json!({"flags": [{
            "id": ids[0], "name": "Flag on", "key": "on", "status": "enabled",
            "project_id": PROJECT_ID, "workspace_id": WORKSPACE_ID, "context": "distinct_id",
            "experiment_id": null, "is_experiment_active": null, "hash_salt": stored["hash_salt"],
            "ruleset": {
                "variants": gate("on")["ruleset"]["variants"],
                "rollout": gate("on")["ruleset"]["rollout"],
                "test": {"users": {"qa-1": "on"}}
            }
        }]})
    );

    // Someone else's edit moves `modified` (the adapter's precondition).
    let before = fake.flag("off").unwrap()["modified"].clone();
    fake.edit_as_other("off", |f| {
        f.insert("name".into(), json!("Edited"));
    });
    let after = fake.flag("off").unwrap();
    assert_eq!(after["name"], "Edited");
    assert_ne!(after["modified"], before);
    assert!(fake.requests().is_empty(), "helpers make no requests");
}
