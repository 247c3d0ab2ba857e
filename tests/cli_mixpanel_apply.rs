//! `flagops apply` on `backend: mixpanel` end to end: the binary against the strict fake
//! Mixpanel (the config's `host` is the fake, the service account only in the child's
//! environment). Creates and updates in dependency order with exact fractions, the requests
//! each takes, archive and hard delete with `prune` (faults mid-apply: `cli_mixpanel_faults`).

use serde_json::{Value, json};

use crate::support::fake_mixpanel::{FakeMixpanel, RecordedRequest};
use crate::support::{Run, TempRepo, flagops_against_fake_mixpanel, mixpanel_repo};

/// Depends on `z-backend`, and sorts before it: only `depends_on` puts it second.
pub(crate) const BANNER: &str = "\
key: a-banner
name: Banner
status: enabled
tags: [web]
variants:
  - { key: off, value: false, is_control: true, split: 50 }
  - { key: on, value: true, split: 50 }
rollout:
  - rollout_percentage: 25
    variant_splits: { on: 100, off: 0 }
test_users: { qa-1: on }
depends_on: [z-backend]
";

/// Splits that are not binary fractions.
pub(crate) const BACKEND: &str = "\
key: z-backend
status: enabled
variants:
  - { key: a, value: \"A\", is_control: true, split: 33.33 }
  - { key: b, value: \"B\", split: 33.33 }
  - { key: c, value: \"C\", split: 33.34 }
rollout:
  - rollout_percentage: 100
";

/// What Mixpanel stores for [`BANNER`] (the writable fields of its answer).
pub(crate) fn banner_stored() -> Value {
    json!({
        "key": "a-banner", "name": "Banner", "description": null, "tags": ["web"],
        "status": "enabled", "context": "distinct_id", "serving_method": "client",
        "data_group_id": null, "experiment_id": null, "is_experiment_active": null,
        "ruleset": {
            "variants": [
                {"key": "off", "value": false, "is_control": true, "split": 0.5},
                {"key": "on", "value": true, "is_control": false, "split": 0.5}
            ],
            "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"off": 0.0, "on": 1.0}}],
            "test": {"users": {"qa-1": "on"}}
        }
    })
}

/// What Mixpanel stores for [`BACKEND`].
pub(crate) fn backend_stored() -> Value {
    json!({
        "key": "z-backend", "name": "z-backend", "description": null, "tags": [],
        "status": "enabled", "context": "distinct_id", "serving_method": "client",
        "data_group_id": null, "experiment_id": null, "is_experiment_active": null,
        "ruleset": {
            "variants": [
                {"key": "a", "value": "A", "is_control": true, "split": 0.3333},
                {"key": "b", "value": "B", "is_control": false, "split": 0.3333},
                {"key": "c", "value": "C", "is_control": false, "split": 0.3334}
            ],
            "rollout": [{"rollout_percentage": 1.0, "variant_splits": {"a": 0.3333, "b": 0.3333, "c": 0.3334}}]
        }
    })
}

/// The fields of a stored flag a `PUT` or `POST` sets (what the files decide).
pub(crate) fn writable(flag: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for field in [
        "key",
        "name",
        "description",
        "tags",
        "status",
        "context",
        "serving_method",
        "data_group_id",
        "experiment_id",
        "is_experiment_active",
        "ruleset",
    ] {
        out.insert(field.to_owned(), flag[field].clone());
    }
    Value::Object(out)
}

/// `GET`/`POST`/… and path (with query) of every request the fake received.
pub(crate) fn lines(fake: &FakeMixpanel) -> Vec<String> {
    fake.requests().iter().map(RecordedRequest::line).collect()
}

/// The requests of a `plan` with the workspace discovered: the workspaces, then one list.
pub(crate) fn plan_requests() -> Vec<String> {
    vec!["GET /api/app/projects/12345/workspaces/".to_owned(), list()]
}

/// The list request.
pub(crate) fn list() -> String {
    format!("GET {}?include_archived=true", FakeMixpanel::flags_path())
}

async fn apply(repo: &TempRepo) -> Run {
    flagops_against_fake_mixpanel(repo.path(), &["apply", "--env", "live", "--auto-approve"]).await
}

/// A plan with `--detailed-exitcode` that finds nothing to do (exit 0), in two requests.
pub(crate) async fn assert_in_sync(fake: &FakeMixpanel, repo: &TempRepo, flags: usize) {
    fake.clear_requests();
    let run = flagops_against_fake_mixpanel(
        repo.path(),
        &["plan", "--env", "live", "--detailed-exitcode"],
    )
    .await;
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "\nno changes: `live` matches the repository ({flags} flag{} in sync)\n",
            if flags == 1 { "" } else { "s" }
        )),
        "{}",
        run.stdout
    );
    assert_eq!(lines(fake), plan_requests());
}

