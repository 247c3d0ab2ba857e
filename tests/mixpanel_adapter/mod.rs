//! The Mixpanel adapter against the strict fake: the requests it sends (method, exact path
//! with its trailing slash, body, auth), workspace discovery, preconditions without a version,
//! archive and hard delete; `errors`: redirects, 429s, lost answers, error texts and secret
//! hygiene.

mod errors;

use std::time::Duration;

use flagops::backend::mixpanel::{MixpanelBackend, MixpanelSettings, Secret};
use flagops::backend::pacing::RetryPolicy;
use flagops::backend::{Backend, BackendError, LiveFlag, Token};
use flagops::model::{Json, Percent};
use flagops::vendor::mixpanel::{MixpanelFlag, RolloutGroup, ServingMethod, Status, Variant};
use serde_json::{Value, json};

use crate::support::fake_mixpanel::{
    FakeMixpanel, PROJECT_ID, RecordedRequest, SA_SECRET, SA_USERNAME, WORKSPACE_ID,
};

const USER_VAR: &str = "FLAGOPS_TEST_MP_USER";
const SECRET_VAR: &str = "FLAGOPS_TEST_MP_SECRET";
const SALT: &str = "0123456789abcdef0123456789abcdef";

fn settings(fake: &FakeMixpanel, workspace: Option<u64>) -> MixpanelSettings {
    let mut s = MixpanelSettings::new(
        format!("{}/", fake.base_url()),
        PROJECT_ID,
        SA_USERNAME,
        Secret::new(SA_SECRET),
    );
    s.workspace_id = workspace;
    s.username_env = Some(USER_VAR.to_owned());
    s.secret_env = Some(SECRET_VAR.to_owned());
    s.rate_limited_backoff = Duration::from_millis(10);
    s.retry = RetryPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    s
}

fn backend(fake: &FakeMixpanel) -> MixpanelBackend {
    MixpanelBackend::new(settings(fake, Some(WORKSPACE_ID))).unwrap()
}

/// A request-shaped flag as seeded into the fake (fractions 0–1).
fn seeded(key: &str, status: &str) -> Value {
    json!({
        "key": key, "name": format!("{key} flag"), "tags": ["web"], "status": status,
        "context": "distinct_id", "serving_method": "client", "hash_salt": SALT,
        "ruleset": {
            "variants": [
                {"key": "control", "value": "blue", "is_control": true, "split": 0.6667},
                {"key": "test", "value": "green", "is_control": false, "split": 0.3333}
            ],
            "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"control": 0.5, "test": 0.5}}],
            "test": {"users": {"alice": "test"}}
        }
    })
}

fn gate(key: &str) -> MixpanelFlag {
    MixpanelFlag {
        key: key.to_owned(),
        name: format!("{key} gate"),
        description: Some("A gate".into()),
        status: Status::Enabled,
        tags: vec!["web".into()],
        context: "distinct_id".into(),
        serving_method: ServingMethod::Client,
        variants: vec![
            Variant {
                key: "off".into(),
                value: Json::new(&json!(false)),
                is_control: true,
                split: Percent(0.0),
                description: None,
                is_sticky: false,
            },
            Variant {
                key: "on".into(),
                value: Json::new(&json!(true)),
                is_control: false,
                split: Percent(100.0),
                description: None,
                is_sticky: false,
            },
        ],
        rollout: vec![RolloutGroup {
            rollout_percentage: Percent(33.33),
            variant_splits: [
                ("off".to_owned(), Percent(0.0)),
                ("on".to_owned(), Percent(100.0)),
            ]
            .into_iter()
            .collect(),
            runtime_evaluation_rule: Some(Json::new(&json!({"==": [{"var": "plan"}, "premium"]}))),
            ..RolloutGroup::default()
        }],
        depends_on: vec!["other".into()],
        ..MixpanelFlag::default()
    }
}

fn lines(fake: &FakeMixpanel) -> Vec<String> {
    fake.requests().iter().map(RecordedRequest::line).collect()
}

fn flags_path() -> String {
    format!("/api/app/projects/{PROJECT_ID}/workspaces/{WORKSPACE_ID}/feature-flags/")
}

