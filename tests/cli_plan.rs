//! `flagops plan` and `flagops apply` end to end against `backend: local`: exit codes, formats,
//! saved plans.

use crate::support::TempRepo;

const CONFIG: &str = "backend: local\nenvironments:\n  staging: {}\n  production:\n    prune: true\n    max_deletes: 1\n";

fn repo() -> TempRepo {
    TempRepo::new(
        CONFIG,
        &[
            (
                "base.yaml",
                "key: base\nconditions:\n  - rollout_percentage: 100\n",
            ),
            (
                "child.yaml",
                "key: child\nconditions:\n  - properties:\n      - { type: flag, flag: base, value: true }\n    rollout_percentage: 10\n",
            ),
        ],
    )
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let repo = repo();
    let run = repo.run(&["plan", "--env", "staging", "--detailed-exitcode"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout
            .contains("Plan: 2 to create, 0 to update, 0 to delete."),
        "{}",
        run.stdout
    );
    let run = repo.run(&["plan", "--env", "staging"]);
    assert_eq!(run.code, 0, "{run:?}");

    let run = repo.run(&["apply", "--env", "staging", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("created `base`\ncreated `child`\n"),
        "{}",
        run.stdout
    );
    assert!(repo.state_file().is_file());

    let run = repo.run(&["plan", "--env", "staging", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("no changes"), "{}", run.stdout);
}

#[test]
fn an_update_is_shown_in_words() {
    let repo = repo();
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    repo.write(
        "child.yaml",
        "key: child\ntags: [beta]\nconditions:\n  - properties:\n      - { type: flag, flag: base, value: true }\n    rollout_percentage: 50\n",
    );
    let run = repo.run(&["plan", "--env", "staging", "--detailed-exitcode"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains(
            "needs attention (1):\n  ~ update `child`\n      ! rollout widens 10% → 50% of users where flag `base` is true in condition 1\n      tag `beta` added\n      rollout 10% → 50% in condition 1\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_environment_is_a_usage_error() {
    let run = repo().run(&["plan", "--env", "prod"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: unknown environment `prod`\nhint: defined environments: production, staging\n"
    );
    assert_eq!(run.stdout, "");
    // Under --detailed-exitcode, 2 means "changes": every error is 1 there.
    let run = repo().run(&["plan", "--env", "prod", "--detailed-exitcode"]);
    assert_eq!(run.code, 1, "{run:?}");
    let run = repo().run(&[
        "plan",
        "--env",
        "production",
        "--bogus",
        "--detailed-exitcode",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn a_posthog_environment_without_its_api_key_is_a_usage_error() {
    let repo = TempRepo::new(
        "backend: posthog\nenvironments:\n  prod:\n    host: https://eu.posthog.com\n    project_id: 1\n    api_key_env: KEY\n",
        &[("a.yaml", "key: a\n")],
    );
    let run = repo.run(&["plan", "--env", "prod"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: environment variable `KEY` (the `api_key_env` of environment `prod`) is not set or empty; \
         export a personal API key with the `feature_flag:read` and `feature_flag:write` scopes\n"
    );
}

#[test]
fn validation_errors_stop_the_plan_with_exit_1() {
    let repo = repo();
    repo.write("broken.yaml", "key: broken\nconditions:\n  - properties:\n      - { type: flag, flag: nowhere, value: true }\n");
    let run = repo.run(&["plan", "--env", "staging", "--detailed-exitcode"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("`broken` depends on `nowhere`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: the repository has errors; nothing was planned\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn a_refused_plan_exits_1_in_every_format() {
    let repo = repo();
    assert_eq!(
        repo.run(&["apply", "--env", "production", "--auto-approve"])
            .code,
        0
    );
    repo.remove("child.yaml");
    repo.remove("base.yaml");
    repo.write("other.yaml", "key: other\n");
    let run = repo.run(&["plan", "--env", "production", "--detailed-exitcode"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("error[max-deletes]: the plan deletes 2 flags (`base`, `child`); `max_deletes` for this environment is 1\n"), "{}", run.stderr);
    let run = repo.run(&["plan", "--env", "production", "--format", "json"]);
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["errors"][0]["code"], "max-deletes");
    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .starts_with("### flagops plan: `production` (refused)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_saved_plan_applies_once_and_a_stale_one_is_refused() {
    let repo = repo();
    let run = repo.run(&[
        "plan",
        "--env",
        "staging",
        "--out",
        "plan.json",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let saved = std::fs::read_to_string(repo.path().join("plan.json")).unwrap();
    assert_eq!(saved, run.stdout, "the saved plan is the JSON rendering");
    let doc: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["metadata"]["environment"], "staging");
    assert_eq!(doc["metadata"]["config"]["path"], "flagops.yaml");
    assert!(
        doc["metadata"]["config"]["sha256"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        doc["steps"][1]["desired"]["conditions"][0]["properties"][0]["flag"],
        "base"
    );

    let run = repo.run(&[
        "apply",
        "--env",
        "production",
        "plan.json",
        "--auto-approve",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("the plan was made for environment `staging`, not `production`"),
        "{}",
        run.stderr
    );

    let run = repo.run(&["apply", "--env", "staging", "plan.json", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    // Applying the same plan again converges: the flags exist exactly as planned.
    let run = repo.run(&["apply", "--env", "staging", "plan.json", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("already created `base` (it already existed as desired): nothing was sent\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_update_planned_before_someone_else_wrote_is_a_conflict() {
    let repo = repo();
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    repo.write(
        "base.yaml",
        "key: base\nname: Base\nconditions:\n  - rollout_percentage: 100\n",
    );
    assert_eq!(
        repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
            .code,
        0
    );
    // Someone else writes `base` in between, with another name than the plan's.
    repo.write(
        "base.yaml",
        "key: base\nname: Other\nconditions:\n  - rollout_percentage: 100\n",
    );
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    let run = repo.run(&["apply", "--env", "staging", "plan.json", "--auto-approve"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "failed to update `base`: `base` changed since the plan was made (version 1 → 2); re-run `flagops plan --env staging`"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn applying_a_saved_plan_again_counts_its_updates_as_done() {
    // A re-run of an apply job (after a timeout, or by hand) with the same saved plan must
    // converge, not fail on the flags the first run already brought to the desired state.
    let repo = repo();
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    repo.write(
        "base.yaml",
        "key: base\nname: Base\nconditions:\n  - rollout_percentage: 100\n",
    );
    assert_eq!(
        repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
            .code,
        0
    );
    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("updated `base`\n"), "{}", run.stdout);

    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("already updated `base` (it was already as planned): nothing was sent\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("0 applied, 1 already applied, 0 failed, 0 skipped"),
        "{}",
        run.stdout
    );
}

#[test]
fn apply_without_auto_approve_is_a_usage_error() {
    let repo = repo();
    let run = repo.run(&["apply", "--env", "staging"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: `apply` cannot ask for confirmation (stdin is not a terminal); pass `--auto-approve`, or apply a saved plan\n\
             hint: review `flagops -C {0} plan --env staging --out plan.json`, then run `flagops -C {0} apply --env staging plan.json`\n",
            repo.path().display()
        )
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!repo.state_file().exists(), "nothing was applied");
}

#[test]
fn the_quickstart_example_plans_applies_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    std::fs::copy(
        example.join("flagops.yaml"),
        dir.path().join("flagops.yaml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("flags")).unwrap();
    for entry in std::fs::read_dir(example.join("flags")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            dir.path().join("flags").join(entry.file_name()),
        )
        .unwrap();
    }
    let repo = TempRepo { dir };
    for env in ["staging", "production"] {
        let run = repo.run(&["plan", "--env", env, "--detailed-exitcode"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(repo.run(&["apply", "--env", env, "--auto-approve"]).code, 0);
    }
    // Each environment has its own state in the file, like separate projects.
    for env in ["staging", "production"] {
        let run = repo.run(&["plan", "--env", env, "--detailed-exitcode"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
}

#[test]
fn ignore_accepts_only_fields_that_can_be_left_out_of_updates() {
    let repo = TempRepo::new(
        "backend: local\nenvironments:\n  prod:\n    ignore: [tags, conditions]\n",
        &[("a.yaml", "key: a\n")],
    );
    let run = repo.run(&["plan", "--env", "prod"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "error[config]: `conditions` is not a field PostHog flags can ignore; one of: name, \
             tags, evaluation_contexts, holdout, early_exit, feature_enrollment, \
             ensure_experience_continuity, evaluation_runtime, bucketing_identifier\n"
        ),
        "{}",
        run.stderr
    );
}

/// Commit everything under `root` (a new git repository) and return the commit id.
fn commit_all(root: &std::path::Path) -> String {
    let repo = git2::Repository::init(root).unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let who = git2::Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("HEAD"), &who, &who, "flags", &tree, &[])
        .unwrap()
        .to_string()
}

fn plan_git(dir: &std::path::Path) -> serde_json::Value {
    let run = crate::support::flagops(
        dir,
        &[
            "-C",
            dir.to_str().unwrap(),
            "plan",
            "--env",
            "staging",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    doc["metadata"]["git"].clone()
}

#[test]
fn the_git_commit_is_dirty_exactly_when_the_plan_read_something_else_than_it() {
    let top = tempfile::tempdir().unwrap();
    let ops = top.path().join("ops");
    std::fs::create_dir_all(ops.join("flags")).unwrap();
    std::fs::write(ops.join("flagops.yaml"), CONFIG).unwrap();
    std::fs::write(ops.join("flags/a.yaml"), "key: a\n").unwrap();
    std::fs::write(top.path().join("app.txt"), "v1\n").unwrap();
    let commit = commit_all(top.path());
    let clean = serde_json::json!({"commit": commit, "dirty": false});
    assert_eq!(plan_git(&ops), clean);

    // A change elsewhere in the repository does not change what the plan read.
    std::fs::write(top.path().join("app.txt"), "v2\n").unwrap();
    assert_eq!(plan_git(&ops), clean);

    // A new flag file that is not committed does.
    std::fs::write(ops.join("flags/b.yaml"), "key: b\n").unwrap();
    assert_eq!(plan_git(&ops)["dirty"], true);
    std::fs::remove_file(ops.join("flags/b.yaml")).unwrap();
    assert_eq!(plan_git(&ops), clean);

    // So does a committed flag file that was deleted, or an edited one.
    std::fs::remove_file(ops.join("flags/a.yaml")).unwrap();
    assert_eq!(plan_git(&ops)["dirty"], true);
    std::fs::write(ops.join("flags/a.yaml"), "key: a\nname: edited\n").unwrap();
    assert_eq!(plan_git(&ops)["dirty"], true);
}

/// A hint's command is written as the failing run was invoked: with its `-C` and `--config`
/// (quoted for a shell when needed), so following it works on the same repository and config.
#[test]
fn hints_repeat_the_directory_and_config_the_run_was_given() {
    let repo = crate::support::Repo::empty();
    repo.write("my flags/local.yaml", CONFIG);
    repo.write(
        "my flags/flags/base.yaml",
        "key: base\nconditions:\n  - rollout_percentage: 100\n",
    );
    let globals = ["-C", "my flags", "--config", "local.yaml"];
    let plan = ["plan", "--env", "production", "--out", "p.json"];
    repo.run(&[&globals[..], &plan].concat()).expect_code(0);
    let apply = ["apply", "--env", "staging", "p.json", "--auto-approve"];
    let run = repo.run(&[&globals[..], &apply].concat());
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: the plan was made for environment `production`, not `staging`\n\
         hint: make a new plan with `flagops -C 'my flags' --config local.yaml plan --env \
         staging --out FILE`\n"
    );
    // Without `-C` or `--config`, the hint is as before.
    let run = crate::support::flagops(
        &repo.path().join("my flags"),
        &[
            "--config",
            "local.yaml",
            "apply",
            "--env",
            "staging",
            "p.json",
            "--auto-approve",
        ],
    );
    run.expect_code(1);
    assert!(
        run.stderr.ends_with(
            "hint: make a new plan with `flagops --config local.yaml plan --env staging --out FILE`\n"
        ),
        "{}",
        run.stderr
    );
}

/// `--out` never replaces a file that is not a saved plan: the config survives a slip of the
/// keyboard, and the run says so (exit 1) instead of "saved".
#[test]
fn plan_out_refuses_to_replace_the_config() {
    let repo = repo();
    let config = std::fs::read_to_string(repo.path().join("flagops.yaml")).unwrap();
    let run = repo.run(&["plan", "--env", "staging", "--out", "flagops.yaml"]);
    run.expect_code(1);
    assert!(
        run.stderr.ends_with(
            "error: cannot write the plan to `flagops.yaml`: it exists and is not a saved plan; \
             nothing was written\nhint: give `--out` a new file, or the file of an earlier plan\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("flagops.yaml")).unwrap(),
        config
    );
    // A plan file is replaced by the next plan.
    repo.run(&["plan", "--env", "staging", "--out", "p.json"])
        .expect_code(0);
    repo.run(&["plan", "--env", "staging", "--out", "p.json"])
        .expect_code(0);
}
