//! The local backend in Mixpanel mode (`backend: local`, `emulate: mixpanel`): the same files
//! validated, planned, applied to the JSON state file, planned again with nothing to do, and
//! imported back byte for byte, with no account and no network.

use std::fs;

use serde_json::{Value, json};

use crate::cli_import::snapshot;
use crate::cli_mixpanel_apply::{BACKEND, BANNER};
use crate::support::TempRepo;

const CONFIG: &str = "backend: local\nemulate: mixpanel\nflags: flags/\nenvironments:\n  staging: {}\n  production: {}\n";

/// On in production only.
const SEARCH: &str = "\
key: new-search
status: enabled
variants:
  - { key: off, value: false, is_control: true, split: 0 }
  - { key: on, value: true, split: 100 }
rollout:
  - rollout_percentage: 100
environments:
  staging: { status: disabled }
";

fn repo() -> TempRepo {
    TempRepo::new(
        CONFIG,
        &[
            ("banner.yaml", BANNER),
            ("backend.yaml", BACKEND),
            ("search.yaml", SEARCH),
        ],
    )
}

fn state(repo: &TempRepo) -> Value {
    serde_json::from_str(&fs::read_to_string(repo.state_file()).unwrap()).unwrap()
}

/// The flag `key` of `env` in the state file.
fn stored(repo: &TempRepo, env: &str, key: &str) -> Value {
    state(repo)["environments"][env]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"]["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {env}"))["flag"]
        .clone()
}

#[test]
fn validate_plan_apply_plan_again_in_mixpanel_mode() {
    let repo = repo();
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 3 flags in 3 files: 0 errors, 0 warnings\n"
    );

    let plan = repo.run(&["plan", "--env", "production", "--detailed-exitcode"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.starts_with(
            "plan for environment `production` (backend `local`, local state file `.flagops/state.json`)\n"
        ),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(
            "apply order (each level after the previous one):\n  level 0: `new-search`, `z-backend`\n  level 1: `a-banner`\n"
        ),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .ends_with("Plan: 3 to create, 0 to update, 0 to delete.\n"),
        "{}",
        plan.stdout
    );
    assert!(!repo.state_file().exists(), "a plan writes nothing");

    for env in ["production", "staging"] {
        let run = repo.run(&["apply", "--env", env, "--auto-approve"]);
        run.expect_code(0);
        assert!(
            run.stdout.ends_with(&format!(
                "created `new-search`\ncreated `z-backend`\ncreated `a-banner`\n\n\
                 Apply complete for `{env}`: 3 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
            )),
            "{}",
            run.stdout
        );
    }
    // The state holds the flags as the files say, per environment, percentages 0–100.
    assert_eq!(
        stored(&repo, "production", "new-search")["status"],
        "enabled"
    );
    // `disabled` is the default, left out.
    assert_eq!(stored(&repo, "staging", "new-search").get("status"), None);
    assert_eq!(
        stored(&repo, "production", "z-backend")["variants"][2],
        json!({"key": "c", "value": "C", "split": 33.34})
    );
    assert_eq!(
        stored(&repo, "production", "a-banner")["rollout"],
        json!([{"rollout_percentage": 25, "variant_splits": {"off": 0, "on": 100}}])
    );
    assert_eq!(
        stored(&repo, "production", "a-banner")["test_users"],
        json!({"qa-1": "on"})
    );

    for env in ["production", "staging"] {
        let run = repo.run(&["plan", "--env", env, "--detailed-exitcode"]);
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!(
                "no changes: `{env}` matches the repository (3 flags in sync)"
            )),
            "{}",
            run.stdout
        );
    }

    // An edit is planned in Mixpanel's words and applied.
    repo.write(
        "banner.yaml",
        &BANNER.replace("rollout_percentage: 25", "rollout_percentage: 40"),
    );
    let plan = repo.run(&["plan", "--env", "production"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "  ~ update `a-banner`\n      ! rollout widens 25% → 40% of everyone in group 1\n      rollout 25% → 40% in group 1\n"
        ),
        "{}",
        plan.stdout
    );
    repo.run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);
    assert_eq!(
        stored(&repo, "production", "a-banner")["rollout"][0]["rollout_percentage"],
        40
    );
}

#[test]
fn import_from_the_local_state_round_trips() {
    let repo = repo();
    repo.run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);
    for name in ["banner.yaml", "backend.yaml", "search.yaml"] {
        repo.remove(name);
    }
    let run = repo.run(&["import", "--env", "production"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "wrote flags/a-banner.yaml\nwrote flags/new-search.yaml\nwrote flags/z-backend.yaml\n\
         wrote schemas/mixpanel-flag.schema.json\nimported 3 flags from `production` into `flags/`\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/z-backend.yaml")).unwrap(),
        "# yaml-language-server: $schema=../schemas/mixpanel-flag.schema.json\n\
         key: z-backend\nstatus: enabled\nvariants:\n  - key: a\n    value: A\n    is_control: true\n    split: 33.33\n\
         \x20 - key: b\n    value: B\n    split: 33.33\n  - key: c\n    value: C\n    split: 33.34\n\
         rollout:\n  - rollout_percentage: 100\n"
    );
    repo.run(&["validate"]).expect_code(0);
    let plan = repo.run(&["plan", "--env", "production", "--detailed-exitcode"]);
    plan.expect_code(0);
    let first = snapshot(repo.path());
    let again = repo.run(&["import", "--env", "production"]);
    again.expect_code(0);
    assert_eq!(
        again.stdout,
        "unchanged flags/a-banner.yaml\nunchanged flags/new-search.yaml\nunchanged flags/z-backend.yaml\n\
         imported 3 flags from `production` into `flags/` (3 unchanged)\n"
    );
    assert_eq!(snapshot(repo.path()), first);
}

/// `prune` on the local backend deletes a flag the repository dropped; the next plan is empty.
#[test]
fn prune_in_mixpanel_mode_converges() {
    let repo = TempRepo::new(
        "backend: local\nemulate: mixpanel\nflags: flags/\nenvironments:\n  staging:\n    prune: true\n",
        &[("backend.yaml", BACKEND), ("search.yaml", SEARCH)],
    );
    repo.run(&["apply", "--env", "staging", "--auto-approve"])
        .expect_code(0);
    repo.remove("search.yaml");
    let run = repo.run(&["apply", "--env", "staging", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("deleted `new-search`\n"),
        "{}",
        run.stdout
    );
    let run = repo.run(&["plan", "--env", "staging", "--detailed-exitcode"]);
    run.expect_code(0);
    // Kept in the state file as deleted (the local backend's soft delete), listed no more.
    let kept: Vec<(Value, Value)> = state(&repo)["environments"]["staging"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["flag"]["key"].clone(), f["deleted"].clone()))
        .collect();
    assert_eq!(
        kept,
        [
            (json!("new-search"), json!(true)),
            (json!("z-backend"), Value::Null)
        ]
    );
}
