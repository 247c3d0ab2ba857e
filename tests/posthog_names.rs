//! Cohorts and group types by name (issue 15): one repository planned against two fake
//! PostHog projects whose cohorts and group types have different ids; what a project lacks
//! refuses the plan, located, before any write; import writes names; the request floor.

use serde_json::{Value, json};

use crate::support::fake_posthog::{FLAGS_ONLY_KEY, FakePosthog, PROJECT_ID, RecordedRequest};
use crate::support::{FAKE_KEY_VAR, Repo, flagops_against_fake, flagops_with_env};

const STAGING: u64 = PROJECT_ID;
const PRODUCTION: u64 = 2;

/// A repository with `staging` (project 1) and `production` (project 2) on `fake`.
fn repo(fake: &FakePosthog) -> Repo {
    let repo = Repo::empty();
    let env = |project: u64| {
        format!(
            "    host: {}\n    project_id: {project}\n    api_key_env: {FAKE_KEY_VAR}\n",
            fake.base_url()
        )
    };
    repo.write(
        "flagops.yaml",
        format!(
            "backend: posthog\nflags: flags/\nenvironments:\n  staging:\n{}  production:\n{}",
            env(STAGING),
            env(PRODUCTION)
        ),
    );
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, cohort: Beta testers }\n    rollout_percentage: 50\n",
    );
    repo.write(
        "flags/sso.yaml",
        "key: sso\naggregation: company\nconditions:\n  - properties:\n      - { type: group, group_type: company, key: plan, value: enterprise }\n",
    );
    repo
}

/// Two projects with the same names under different ids.
async fn fake() -> FakePosthog {
    let fake = FakePosthog::start().await;
    fake.add_project(PRODUCTION);
    fake.add_cohort(STAGING, 11, "Beta testers");
    fake.add_cohort(STAGING, 12, "Churned");
    fake.add_group_type(STAGING, 0, "company");
    fake.add_cohort(PRODUCTION, 40, "Churned");
    fake.add_cohort(PRODUCTION, 41, "Beta testers");
    fake.add_group_type(PRODUCTION, 0, "team");
    fake.add_group_type(PRODUCTION, 1, "company");
    fake
}

/// The stored filters of `key` in `project`.
fn filters(fake: &FakePosthog, project: u64, key: &str) -> Value {
    fake.flags_of(project)
        .into_iter()
        .find(|f| f["key"] == key)
        .map_or_else(
            || panic!("no flag `{key}` in project {project}"),
            |f| f["filters"].clone(),
        )
}

fn writes(fake: &FakePosthog) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/bulk_keys/"))
        .map(RecordedRequest::line)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_repository_writes_each_projects_ids_and_replans_clean() {
    let fake = fake().await;
    let repo = repo(&fake);
    for env in ["staging", "production"] {
        flagops_against_fake(repo.path(), &["apply", "--env", env, "--auto-approve"])
            .await
            .expect_code(0);
    }
    let cohort = |f: Value| f["groups"][0]["properties"][0]["value"].clone();
    assert_eq!(cohort(filters(&fake, STAGING, "beta")), json!(11));
    assert_eq!(cohort(filters(&fake, PRODUCTION, "beta")), json!(41));
    let sso = |f: Value| {
        (
            f["aggregation_group_type_index"].clone(),
            f["groups"][0]["properties"][0]["group_type_index"].clone(),
        )
    };
    assert_eq!(sso(filters(&fake, STAGING, "sso")), (json!(0), json!(0)));
    assert_eq!(sso(filters(&fake, PRODUCTION, "sso")), (json!(1), json!(1)));

    for env in ["staging", "production"] {
        fake.clear_requests();
        let plan =
            flagops_against_fake(repo.path(), &["plan", "--env", env, "--detailed-exitcode"]).await;
        plan.expect_code(0);
        let lines: Vec<String> = fake.requests().iter().map(RecordedRequest::line).collect();
        let project = if env == "staging" {
            STAGING
        } else {
            PRODUCTION
        };
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("GET /api/projects/{project}/cohorts/")))
                .count(),
            1,
            "{env}: one cohort list per plan: {lines:?}"
        );
        assert_eq!(
            lines
                .iter()
                .filter(|l| *l == &format!("GET /api/projects/{project}/groups_types/"))
                .count(),
            1,
            "{env}: one group-type list per plan: {lines:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_read_of_the_catalogue_when_no_flag_names_anything() {
    let fake = fake().await;
    let repo = repo(&fake);
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - rollout_percentage: 5\n",
    );
    std::fs::remove_file(repo.path().join("flags/sso.yaml")).unwrap();
    flagops_against_fake(repo.path(), &["plan", "--env", "staging"])
        .await
        .expect_code(0);
    let lines: Vec<String> = fake.requests().iter().map(RecordedRequest::line).collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("GET /api/projects/1/feature_flags/")),
        "{lines:?}"
    );
}

