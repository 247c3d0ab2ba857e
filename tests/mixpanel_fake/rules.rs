//! What the server owns (ids, salts, timestamps) and its rules: unique keys, archive, a frozen
//! context, no deleting an enabled flag.

use serde_json::{Value, json};

use super::{Api, error, gate, with};
use crate::support::fake_mixpanel::{FakeMixpanel, PROJECT_ID, WORKSPACE_ID, is_uuid4};

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
