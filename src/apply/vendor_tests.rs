//! Apply on a flag model that is not PostHog's (`model::test_vendor`), against an in-memory
//! service in the manner of Mixpanel: UUID-like ids, a modification time as the concurrency
//! token, full replacement on update, hard delete.

use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::backend::{BackendResult, Capabilities, LiveFlag, LiveState, Token};
use crate::config::Environment;
use crate::model::test_vendor::{Other, Status, other};
use crate::plan::{self, MASK};

/// The service: flags by key, and a clock that ticks on every write.
#[derive(Default)]
struct Memory {
    flags: Mutex<BTreeMap<String, LiveFlag<Other>>>,
    clock: Mutex<u32>,
    /// Reads of the live state between levels (`Backend::refresh`), and whether they fail.
    refreshes: Mutex<u32>,
    refresh_fails: bool,
}

impl Memory {
    fn tick(&self) -> Token {
        let mut clock = self.clock.lock().unwrap();
        *clock += 1;
        Token::Text(format!("2026-11-21T12:00:{:02}Z", *clock))
    }

    fn stored(&self) -> Vec<Other> {
        let flags = self.flags.lock().unwrap();
        flags.values().map(|f| f.flag.clone()).collect()
    }

    /// Refuses `live` if the stored flag is not the one it was read as.
    fn current(&self, live: &LiveFlag<Other>) -> BackendResult<()> {
        let flags = self.flags.lock().unwrap();
        match flags.get(live.flag.key.as_str()) {
            None => Err(BackendError::NotFound {
                key: live.flag.key.clone(),
            }),
            Some(stored) if stored.id == live.id && stored.token == live.token => Ok(()),
            Some(_) => Err(BackendError::Conflict {
                key: live.flag.key.clone(),
                detail: "modified since".to_owned(),
            }),
        }
    }
}

impl Backend for Memory {
    type Flag = Other;

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            flag_dependencies: true,
            versioned: true,
            rate_limit: None,
        }
    }

    async fn list(&self) -> BackendResult<LiveState<Other>> {
        Ok(LiveState {
            flags: self.flags.lock().unwrap().values().cloned().collect(),
            unsupported: Vec::new(),
        })
    }

    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag<Other>>> {
        Ok(self.flags.lock().unwrap().get(key).cloned())
    }

    async fn create(&self, flag: &Other) -> BackendResult<LiveFlag<Other>> {
        let token = Some(self.tick());
        let mut flags = self.flags.lock().unwrap();
        let missing = flag.requires.iter().find(|r| !flags.contains_key(*r));
        if let Some(missing) = missing {
            return Err(BackendError::Invalid {
                key: flag.key.clone(),
                detail: format!("requires unknown flag {missing}"),
            });
        }
        let created = LiveFlag {
            id: format!("0b7e4c3a-{}", flag.key),
            flag: flag.clone(),
            token,
        };
        flags.insert(flag.key.clone(), created.clone());
        Ok(created)
    }

    async fn update(
        &self,
        live: &LiveFlag<Other>,
        desired: &Other,
    ) -> BackendResult<LiveFlag<Other>> {
        self.current(live)?;
        let updated = LiveFlag {
            id: live.id.clone(),
            flag: desired.clone(),
            token: Some(self.tick()),
        };
        let mut flags = self.flags.lock().unwrap();
        flags.insert(desired.key.clone(), updated.clone());
        Ok(updated)
    }

    async fn refresh(&self) -> BackendResult<()> {
        *self.refreshes.lock().unwrap() += 1;
        if self.refresh_fails {
            return Err(BackendError::Transport(
                "connection reset by the service".to_owned(),
            ));
        }
        Ok(())
    }

    async fn delete(&self, live: &LiveFlag<Other>) -> BackendResult<()> {
        self.current(live)?;
        self.flags.lock().unwrap().remove(live.flag.key.as_str());
        Ok(())
    }
}

fn sealed(mut flag: Other, value: &str) -> Other {
    flag.secrets.insert("api".to_owned(), json!(value));
    flag
}

/// The service holds `b` (enabled, depended on by `c`), `c` and `gone`.
async fn service() -> Memory {
    let memory = Memory::default();
    for flag in [
        other("b", Status::Enabled, &[]),
        other("c", Status::Enabled, &["b"]),
        other("gone", Status::Disabled, &[]),
        sealed(other("s", Status::Enabled, &[]), "old secret"),
    ] {
        memory.create(&flag).await.unwrap();
    }
    memory
}

fn desired() -> Vec<Other> {
    vec![
        other("a", Status::Enabled, &[]),
        other("b", Status::Disabled, &[]),
        other("c", Status::Enabled, &["a"]),
        sealed(other("s", Status::Enabled, &[]), "new secret"),
    ]
}

fn prune() -> Environment {
    Environment {
        prune: true,
        ..Environment::default()
    }
}

