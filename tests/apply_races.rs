//! `apply` against the fake PostHog server when someone else acts meanwhile or the apply is
//! stopped: a change undone by another writer before the read back fails its step (`lost`),
//! and a stop while a request waits out a 429 sends nothing more.

use std::time::{Duration, Instant};

use flagops::apply::{self, FailureCode, Options, Outcome, Quiet};
use flagops::backend::posthog::PosthogBackend;
use flagops::backend::{Backend, BackendResult, Capabilities, LiveFlag, LiveState};
use flagops::config::Environment;
use flagops::plan;
use flagops::vendor::posthog::Flag;
use serde_json::json;

use crate::apply_posthog::{adapter, options, plan_for, seeded, spec, statuses};
use crate::support::fake_posthog::{FakePosthog, RateLimitRule};
use crate::support::flag;

/// The adapter, plus another writer that acts on the fake right after each of our updates
/// goes through: it deletes `pruned` (a concurrent apply pruning it) and renames `renamed`
/// (a person in the UI).
struct Raced<'a> {
    inner: PosthogBackend,
    fake: &'a FakePosthog,
}

impl Backend for Raced<'_> {
    type Flag = Flag;

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn list(&self) -> BackendResult<LiveState> {
        self.inner.list().await
    }
    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag>> {
        self.inner.get(key).await
    }
    async fn create(&self, flag: &Flag) -> BackendResult<LiveFlag> {
        self.inner.create(flag).await
    }
    async fn update(&self, live: &LiveFlag, desired: &Flag) -> BackendResult<LiveFlag> {
        let stored = self.inner.update(live, desired).await?;
        let id: i64 = stored.id.parse().unwrap();
        match desired.key.as_str() {
            "pruned" => drop(
                self.fake
                    .patch_as_other(id, &json!({"deleted": true}))
                    .unwrap(),
            ),
            "renamed" => drop(
                self.fake
                    .patch_as_other(id, &json!({"name": "edited by hand"}))
                    .unwrap(),
            ),
            _ => {}
        }
        Ok(stored)
    }
    async fn delete(&self, live: &LiveFlag) -> BackendResult<()> {
        self.inner.delete(live).await
    }
}

/// An update acknowledged by the server and then undone by another writer before the read back
/// is a failed step (`lost`), with what was found, never "Apply complete".
#[tokio::test]
async fn an_update_lost_to_another_writer_fails_its_step() {
    let fake = FakePosthog::start().await;
    fake.seed(vec![
        seeded("pruned", true, &[]),
        seeded("renamed", true, &[]),
        seeded("kept", true, &[]),
    ]);
    let backend = Raced {
        inner: adapter(&fake, Vec::new()),
        fake: &fake,
    };
    let desired: Vec<Flag> = ["pruned", "renamed", "kept"]
        .iter()
        .map(|k| flag(spec(k, 50, &[])))
        .collect();
    let live = backend.list().await.unwrap();
    let mut plan = plan::build(&desired, &live, &Environment::default()).unwrap();
    "staging".clone_into(&mut plan.metadata.environment);
    let report = apply::run(&plan, &backend, &options(1), &Quiet)
        .await
        .unwrap();
    assert!(!report.succeeded());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(statuses(&report)["kept"], "applied");
    let reason = |key: &str| match &report.steps.iter().find(|s| s.key == key).unwrap().outcome {
        Outcome::Failed {
            code: FailureCode::Lost,
            reason,
            changes,
            ..
        } => (reason.clone(), changes.len()),
        other => panic!("{key}: {other:?}"),
    };
    let tail = ": deleted or changed since by someone else (another apply, a person), or the server did not keep the write; re-run `flagops plan --env staging`";
    assert_eq!(
        reason("pruned"),
        (
            format!("written, but when read back after the apply the flag was not live{tail}"),
            0
        )
    );
    assert_eq!(
        reason("renamed"),
        (
            format!(
                "written, but when read back after the apply the flag differed from what was written (version 2 → 3){tail}"
            ),
            1
        )
    );
    let text = anstream::adapter::strip_str(&flagops::render::apply::human("staging", &report))
        .to_string();
    assert!(
        text.contains("Apply incomplete for `staging`: 1 applied, 0 already applied, 2 failed"),
        "{text}"
    );
}

/// A stop while the first read waits out a 429 ends the apply at once: every step is
/// `interrupted` ("not started"), and nothing but the refused read was sent.
#[tokio::test]
async fn a_stop_during_a_429_wait_before_the_first_step_sends_nothing() {
    let fake = FakePosthog::start().await;
    let backend = adapter(&fake, Vec::new());
    let desired = vec![flag(spec("a", 50, &[])), flag(spec("b", 50, &["a"]))];
    let plan = plan_for(&backend, &desired, &Environment::default()).await;
    fake.clear_requests();
    fake.set_rate_limit(Some(RateLimitRule {
        max_requests: 0,
        window: Duration::from_secs(600),
        // The longest this adapter waits (`fast_retry`); the stop comes after 0.3 s.
        retry_after_secs: 5,
    }));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = Options {
        stop: Some(stopped),
        ..options(1)
    };
    let start = Instant::now();
    let interrupt = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send_replace(true);
    };
    let (report, ()) = tokio::join!(apply::run(&plan, &backend, &options, &Quiet), interrupt);
    let report = report.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    for step in &report.steps {
        assert_eq!(
            step.outcome,
            Outcome::Failed {
                code: FailureCode::Interrupted,
                reason: "not started: the apply was interrupted; nothing was changed for this flag"
                    .to_owned(),
                change_request: None,
                changes: Vec::new(),
            },
            "{}",
            step.key
        );
    }
    assert!(report.warnings.is_empty());
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {:?}", r.method, r.status))
        .collect();
    assert_eq!(sent, ["GET Some(429)"]);
}
