//! The README's Mixpanel flag file, end to end through the binary: it validates in a
//! `backend: mixpanel` repository, applies to the fake Mixpanel as the README's mapping table
//! says (percentages as fractions, `test_users` as `ruleset.test.users`, no `depends_on`), the
//! next plan is empty, and importing it back plans no change.

use std::fs;

use serde_json::json;

use crate::cli_mixpanel_apply::{assert_in_sync, writable};
use crate::support::crate_dir;
use crate::support::fake_mixpanel::FakeMixpanel;
use crate::support::{
    MIXPANEL_SECRET_VAR, MIXPANEL_USERNAME_VAR, TempRepo, flagops_against_fake_mixpanel,
    mixpanel_repo, mixpanel_repo_config,
};

/// The first YAML block of the README's `### Mixpanel flag files` section.
fn readme_example() -> String {
    let readme = fs::read_to_string(crate_dir().join("README.md")).unwrap();
    let section = readme
        .split_once("### Mixpanel flag files")
        .expect("README has a Mixpanel flag files section")
        .1;
    let block = section
        .split_once("```yaml\n")
        .expect("the section has a YAML block")
        .1;
    block.split_once("```").unwrap().0.to_owned()
}

const CHECKOUT_API: &str =
    "key: checkout-api\nstatus: enabled\nrollout:\n  - rollout_percentage: 100\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_validates_applies_and_round_trips() {
    let example = readme_example();
    assert!(example.contains("key: checkout-v2"), "{example}");
    let fake = FakeMixpanel::start().await;
    // `live` and the `staging` the example overrides (a project of its own, not used here).
    let config = format!(
        "{}  staging:\n    region: eu\n    project_id: 7\n    username_env: {MIXPANEL_USERNAME_VAR}\n    \
         secret_env: {MIXPANEL_SECRET_VAR}\n",
        mixpanel_repo_config(&fake.base_url(), "")
    );
    let repo = TempRepo::new(
        &config,
        &[
            ("checkout-v2.yaml", &example),
            ("checkout-api.yaml", CHECKOUT_API),
        ],
    );
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "validated 2 flags in 2 files: 0 errors, 0 warnings\n"
    );

    let run =
        flagops_against_fake_mixpanel(repo.path(), &["apply", "--env", "live", "--auto-approve"])
            .await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "created `checkout-api`\ncreated `checkout-v2`\n\nApply complete for `live`: 2 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        writable(&fake.flag("checkout-v2").unwrap()),
        json!({
            "key": "checkout-v2", "name": "Checkout v2", "description": null,
            "tags": ["payments"], "status": "enabled", "context": "distinct_id",
            "serving_method": "client", "data_group_id": null, "experiment_id": null,
            "is_experiment_active": null,
            "ruleset": {
                "variants": [
                    {"key": "control", "value": {"color": "grey"}, "is_control": true, "split": 0.5},
                    {"key": "treatment", "value": {"color": "blue"}, "is_control": false, "split": 0.5, "is_sticky": true}
                ],
                "rollout": [
                    {"name": "Premium", "rollout_percentage": 0.25,
                     "variant_splits": {"control": 0.1, "treatment": 0.9},
                     "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]}},
                    {"rollout_percentage": 1.0,
                     "variant_splits": {"control": 0.5, "treatment": 0.5},
                     "runtime_event_rule": {"event_name": "Signed up", "time_window": "while_flag_enabled", "duration": "end_of_session"}}
                ],
                "test": {"users": {"qa@example.com": "treatment"}}
            }
        })
    );
    assert_in_sync(&fake, &repo, 2).await;

    // Imported back into an empty repository: no change to plan.
    let imported = mixpanel_repo(&fake.base_url(), "", &[]);
    flagops_against_fake_mixpanel(imported.path(), &["import", "--env", "live"])
        .await
        .expect_code(0);
    assert_in_sync(&fake, &imported, 2).await;
}
