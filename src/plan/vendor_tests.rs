//! The vendor-neutral parts of a plan (order, policy, revisions, the saved form) on a flag
//! model that is not PostHog's: a status instead of `active`/`archived`, dependencies in a
//! list of its own, and a text concurrency token (a modification time) instead of a version.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::*;
use crate::backend::LiveFlag;
use crate::config::Environment;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Enabled,
    Disabled,
    Archived,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Other {
    key: String,
    status: Status,
    requires: Vec<String>,
}

impl VendorFlag for Other {
    fn key(&self) -> &str {
        &self.key
    }
    fn is_enabled(&self) -> bool {
        self.status == Status::Enabled
    }
    fn dependencies(&self) -> BTreeSet<String> {
        self.requires.iter().cloned().collect()
    }
    fn normalized(&self) -> Self {
        let mut out = self.clone();
        out.requires.sort();
        out.requires.dedup();
        out
    }
}

fn other(key: &str, status: Status, requires: &[&str]) -> Other {
    Other {
        key: key.to_owned(),
        status,
        requires: requires.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn seen(flag: Other, modified: &str) -> LiveSnapshot<Other> {
    LiveSnapshot {
        id: format!("0b7e4c3a-{}", flag.key),
        token: Some(Token::Text(modified.to_owned())),
        fingerprint: fingerprint(&flag.normalized()),
        flag,
    }
}

fn step(
    action: Action,
    key: &str,
    live: Option<LiveSnapshot<Other>>,
    desired: Option<Other>,
) -> Step<Other> {
    Step {
        level: 0,
        action,
        key: key.to_owned(),
        reason: None,
        changes: Vec::new(),
        live,
        desired,
        masked_payloads: BTreeMap::new(),
    }
}

/// `a` is created, `c` moves its dependency from `b` to `a`, and `b` is disabled.
fn steps() -> Vec<Step<Other>> {
    let t = "2026-11-21T12:00:00Z";
    vec![
        step(
            Action::Create,
            "a",
            None,
            Some(other("a", Status::Enabled, &[])),
        ),
        step(
            Action::Update,
            "b",
            Some(seen(other("b", Status::Enabled, &[]), t)),
            Some(other("b", Status::Disabled, &[])),
        ),
        step(
            Action::Update,
            "c",
            Some(seen(other("c", Status::Enabled, &["b"]), t)),
            Some(other("c", Status::Enabled, &["a"])),
        ),
    ]
}

#[test]
fn another_model_is_ordered_by_its_own_dependencies_and_status() {
    let steps = steps();
    assert!(steps[0].enables());
    assert!(steps[1].disables() && !steps[1].enables());
    let waits = order::waits(&steps);
    let set = |keys: &[&str]| {
        keys.iter()
            .map(|k| (*k).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(waits["a"], set(&[]));
    assert_eq!(
        waits["b"],
        set(&["c"]),
        "b is switched off after c stops needing it"
    );
    assert_eq!(
        waits["c"],
        set(&["a"]),
        "c waits for the a it now depends on"
    );
    let levels = order::levels(&steps).unwrap();
    assert_eq!((levels["a"], levels["c"], levels["b"]), (0, 1, 2));
}

#[test]
fn another_model_is_held_to_the_same_policy() {
    let mut steps = steps();
    steps.push(step(
        Action::Delete,
        "d",
        Some(seen(other("d", Status::Archived, &[]), "x")),
        None,
    ));
    let policy = Policy::new(&Environment {
        protect: vec!["b".into()],
        max_deletes: Some(0),
        ..Environment::default()
    })
    .unwrap();
    assert_eq!(
        policy.violations(&steps),
        vec![
            Violation::DeleteWithoutPrune { key: "d" },
            Violation::DisableProtected { key: "b" },
            Violation::TooManyDeletes {
                keys: vec!["d"],
                max: 0
            },
        ]
    );
}

#[test]
fn a_text_token_is_compared_exactly_and_saved_as_text() {
    let live = |modified: Option<&str>, status| LiveFlag {
        id: "0b7e4c3a-b".to_owned(),
        flag: other("b", status, &["z", "y", "z"]),
        token: modified.map(|m| Token::Text(m.to_owned())),
    };
    let t = "2026-11-21T12:00:00Z";
    let read = Revision::of(&live(Some(t), Status::Enabled));
    assert!(read.is(&Revision::of(&live(Some(t), Status::Enabled))));
    assert_eq!(
        read.change_to(&Revision::of(&live(
            Some("2026-11-21T12:00:01Z"),
            Status::Enabled
        ))),
        Some("version \"2026-11-21T12:00:00Z\" → \"2026-11-21T12:00:01Z\"".to_owned())
    );
    assert_eq!(
        read.change_to(&Revision::of(&live(Some(t), Status::Disabled))),
        Some("its content differs".to_owned())
    );
    let state = LiveState {
        flags: vec![live(None, Status::Enabled)],
        unsupported: Vec::new(),
    };
    assert_eq!(state.get("b").map(|f| f.id.as_str()), Some("0b7e4c3a-b"));

    let plan = Plan {
        format_version: FORMAT_VERSION,
        metadata: Metadata::default(),
        summary: Summary::default(),
        steps: steps(),
        unchanged: Vec::new(),
        unmanaged: Vec::new(),
        unsupported: Vec::new(),
        ignore: Vec::new(),
    };
    let saved = serde_json::to_value(&plan).unwrap();
    assert_eq!(saved["steps"][1]["live"]["version"], t);
    assert_eq!(saved["steps"][1]["desired"]["status"], "disabled");
    let read: Plan<Other> = serde_json::from_value(saved).unwrap();
    assert_eq!(read, plan);
}