#[tokio::test]
async fn list_is_one_request_with_archived_flags_and_reads_fractions_as_percentages() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("b", "enabled"), seeded("a", "archived")]);
    let backend = backend(&fake);
    let state = backend.list().await.unwrap();
    assert_eq!(
        lines(&fake),
        [format!("GET {}?include_archived=true", flags_path())]
    );
    let request = &fake.requests()[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(fake.authorization().as_str())
    );
    assert!(state.unsupported.is_empty(), "{:?}", state.unsupported);
    let keys: Vec<&str> = state.flags.iter().map(|f| f.flag.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    let a = &state.flags[0];
    assert_eq!(a.id, ids[1]);
    assert_eq!(a.flag.status, Status::Archived);
    let b = &state.flags[1];
    assert_eq!(b.flag.status, Status::Enabled);
    assert_eq!(b.flag.variants[0].split, Percent(66.67));
    assert_eq!(b.flag.variants[1].split, Percent(33.33));
    assert_eq!(b.flag.rollout[0].rollout_percentage, Percent(25.0));
    assert_eq!(b.flag.test_users["alice"], "test");
    assert_eq!(b.flag.hash_salt.as_deref(), Some(SALT));
    let modified = fake.flag("b").unwrap()["modified"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(b.token, Some(Token::Text(modified)));
    assert_eq!(backend.requests_sent(), 1);
}

#[tokio::test]
async fn the_workspace_is_discovered_once_global_before_default() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("a", "disabled")]);
    let backend = MixpanelBackend::new(settings(&fake, None)).unwrap();
    backend.list().await.unwrap();
    backend.list().await.unwrap();
    assert_eq!(
        lines(&fake),
        [
            format!("GET /api/app/projects/{PROJECT_ID}/workspaces/"),
            format!("GET {}?include_archived=true", flags_path()),
            format!("GET {}?include_archived=true", flags_path()),
        ]
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(fake.authorization().as_str()))
    );
}

#[tokio::test]
async fn create_posts_the_writable_fields_with_exact_fractions() {
    let fake = FakeMixpanel::start().await;
    let backend = backend(&fake);
    let stored = backend.create(&gate("checkout")).await.unwrap();
    let requests = fake.requests();
    assert_eq!(lines(&fake), [format!("POST {}", flags_path())]);
    assert_eq!(
        requests[0].body,
        Some(json!({
            "name": "checkout gate", "key": "checkout", "description": "A gate",
            "tags": ["web"], "status": "enabled", "context": "distinct_id",
            "serving_method": "client",
            "ruleset": {
                "variants": [
                    {"key": "off", "value": false, "is_control": true, "split": 0.0},
                    {"key": "on", "value": true, "is_control": false, "split": 1.0}
                ],
                "rollout": [{
                    "rollout_percentage": 0.3333,
                    "variant_splits": {"off": 0.0, "on": 1.0},
                    "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]}
                }]
            }
        }))
    );
    assert_eq!(stored.id, fake.flag("checkout").unwrap()["id"]);
    assert_eq!(stored.flag.rollout[0].rollout_percentage, Percent(33.33));
    assert_eq!(
        stored.flag.hash_salt.as_deref(),
        fake.flag("checkout").unwrap()["hash_salt"].as_str()
    );
    assert!(stored.flag.depends_on.is_empty());
    assert!(matches!(stored.token, Some(Token::Text(_))));
}

#[tokio::test]
async fn update_is_a_full_put_that_keeps_the_live_hash_salt() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("a", "enabled")]);
    let backend = backend(&fake);
    let live = backend.list().await.unwrap().flags.remove(0);
    let mut desired = live.flag.clone();
    desired.name = "Renamed".into();
    desired.hash_salt = None;
    desired.rollout[0].rollout_percentage = Percent(50.0);
    fake.clear_requests();
    let stored = backend.update(&live, &desired).await.unwrap();
    let requests = fake.requests();
    assert_eq!(lines(&fake), [format!("PUT {}{}/", flags_path(), ids[0])]);
    let body = requests[0].body.clone().unwrap();
    assert_eq!(body["name"], "Renamed");
    assert_eq!(body["hash_salt"], SALT);
    assert_eq!(
        body["ruleset"]["rollout"][0]["rollout_percentage"],
        json!(0.5)
    );
    assert_eq!(body["ruleset"]["variants"][1]["split"], json!(0.3333));
    for absent in [
        "id",
        "modified",
        "created",
        "reset_hash_salt",
        "workspace_id",
    ] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
    let now = fake.flag("a").unwrap();
    assert_eq!(now["name"], "Renamed");
    assert_eq!(now["hash_salt"], SALT);
    assert_eq!(stored.flag.name, "Renamed");
    assert_eq!(
        stored.token,
        Some(Token::Text(now["modified"].as_str().unwrap().to_owned()))
    );
}