/// How many flags of the fake have `key` (archived ones too).
pub(crate) fn count_of(fake: &FakeMixpanel, key: &str) -> usize {
    fake.flags().iter().filter(|f| f["key"] == key).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_in_dependency_order_with_exact_fractions() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(
        &fake.base_url(),
        "",
        &[("banner.yaml", BANNER), ("backend.yaml", BACKEND)],
    );
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "created `z-backend`\ncreated `a-banner`\n\nApply complete for `live`: 2 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "applying 2 steps…\nsent 6 requests to Mixpanel\n"
    );
    let flags = FakeMixpanel::flags_path();
    // The dependency first, whatever the keys' order; the plan's list (applied at once), a
    // fresh list before the second level and one after (the read-back).
    assert_eq!(
        lines(&fake),
        [
            "GET /api/app/projects/12345/workspaces/".to_owned(),
            list(),
            format!("POST {flags}"),
            list(),
            format!("POST {flags}"),
            list(),
        ]
    );
    let requests = fake.requests();
    assert_eq!(requests[2].body.as_ref().unwrap()["key"], "z-backend");
    assert_eq!(requests[4].body.as_ref().unwrap()["key"], "a-banner");
    assert!(requests[2].at <= requests[4].at);
    // The bodies are closed: no `depends_on`, no `hash_salt` (Mixpanel draws one), no
    // `reset_hash_salt`.
    for request in [&requests[2], &requests[4]] {
        let body = request.body.as_ref().unwrap().as_object().unwrap();
        for field in ["depends_on", "hash_salt", "reset_hash_salt", "test_users"] {
            assert!(!body.contains_key(field), "{field} in {body:?}");
        }
    }
    // What Mixpanel holds is what the files say, the percentages as exact fractions.
    assert_eq!(writable(&fake.flag("a-banner").unwrap()), banner_stored());
    assert_eq!(writable(&fake.flag("z-backend").unwrap()), backend_stored());
    assert_eq!(
        fake.flag("z-backend").unwrap()["ruleset"]["variants"][0]["split"]
            .as_f64()
            .unwrap()
            .to_string(),
        "0.3333"
    );
    assert_in_sync(&fake, &repo, 2).await;
    assert_eq!(fake.flags().len(), 2);
}

/// An update is a full `PUT` that sends the live `hash_salt` back (users keep their
/// buckets), and the stored flag then equals the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_a_full_put_that_keeps_the_hash_salt() {
    let fake = FakeMixpanel::start().await;
    let salt = "0123456789abcdef0123456789abcdef";
    let id = fake.seed(vec![json!({
        "key": "z-backend", "name": "Backend", "description": "old text", "tags": ["legacy"],
        "context": "distinct_id", "serving_method": "server", "status": "disabled",
        "hash_salt": salt,
        "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 0.5, "variant_splits": {}}]}
    })])
    .remove(0);
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    let plan = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "  ~ update `z-backend`\n      ! enabled: comes on for 100% of everyone\n      \
             name \"Backend\" → \"z-backend\"\n      description \"old text\" → none\n"
        ),
        "{}",
        plan.stdout
    );
    fake.clear_requests();
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "updated `z-backend`\n\nApply complete for `live`: 1 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    let flags = FakeMixpanel::flags_path();
    assert_eq!(
        lines(&fake),
        [
            "GET /api/app/projects/12345/workspaces/".to_owned(),
            list(),
            format!("PUT {flags}{id}/"),
            list(),
        ]
    );
    let body = fake.requests()[2].body.clone().unwrap();
    assert_eq!(body["hash_salt"], salt);
    assert!(body.get("reset_hash_salt").is_none());
    let stored = fake.flag("z-backend").unwrap();
    assert_eq!(stored["hash_salt"], salt);
    assert_eq!(stored["id"], id.as_str());
    assert_eq!(writable(&stored), backend_stored());
    assert_in_sync(&fake, &repo, 1).await;
}

/// With `prune`, a flag the repository no longer has is archived (Mixpanel's soft delete).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_archives_a_flag_the_repository_dropped() {
    let fake = FakeMixpanel::start().await;
    let id = fake
        .seed(vec![json!({"key": "old", "name": "Old", "status": "enabled",
            "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}})])
        .remove(0);
    let repo = mixpanel_repo(
        &fake.base_url(),
        "    prune: true\n",
        &[("backend.yaml", BACKEND)],
    );
    let plan = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "  - delete `old`\n      ! deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone\n"
        ),
        "{}",
        plan.stdout
    );
    fake.clear_requests();
    let _ = apply(&repo).await;
    let flags = FakeMixpanel::flags_path();
    let mut sent: Vec<String> = lines(&fake)
        .into_iter()
        .filter(|l| !l.starts_with("GET "))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            format!("POST {flags}"),
            format!("POST {flags}{id}/archive/")
        ]
    );
    let old = fake.flag("old").unwrap();
    assert_eq!(old["status"], "archived");
    assert!(old["deleted"].is_string());
    assert_eq!(count_of(&fake, "old"), 1);
}

/// Archiving converges: the apply that archives says so and succeeds, and the next plan has
/// nothing to do (an archived flag is already deleted, as the README says).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_archiving_converges() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![json!({"key": "old", "name": "Old", "status": "enabled",
        "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}})]);
    let repo = mixpanel_repo(
        &fake.base_url(),
        "    prune: true\n",
        &[("backend.yaml", BACKEND)],
    );
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "Apply complete for `live`: 2 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    assert_in_sync(&fake, &repo, 1).await;
}

