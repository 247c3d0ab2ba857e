//! Unit tests of apply on the local backend, with a wrapper that misbehaves like a server
//! that changes fields on its own or fails one flag.

use super::*;
use crate::backend::local::LocalBackend;
use crate::backend::{BackendResult, Capabilities, LiveFlag, LiveState};
use crate::config::Environment;
use crate::model::Percent;
use crate::vendor::posthog::{Condition, Flag, Property, PropertyType};

/// The local backend, except that it answers 503 to creating `unanswered`, stores 42% for `drifts`'s first condition (and answers
/// so), refuses to create `refused`, deletes `vanishes` right after creating it and lets
/// another writer set `overwritten` to 7% right after creating it (both answering as created).
struct Quirky(LocalBackend);

impl Backend for Quirky {
    type Flag = Flag;

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn list(&self) -> BackendResult<LiveState> {
        self.0.list().await
    }
    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag>> {
        self.0.get(key).await
    }
    async fn create(&self, flag: &Flag) -> BackendResult<LiveFlag> {
        if flag.key == "unanswered" {
            return Err(BackendError::Server {
                status: 503,
                detail: None,
            });
        }
        if flag.key == "refused" {
            return Err(BackendError::Invalid {
                key: flag.key.clone(),
                detail: "no".to_owned(),
            });
        }
        let mut stored = flag.clone();
        if flag.key == "drifts" {
            stored.conditions[0].rollout_percentage = Some(Percent(42.0));
        }
        let created = self.0.create(&stored).await?;
        if flag.key == "vanishes" {
            self.0.delete(&created).await?;
        }
        if flag.key == "overwritten" {
            let mut other = flag.clone();
            other.conditions[0].rollout_percentage = Some(Percent(7.0));
            self.0.update(&created, &other).await?;
        }
        Ok(created)
    }
    async fn update(&self, live: &LiveFlag, desired: &Flag) -> BackendResult<LiveFlag> {
        self.0.update(live, desired).await
    }
    async fn delete(&self, live: &LiveFlag) -> BackendResult<()> {
        self.0.delete(live).await
    }
}

fn flag(key: &str, deps: &[&str]) -> Flag {
    Flag {
        key: key.to_owned(),
        active: true,
        conditions: vec![Condition {
            properties: deps
                .iter()
                .map(|d| Property {
                    kind: PropertyType::Flag,
                    key: None,
                    flag: Some((*d).to_owned()),
                    operator: None,
                    value: Some(serde_json::json!(true)),
                    negation: None,
                    cohort: None,
                    group_type_index: None,
                    group_type: None,
                    label: None,
                })
                .collect(),
            rollout_percentage: Some(Percent(100.0)),
            ..Condition::default()
        }],
        ..Flag::default()
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn skips_are_transitive_and_server_changes_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Quirky(LocalBackend::new(dir.path().join("state.json"), "test"));
    let desired = vec![
        flag("refused", &[]),
        flag("middle", &["refused"]),
        flag("leaf", &["middle"]),
        flag("drifts", &[]),
        flag("free", &[]),
    ];
    let live = block(backend.list()).unwrap();
    let plan = crate::plan::build(&desired, &live, &Environment::default()).unwrap();
    let report = block(run(&plan, &backend, &Options::default(), &Quiet)).unwrap();
    let outcome = |key: &str| {
        report
            .steps
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.outcome.clone())
            .unwrap()
    };
    assert_eq!(
        outcome("refused"),
        Outcome::failed(FailureCode::Invalid, "flag `refused`: no")
    );
    assert_eq!(
        outcome("middle"),
        Outcome::Skipped {
            after: "refused".into(),
            failed: "refused".into()
        }
    );
    assert_eq!(
        outcome("leaf"),
        Outcome::Skipped {
            after: "middle".into(),
            failed: "refused".into()
        }
    );
    assert_eq!(outcome("free"), Outcome::applied(None));
    assert_eq!(outcome("drifts"), Outcome::applied(None));
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let warning = &report.warnings[0];
    assert_eq!(warning.key.as_deref(), Some("drifts"));
    let text =
        anstream::adapter::strip_str(&crate::render::apply::human("test", &report)).to_string();
    assert!(
        text.contains(
            "warning: `drifts`: the server stored some fields differently from how they were written (its answer to the write already had them)\n    rollout 100% → 42% in condition 1\n"
        ),
        "{text}"
    );
    let counts = report.counts();
    assert_eq!((counts.applied, counts.failed, counts.skipped), (2, 1, 2));
}