#[tokio::test]
async fn a_write_is_refused_when_the_flag_changed_since_the_plan_read_it() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("a", "enabled")]);
    let planner = backend(&fake);
    let live = planner.list().await.unwrap().flags.remove(0);
    fake.edit_as_other("a", |f| {
        f.insert("name".into(), json!("Theirs"));
    });
    // The apply's fresh read, then the write against what the plan saw.
    let applier = backend(&fake);
    applier.list().await.unwrap();
    fake.clear_requests();
    let mut desired = live.flag.clone();
    desired.name = "Ours".into();
    let now = fake.flag("a").unwrap()["modified"]
        .as_str()
        .unwrap()
        .to_owned();
    let was = match &live.token {
        Some(Token::Text(t)) => t.clone(),
        other => panic!("{other:?}"),
    };
    let error = applier.update(&live, &desired).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "flag `a` was changed by someone else since it was read: its `modified` is \"{now}\" now, \"{was}\" when it was read; plan again"
        )
    );
    let error = applier.delete(&live).await.unwrap_err();
    assert!(matches!(error, BackendError::Conflict { .. }), "{error}");
    assert!(lines(&fake).is_empty(), "{:?}", lines(&fake));
    assert_eq!(fake.flag("a").unwrap()["name"], "Theirs");
}

#[tokio::test]
async fn a_changed_content_under_the_same_modified_is_refused_too() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("a", "disabled")]);
    let backend = backend(&fake);
    let mut live = backend.list().await.unwrap().flags.remove(0);
    live.flag.tags = vec!["stale".into()];
    let error = backend.update(&live, &live.flag.clone()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "flag `a` was changed by someone else since it was read: its content differs from what was read, with the same `modified`; plan again"
    );
}

#[tokio::test]
async fn a_write_without_a_read_reads_the_flag_first() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("a", "disabled")]);
    let live = backend(&fake).list().await.unwrap().flags.remove(0);
    let fresh = backend(&fake);
    fake.clear_requests();
    let mut desired = live.flag.clone();
    desired.description = Some("Now described".into());
    fresh.update(&live, &desired).await.unwrap();
    let flag = format!("{}{}/", flags_path(), ids[0]);
    assert_eq!(lines(&fake), [format!("GET {flag}"), format!("PUT {flag}")]);
}

/// A plan's backend is told it will only be read (`Backend::read_only`): it keeps nothing of
/// the flags it listed, so a write asked of it anyway reads the flag first, as a backend that
/// never listed does; one that keeps them writes at once.
#[tokio::test]
async fn a_read_only_backend_keeps_nothing_of_the_flags_it_listed() {
    for read_only in [false, true] {
        let fake = FakeMixpanel::start().await;
        let ids = fake.seed(vec![seeded("a", "disabled")]);
        let mut backend = backend(&fake);
        if read_only {
            backend.read_only();
        }
        let live = backend.list().await.unwrap().flags.remove(0);
        fake.clear_requests();
        let mut desired = live.flag.clone();
        desired.description = Some("Now described".into());
        backend.update(&live, &desired).await.unwrap();
        let flag = format!("{}{}/", flags_path(), ids[0]);
        let expected = if read_only {
            vec![format!("GET {flag}"), format!("PUT {flag}")]
        } else {
            vec![format!("PUT {flag}")]
        };
        assert_eq!(lines(&fake), expected, "read_only: {read_only}");
    }
}

#[tokio::test]
async fn delete_archives_by_default() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("a", "enabled")]);
    let backend = backend(&fake);
    let live = backend.list().await.unwrap().flags.remove(0);
    fake.clear_requests();
    backend.delete(&live).await.unwrap();
    assert_eq!(
        lines(&fake),
        [format!("POST {}{}/archive/", flags_path(), ids[0])]
    );
    assert_eq!(fake.flag("a").unwrap()["status"], "archived");
    let state = backend.list().await.unwrap();
    assert_eq!(state.flags[0].flag.status, Status::Archived);
    // Deleting an archived flag converges without a request.
    fake.clear_requests();
    backend.delete(&state.flags[0]).await.unwrap();
    assert!(lines(&fake).is_empty(), "{:?}", lines(&fake));
}

#[tokio::test]
async fn hard_delete_disables_an_enabled_flag_then_deletes_it() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("a", "enabled"), seeded("b", "disabled")]);
    let mut s = settings(&fake, Some(WORKSPACE_ID));
    s.hard_delete = true;
    let backend = MixpanelBackend::new(s).unwrap();
    let state = backend.list().await.unwrap();
    fake.clear_requests();
    backend.delete(&state.flags[0]).await.unwrap();
    backend.delete(&state.flags[1]).await.unwrap();
    let a = format!("{}{}/", flags_path(), ids[0]);
    let b = format!("{}{}/", flags_path(), ids[1]);
    assert_eq!(
        lines(&fake),
        [
            format!("PUT {a}"),
            format!("DELETE {a}"),
            format!("DELETE {b}")
        ]
    );
    let disable = &fake.requests()[0];
    let body = disable.body.as_ref().unwrap();
    assert_eq!(body["status"], "disabled");
    assert_eq!(body["hash_salt"], SALT);
    assert!(fake.flags().is_empty(), "{:?}", fake.flags());
}

