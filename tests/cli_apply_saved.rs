//! `flagops apply PLAN_FILE` end to end on `backend: local`: a saved plan gone stale, made for
//! another config, corrupt, from a newer flagops, or edited by hand (order, missing steps,
//! levels, the environment's policy) is refused or fails its steps, before anything is
//! written where it must be.

use serde_json::Value;

use crate::cli_apply::{BASE, CONFIG, json, repo};
use crate::support::TempRepo;

#[test]
fn a_saved_plan_gone_stale_fails_its_step_and_skips_the_dependents_with_exit_1() {
    let repo = repo();
    assert_eq!(
        repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
            .code,
        0
    );
    // Someone applies a different `base` first.
    repo.write(
        "base.yaml",
        "key: base\nname: Other\nconditions:\n  - rollout_percentage: 100\n",
    );
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "--auto-approve"])
            .code,
        0
    );
    let run = repo.run(&["apply", "--env", "staging", "plan.json", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = json(&run.stdout);
    assert_eq!(doc["succeeded"], false);
    assert_eq!(doc["steps"][0]["status"], "failed");
    assert_eq!(doc["steps"][0]["code"], "changed");
    assert_eq!(
        doc["steps"][0]["reason"],
        "a flag `base` was created since the plan was made; re-run `flagops plan --env staging`"
    );
    assert_eq!(doc["steps"][1]["status"], "skipped");
    assert_eq!(doc["steps"][1]["after"], "base");
    assert_eq!(doc["steps"][1]["failed"], "base");

    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "failed to create `base`: a flag `base` was created since the plan was made; re-run `flagops plan --env staging`\n\
             skipped create of `child`: it waits for `base`, which failed\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "Apply incomplete for `staging`: 0 applied, 0 already applied, 1 failed, 1 skipped, 0 untouched.\n\
             Fix the causes, then run `flagops plan --env staging` and apply again: what was done is not repeated.\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_saved_plan_for_another_config_is_refused() {
    let repo = repo();
    assert_eq!(
        repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
            .code,
        0
    );
    std::fs::write(
        repo.path().join("flagops.yaml"),
        format!("{CONFIG}  other: {{}}\n"),
    )
    .unwrap();
    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: `flagops.yaml` changed since the plan was made\nhint: make a new plan with `flagops -C {} plan --env staging --out FILE`\n",
            repo.path().display()
        )
    );
    assert!(!repo.state_file().exists(), "nothing was applied");
}

#[test]
fn a_corrupt_future_or_hand_edited_plan_is_refused_before_anything_is_applied() {
    let repo = repo();
    assert_eq!(
        repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
            .code,
        0
    );
    let saved = json(&std::fs::read_to_string(repo.path().join("plan.json")).unwrap());
    let apply_edited = |name: &str, text: String| {
        std::fs::write(repo.path().join(name), text).unwrap();
        repo.run(&["apply", "--env", "staging", name])
    };

    let run = apply_edited(
        "cut.json",
        "{\"format_version\": 1, \"steps\": [".to_owned(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("cut.json` is not a flagops plan: it is not valid JSON (EOF while parsing"),
        "{}",
        run.stderr
    );

    let mut future = saved.clone();
    future["format_version"] = 7.into();
    let run = apply_edited("future.json", future.to_string());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "future.json` is a plan of format version 7, made by a newer flagops; this one reads version 1\n\
             hint: apply it with the flagops version that made it, or make a new plan with `flagops -C {} plan --env staging --out FILE`\n",
            repo.path().display()
        )),
        "{}",
        run.stderr
    );

    // `child` moved to the first level, next to the `base` it depends on.
    let mut reordered = saved.clone();
    reordered["steps"][1]["level"] = 0.into();
    let run = apply_edited("reordered.json", reordered.to_string());
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: the plan runs `child` no later than `base`, which must come first; was it edited?\n\
             hint: make a new plan with `flagops -C {} plan --env staging --out FILE`\n",
            repo.path().display()
        )
    );

    // The step of `base` dropped: `child` would be created against a flag that is not there.
    let mut dropped = saved.clone();
    dropped["steps"].as_array_mut().unwrap().remove(0);
    dropped["steps"][0]["level"] = 0.into();
    let run = apply_edited("dropped.json", dropped.to_string());
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: the plan has no step for `base`, which `child` depends on, and does not list it as in sync; was it edited?\n\
             hint: make a new plan with `flagops -C {} plan --env staging --out FILE`\n",
            repo.path().display()
        )
    );

    // A step that names one flag and holds another: the report would name the wrong one.
    let mut renamed = saved.clone();
    renamed["steps"][0]["key"] = "other".into();
    let run = apply_edited("renamed.json", renamed.to_string());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: the plan has a step for `other` that holds the flag `base`; was it edited?\n"
        ),
        "{}",
        run.stderr
    );
    // Two steps for one flag.
    let mut twice = saved.clone();
    let first = twice["steps"][0].clone();
    twice["steps"].as_array_mut().unwrap().push(first);
    let run = apply_edited("twice.json", twice.to_string());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: the plan has two steps for `base`; was it edited?\n"),
        "{}",
        run.stderr
    );

    // A delete written in by hand, where `prune` is off.
    let mut deleting = saved.clone();
    let step = &mut deleting["steps"][0];
    step["action"] = "delete".into();
    step["live"] = serde_json::json!({"id": "1", "version": 1, "fingerprint": "sha256:0", "flag": step["desired"].take()});
    step.as_object_mut().unwrap().remove("desired");
    let run = apply_edited("deleting.json", deleting.to_string());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: the plan deletes `base` but `prune` is off for `staging`; was it edited?\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!repo.state_file().exists(), "nothing was applied");
    // The plan as saved applies.
    assert_eq!(
        repo.run(&["apply", "--env", "staging", "plan.json"]).code,
        0
    );
}

