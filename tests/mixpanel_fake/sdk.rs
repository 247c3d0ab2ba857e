//! Seeding, the definitions the SDKs would be served, and Mixpanel's Python SDK judging them.

use serde_json::{Value, json};

use super::{Api, gate, with};
use crate::support::fake_mixpanel::{FakeMixpanel, PROJECT_ID, WORKSPACE_ID, Workspace, is_uuid4};

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

    // Another project (another environment) has its own definitions.
    fake.add_project(
        7,
        vec![Workspace {
            id: 70,
            name: "All Project Data".into(),
            is_global: true,
            is_default: true,
        }],
    );
    let mut staging = gate("on");
    staging["status"] = json!("disabled");
    fake.seed_in(7, 70, vec![staging]);
    assert_eq!(fake.definitions_of(7), json!({"flags": []}));
    assert_eq!(fake.flags_of(7)[0]["workspace_id"], 70);
    assert!(fake.requests().is_empty(), "helpers make no requests");
}

/// The variable naming the Python that has `scripts/mixpanel_eval/requirements.txt` installed.
pub(crate) const EVAL_PYTHON_VAR: &str = "FLAGOPS_MIXPANEL_EVAL_PYTHON";

/// Run `scripts/mixpanel_eval/evaluate.py` on the fake's definitions for `contexts`.
pub(crate) fn judge(definitions: &Value, contexts: &Value) -> Value {
    let python = std::env::var(EVAL_PYTHON_VAR).unwrap_or_else(|_| {
        panic!("set {EVAL_PYTHON_VAR} to a Python with scripts/mixpanel_eval/requirements.txt")
    });
    let dir = tempfile::tempdir().unwrap();
    let defs = dir.path().join("definitions.json");
    let ctx = dir.path().join("contexts.json");
    std::fs::write(&defs, definitions.to_string()).unwrap();
    std::fs::write(&ctx, contexts.to_string()).unwrap();
    let script = crate::support::crate_dir().join("scripts/mixpanel_eval/evaluate.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&defs)
        .arg(&ctx)
        .output()
        .expect("run the evaluator");
    assert!(
        out.status.success(),
        "evaluate.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from evaluate.py")
}

/// What the fake stores means what Mixpanel's own SDK says it means. Needs the evaluator's
/// Python (`FLAGOPS_MIXPANEL_EVAL_PYTHON`, see scripts/mixpanel_eval/README.md):
/// `cargo test --locked -- --ignored mixpanel_fake::`.
#[tokio::test]
#[ignore = "needs FLAGOPS_MIXPANEL_EVAL_PYTHON (scripts/mixpanel_eval/README.md)"]
async fn mixpanels_sdk_judges_what_the_fake_stored() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let mut rollout = with(gate("rollout"), "/status", Some(json!("enabled")));
    rollout["ruleset"]["test"] = json!({"users": {"qa-off": "off"}});
    let config = json!({
        "name": "Config", "key": "config", "tags": [], "context": "distinct_id",
        "serving_method": "server", "status": "enabled",
        "ruleset": {
            "variants": [
                {"key": "basic", "value": {"limit": 10, "theme": "light"}, "is_control": true, "split": 1.0},
                {"key": "premium", "value": {"limit": 1000, "theme": "dark"}, "is_control": false, "split": 0.0}
            ],
            "rollout": [{
                "rollout_percentage": 1.0, "variant_splits": {"basic": 0.0, "premium": 1.0},
                "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]}
            }]
        }
    });
    let off = gate("off");
    for body in [&rollout, &config, &off] {
        let (status, answer) = api.create(body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let mut contexts: Vec<Value> = (0..2000)
        .map(|i| json!({"distinct_id": format!("user-{i}")}))
        .collect();
    contexts.push(json!({"distinct_id": "qa-off"}));
    contexts.push(json!({"distinct_id": "payer", "custom_properties": {"plan": "Premium"}}));
    contexts.push(json!({"distinct_id": "free", "custom_properties": {"plan": "free"}}));
    let verdict = judge(&fake.definitions(), &json!(contexts));
    let flags = &verdict["flags"];

    let keys: Vec<&String> = flags.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["config", "rollout"],
        "a disabled flag is served to nobody"
    );
    let on = flags["rollout"]["counts"]["on"].as_u64().unwrap();
    assert!(
        (450..=550).contains(&on),
        "a 25% rollout served {on} of 2000"
    );
    assert_eq!(
        flags["rollout"]["counts"]["off"], 1,
        "only the test user gets off"
    );
    assert_eq!(
        flags["rollout"]["results"]["qa-off"],
        json!({"variant_key": "off", "variant_value": false, "source": "local", "is_qa_tester": true, "fallback": null})
    );
    assert_eq!(
        flags["config"]["counts"]["premium"], 1,
        "{}",
        flags["config"]["counts"]
    );
    assert_eq!(
        flags["config"]["results"]["payer"]["variant_value"],
        json!({"limit": 1000, "theme": "dark"})
    );
    assert_eq!(
        flags["config"]["results"]["free"]["variant_key"],
        Value::Null
    );
}
