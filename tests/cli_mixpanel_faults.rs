//! `plan` and `apply` on `backend: mixpanel` against a fake Mixpanel that misbehaves or says
//! no: a 5xx or a dropped connection mid-apply that a re-run converges from without
//! duplicates, a redirect never followed, a 429 waited out, a garbled answer to a write read
//! back, a huge error quoted on one line, a flag someone else changed after a saved plan not
//! overwritten, Mixpanel's own refusal naming the field, and a project without a workspace to
//! pick or without access a clear error.

use serde_json::json;

use crate::cli_mixpanel_apply::{
    BACKEND, BANNER, assert_in_sync, banner_stored, count_of, lines, list, writable,
};
use crate::support::fake_mixpanel::{FakeMixpanel, Fault, Workspace};
use crate::support::{
    Run, TempRepo, flagops_against_fake_mixpanel, mixpanel_repo, mixpanel_repo_config,
};

async fn apply(repo: &TempRepo) -> Run {
    flagops_against_fake_mixpanel(repo.path(), &["apply", "--env", "live", "--auto-approve"]).await
}

/// The report's lines from the first step result on (the plan above them is tested elsewhere).
fn results(run: &Run) -> String {
    let at = run
        .stdout
        .find("\nPlan: ")
        .and_then(|p| run.stdout[p + 1..].find('\n').map(|n| p + n + 2))
        .unwrap_or_else(|| panic!("no plan summary: {}", run.stdout));
    run.stdout[at..].trim_start_matches('\n').to_owned()
}

/// A 301 to another origin on a write: nothing is sent there, the step fails naming the path
/// and the origin, and a re-run creates the flag once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let fake = FakeMixpanel::start().await;
    let other = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::Redirect {
            status: 301,
            to: other.base_url(),
            times: 1,
        },
    );
    let run = apply(&repo).await;
    run.expect_code(1);
    assert_eq!(
        results(&run),
        format!(
            "failed to create `z-backend`: the answer to `create flag `z-backend`` \
             ({}) is a redirect (301) to another origin, `{}`; flagops follows no redirect (it \
             would turn a write into a GET), so nothing was sent there; check that `host` is the \
             App API origin\n\n\
             Apply incomplete for `live`: 0 applied, 0 already applied, 1 failed, 0 skipped, 0 untouched.\n\
             Fix the causes, then run `flagops plan --env live` and apply again: what was done is not repeated.\n",
            FakeMixpanel::flags_path(),
            other.base_url()
        )
    );
    assert!(other.requests().is_empty());
    assert!(fake.flags().is_empty());
    apply(&repo).await.expect_code(0);
    assert_eq!(fake.flags().len(), 1);
    assert_in_sync(&fake, &repo, 1).await;
}

/// A 429 with `Retry-After: 1` is waited out and the request sent again; the apply succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_waited_out() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    fake.inject(Fault::RateLimited {
        retry_after: Some("1".into()),
        times: 1,
    });
    let run = apply(&repo).await;
    run.expect_code(0);
    let requests = fake.requests();
    assert_eq!(requests[0].status, Some(429));
    assert_eq!(requests[0].line(), requests[1].line());
    assert!(
        requests[1].at.duration_since(requests[0].at) >= std::time::Duration::from_millis(900),
        "waited {:?}",
        requests[1].at.duration_since(requests[0].at)
    );
    assert_eq!(fake.flags().len(), 1);
}

/// A write stored but answered with a body cut short: read back, found, counted as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_answer_to_a_create_is_read_back() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("banner.yaml", BANNER)]);
    repo.write(
        "banner.yaml",
        &BANNER.replace("depends_on: [z-backend]\n", ""),
    );
    fake.inject_for("POST", "/feature-flags/", Fault::Garbled { times: 1 });
    let run = apply(&repo).await;
    run.expect_code(0);
    assert_eq!(
        results(&run),
        "created `a-banner` (its answer was lost; reading the flag back showed it done)\n\n\
         Apply complete for `live`: 1 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
    );
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1
    );
    assert_eq!(fake.flags().len(), 1);
}

/// A 100,000-character error with newlines and a workflow command: one line, cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_is_quoted_on_one_short_line() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("c.yaml", "key: c\n")]);
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::HugeDetail {
            status: 400,
            bytes: 100_000,
            times: 1,
        },
    );
    let run = apply(&repo).await;
    run.expect_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("failed to create `c`: "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.starts_with(
            "failed to create `c`: flag `c`: Mixpanel refused to create it (400: Internal server error ::error::injected Internal"
        ),
        "{line}"
    );
    assert!(line.ends_with("…)"), "{line}");
    assert!(
        line.chars().count() < 300,
        "{} characters",
        line.chars().count()
    );
    assert!(
        !run.stdout
            .lines()
            .chain(run.stderr.lines())
            .any(|l| l.starts_with("::")),
        "{run:?}"
    );
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1
    );
}

