//! Cohorts and group types by name with `backend: local` (issue 15): the catalogue each
//! environment of the state file declares resolves names, and writes are checked against it.

use serde_json::{Value, json};

use crate::cli_git::{commit, init};
use crate::support::{Repo, TempRepo};

#[test]
fn the_local_backend_resolves_names_from_the_catalogue_in_its_state_file() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: local\nflags: flags/\nenvironments:\n  staging: {}\n  production: {}\n  dev: {}\n",
    );
    repo.write(
        "flags/beta.yaml",
        "key: beta\naggregation: company\nconditions:\n  - properties:\n      - { type: group, group_type: company, key: plan, value: x }\n---\nkey: cohort\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, cohort: Beta testers }\n",
    );
    repo.write(
        ".flagops/state.json",
        r#"{"format_version": 1, "environments": {
  "staging": {"next_id": 1, "flags": [],
    "cohorts": [{"id": 11, "name": "Beta testers"}], "group_types": [{"index": 2, "name": "company"}]},
  "production": {"next_id": 1, "flags": [],
    "cohorts": [{"id": 11, "name": "Beta testers", "includes": [12]}, {"id": 12, "name": "Active", "behavioral": true}],
    "group_types": [{"index": 0, "name": "company"}]}
}}"#,
    );
    let validated = repo.run(&["validate"]);
    validated.expect_code(0);
    assert!(
        validated.stderr.starts_with(
            "note: 3 cohort or group-type names are resolved only by `flagops plan`, which reads each environment's project (whether it has them, and the ids)\n"
        ),
        "{}",
        validated.stderr
    );

    repo.run(&["apply", "--env", "staging", "--auto-approve"])
        .expect_code(0);
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".flagops/state.json")).unwrap(),
    )
    .unwrap();
    let flags = &state["environments"]["staging"]["flags"];
    let stored = |key: &str| {
        flags
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flag"]["key"] == key)
            .unwrap()["flag"]
            .clone()
    };
    assert_eq!(stored("beta")["aggregation_group_type_index"], json!(2));
    assert_eq!(
        stored("beta")["conditions"][0]["properties"][0]["group_type_index"],
        json!(2)
    );
    assert_eq!(
        stored("cohort")["conditions"][0]["properties"][0]["value"],
        json!(11)
    );
    repo.run(&["plan", "--env", "staging", "--detailed-exitcode"])
        .expect_code(0);

    let production = repo.run(&["plan", "--env", "production"]);
    production.expect_code(1);
    assert!(
        production.stderr.contains(
            "error[behavioral-cohort]: in `production`, cohort 11 (`Beta testers`) includes cohort 12 (`Active`), whose behavioural (event) filters flags cannot use [flag `cohort`]\n  --> flags/beta.yaml:10:56"
        ),
        "{}",
        production.stderr
    );

    let markdown = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    markdown.expect_code(1);
    assert!(
        markdown.stdout.starts_with(
            "### flagops plan: `production` (refused)\n\n**The environment's project lacks what the flags name (1 error); nothing was planned.** Create it there first, or change the flags.\n\n- `flags/beta.yaml:10:56` **behavioral-cohort**: in `production`, cohort 11"
        ),
        "{}",
        markdown.stdout
    );

    let dev = repo.run(&["plan", "--env", "dev"]);
    dev.expect_code(1);
    for expected in [
        "error[unknown-group-type]: in `dev`, the group types of this environment are not known, so `company` cannot be resolved [flag `beta`]\n --> flags/beta.yaml:2:14",
        "error[unknown-cohort]: in `dev`, the cohorts of this environment are not known, so `Beta testers` cannot be resolved [flag `cohort`]",
        "help: with `backend: local`, list the environment's cohorts under `cohorts` in the state file",
    ] {
        assert!(dev.stderr.contains(expected), "{expected}\n{}", dev.stderr);
    }
}

/// A saved plan holds ids; the local backend refuses them at write when the state's
/// catalogue says the cohort went away since (as PostHog would).
#[test]
fn the_local_backend_refuses_a_cohort_deleted_after_the_plan() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: local\nflags: flags/\nenvironments:\n  staging: {}\n",
    );
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, cohort: Beta testers }\n",
    );
    let state = |deleted: bool| {
        format!(
            r#"{{"format_version": 1, "environments": {{"staging": {{"next_id": 1, "flags": [],
  "cohorts": [{{"id": 11, "name": "Beta testers", "deleted": {deleted}}}]}}}}}}"#
        )
    };
    repo.write(".flagops/state.json", state(false));
    repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
        .expect_code(0);
    repo.write(".flagops/state.json", state(true));
    let applied = repo.run(&["apply", "--env", "staging", "plan.json"]);
    applied.expect_code(1);
    let output = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        output.contains("cohort 11 (`Beta testers`) was deleted"),
        "{output}"
    );
    let after: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".flagops/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(after["environments"]["staging"]["flags"], json!([]));
}

/// `plan --base`: the base's names resolve as the head's, so a flag whose live state matched
/// the base is "this change", not drift.
#[test]
fn a_base_that_names_cohorts_is_compared_by_their_ids() {
    let flag = |percent: u32| {
        format!(
            "key: a\nconditions:\n  - properties:\n      - {{ type: cohort, key: id, operator: in, cohort: Beta testers }}\n    rollout_percentage: {percent}\n"
        )
    };
    let repo = TempRepo::new(
        "backend: local\nenvironments:\n  prod: {}\n",
        &[("a.yaml", &flag(10))],
    );
    std::fs::create_dir_all(repo.path().join(".flagops")).unwrap();
    std::fs::write(
        repo.state_file(),
        r#"{"format_version": 1, "environments": {"prod": {"next_id": 1, "flags": [],
  "cohorts": [{"id": 11, "name": "Beta testers"}]}}}"#,
    )
    .unwrap();
    let git = init(&repo);
    let base = commit(&git, "base", &[], true);
    repo.run(&["apply", "--env", "prod", "--auto-approve"])
        .expect_code(0);
    repo.write("a.yaml", &flag(50));
    commit(&git, "change", &[base], true);
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--format",
        "json",
        "--base",
        &base.to_string(),
    ]);
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["origin"], json!({"a": "change"}), "{}", run.stdout);
}