/// A saved plan edited to break the environment's policy (the same decision `plan` makes)
/// is refused before anything is applied.
#[test]
fn a_saved_plan_edited_past_the_policy_is_refused() {
    let config = "backend: local\nenvironments:\n  production:\n    prune: true\n    max_deletes: 1\n    protect: [base]\n";
    let old = "key: old1\nconditions:\n  - rollout_percentage: 100\n";
    let repo = TempRepo::new(
        config,
        &[
            ("base.yaml", BASE),
            ("old1.yaml", old),
            ("old2.yaml", &old.replace("old1", "old2")),
        ],
    );
    repo.run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);
    repo.remove("old1.yaml");
    repo.write("base.yaml", &format!("{BASE}name: Base\n"));
    repo.run(&["plan", "--env", "production", "--out", "plan.json"])
        .expect_code(0);
    let saved = json(&std::fs::read_to_string(repo.path().join("plan.json")).unwrap());
    assert_eq!(saved["steps"][0]["key"], "base");
    assert_eq!(saved["steps"][1]["key"], "old1");
    let state = std::fs::read_to_string(repo.state_file()).unwrap();
    let refused = |name: &str, plan: &Value, error: &str| {
        std::fs::write(repo.path().join(name), plan.to_string()).unwrap();
        let run = repo.run(&["apply", "--env", "production", name]);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (
                1,
                format!(
                    "error: the plan {error}; was it edited?\n\
                     hint: make a new plan with `flagops -C {} plan --env production --out FILE`\n",
                    repo.path().display()
                )
                .as_str()
            ),
            "{run:?}"
        );
        assert_eq!(
            std::fs::read_to_string(repo.state_file()).unwrap(),
            state,
            "nothing was applied"
        );
    };

    let mut disabling = saved.clone();
    disabling["steps"][0]["desired"]["active"] = false.into();
    refused(
        "disabling.json",
        &disabling,
        "disables `base`, which is protected",
    );

    let mut deleting = saved.clone();
    let step = &mut deleting["steps"][0];
    step["action"] = "delete".into();
    let object = step.as_object_mut().unwrap();
    object.remove("desired");
    object.remove("changes");
    refused(
        "deleting.json",
        &deleting,
        "deletes `base`, which is protected",
    );

    let mut pruning = saved.clone();
    let mut second = pruning["steps"][1].clone();
    second["key"] = "old2".into();
    pruning["steps"].as_array_mut().unwrap().push(second);
    refused(
        "pruning.json",
        &pruning,
        "deletes 2 flags; `max_deletes` is 1",
    );

    repo.run(&["apply", "--env", "production", "plan.json"])
        .expect_code(0);
}

/// A saved plan whose `level` was edited to a huge number (`u64::MAX` overflowed an addition;
/// 10^12 made `apply` allocate terabytes and abort) is refused with a clear error.
#[test]
fn a_plan_with_an_out_of_range_level_is_refused_without_a_panic() {
    let repo = repo();
    assert_eq!(
        repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
            .code,
        0
    );
    let saved = json(&std::fs::read_to_string(repo.path().join("plan.json")).unwrap());
    for level in [u64::MAX, 1_000_000_000_000] {
        let mut edited = saved.clone();
        edited["steps"][1]["level"] = level.into();
        std::fs::write(repo.path().join("edited.json"), edited.to_string()).unwrap();
        let run = repo.run(&["apply", "--env", "staging", "edited.json"]);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: the plan puts `child` at level {level}, but a plan of 2 steps has levels 0 to 1; was it edited?\n\
                 hint: make a new plan with `flagops -C {} plan --env staging --out FILE`\n",
                repo.path().display()
            )
        );
        assert!(!repo.state_file().exists(), "nothing was applied");
    }
}