#[test]
fn the_markdown_report_is_cut_between_rows() {
    let steps: Vec<StepReport> = (0..500)
        .map(|i| StepReport {
            key: format!("flag-{i:03}"),
            action: Action::Create,
            level: 0,
            outcome: Outcome::applied(None),
            changes: Vec::new(),
        })
        .collect();
    let report = Report {
        steps,
        untouched: Vec::new(),
        warnings: Vec::new(),
    };
    let text = crate::render::apply::markdown_within("prod", &report, 4_000);
    assert!(text.chars().count() <= 4_000);
    assert!(text.contains("| `flag-000` | create | applied | created `flag-000` |\n"));
    let shown = text.matches("| create |").count();
    assert!(shown < 500);
    assert!(
        text.ends_with(&format!(
            "\n_{} more steps are not shown (GitHub's size limit); the JSON report (`flagops apply --env prod --format json`) has them all._\n",
            500 - shown
        )),
        "{text}"
    );
}

/// A flag gone or changed by someone else between its write and the read back is a failed
/// step (`lost`, exit 1), never a warning; re-applying the plan converges without sending.
#[test]
fn a_change_lost_after_it_was_written_fails_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Quirky(LocalBackend::new(dir.path().join("state.json"), "test"));
    let desired = vec![
        flag("vanishes", &[]),
        flag("overwritten", &[]),
        flag("free", &[]),
    ];
    let live = block(backend.list()).unwrap();
    let mut plan = crate::plan::build(&desired, &live, &Environment::default()).unwrap();
    "prod".clone_into(&mut plan.metadata.environment);
    let report = block(run(&plan, &backend, &Options::default(), &Quiet)).unwrap();
    assert!(!report.succeeded());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let lost = |key: &str| match &report.steps.iter().find(|s| s.key == key).unwrap().outcome {
        Outcome::Failed {
            code: FailureCode::Lost,
            reason,
            changes,
            ..
        } => (reason.clone(), changes.len()),
        other => panic!("{key}: {other:?}"),
    };
    let tail = ": deleted or changed since by someone else (another apply, a person), or the server did not keep the write; re-run `flagops plan --env prod`";
    let head = "written, but when read back after the apply the flag";
    assert_eq!(lost("vanishes"), (format!("{head} was not live{tail}"), 0));
    let (reason, changes) = lost("overwritten");
    assert_eq!(
        reason,
        format!("{head} differed from what was written (version 1 → 2){tail}")
    );
    assert_eq!(changes, 1);
    let text =
        anstream::adapter::strip_str(&crate::render::apply::human("prod", &report)).to_string();
    assert!(
        text.contains("\n    rollout 100% → 7% in condition 1\n"),
        "{text}"
    );
    assert!(
        text.contains("Apply incomplete for `prod`: 1 applied, 0 already applied, 2 failed, 0 skipped, 0 untouched.\n"),
        "{text}"
    );
    let markdown = crate::render::apply::markdown("prod", &report);
    assert!(
        markdown.contains(&format!(
            "| `overwritten` | create | **failed** | failed to create `overwritten`: {head} differed from what was written (version 1 → 2){tail}; rollout 100% → 7% in condition 1 |\n"
        )),
        "{markdown}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&crate::render::apply::json("prod", &report)).unwrap();
    let step = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "overwritten")
        .unwrap();
    assert_eq!(
        (&step["key"], &step["code"]),
        (&"overwritten".into(), &"lost".into())
    );
    assert_eq!(step["changes"].as_array().map(Vec::len), Some(1));
}

/// Re-running a plan already applied sends nothing, and says so apart from what it applied.
#[test]
fn a_plan_applied_twice_counts_already_applied_apart() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join("state.json"), "test");
    let desired = vec![flag("a", &[]), flag("b", &["a"])];
    let live = block(backend.list()).unwrap();
    let plan = crate::plan::build(&desired, &live, &Environment::default()).unwrap();
    let first = block(run(&plan, &backend, &Options::default(), &Quiet)).unwrap();
    assert_eq!(first.counts().already_applied, 0);
    let again = block(run(&plan, &backend, &Options::default(), &Quiet)).unwrap();
    assert!(again.succeeded());
    let counts = again.counts();
    assert_eq!((counts.applied, counts.already_applied), (2, 2));
    let text =
        anstream::adapter::strip_str(&crate::render::apply::human("test", &again)).to_string();
    assert!(
        text.starts_with("already created `a` (it already existed as desired): nothing was sent\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Apply complete for `test`: 0 applied, 2 already applied, 0 failed, 0 skipped, 0 untouched.\n"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&crate::render::apply::json("test", &again)).unwrap();
    assert_eq!(json["summary"]["applied"], 2);
    assert_eq!(json["summary"]["already_applied"], 2);
    assert_eq!(json["steps"][0]["already_applied"], true);
    let markdown = crate::render::apply::markdown("test", &again);
    assert!(
        markdown.contains("| `a` | create | already applied | already created `a` (it already existed as desired): nothing was sent |\n"),
        "{markdown}"
    );
}