#[tokio::test]
async fn another_model_is_applied_in_order_and_round_trips() {
    let memory = service().await;
    let desired = desired();
    let mut plan = plan::build(&desired, &memory.list().await.unwrap(), &prune()).unwrap();
    assert_eq!(
        plan.summary.create + plan.summary.update + plan.summary.delete,
        5
    );
    plan::unmask(&mut plan, &desired).unwrap();

    let report = run(&plan, &memory, &Options::default(), &Quiet)
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:?}");
    let done: Vec<(&str, Action)> = report
        .steps
        .iter()
        .map(|s| (s.key.as_str(), s.action))
        .collect();
    assert_eq!(
        done,
        vec![
            ("a", Action::Create),
            ("gone", Action::Delete),
            ("s", Action::Update),
            ("c", Action::Update),
            ("b", Action::Update),
        ]
    );
    assert_eq!(report.warnings, Vec::new());
    // Three levels: the live state is read again before the second and the third.
    assert_eq!(*memory.refreshes.lock().unwrap(), 2);
    assert_eq!(
        memory.stored(),
        desired,
        "the service holds the repository's flags"
    );
    let stored = memory.get("s").await.unwrap().unwrap();
    assert_eq!(stored.flag.secrets["api"], json!("new secret"));
    assert_ne!(stored.flag.secrets["api"], json!(MASK));

    let again = plan::build(&desired, &memory.list().await.unwrap(), &prune()).unwrap();
    assert!(!again.has_changes(), "{again:?}");
    assert_eq!(again.unchanged, vec!["a", "b", "c", "s"]);
}

#[tokio::test]
async fn another_model_refuses_a_flag_changed_since_the_plan() {
    let memory = service().await;
    let desired = desired();
    let mut plan = plan::build(&desired, &memory.list().await.unwrap(), &prune()).unwrap();
    plan::unmask(&mut plan, &desired).unwrap();
    plan.metadata.environment = "staging".to_owned();
    let b = memory.get("b").await.unwrap().unwrap();
    let mut renamed = b.flag.clone();
    renamed.name = "changed by a person".to_owned();
    memory.update(&b, &renamed).await.unwrap();

    let report = run(&plan, &memory, &Options::default(), &Quiet)
        .await
        .unwrap();
    let b = report.steps.iter().find(|s| s.key == "b").unwrap();
    match &b.outcome {
        Outcome::Failed { code, reason, .. } => {
            assert_eq!(*code, FailureCode::Changed);
            assert_eq!(
                reason,
                "`b` changed since the plan was made (version \"2026-11-21T12:00:01Z\" → \"2026-11-21T12:00:05Z\"); re-run `flagops plan --env staging`"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(
        memory.get("b").await.unwrap().unwrap().flag.name,
        "changed by a person",
        "the person's change is kept"
    );
    assert_eq!(report.counts().applied, 4);
}

#[tokio::test]
async fn another_model_is_kept_by_the_local_backend_with_its_rules() {
    use crate::backend::local::LocalBackend;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let local = LocalBackend::<Other>::of_model(&path, "staging");
    for flag in [
        other("b", Status::Enabled, &[]),
        other("c", Status::Enabled, &["b", "b"]),
        other("gone", Status::Disabled, &[]),
        sealed(other("s", Status::Enabled, &[]), "old secret"),
    ] {
        local.create(&flag).await.unwrap();
    }
    // The service's own rules hold for this model too: `c` needs `b` enabled.
    let b = local.get("b").await.unwrap().unwrap();
    assert_eq!(
        local
            .update(&b, &other("b", Status::Disabled, &[]))
            .await
            .unwrap_err()
            .to_string(),
        BackendError::Invalid {
            key: "b".to_owned(),
            detail: "cannot disable this flag because enabled flags depend on it: `c`".to_owned(),
        }
        .to_string()
    );

    let desired = desired();
    let mut plan = plan::build(&desired, &local.list().await.unwrap(), &prune()).unwrap();
    plan::unmask(&mut plan, &desired).unwrap();
    let report = run(&plan, &local, &Options::default(), &Quiet)
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:?}");
    let again = plan::build(&desired, &local.list().await.unwrap(), &prune()).unwrap();
    assert!(!again.has_changes(), "{again:?}");

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let flags = &state["environments"]["staging"]["flags"];
    let summary: Vec<(u64, i64, bool, &str)> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_u64().unwrap(),
                f["version"].as_i64().unwrap(),
                f["deleted"].as_bool().unwrap_or(false),
                f["flag"]["key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (5, 1, false, "a"),
            (1, 2, false, "b"),
            (2, 2, false, "c"),
            (3, 2, true, "gone"),
            (4, 2, false, "s"),
        ],
        "numeric ids, a version per write, a soft delete, sorted by key"
    );
    assert_eq!(flags[1]["flag"]["status"], "disabled");
    assert_eq!(flags[2]["flag"]["requires"], json!(["a"]));
    assert_eq!(flags[4]["flag"]["secrets"]["api"], "new secret");
    assert_eq!(state["environments"]["staging"]["next_id"], 6);
}

/// When the live state cannot be read again before a level, that level's steps are not
/// applied (nothing unchecked is written) and say why; the first level was applied.
#[tokio::test]
async fn a_level_whose_fresh_read_fails_is_not_applied() {
    let mut memory = service().await;
    memory.refresh_fails = true;
    let desired = desired();
    let mut plan = plan::build(&desired, &memory.list().await.unwrap(), &prune()).unwrap();
    plan::unmask(&mut plan, &desired).unwrap();
    let report = run(&plan, &memory, &Options::default(), &Quiet)
        .await
        .unwrap();
    let outcomes: Vec<(&str, bool)> = report
        .steps
        .iter()
        .map(|s| (s.key.as_str(), matches!(s.outcome, Outcome::Applied { .. })))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("a", true),
            ("gone", true),
            ("s", true),
            ("c", false),
            ("b", false)
        ]
    );
    let c = &report.steps[3];
    assert!(
        matches!(&c.outcome, Outcome::Failed { reason, .. }
            if reason == "not applied: the live flags could not be read again before this level: connection reset by the service"),
        "{:?}",
        c.outcome
    );
}
