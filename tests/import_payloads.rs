//! Importing from PostHog servers that hold payloads older versions accepted: a payload
//! string that is not JSON (SDKs serve the raw text) is imported as that text, and plan and
//! apply then leave it as stored.

use std::fs;

use serde_json::{Value, json};

use crate::cli_import::posthog_repo;
use crate::support::fake_posthog::FakePosthog;
use crate::support::flagops_against_fake;

/// Older PostHog accepted payload strings that are not JSON, and its SDKs serve the raw
/// text. Such a flag is imported with the text as a YAML string (the JSON string of the same
/// text means the same), its dependents are imported with it, and plan shows no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_payload_that_is_not_json_is_imported_as_its_text() {
    let fake = FakePosthog::start().await;
    let ids = fake.seed(vec![json!({"key": "legacy-banner", "filters": {
        "groups": [{"properties": [], "rollout_percentage": 100}],
        "multivariate": {"variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]},
        "payloads": {"a": "Welcome back! {name}", "b": "yes"}}})]);
    fake.seed(vec![
        json!({"key": "legacy-dependent", "filters": {"groups": [{"properties": [
        {"key": ids[0].to_string(), "type": "flag", "operator": "flag_evaluates_to", "value": "a"}
    ], "rollout_percentage": 100}]}}),
    ]);
    let repo = posthog_repo(&fake);

    let run = flagops_against_fake(repo.path(), &["import", "--env", "live"]).await;
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "wrote flags/legacy-banner.yaml\nwrote flags/legacy-dependent.yaml\n\
         wrote schemas/posthog-flag.schema.json\n\
         imported 2 flags from `live` into `flags/`\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/legacy-banner.yaml")).unwrap(),
        "# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: legacy-banner
conditions:
  - rollout_percentage: 100
variants:
  - key: a
    rollout_percentage: 50
  - key: b
    rollout_percentage: 50
payloads:
  a: Welcome back! {name}
  b: \"yes\"
"
    );
    flagops_against_fake(repo.path(), &["validate"])
        .await
        .expect_code(0);
    flagops_against_fake(
        repo.path(),
        &["plan", "--env", "live", "--detailed-exitcode"],
    )
    .await
    .expect_code(0);

    // A change elsewhere leaves the legacy payloads as they are stored: `filters` is not sent.
    let file = repo.path().join("flags/legacy-banner.yaml");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(
        &file,
        text.replace("key: legacy-banner\n", "key: legacy-banner\nname: Banner\n"),
    )
    .unwrap();
    flagops_against_fake(repo.path(), &["apply", "--env", "live", "--auto-approve"])
        .await
        .expect_code(0);
    let patches: Vec<Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.body)
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0]["name"], "Banner");
    assert!(patches[0].get("filters").is_none(), "{}", patches[0]);
    flagops_against_fake(
        repo.path(),
        &["plan", "--env", "live", "--detailed-exitcode"],
    )
    .await
    .expect_code(0);
}
