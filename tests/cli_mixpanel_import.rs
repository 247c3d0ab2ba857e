//! `flagops import` on `backend: mixpanel` end to end, against the strict fake Mixpanel:
//! canonical YAML for every shape, `validate` and a zero-change `plan` right after, a
//! byte-stable re-import, and an edited file that plans and applies exactly its change.

use std::fs;

use serde_json::{Value, json};

use crate::cli_import::snapshot;
use crate::cli_mixpanel_apply::{assert_in_sync, lines, plan_requests};
use crate::support::fake_mixpanel::FakeMixpanel;
use crate::support::{Run, TempRepo, flagops_against_fake_mixpanel, mixpanel_repo};

/// Flags of every shape, as Mixpanel would hold them (request-shaped, over the server's
/// defaults): a gate, an experiment with string variants, a dynamic config with JSON values,
/// runtime rules (JsonLogic and event), test users, a data group, an experiment id, fractions
/// that are not binary, an archived flag, strings YAML would misread.
pub(crate) fn rich() -> Vec<Value> {
    vec![
        json!({
            "key": "checkout-gate", "name": "Checkout gate", "status": "enabled",
            "serving_method": "client", "tags": ["payments", "web"],
            "description": "The new checkout",
            "ruleset": {
                "variants": [
                    {"key": "off", "value": false, "is_control": true, "split": 0.5},
                    {"key": "on", "value": true, "is_control": false, "split": 0.5}
                ],
                "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"off": 0.0, "on": 1.0}}],
                "test": {"users": {"qa@example.com": "on"}}
            }
        }),
        json!({
            "key": "pricing-experiment", "name": "Pricing experiment", "status": "enabled",
            "serving_method": "server", "tags": [],
            "experiment_id": "4f1c2a3b-5d6e-4f70-8a9b-0c1d2e3f4a5b", "is_experiment_active": true,
            "ruleset": {
                "variants": [
                    {"key": "control", "value": "monthly", "is_control": true, "split": 0.3333},
                    {"key": "annual", "value": "annual", "is_control": false, "split": 0.3333, "is_sticky": true},
                    {"key": "lifetime", "value": "yes", "is_control": false, "split": 0.3334, "description": "null"}
                ],
                "rollout": [
                    {"name": "Premium", "rollout_percentage": 1.0,
                     "variant_splits": {"control": 0.0, "annual": 0.5, "lifetime": 0.5},
                     "runtime_evaluation_rule": {"and": [{"==": [{"var": "plan"}, "premium"]}, {"in": [{"var": "country"}, ["FR", "DE"]]}]}},
                    {"rollout_percentage": 0.125, "variant_splits": {"control": 0.3333, "annual": 0.3333, "lifetime": 0.3334},
                     "runtime_event_rule": {"event_name": "Signed up", "time_window": "while_flag_enabled", "duration": "end_of_session"}}
                ]
            }
        }),
        json!({
            "key": "limits-config", "name": "Limits", "status": "disabled",
            "serving_method": "remote_or_local", "tags": ["config"],
            "context": "company_id", "data_group_id": 7,
            "ruleset": {
                "variants": [
                    {"key": "basic", "value": {"limit": 10, "themes": ["light"], "beta": null}, "is_control": true, "split": 1.0},
                    {"key": "premium", "value": {"limit": 1000, "themes": ["light", "dark"], "beta": "1e3"}, "is_control": false, "split": 0.0}
                ],
                "rollout": [{"rollout_percentage": 1.0, "variant_splits": {"basic": 0.0, "premium": 1.0},
                    "runtime_evaluation_rule": {"==": [{"var": "tier"}, "pro"]}}]
            }
        }),
        json!({
            "key": "retired", "name": "Retired", "status": "archived", "serving_method": "client",
            "tags": [],
            "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 0.05, "variant_splits": {}}]}
        }),
    ]
}

async fn import(repo: &TempRepo, more: &[&str]) -> Run {
    let mut args = vec!["import", "--env", "live"];
    args.extend_from_slice(more);
    flagops_against_fake_mixpanel(repo.path(), &args).await
}