/// A saved plan, then someone edits the flag in Mixpanel: `apply FILE` leaves that flag alone
/// (its `modified` moved) and applies the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_changed_after_a_saved_plan_is_not_overwritten() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(
        &fake.base_url(),
        "",
        &[("banner.yaml", BANNER), ("backend.yaml", BACKEND)],
    );
    apply(&repo).await.expect_code(0);
    repo.write(
        "banner.yaml",
        &BANNER.replace("rollout_percentage: 25", "rollout_percentage: 30"),
    );
    repo.write("c.yaml", "key: c\n");
    flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live", "--out", "p.json"])
        .await
        .expect_code(0);
    let before = fake.flag("a-banner").unwrap()["modified"].clone();
    fake.edit_as_other("a-banner", |f| {
        f.insert("description".into(), json!("edited by hand"));
    });
    let after = fake.flag("a-banner").unwrap()["modified"].clone();
    fake.clear_requests();
    let run = flagops_against_fake_mixpanel(
        repo.path(),
        &["apply", "p.json", "--env", "live", "--auto-approve"],
    )
    .await;
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        format!(
            "failed to update `a-banner`: `a-banner` changed since the plan was made (version \
             {before} → {after}); re-run `flagops plan --env live`\n\
             created `c`\n\
             untouched (already in sync): `z-backend`\n\n\
             Apply incomplete for `live`: 1 applied, 0 already applied, 1 failed, 0 skipped, 1 untouched.\n\
             Fix the causes, then run `flagops plan --env live` and apply again: what was done is not repeated.\n"
        )
    );
    assert!(!fake.requests().iter().any(|r| r.method == "PUT"));
    let banner = fake.flag("a-banner").unwrap();
    assert_eq!(banner["description"], "edited by hand");
    assert_eq!(
        banner["ruleset"]["rollout"][0]["rollout_percentage"],
        json!(0.25)
    );
}

/// Mixpanel refuses a `context` change once the flag was enabled: the plan is refused before
/// any write, with the reason and what to do (exit 1), and so is the apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_change_mixpanel_would_refuse_refuses_the_plan() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    apply(&repo).await.expect_code(0);
    repo.write("backend.yaml", &format!("{BACKEND}context: device_id\n"));
    let refusal = "error[service-refuses]: `z-backend` has been enabled, and Mixpanel then \
         refuses to change its `context` (`distinct_id` → `device_id`)\n  \
         help: keep `context: distinct_id`, or give the flag for the new context a new key\n\
         error: the plan for `live` was refused (1 problem)\n";
    let plan = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
    plan.expect_code(1);
    assert!(plan.stderr.starts_with(refusal), "{}", plan.stderr);
    fake.clear_requests();
    let run = apply(&repo).await;
    run.expect_code(1);
    assert!(run.stderr.starts_with(refusal), "{}", run.stderr);
    assert!(fake.requests().iter().all(|r| r.method == "GET"));
    assert_eq!(fake.flag("z-backend").unwrap()["context"], "distinct_id");
}

/// A project whose workspaces are neither global nor default asks for `workspace_id`; a
/// project the account cannot see says what to check. One request each, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_discovery_errors() {
    let fake = FakeMixpanel::start().await;
    fake.add_project(
        99,
        vec![Workspace {
            id: 1,
            name: "Marketing view".into(),
            is_global: false,
            is_default: false,
        }],
    );
    for (project, expected) in [
        (
            99,
            "error: cannot read the live flags of `live`: project 99 has no global or default \
             workspace among its 1 workspaces; set `workspace_id` to the data view that holds the flags\n",
        ),
        (
            98,
            "error: cannot read the live flags of `live`: the service account from \
             `FLAGOPS_TEST_MIXPANEL_USERNAME` and `FLAGOPS_TEST_MIXPANEL_SECRET` may not look up \
             the workspaces of project 98 (403: You do not have access to this project); check \
             `project_id` and `region`, and give the service account at least the analyst role on project 98\n",
        ),
    ] {
        let config = mixpanel_repo_config(&fake.base_url(), "")
            .replace("project_id: 12345", &format!("project_id: {project}"));
        let repo = TempRepo::new(&config, &[("backend.yaml", BACKEND)]);
        fake.clear_requests();
        let run = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
        run.expect_code(1);
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr, expected);
        assert_eq!(
            lines(&fake),
            [format!("GET /api/app/projects/{project}/workspaces/")]
        );
    }
    // With `workspace_id`, no discovery.
    let repo = mixpanel_repo(&fake.base_url(), "    workspace_id: 67890\n", &[]);
    fake.clear_requests();
    flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"])
        .await
        .expect_code(0);
    assert_eq!(lines(&fake), [list()]);
}