/// `hard_delete: true`: an enabled flag is disabled (a `PUT` keeping its salt), then deleted;
/// a disabled one is deleted at once. Nothing is archived, and the next plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_delete_disables_an_enabled_flag_then_deletes_it() {
    let fake = FakeMixpanel::start().await;
    let rollout =
        json!({"variants": [], "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]});
    let ids = fake.seed(vec![
        json!({"key": "old-on", "name": "On", "status": "enabled", "ruleset": rollout}),
        json!({"key": "old-off", "name": "Off", "status": "disabled", "ruleset": rollout}),
    ]);
    let salt = fake.flag("old-on").unwrap()["hash_salt"].clone();
    let repo = mixpanel_repo(
        &fake.base_url(),
        "    prune: true\n    hard_delete: true\n",
        &[("backend.yaml", BACKEND)],
    );
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "deleted `old-off`\ndeleted `old-on`\ncreated `z-backend`\n\nApply complete for `live`: 3 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        ),
        "{}",
        run.stdout
    );
    let flags = FakeMixpanel::flags_path();
    let writes: Vec<(String, Option<Value>)> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.line(), r.body))
        .collect();
    let (on, off) = (&ids[0], &ids[1]);
    let put = writes
        .iter()
        .position(|(l, _)| *l == format!("PUT {flags}{on}/"))
        .expect("old-on is disabled first");
    let delete_on = writes
        .iter()
        .position(|(l, _)| *l == format!("DELETE {flags}{on}/"))
        .expect("then deleted");
    assert!(put < delete_on, "{writes:?}");
    assert_eq!(writes[put].1.as_ref().unwrap()["status"], "disabled");
    assert_eq!(writes[put].1.as_ref().unwrap()["hash_salt"], salt);
    assert!(
        writes
            .iter()
            .any(|(l, _)| *l == format!("DELETE {flags}{off}/"))
    );
    assert!(
        !writes
            .iter()
            .any(|(l, _)| *l == format!("PUT {flags}{off}/"))
    );
    assert!(!writes.iter().any(|(l, _)| l.ends_with("/archive/")));
    assert_eq!(writes.len(), 4, "{writes:?}");
    let keys: Vec<Value> = fake.flags().iter().map(|f| f["key"].clone()).collect();
    assert_eq!(keys, [json!("z-backend")]);
    assert_in_sync(&fake, &repo, 1).await;
}

/// Requests are precious on Mixpanel: 12 flags in 3 dependency levels take the workspace
/// lookup, the plan's list (applied at once, so the preconditions are checked against it),
/// one fresh list before each later level, one write per flag and one list to read back,
/// and no request per flag otherwise; each level's writes come after the previous level's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_flags_in_three_levels_take_seventeen_requests() {
    let fake = FakeMixpanel::start().await;
    let flag = |key: &str, percent: u32, deps: &str| {
        format!(
            "key: {key}\nstatus: enabled\nrollout:\n  - rollout_percentage: {percent}\ndepends_on: [{deps}]\n"
        )
    };
    let mut files: Vec<(String, String)> = Vec::new();
    for (level, deps) in [(0, ""), (1, "l0-0, l0-1"), (2, "l1-3")] {
        for i in 0..4 {
            let key = format!("l{level}-{i}");
            files.push((format!("{key}.yaml"), flag(&key, 10, deps)));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let repo = mixpanel_repo(&fake.base_url(), "", &refs);
    let level_of = |key: &str| key[1..2].parse::<usize>().unwrap();
    for (round, method) in [(0, "POST"), (1, "PUT")] {
        if round == 1 {
            for (name, text) in &files {
                repo.write(
                    name,
                    &text.replace("rollout_percentage: 10", "rollout_percentage: 20"),
                );
            }
        }
        fake.clear_requests();
        let run = flagops_against_fake_mixpanel(
            repo.path(),
            &[
                "apply",
                "--env",
                "live",
                "--auto-approve",
                "--concurrency",
                "4",
            ],
        )
        .await;
        run.expect_code(0);
        assert!(
            run.stdout.ends_with(
                "Apply complete for `live`: 12 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
            ),
            "{}",
            run.stdout
        );
        let requests = fake.requests();
        assert_eq!(requests.len(), 17, "{:?}", lines(&fake));
        assert_eq!(
            lines(&fake)[..2],
            ["GET /api/app/projects/12345/workspaces/".to_owned(), list()]
        );
        for at in [6, 11, 16] {
            assert_eq!(lines(&fake)[at], list());
        }
        let levels: Vec<usize> = requests[2..16]
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| {
                assert_eq!(r.method, method);
                level_of(r.body.as_ref().unwrap()["key"].as_str().unwrap())
            })
            .collect();
        assert!(levels.is_sorted(), "{levels:?}");
    }
    assert_eq!(fake.flags().len(), 12);
    assert!(
        fake.flags()
            .iter()
            .all(|f| f["ruleset"]["rollout"][0]["rollout_percentage"] == json!(0.2))
    );
    assert_in_sync(&fake, &repo, 12).await;
}