fn salt(fake: &FakeMixpanel, key: &str) -> String {
    fake.flag(key).unwrap()["hash_salt"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_writes_canonical_yaml_that_validates_and_plans_no_change() {
    let fake = FakeMixpanel::start().await;
    fake.seed(rich());
    let repo = mixpanel_repo(&fake.base_url(), "", &[]);
    let run = import(&repo, &[]).await;
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "wrote flags/checkout-gate.yaml\nwrote flags/limits-config.yaml\n\
         wrote flags/pricing-experiment.yaml\nwrote flags/retired.yaml\n\
         wrote schemas/mixpanel-flag.schema.json\nimported 4 flags from `live` into `flags/`\n"
    );
    assert_eq!(run.stderr, "sent 2 requests to Mixpanel\n");
    // Two requests: the workspace, then one list (archived flags included).
    assert_eq!(lines(&fake), plan_requests());
    assert!(fake.requests().iter().all(|r| r.method == "GET"));

    let file = |name: &str| fs::read_to_string(repo.path().join("flags").join(name)).unwrap();
    // Percentages 0–100 exactly, defaults left out, strings YAML would misread quoted,
    // variants by key, a group's splits left out when they are the variants'.
    assert_eq!(
        file("pricing-experiment.yaml"),
        format!(
            r#"# yaml-language-server: $schema=../schemas/mixpanel-flag.schema.json
key: pricing-experiment
name: Pricing experiment
status: enabled
serving_method: server
experiment_id: 4f1c2a3b-5d6e-4f70-8a9b-0c1d2e3f4a5b
is_experiment_active: true
hash_salt: {}
variants:
  - key: annual
    value: annual
    split: 33.33
    is_sticky: true
  - key: control
    value: monthly
    is_control: true
    split: 33.33
  - key: lifetime
    value: "yes"
    split: 33.34
    description: "null"
rollout:
  - name: Premium
    rollout_percentage: 100
    variant_splits:
      annual: 50
      control: 0
      lifetime: 50
    runtime_evaluation_rule:
      and:
        - ==:
            - var: plan
            - premium
        - in:
            - var: country
            - - FR
              - DE
  - rollout_percentage: 12.5
    runtime_event_rule:
      event_name: Signed up
      time_window: while_flag_enabled
      duration: end_of_session
"#,
            salt(&fake, "pricing-experiment")
        )
    );
    assert_eq!(
        file("checkout-gate.yaml"),
        format!(
            r#"# yaml-language-server: $schema=../schemas/mixpanel-flag.schema.json
key: checkout-gate
name: Checkout gate
description: The new checkout
status: enabled
tags:
  - payments
  - web
hash_salt: {}
variants:
  - key: "off"
    value: false
    is_control: true
    split: 50
  - key: "on"
    value: true
    split: 50
rollout:
  - rollout_percentage: 25
    variant_splits:
      "off": 0
      "on": 100
test_users:
  qa@example.com: "on"
"#,
            salt(&fake, "checkout-gate")
        )
    );
    assert!(
        file("retired.yaml").contains("\nstatus: archived\n"),
        "{}",
        file("retired.yaml")
    );
    assert!(
        file("limits-config.yaml").contains("\n      beta: \"1e3\"\n"),
        "{}",
        file("limits-config.yaml")
    );

    let validate = repo.run(&["validate"]);
    validate.expect_code(0);
    assert_eq!(
        validate.stderr,
        "validated 4 flags in 4 files: 0 errors, 0 warnings\n"
    );
    assert_in_sync(&fake, &repo, 4).await;

    // Importing again, with or without `--force`, leaves every byte as it was.
    let first = snapshot(repo.path());
    for more in [&[][..], &["--force"]] {
        let again = import(&repo, more).await;
        again.expect_code(0);
        assert_eq!(
            again.stdout,
            "unchanged flags/checkout-gate.yaml\nunchanged flags/limits-config.yaml\n\
             unchanged flags/pricing-experiment.yaml\nunchanged flags/retired.yaml\n\
             imported 4 flags from `live` into `flags/` (4 unchanged)\n"
        );
        assert_eq!(snapshot(repo.path()), first);
    }
}

/// After an import, editing one field plans exactly that change, and applying it writes the
/// fraction; nothing else moves (the imported `hash_salt` is sent back as it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_an_imported_file_plans_and_applies_exactly_that_change() {
    let fake = FakeMixpanel::start().await;
    fake.seed(rich());
    let repo = mixpanel_repo(&fake.base_url(), "", &[]);
    import(&repo, &[]).await.expect_code(0);
    let path = repo.path().join("flags/pricing-experiment.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("rollout_percentage: 12.5\n", "rollout_percentage: 15.5\n"),
    )
    .unwrap();
    let before = fake.flag("pricing-experiment").unwrap();
    let plan = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "  ~ update `pricing-experiment`\n      ! rollout widens 12.5% → 15.5% of users where event `Signed up` was performed in group 2\n      rollout 12.5% → 15.5% in group 2\n\nPlan: 0 to create, 1 to update, 0 to delete.\n"
        ),
        "{}",
        plan.stdout
    );
    flagops_against_fake_mixpanel(repo.path(), &["apply", "--env", "live", "--auto-approve"])
        .await
        .expect_code(0);
    let mut after = fake.flag("pricing-experiment").unwrap();
    assert_eq!(
        after["ruleset"]["rollout"][1]["rollout_percentage"],
        json!(0.155)
    );
    after["ruleset"]["rollout"][1]["rollout_percentage"] = json!(0.125);
    // The PUT sends variants in the file's (sorted) order; Mixpanel keeps what it is sent.
    let by_key = |flag: &Value| {
        let mut variants = flag["ruleset"]["variants"].as_array().unwrap().clone();
        variants.sort_by_key(|v| v["key"].as_str().unwrap().to_owned());
        variants
    };
    assert_eq!(by_key(&after), by_key(&before));
    for field in [
        "hash_salt",
        "experiment_id",
        "is_experiment_active",
        "serving_method",
        "tags",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(after["ruleset"]["rollout"], before["ruleset"]["rollout"]);
    assert_in_sync(&fake, &repo, 4).await;
}
