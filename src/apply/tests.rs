//! Unit tests of apply on the local backend, with a wrapper that misbehaves like a server
//! that changes fields on its own or fails one flag.

use super::*;
use crate::backend::local::LocalBackend;
use crate::backend::{BackendResult, Capabilities, LiveFlag, LiveState};
use crate::config::Environment;
use crate::model::{Condition, Flag, Percent, Property, PropertyType};

/// The local backend, except that it stores 42% for every created flag's first condition and
/// refuses to create `refused`.
struct Quirky(LocalBackend);

impl Backend for Quirky {
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
        self.0.create(&stored).await
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
                    group_type_index: None,
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
    assert_eq!(outcome("free"), Outcome::Applied { note: None });
    assert_eq!(outcome("drifts"), Outcome::Applied { note: None });
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let warning = &report.warnings[0];
    assert_eq!(warning.key.as_deref(), Some("drifts"));
    let text =
        anstream::adapter::strip_str(&crate::render::apply::human("test", &report)).to_string();
    assert!(
        text.contains(
            "warning: `drifts`: the server changed the flag on its own after it was written\n    rollout 100% → 42% in condition 1\n"
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
            outcome: Outcome::Applied { note: None },
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
            "\n_{} more steps are not shown (GitHub's size limit); `flagops apply --format json` has them all._\n",
            500 - shown
        )),
        "{text}"
    );
}