/// A stop during the backoff after a lost answer ends the step at once, as outcome unknown
/// (the write may have reached the server); the steps not started are interrupted.
#[test]
fn a_stop_during_the_backoff_after_a_lost_answer_is_an_unknown_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Quirky(LocalBackend::new(dir.path().join("state.json"), "test"));
    let desired = vec![flag("unanswered", &[]), flag("later", &["unanswered"])];
    let live = block(backend.list()).unwrap();
    let mut plan = crate::plan::build(&desired, &live, &Environment::default()).unwrap();
    "prod".clone_into(&mut plan.metadata.environment);
    let (stop, stopped) = watch::channel(false);
    let options = Options {
        retry: RetryPolicy {
            initial_delay: Duration::from_secs(60),
            ..RetryPolicy::default()
        },
        stop: Some(stopped),
        ..Options::default()
    };
    let start = std::time::Instant::now();
    let report = block(async {
        let interrupt = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.send_replace(true);
        };
        tokio::join!(run(&plan, &backend, &options, &Quiet), interrupt).0
    })
    .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        report.steps[0].outcome,
        Outcome::failed(
            FailureCode::OutcomeUnknown,
            "interrupted after the answer to its write was lost, before it was checked: it may or may not have been applied; re-run `flagops plan --env prod`"
        )
    );
    assert_eq!(
        report.steps[1].outcome,
        Outcome::Skipped {
            after: "unanswered".into(),
            failed: "unanswered".into()
        }
    );
}

/// The local backend as a service without concurrency tokens would be: it returns none, and
/// the first update of `contested` is lost (503) after another writer changed the flag.
struct Tokenless {
    inner: LocalBackend,
    contested: AtomicBool,
}

fn without_token(mut live: LiveFlag) -> LiveFlag {
    live.token = None;
    live
}

impl Backend for Tokenless {
    type Flag = Flag;

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn list(&self) -> BackendResult<LiveState> {
        let mut state = self.inner.list().await?;
        state.flags = state.flags.into_iter().map(without_token).collect();
        Ok(state)
    }
    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag>> {
        Ok(self.inner.get(key).await?.map(without_token))
    }
    async fn create(&self, flag: &Flag) -> BackendResult<LiveFlag> {
        self.inner.create(flag).await.map(without_token)
    }
    async fn update(&self, live: &LiveFlag, desired: &Flag) -> BackendResult<LiveFlag> {
        if desired.key == "contested" && !self.contested.swap(true, Ordering::SeqCst) {
            let mut other = desired.clone();
            other.conditions[0].rollout_percentage = Some(Percent(7.0));
            self.inner.update(live, &other).await?;
            return Err(BackendError::Server {
                status: 503,
                detail: None,
            });
        }
        self.inner.update(live, desired).await.map(without_token)
    }
    async fn delete(&self, live: &LiveFlag) -> BackendResult<()> {
        self.inner.delete(live).await
    }
}

#[test]
fn without_tokens_a_flag_changed_by_another_writer_is_never_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Tokenless {
        inner: LocalBackend::new(dir.path().join("state.json"), "test"),
        contested: AtomicBool::new(false),
    };
    let mut before = flag("contested", &[]);
    before.conditions[0].rollout_percentage = Some(Percent(10.0));
    block(backend.create(&before)).unwrap();
    let mut desired = flag("contested", &[]);
    desired.conditions[0].rollout_percentage = Some(Percent(50.0));
    let live = block(backend.list()).unwrap();
    let mut plan = crate::plan::build(&[desired], &live, &Environment::default()).unwrap();
    assert_eq!(plan.steps[0].live.as_ref().unwrap().token, None);
    "prod".clone_into(&mut plan.metadata.environment);
    let options = Options {
        retry: RetryPolicy {
            initial_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
        ..Options::default()
    };
    let report = block(run(&plan, &backend, &options, &Quiet)).unwrap();
    // Both sides have no token: the content (7% now, 10% as sent against) decides, so the
    // update is not sent again over the other writer's change.
    assert_eq!(
        report.steps[0].outcome,
        Outcome::failed(
            FailureCode::Changed,
            "`contested` was changed during the apply, not by this step (another writer, or the server); re-run `flagops plan --env prod`"
        )
    );
    let stored = block(backend.get("contested")).unwrap().unwrap();
    assert_eq!(
        stored.flag.conditions[0].rollout_percentage,
        Some(Percent(7.0))
    );
}
