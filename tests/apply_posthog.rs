//! `apply` against the fake PostHog server: dependency order of the requests, pacing (budgets
//! and 429 storms), faults (5xx, dropped connections before and after a commit) without
//! duplicates, preconditions, failures that skip only their dependents, and convergence.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use flagops::apply::{self, FailureCode, Options, Outcome, Quiet, Report};
use flagops::backend::pacing::{Budget, RetryPolicy};
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use flagops::backend::{Backend, RateLimit};
use flagops::config::{Environment, RateLimitConfig};
use flagops::plan::{self, Plan};
use flagops::vendor::posthog::Flag;
use serde_json::{Value, json};

use crate::support::fake_posthog::{
    Chaos, FakePosthog, Fault, PROJECT_ID, RateLimitRule, RecordedRequest, WRITE_KEY,
};
use crate::support::flag;

/// Fast repeats, so that tests with faults stay short.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        retries: 6,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        rate_limited_waits: 30,
        max_retry_after: Duration::from_secs(5),
    }
}

pub(crate) fn adapter(fake: &FakePosthog, budgets: Vec<Budget>) -> PosthogBackend {
    let mut settings = PosthogSettings::new(fake.base_url(), PROJECT_ID, ApiKey::new(WRITE_KEY));
    settings.budgets = budgets;
    settings.retry = fast_retry();
    PosthogBackend::new(settings).unwrap()
}

pub(crate) fn options(concurrency: usize) -> Options {
    Options {
        concurrency,
        retry: fast_retry(),
        ..Options::default()
    }
}

fn prune() -> Environment {
    Environment {
        prune: true,
        ..Environment::default()
    }
}

pub(crate) async fn plan_for(
    backend: &PosthogBackend,
    desired: &[Flag],
    policy: &Environment,
) -> Plan {
    let live = backend.list().await.unwrap();
    let mut plan = plan::build(desired, &live, policy).unwrap();
    "staging".clone_into(&mut plan.metadata.environment);
    plan
}

async fn apply(backend: &PosthogBackend, plan: &Plan, concurrency: usize) -> Report {
    apply::run(plan, backend, &options(concurrency), &Quiet)
        .await
        .unwrap()
}

/// A flag enabled at `rollout`%, depending on `deps`.
pub(crate) fn spec(key: &str, rollout: u32, deps: &[&str]) -> Value {
    let properties: Vec<Value> = deps
        .iter()
        .map(|d| json!({"type": "flag", "flag": d, "value": true}))
        .collect();
    json!({"key": key, "conditions": [{"properties": properties, "rollout_percentage": rollout}]})
}

/// Management form for seeding: dependencies by id.
pub(crate) fn seeded(key: &str, active: bool, deps: &[i64]) -> Value {
    let properties: Vec<Value> = deps
        .iter()
        .map(|id| json!({"key": id.to_string(), "type": "flag", "operator": "flag_evaluates_to", "value": true}))
        .collect();
    json!({"key": key, "active": active, "filters": {"groups": [{"properties": properties, "rollout_percentage": 100}]}})
}

pub(crate) fn statuses(report: &Report) -> BTreeMap<String, String> {
    report
        .steps
        .iter()
        .map(|s| {
            let status = match &s.outcome {
                Outcome::Applied { .. } => "applied".to_owned(),
                Outcome::Failed { code, .. } => format!("failed:{code:?}"),
                Outcome::Skipped { after, failed } => format!("skipped:{after}:{failed}"),
            };
            (s.key.clone(), status)
        })
        .collect()
}

/// Position in the log of the first request matching `method`, a path ending and a body key.
fn position(log: &[RecordedRequest], method: &str, id_or_key: &str) -> usize {
    log.iter()
        .position(|r| {
            r.method == method
                && (r.path.ends_with(&format!("/{id_or_key}/"))
                    || r.body.as_ref().and_then(|b| b.get("key")) == Some(&json!(id_or_key)))
        })
        .unwrap_or_else(|| panic!("no {method} for {id_or_key}"))
}