#[tokio::test]
async fn get_finds_a_flag_by_key_with_one_list_and_then_by_id() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("a", "disabled")]);
    let backend = backend(&fake);
    let found = backend.get("a").await.unwrap().unwrap();
    assert_eq!(found.id, ids[0]);
    let again = backend.get("a").await.unwrap().unwrap();
    assert_eq!(again, found);
    assert!(backend.get("missing").await.unwrap().is_none());
    assert_eq!(
        lines(&fake),
        [
            format!("GET {}?include_archived=true", flags_path()),
            format!("GET {}{}/", flags_path(), ids[0]),
            format!("GET {}?include_archived=true", flags_path()),
        ]
    );
}

#[tokio::test]
async fn an_unmanageable_live_flag_is_reported_not_dropped() {
    let fake = FakeMixpanel::start().await;
    let mut odd = seeded("odd", "paused");
    odd["ruleset"]["variants"][0]["split"] = json!(0.6667);
    fake.seed(vec![odd, seeded("fine", "disabled")]);
    let state = backend(&fake).list().await.unwrap();
    assert_eq!(state.flags.len(), 1);
    assert_eq!(state.unsupported.len(), 1);
    assert_eq!(state.unsupported[0].key, "odd");
    assert!(
        state.unsupported[0]
            .reason
            .starts_with("`status` \"paused\" is not one flagops knows"),
        "{}",
        state.unsupported[0].reason
    );
}

/// The adapter is what `apply` drives: a flag read back equals the flag written, so a plan
/// right after is empty.
#[tokio::test]
async fn a_created_flag_reads_back_as_written() {
    let fake = FakeMixpanel::start().await;
    let backend = backend(&fake);
    let mut flag = gate("a");
    flag.depends_on.clear();
    let stored: LiveFlag<MixpanelFlag> = backend.create(&flag).await.unwrap();
    let listed = backend.list().await.unwrap().flags.remove(0);
    assert_eq!(listed, stored);
    // What the service owns: the salt it drew, and when it enabled the flag.
    let mut written = flag.clone();
    written.hash_salt.clone_from(&stored.flag.hash_salt);
    assert!(stored.flag.enabled_at.is_some());
    written.enabled_at.clone_from(&stored.flag.enabled_at);
    assert_eq!(stored.flag, written);
}

#[tokio::test]
async fn workspace_discovery_falls_back_to_the_default_and_else_says_what_to_set() {
    use crate::support::fake_mixpanel::Workspace;
    let fake = FakeMixpanel::start().await;
    let view = |id, is_global, is_default| Workspace {
        id,
        name: format!("view {id}"),
        is_global,
        is_default,
    };
    fake.add_project(7, vec![view(70, false, false), view(71, false, true)]);
    fake.add_project(8, vec![view(80, false, false)]);
    let for_project = |project| {
        let mut s = settings(&fake, None);
        s.project_id = project;
        MixpanelBackend::new(s).unwrap()
    };
    let state = for_project(7).list().await.unwrap();
    assert!(state.flags.is_empty());
    assert_eq!(
        lines(&fake),
        [
            "GET /api/app/projects/7/workspaces/".to_owned(),
            "GET /api/app/projects/7/workspaces/71/feature-flags/?include_archived=true".to_owned(),
        ]
    );
    let error = for_project(8).list().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "project 8 has no global or default workspace among its 1 workspaces; set `workspace_id` to the data view that holds the flags"
    );
    let error = for_project(9).list().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the service account from `{USER_VAR}` and `{SECRET_VAR}` may not look up the workspaces of project 9 (403: You do not have access to this project); check `project_id` and `region`, and give the service account at least the analyst role on project 9"
        )
    );
}

#[tokio::test]
async fn two_live_flags_with_one_key_are_both_reported_and_neither_is_managed() {
    let fake = FakeMixpanel::start().await;
    let ids = fake.seed(vec![seeded("twin", "disabled"), seeded("twin", "archived")]);
    let state = backend(&fake).list().await.unwrap();
    assert!(state.flags.is_empty());
    let mut sorted = ids.clone();
    sorted.sort();
    let reported: Vec<(&str, &str)> = state
        .unsupported
        .iter()
        .map(|u| (u.key.as_str(), u.id.as_str()))
        .collect();
    assert_eq!(
        reported,
        [("twin", sorted[0].as_str()), ("twin", sorted[1].as_str())]
    );
    assert_eq!(
        state.unsupported[0].reason,
        format!("2 live flags have this key (ids {}, {})", ids[0], ids[1])
    );
}