/// The one refusal `plan` and `apply` print for `cohort` in `flags/beta.yaml`, nothing written.
async fn refused(fake: &FakePosthog, repo: &Repo, env: &str, code: &str, message: &str) {
    for command in ["plan", "apply"] {
        let mut args = vec![command, "--env", env];
        if command == "apply" {
            args.push("--auto-approve");
        }
        let run = flagops_against_fake(repo.path(), &args).await;
        run.expect_code(1);
        assert!(
            run.stderr.contains(&format!(
                "error[{code}]: in `{env}`, {message} [flag `beta`]\n --> flags/beta.yaml:4:"
            )),
            "{command}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("error: the environment lacks what the flags name; nothing was planned"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(writes(fake), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_ambiguous_deleted_and_behavioural_cohorts_refuse_the_plan_before_any_write() {
    let fake = fake().await;
    let repo = repo(&fake);
    std::fs::remove_file(repo.path().join("flags/sso.yaml")).unwrap();
    // Missing: production has no `Beta testers` once it is renamed away.
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, cohort: Early birds }\n",
    );
    refused(
        &fake,
        &repo,
        "production",
        "missing-cohort",
        "the project has no cohort named `Early birds`",
    )
    .await;

    // Ambiguous: two cohorts share the name.
    fake.add_cohort(PRODUCTION, 42, "Churned");
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, cohort: Churned }\n",
    );
    refused(
        &fake,
        &repo,
        "production",
        "ambiguous-cohort",
        "the project has 2 cohorts named `Churned` (ids 40, 42)",
    )
    .await;

    // Deleted: referenced by id; the list leaves it out, its own GET says `deleted`.
    fake.add_cohort_object(PRODUCTION, 50, "Old", json!({"deleted": true}));
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, value: 50 }\n",
    );
    refused(
        &fake,
        &repo,
        "production",
        "deleted-cohort",
        "cohort 50 (`Old`) was deleted",
    )
    .await;

    // Behavioural, through a nested cohort.
    fake.add_cohort_object(
        PRODUCTION,
        60,
        "Active",
        json!({"filters": {"properties": {"type": "OR", "values": [
        {"type": "behavioral", "key": "$pageview", "value": "performed_event"}]}}}),
    );
    fake.add_cohort_object(
        PRODUCTION,
        61,
        "Active paying",
        json!({"filters": {"properties": {"type": "AND", "values": [
        {"type": "cohort", "key": "id", "value": 60}]}}}),
    );
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, cohort: Active paying }\n",
    );
    refused(
        &fake,
        &repo,
        "production",
        "behavioral-cohort",
        "cohort 61 (`Active paying`) includes cohort 60 (`Active`), whose behavioural (event) filters flags cannot use",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_writes_names_and_the_next_plan_shows_no_change() {
    let fake = fake().await;
    let repo = repo(&fake);
    flagops_against_fake(
        repo.path(),
        &["apply", "--env", "production", "--auto-approve"],
    )
    .await
    .expect_code(0);
    let imported = Repo::empty();
    imported.write(
        "flagops.yaml",
        format!(
            "backend: posthog\nflags: flags/\nenvironments:\n  production:\n    host: {}\n    project_id: {PRODUCTION}\n    api_key_env: {FAKE_KEY_VAR}\n",
            fake.base_url()
        ),
    );
    flagops_against_fake(imported.path(), &["import", "--env", "production"])
        .await
        .expect_code(0);
    let beta = std::fs::read_to_string(imported.path().join("flags/beta.yaml")).unwrap();
    assert!(beta.contains("cohort: Beta testers\n"), "{beta}");
    assert!(!beta.contains("value:"), "{beta}");
    let sso = std::fs::read_to_string(imported.path().join("flags/sso.yaml")).unwrap();
    assert!(sso.contains("group_type: company\n"), "{sso}");
    assert!(sso.contains("\naggregation: company\n"), "{sso}");
    assert!(!sso.contains("index"), "{sso}");
    let plan = flagops_against_fake(
        imported.path(),
        &["plan", "--env", "production", "--detailed-exitcode"],
    )
    .await;
    plan.expect_code(0);

    // A cohort whose name is shared stays an id, with a note.
    fake.add_cohort(PRODUCTION, 43, "Beta testers");
    let again = flagops_against_fake(
        imported.path(),
        &["import", "--env", "production", "--key", "beta", "--force"],
    )
    .await;
    again.expect_code(0);
    assert!(
        again.stderr.contains(
            "note: `beta`: cohort 41 is written by id: its name `Beta testers` is not unique in the project"
        ),
        "{}",
        again.stderr
    );
    let beta = std::fs::read_to_string(imported.path().join("flags/beta.yaml")).unwrap();
    assert!(beta.contains("value: 41\n"), "{beta}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_the_cohort_scope_is_told_which_scope_to_add() {
    let fake = fake().await;
    let repo = repo(&fake);
    let dir = repo.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        flagops_with_env(
            &dir,
            &["plan", "--env", "staging"],
            &[(FAKE_KEY_VAR, FLAGS_ONLY_KEY)],
        )
    })
    .await
    .unwrap();
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "error: cannot read the cohorts and group types of `staging`: the API key from `{FAKE_KEY_VAR}` may not list cohorts of project 1: it needs the `cohort:read` scope on project 1"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(FLAGS_ONLY_KEY), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_on_a_later_page_of_the_cohort_list_resolves() {
    let fake = fake().await;
    for id in 100..105 {
        fake.add_cohort(STAGING, id, &format!("Filler {id}"));
    }
    // Newest first: `Beta testers` (11) is on the last of four pages of two.
    fake.set_max_page_size(Some(2));
    let repo = repo(&fake);
    std::fs::remove_file(repo.path().join("flags/sso.yaml")).unwrap();
    flagops_against_fake(
        repo.path(),
        &["apply", "--env", "staging", "--auto-approve"],
    )
    .await
    .expect_code(0);
    assert_eq!(
        filters(&fake, STAGING, "beta")["groups"][0]["properties"][0]["value"],
        json!(11)
    );
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/projects/1/cohorts/")
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(
        pages,
        [
            "limit=1000",
            "limit=2&offset=2",
            "limit=2&offset=4",
            "limit=2&offset=6"
        ]
    );
}

/// The fake is as strict as PostHog: what `plan` refuses would fail at apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refuses_a_behavioural_cohort_that_plan_would_have_caught() {
    use flagops::backend::Backend as _;
    use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
    use flagops::vendor::posthog::FlagSpec;

    let fake = fake().await;
    fake.add_cohort_object(
        STAGING,
        60,
        "Active",
        json!({"filters": {"properties": {"type": "OR", "values": [{"type": "behavioral", "key": "$pageview"}]}}}),
    );
    fake.add_cohort_object(
        STAGING,
        61,
        "Active paying",
        json!({"filters": {"properties": {"type": "AND", "values": [{"type": "cohort", "key": "id", "value": 60}]}}}),
    );
    let spec: FlagSpec = serde_json::from_value(json!({"key": "beta", "conditions": [
        {"properties": [{"type": "cohort", "key": "id", "operator": "in", "value": 61}]}]}))
    .unwrap();
    let adapter = PosthogBackend::new(PosthogSettings::new(
        fake.base_url(),
        STAGING,
        ApiKey::new(crate::support::fake_posthog::WRITE_KEY),
    ))
    .unwrap();
    let refused = adapter.create(&spec.resolve(None).0).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Cohort 'Active' with filters on events cannot be used in feature flags."),
        "{refused}"
    );
}