/// A plan saved for one service's flags is never read as another's: `metadata.service` says
/// whose they are (absent for PostHog's), and it is checked before the steps are read.
#[test]
fn a_plan_of_another_services_flags_is_refused_before_it_is_read() {
    let repo = TempRepo::new(
        "backend: local\nemulate: mixpanel\nenvironments:\n  staging: {}\n",
        &[(
            "gate.yaml",
            "key: gate\nstatus: enabled\nvariants:\n  - {key: \"on\", value: true, is_control: true, split: 100}\nrollout:\n  - rollout_percentage: 100\n",
        )],
    );
    let run = repo.run(&["plan", "--env", "staging", "--out", "plan.json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(saved["metadata"]["service"], "mixpanel");
    assert_eq!(saved["metadata"]["backend"], "local");

    std::fs::write(
        repo.path().join("flagops.yaml"),
        "backend: local\nenvironments:\n  staging: {}\n",
    )
    .unwrap();
    repo.write("gate.yaml", "key: gate\n");
    let run = repo.run(&["apply", "--env", "staging", "plan.json", "--auto-approve"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr
            .replace(&format!("{}/", repo.path().display()), ""),
        format!(
            "error: `plan.json` is a plan of mixpanel flags; this repository's flags are posthog's\n\
             hint: make a new plan with `flagops -C {} plan --env staging --out FILE`\n",
            repo.path().display()
        )
    );
    assert!(!repo.path().join(".flagops/state.json").exists());
}

/// A plan made with another config (`--config`) is refused for what it is before any
/// credential is read: the configured service's missing key would hide the real mistake.
#[test]
fn a_plan_made_with_another_config_is_refused_before_a_credential_is_read() {
    let repo = crate::support::Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nflags: flags/\nenvironments:\n  staging:\n    host: https://us.posthog.com\n    project_id: 1\n    api_key_env: POSTHOG_API_KEY_STAGING\n",
    );
    repo.write(
        "flagops.local.yaml",
        "backend: local\nflags: flags/\nenvironments:\n  staging: {}\n",
    );
    repo.write(
        "flags/x.yaml",
        "key: x\nconditions:\n  - rollout_percentage: 10\n",
    );
    repo.run(&[
        "--config",
        "flagops.local.yaml",
        "plan",
        "--env",
        "staging",
        "--out",
        "p.json",
    ])
    .expect_code(0);
    // No `POSTHOG_API_KEY_STAGING` in the environment.
    let run = repo.run(&["apply", "--env", "staging", "p.json"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: the plan was made for backend `local`, not `posthog`\n\
         hint: apply it with `--config flagops.local.yaml`, the config it was made with, or make \
         a new plan with `flagops plan --env staging --out FILE`\n"
    );
    // As the hint says: applied with its own config.
    let run = repo.run(&[
        "--config",
        "flagops.local.yaml",
        "apply",
        "--env",
        "staging",
        "p.json",
    ]);
    run.expect_code(0);
}

/// A plan edited into the wrong shape is refused at the place that is wrong, in words about
/// JSON, not about flagops' Rust types.
#[test]
fn a_plan_of_the_wrong_shape_names_where_without_type_names() {
    let repo = repo();
    let run = repo.run(&["plan", "--env", "staging", "--out", "plan.json"]);
    run.expect_code(0);
    let path = repo.path().join("plan.json");
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    plan["metadata"] = serde_json::json!([]);
    std::fs::write(&path, plan.to_string()).unwrap();
    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: `{}/plan.json` is not a valid flagops plan: at `metadata`: expected an \
             object, found an array\n",
            repo.path().display()
        )),
        "{}",
        run.stderr
    );
}

/// A hand-edited plan's flag the service would refuse is refused by the local backend too,
/// as PostHog refuses it: nothing of it is stored.
#[test]
fn a_plan_edited_past_what_posthog_accepts_stores_nothing_of_it() {
    let repo = repo();
    repo.run(&["plan", "--env", "staging", "--out", "plan.json"])
        .expect_code(0);
    let path = repo.path().join("plan.json");
    let mut plan = json(&std::fs::read_to_string(&path).unwrap());
    plan["steps"][0]["desired"]["conditions"][0]["rollout_percentage"] = (-5).into();
    std::fs::write(&path, plan.to_string()).unwrap();
    let run = repo.run(&["apply", "--env", "staging", "plan.json"]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("a rollout must be a number from 0 to 100"),
        "{}",
        run.stdout
    );
    let state = std::fs::read_to_string(repo.state_file()).unwrap_or_default();
    assert!(!state.contains("-5"), "{state}");
}