fn id_of(fake: &FakePosthog, key: &str) -> i64 {
    fake.flag(key).unwrap()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn creates_run_dependencies_first_and_dependents_get_the_new_ids() {
    let fake = FakePosthog::start().await;
    let backend = adapter(&fake, Vec::new());
    let desired = vec![
        flag(spec("a", 100, &[])),
        flag(spec("b", 100, &["a"])),
        flag(spec("c", 100, &["b"])),
        flag(spec("x", 50, &[])),
    ];
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    fake.clear_requests();
    let report = apply(&backend, &plan, 4).await;
    assert!(report.succeeded(), "{report:?}");
    let log = fake.requests();
    assert!(position(&log, "POST", "a") < position(&log, "POST", "b"));
    assert!(position(&log, "POST", "b") < position(&log, "POST", "c"));
    // `b` was sent with `a`'s new id, `c` with `b`'s.
    let body = |key: &str| log[position(&log, "POST", key)].body.clone().unwrap();
    assert_eq!(
        body("b")["filters"]["groups"][0]["properties"][0]["key"],
        json!(id_of(&fake, "a").to_string())
    );
    assert_eq!(
        body("c")["filters"]["groups"][0]["properties"][0]["key"],
        json!(id_of(&fake, "b").to_string())
    );
    // Converged, and confirmed by one re-read (two list queries), not per-flag GETs.
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let gets = log.iter().filter(|r| r.method == "GET").count();
    assert_eq!(
        gets,
        4,
        "{:?}",
        log.iter().map(RecordedRequest::line).collect::<Vec<_>>()
    );
    assert!(
        !plan_for(&backend, &desired, &Environment::default())
            .await
            .has_changes()
    );
}

#[tokio::test]
async fn deletes_and_disables_run_dependents_first() {
    let fake = FakePosthog::start().await;
    let a = fake.seed(vec![seeded("a", true, &[])])[0];
    let b = fake.seed(vec![seeded("b", true, &[a])])[0];
    let c = fake.seed(vec![seeded("c", true, &[b])])[0];
    let backend = adapter(&fake, Vec::new());
    let plan = plan_for(&backend, &[], &prune()).await;
    assert_eq!(plan.summary.delete, 3);
    fake.clear_requests();
    let report = apply(&backend, &plan, 4).await;
    assert!(report.succeeded(), "{report:?}");
    let log = fake.requests();
    let (pa, pb, pc) = (
        position(&log, "PATCH", &a.to_string()),
        position(&log, "PATCH", &b.to_string()),
        position(&log, "PATCH", &c.to_string()),
    );
    assert!(pc < pb && pb < pa, "{pc} {pb} {pa}");
    assert!(fake.flag("a").is_none() && fake.flag("c").is_none());

    // Disable: dependents first; enable: dependencies first.
    let fake = FakePosthog::start().await;
    let a = fake.seed(vec![seeded("a", true, &[])])[0];
    let b = fake.seed(vec![seeded("b", true, &[a])])[0];
    let backend = adapter(&fake, Vec::new());
    let off = |key: &str, deps: &[&str]| {
        let mut v = spec(key, 100, deps);
        v["active"] = json!(false);
        flag(v)
    };
    let disabled = vec![off("a", &[]), off("b", &["a"])];
    let plan = plan_for(&backend, &disabled, &Environment::default()).await;
    fake.clear_requests();
    assert!(apply(&backend, &plan, 4).await.succeeded());
    let log = fake.requests();
    assert!(position(&log, "PATCH", &b.to_string()) < position(&log, "PATCH", &a.to_string()));
    assert_eq!(fake.flag("a").unwrap()["active"], false);

    let enabled = vec![flag(spec("a", 100, &[])), flag(spec("b", 100, &["a"]))];
    let plan = plan_for(&backend, &enabled, &Environment::default()).await;
    fake.clear_requests();
    assert!(apply(&backend, &plan, 4).await.succeeded());
    let log = fake.requests();
    assert!(position(&log, "PATCH", &a.to_string()) < position(&log, "PATCH", &b.to_string()));
    assert_eq!(fake.flag("b").unwrap()["active"], true);
}

#[tokio::test]
async fn a_429_storm_is_waited_out_by_every_task_together() {
    let fake = FakePosthog::start().await;
    fake.set_rate_limit(Some(RateLimitRule {
        max_requests: 8,
        window: Duration::from_secs(1),
        retry_after_secs: 1,
    }));
    // No client budget: the server's 429s are what paces this apply.
    let backend = adapter(&fake, Vec::new());
    let desired: Vec<Flag> = (0..20)
        .map(|i| flag(spec(&format!("f{i:02}"), 10, &[])))
        .collect();
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    let report = apply(&backend, &plan, 4).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(fake.keys_by_id(PROJECT_ID).len(), 20);

    let log = fake.requests();
    let throttled: Vec<Instant> = log
        .iter()
        .filter(|r| r.status == Some(429))
        .map(|r| r.at)
        .collect();
    assert!(!throttled.is_empty(), "the storm happened");
    // After a 429, nobody sends until `Retry-After` has passed (requests already in flight
    // may still land just after it).
    for t in &throttled {
        let early: Vec<String> = log
            .iter()
            .filter(|r| {
                r.at > *t + Duration::from_millis(250) && r.at < *t + Duration::from_millis(950)
            })
            .map(RecordedRequest::line)
            .collect();
        assert!(early.is_empty(), "sent during the pause: {early:?}");
    }
    // Paced: each window's 429s are the few requests in flight, not a retry storm.
    let windows = log.last().unwrap().at.duration_since(log[0].at).as_secs() + 1;
    assert!(
        throttled.len() as u64 <= windows * 4,
        "{} throttled in {windows} windows",
        throttled.len()
    );
}

#[tokio::test]
async fn faults_during_a_200_flag_apply_end_in_the_desired_state_without_duplicates() {
    let fake = FakePosthog::start().await;
    // 50 live flags to update, 150 to create (chains of 3 among them).
    let seeded_flags: Vec<Value> = (0..50)
        .map(|i| seeded(&format!("u{i:02}"), true, &[]))
        .collect();
    fake.seed(seeded_flags);
    let mut desired: Vec<Flag> = (0..50)
        .map(|i| flag(spec(&format!("u{i:02}"), 30, &[])))
        .collect();
    for chain in 0..50 {
        let k = |n: usize| format!("c{chain:02}-{n}");
        desired.push(flag(spec(&k(0), 100, &[])));
        desired.push(flag(spec(&k(1), 100, &[&k(0)])));
        desired.push(flag(spec(&k(2), 40, &[&k(1)])));
    }
    let backend = adapter(&fake, Vec::new());
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    assert_eq!((plan.summary.create, plan.summary.update), (150, 50));

    fake.set_chaos(Some(Chaos {
        every: 7,
        cycle: vec![
            Fault::ServerError {
                status: 503,
                times: 1,
            },
            Fault::DropAfterCommit { times: 1 },
            Fault::Drop { times: 1 },
            Fault::ServerError {
                status: 502,
                times: 1,
            },
            Fault::DropAfterCommit { times: 1 },
        ],
    }));
    fake.clear_requests();
    let report = apply(&backend, &plan, 4).await;
    fake.set_chaos(None);
    assert!(report.succeeded(), "{:?}", statuses(&report));

    // Every key exactly once, deleted ones included: no duplicate was ever created.
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for f in fake.flags() {
        *count
            .entry(f["key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(count.len(), 200);
    assert!(count.values().all(|n| *n == 1), "{count:?}");
    // The duplicate-risk case happened: a create committed whose answer never came.
    let log = fake.requests();
    let lost_creates = log
        .iter()
        .filter(|r| r.method == "POST" && r.status.is_none() && r.path.ends_with("/feature_flags/"))
        .filter_map(|r| r.body.as_ref()?.get("key")?.as_str())
        .filter(|key| {
            // Committed: no other POST of that key succeeded, yet the flag exists.
            !log.iter().any(|o| {
                o.method == "POST"
                    && o.status == Some(201)
                    && o.body.as_ref().and_then(|b| b.get("key")) == Some(&json!(key))
            })
        })
        .count();
    assert!(
        lost_creates > 0,
        "no create was committed without an answer"
    );
    let notes = report
        .steps
        .iter()
        .filter(|s| matches!(&s.outcome, Outcome::Applied { note: Some(_), .. }))
        .count();
    assert!(notes >= lost_creates);
    // The live state is the desired state.
    assert!(
        !plan_for(&backend, &desired, &Environment::default())
            .await
            .has_changes()
    );
}

#[tokio::test]
async fn a_flag_changed_since_the_plan_is_not_touched_and_the_rest_applies() {
    let fake = FakePosthog::start().await;
    let ids = fake.seed(vec![seeded("a", true, &[]), seeded("b", true, &[])]);
    let backend = adapter(&fake, Vec::new());
    let desired = vec![flag(spec("a", 50, &[])), flag(spec("b", 50, &[]))];
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    // Someone edits `a` (another field than the plan's) between plan and apply.
    fake.patch_as_other(ids[0], &json!({"name": "edited by hand"}))
        .unwrap();
    fake.clear_requests();
    let report = apply(&backend, &plan, 4).await;
    let a = &report.steps[0];
    assert_eq!(a.key, "a");
    assert_eq!(
        a.outcome,
        Outcome::Failed {
            code: FailureCode::Changed,
            reason: "`a` changed since the plan was made (version 1 → 2); re-run `flagops plan --env staging`"
                .to_owned(),
            change_request: None,
            changes: Vec::new(),
        }
    );
    assert_eq!(statuses(&report)["b"], "applied");
    assert!(!report.succeeded());
    // `a` was never written: the hand edit stands.
    let log = fake.requests();
    assert!(
        !log.iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with(&format!("/{}/", ids[0])))
    );
    assert_eq!(fake.flag("a").unwrap()["name"], "edited by hand");
}

#[tokio::test]
async fn approval_required_is_reported_with_the_change_request() {
    let fake = FakePosthog::start().await;
    fake.seed(vec![seeded("a", true, &[])]);
    let backend = adapter(&fake, Vec::new());
    let plan = plan_for(
        &backend,
        &[flag(spec("a", 20, &[]))],
        &Environment::default(),
    )
    .await;
    fake.set_approval_required(true);
    let report = apply(&backend, &plan, 1).await;
    match &report.steps[0].outcome {
        Outcome::Failed {
            code: FailureCode::ApprovalRequired,
            change_request: Some(id),
            reason,
            ..
        } => {
            assert!(
                reason.contains(&format!("change request {id} was opened")),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failure_skips_only_its_dependents_and_a_second_apply_converges() {
    let fake = FakePosthog::start().await;
    let backend = adapter(&fake, Vec::new());
    // `a` targets a cohort the project does not have yet: the server refuses it.
    let a = flag(json!({"key": "a", "conditions": [{"properties": [
        {"type": "cohort", "key": "id", "operator": "in", "value": 999}
    ], "rollout_percentage": 100}]}));
    let desired = vec![
        a,
        flag(spec("b", 100, &["a"])),
        flag(spec("c", 100, &["b"])),
        flag(spec("x", 100, &[])),
        flag(spec("y", 100, &["x"])),
    ];
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    let report = apply(&backend, &plan, 4).await;
    let got = statuses(&report);
    assert_eq!(got["a"], "failed:Invalid");
    assert_eq!(got["b"], "skipped:a:a");
    assert_eq!(got["c"], "skipped:b:a");
    assert_eq!(got["x"], "applied");
    assert_eq!(got["y"], "applied");
    let counts = report.counts();
    assert_eq!((counts.applied, counts.failed, counts.skipped), (2, 1, 2));
    assert!(fake.flag("b").is_none() && fake.flag("y").is_some());

    fake.add_cohort(PROJECT_ID, 999, "Beta testers");
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    assert_eq!(plan.summary.create, 3);
    assert_eq!(plan.unchanged, vec!["x", "y"]);
    let report = apply(&backend, &plan, 4).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.untouched, vec!["x", "y"]);
    assert!(
        !plan_for(&backend, &desired, &Environment::default())
            .await
            .has_changes()
    );
}

#[tokio::test]
async fn a_budget_keeps_a_1000_step_apply_under_the_configured_rate() {
    let fake = FakePosthog::start().await;
    let budget = Budget {
        requests: NonZeroU32::new(400).unwrap(),
        window: Duration::from_secs(1),
    };
    // The server throttles at the same budget, counted as PostHog counts (sliding window).
    fake.set_rate_limit(Some(RateLimitRule {
        max_requests: 400,
        window: budget.window,
        retry_after_secs: 1,
    }));
    let backend = adapter(&fake, vec![budget]);
    let desired: Vec<Flag> = (0..1000)
        .map(|i| flag(spec(&format!("f{i:04}"), 5, &[])))
        .collect();
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    let report = apply(&backend, &plan, 8).await;
    assert!(report.succeeded());
    let log = fake.requests();
    let throttled: Vec<String> = log
        .iter()
        .filter(|r| r.status == Some(429))
        .map(RecordedRequest::line)
        .collect();
    assert!(
        throttled.is_empty(),
        "the client tripped the server's limit: {throttled:?}"
    );
    let times: Vec<Instant> = log.iter().map(|r| r.at).collect();
    assert!(times.len() > 1000);
    // No window of the budget's length holds more than its requests.
    let mut start = 0;
    let mut most = 0;
    for (end, t) in times.iter().enumerate() {
        while t.duration_since(times[start]) >= budget.window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    assert!(
        most <= 400,
        "{most} requests in one window of {:?}",
        budget.window
    );
}

#[test]
fn the_configured_rate_limit_reaches_the_adapter() {
    let environment = Environment {
        host: Some("https://eu.posthog.com".into()),
        project_id: Some(3),
        api_key_env: Some("KEY".into()),
        rate_limit: Some(RateLimitConfig {
            per_minute: Some(2000),
            per_hour: None,
        }),
        ..Environment::default()
    };
    let settings =
        PosthogSettings::from_environment_with("production", &environment, |_| Some("k".into()))
            .unwrap();
    assert_eq!(
        settings.budgets,
        Budget::of(RateLimit {
            per_minute: 2000,
            per_hour: 4800
        })
    );
    let default = Environment {
        rate_limit: None,
        ..environment
    };
    let settings =
        PosthogSettings::from_environment_with("production", &default, |_| Some("k".into()))
            .unwrap();
    assert_eq!(
        settings.budgets,
        Budget::of(flagops::backend::posthog::RATE_LIMIT)
    );
    let backend = PosthogBackend::new(settings).unwrap();
    assert_eq!(
        backend.capabilities().rate_limit,
        Some(flagops::backend::posthog::RATE_LIMIT)
    );
}

/// A plan's backend is told it will only be read (`Backend::read_only`): it keeps no copy of
/// the flags as read. Asked for an update anyway, it sends the flag as flagops translated it
/// as `original_flag`, not the server's object (whose `id` and `version` only a kept copy has).
#[tokio::test]
async fn a_read_only_backend_keeps_no_copy_of_the_flags_it_read() {
    for read_only in [false, true] {
        let fake = FakePosthog::start().await;
        let ids = fake.seed(vec![seeded("a", true, &[])]);
        let mut backend = adapter(&fake, Vec::new());
        if read_only {
            backend.read_only();
        }
        let plan = plan_for(&backend, &[flag(spec("a", 50, &[]))], &prune()).await;
        fake.clear_requests();
        let report = apply(&backend, &plan, 1).await;
        assert_eq!(statuses(&report)["a"], "applied", "read_only: {read_only}");
        let log = fake.requests();
        let patch = log
            .iter()
            .find(|r| r.method == "PATCH")
            .and_then(|r| r.body.clone())
            .unwrap();
        let original = &patch["original_flag"];
        assert_eq!(original["key"], "a", "{patch}");
        if read_only {
            assert_eq!(original.get("id"), None, "{patch}");
            assert_eq!(original.get("version"), None, "{patch}");
        } else {
            assert_eq!(original["id"], ids[0], "{patch}");
            assert_eq!(original["version"], 1, "{patch}");
        }
    }
}