/// The dependency's create fails on every attempt (5xx): the apply fails it, skips its
/// dependent, and exits 1 having created nothing. A re-run creates both, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_mid_apply_fails_and_a_rerun_converges_without_duplicates() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(
        &fake.base_url(),
        "",
        &[("banner.yaml", BANNER), ("backend.yaml", BACKEND)],
    );
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::ServerError {
            status: 503,
            times: 5,
        },
    );
    let run = apply(&repo).await;
    run.expect_code(1);
    assert!(
        run.stdout.ends_with(
            "failed to create `z-backend`: server error 503: Internal server error; checked: nothing was written; gave up after 5 attempts\n\
             skipped create of `a-banner`: it waits for `z-backend`, which failed\n\n\
             Apply incomplete for `live`: 0 applied, 0 already applied, 1 failed, 1 skipped, 0 untouched.\n\
             Fix the causes, then run `flagops plan --env live` and apply again: what was done is not repeated.\n"
        ),
        "{}",
        run.stdout
    );
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(
        posts, 5,
        "every attempt after a read-back showed nothing written"
    );
    assert!(fake.flags().is_empty());

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
        (count_of(&fake, "z-backend"), count_of(&fake, "a-banner")),
        (1, 1)
    );
    assert_eq!(writable(&fake.flag("a-banner").unwrap()), banner_stored());
    assert_in_sync(&fake, &repo, 2).await;
}

/// A create whose connection drops after Mixpanel stored it: the flag is read back, found,
/// and counted as applied; never sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_is_read_back_not_repeated() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::DropAfterCommit { times: 1 },
    );
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "created `z-backend` (its answer was lost; reading the flag back showed it done)\n"
        ),
        "{}",
        run.stdout
    );
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);
    assert_eq!(count_of(&fake, "z-backend"), 1);
    assert_in_sync(&fake, &repo, 1).await;
}

/// A dropped connection before the update reached Mixpanel, then one after it did: each is
/// read back first; the first is sent again, the second is counted as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_on_updates_converge() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(
        &fake.base_url(),
        "",
        &[("banner.yaml", BANNER), ("backend.yaml", BACKEND)],
    );
    apply(&repo).await.expect_code(0);

    repo.write(
        "banner.yaml",
        &BANNER.replace("rollout_percentage: 25", "rollout_percentage: 50"),
    );
    fake.clear_requests();
    fake.inject_for("PUT", "/feature-flags/", Fault::Drop { times: 1 });
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains("\nupdated `a-banner`\n"),
        "{}",
        run.stdout
    );
    let puts = fake.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 2, "dropped before it was stored, so sent again");
    assert_eq!(
        fake.flag("a-banner").unwrap()["ruleset"]["rollout"][0]["rollout_percentage"],
        json!(0.5)
    );

    repo.write(
        "banner.yaml",
        &BANNER.replace("rollout_percentage: 25", "rollout_percentage: 75"),
    );
    fake.clear_requests();
    fake.inject_for(
        "PUT",
        "/feature-flags/",
        Fault::DropAfterCommit { times: 1 },
    );
    let run = apply(&repo).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "updated `a-banner` (its answer was lost; reading the flag back showed it done)\n"
        ),
        "{}",
        run.stdout
    );
    let puts = fake.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 1);
    assert_eq!(
        fake.flag("a-banner").unwrap()["ruleset"]["rollout"][0]["rollout_percentage"],
        json!(0.75)
    );
    assert_eq!(fake.flags().len(), 2);
    assert_in_sync(&fake, &repo, 2).await;
}

/// A list answer that is not Mixpanel's envelope of flag objects is an error saying what it
/// is, never a list with fewer flags (a plan would then create the missing ones again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_answer_of_another_shape_is_a_clear_error() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("c.yaml", "key: c\n")]);
    let list = "the answer to `list flags of project 12345`";
    let envelope = "is not the expected `{status, results}` object";
    let advice = "check that `host` is the Mixpanel App API origin";
    for (body, why) in [
        (
            r#"{"status": "ok", "results": [{"id": "x", "key": "a"}, 1]}"#,
            format!("{envelope} (invalid type: integer `1`, expected a map); {advice}"),
        ),
        (
            r#"{"status": "error", "results": []}"#,
            "has status `error`, not `ok`".to_owned(),
        ),
        (
            r#"{"status": "ok", "results": {"id": "x"}}"#,
            format!("{envelope} (invalid type: map, expected a sequence); {advice}"),
        ),
        (
            "[]",
            format!("{envelope} (expected an object, found an array); {advice}"),
        ),
    ] {
        fake.inject_for(
            "GET",
            "/feature-flags/",
            Fault::Answer {
                status: 200,
                body: body.to_owned(),
                times: 1,
            },
        );
        let run = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
        run.expect_code(1);
        assert!(
            run.stderr.contains(&format!(
                "error: cannot read the live flags of `live`: {list} {why}\n"
            )),
            "{body}: {}",
            run.stderr
        );
    }
}