/// Cohort names come from the server: every output escapes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_cohort_name_is_escaped_in_refusals_and_notes() {
    let fake = fake().await;
    let repo = repo(&fake);
    std::fs::remove_file(repo.path().join("flags/sso.yaml")).unwrap();
    fake.add_cohort_object(STAGING, 70, "Old\u{1b}[2J", json!({"deleted": true}));
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, value: 70 }\n",
    );
    let plan = flagops_against_fake(repo.path(), &["plan", "--env", "staging"]).await;
    plan.expect_code(1);
    assert!(
        plan.stderr
            .contains("in `staging`, cohort 70 (`Old\\u{1b}[2J`) was deleted"),
        "{}",
        plan.stderr
    );
    assert!(!plan.stderr.contains('\u{1b}'), "{}", plan.stderr);

    fake.add_cohort(STAGING, 71, "Twin\u{1b}[2J");
    fake.add_cohort(STAGING, 72, "Twin\u{1b}[2J");
    repo.write(
        "flags/beta.yaml",
        "key: beta\nconditions:\n  - properties:\n      - { type: cohort, key: id, operator: in, value: 71 }\n",
    );
    flagops_against_fake(
        repo.path(),
        &["apply", "--env", "staging", "--auto-approve"],
    )
    .await
    .expect_code(0);
    let import =
        flagops_against_fake(repo.path(), &["import", "--env", "staging", "--force"]).await;
    import.expect_code(0);
    assert!(
        import.stderr.contains(
            "note: `beta`: cohort 71 is written by id: its name `Twin\\u{1b}[2J` is not unique in the project"
        ),
        "{}",
        import.stderr
    );
    assert!(!import.stderr.contains('\u{1b}'), "{}", import.stderr);
}

/// A cohort list that cannot be read stops the plan with what was being read; a 5xx is
/// repeated like every read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_cohort_list_stops_the_plan_and_a_5xx_is_repeated() {
    use crate::support::fake_posthog::Fault;

    let fake = fake().await;
    let repo = repo(&fake);
    std::fs::remove_file(repo.path().join("flags/sso.yaml")).unwrap();
    fake.inject(Fault::Garbled { times: 1 });
    let plan = flagops_against_fake(repo.path(), &["plan", "--env", "staging"]).await;
    plan.expect_code(1);
    assert!(
        plan.stderr
            .starts_with("error: cannot read the cohorts and group types of `staging`: "),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("list cohorts of project 1"),
        "{}",
        plan.stderr
    );

    fake.clear_requests();
    fake.inject(Fault::ServerError {
        status: 502,
        times: 1,
    });
    let plan = flagops_against_fake(repo.path(), &["plan", "--env", "staging"]).await;
    plan.expect_code(0);
    let cohort_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/projects/1/cohorts/")
        .count();
    assert_eq!(cohort_reads, 2, "the 502 and its repeat");
}
