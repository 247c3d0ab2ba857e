//! The vendor-neutral parts of a plan (building, order, policy, revisions, masking, the saved
//! form) on a flag model that is not PostHog's: a status instead of `active`/`archived`,
//! dependencies in a list of its own, secret values of its own, its own field-level diff, and
//! a text concurrency token (a modification time) instead of a version.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::backend::LiveFlag;
use crate::config::Environment;
use crate::model::test_vendor::{Other, OtherField, Status, other};

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

fn live_other(flag: Other) -> LiveFlag<Other> {
    LiveFlag {
        id: format!("0b7e4c3a-{}", flag.key),
        token: Some(Token::Text("2026-11-21T12:00:00Z".to_owned())),
        flag,
    }
}

#[test]
fn another_model_is_planned_with_its_own_diff_ignore_and_secrets() {
    let named = |mut f: Other, name: &str| {
        f.name = name.to_owned();
        f
    };
    let sealed = |mut f: Other, value: Value| {
        f.secrets.insert("api".to_owned(), value);
        f
    };
    let desired = vec![
        other("a", Status::Enabled, &[]),
        other("b", Status::Disabled, &[]),
        named(
            other("c", Status::Enabled, &["a"]),
            "renamed in the repository",
        ),
        sealed(other("s", Status::Enabled, &[]), json!("new secret")),
        named(other("same", Status::Enabled, &[]), "kept"),
    ];
    let live = LiveState {
        flags: vec![
            live_other(other("b", Status::Enabled, &[])),
            live_other(named(other("c", Status::Enabled, &["b"]), "live name")),
            live_other(other("gone", Status::Disabled, &[])),
            live_other(sealed(
                other("s", Status::Enabled, &[]),
                json!("old secret"),
            )),
            live_other(named(other("same", Status::Enabled, &[]), "live")),
        ],
        unsupported: Vec::new(),
    };
    let environment = Environment {
        prune: true,
        ignore: vec!["name".to_owned()],
        ..Environment::default()
    };
    let mut plan = build(&desired, &live, &environment).unwrap();

    let steps: Vec<(usize, Action, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.level, s.action, s.key.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (0, Action::Create, "a"),
            (0, Action::Delete, "gone"),
            (0, Action::Update, "s"),
            (1, Action::Update, "c"),
            (2, Action::Update, "b"),
        ]
    );
    assert_eq!(plan.unchanged, vec!["same"], "an ignored name is no change");
    let changes = |key: &str| -> serde_json::Value {
        let step = plan.steps.iter().find(|s| s.key == key).unwrap();
        serde_json::to_value(&step.changes).unwrap()
    };
    assert_eq!(
        changes("c"),
        json!([
            {"field": "requires", "op": "removed", "item": "b"},
            {"field": "requires", "op": "added", "item": "a"},
        ]),
        "the name is ignored: only the dependency changes"
    );
    assert_eq!(
        changes("b"),
        json!([{"field": "status", "op": "changed", "before": "enabled", "after": "disabled"}])
    );
    assert_eq!(
        changes("s"),
        json!([{"field": "secrets", "op": "changed", "item": "api",
                "before": MASK, "after": MASK}])
    );
    let s = plan.steps.iter().find(|s| s.key == "s").unwrap();
    assert_eq!(s.desired.as_ref().unwrap().secrets["api"], json!(MASK));
    assert_eq!(s.live.as_ref().unwrap().flag.secrets["api"], json!(MASK));
    assert_eq!(
        s.masked_payloads["api"],
        digest::value_digest(&json!("new secret"))
    );
    let c = plan.steps.iter().find(|s| s.key == "c").unwrap();
    assert_eq!(c.desired.as_ref().unwrap().name, "live name");

    let saved = serde_json::to_string(&plan).unwrap();
    assert!(
        !saved.contains("secret\""),
        "no secret in the saved plan: {saved}"
    );
    let read: Plan<Other> = serde_json::from_str(&saved).unwrap();
    assert_eq!(read, plan);

    unmask(&mut plan, &desired).unwrap();
    let s = plan.steps.iter().find(|s| s.key == "s").unwrap();
    assert_eq!(
        s.desired.as_ref().unwrap().secrets["api"],
        json!("new secret")
    );
    let mut edited = desired.clone();
    edited[3] = sealed(other("s", Status::Enabled, &[]), json!("edited"));
    let mut again: Plan<Other> = serde_json::from_str(&saved).unwrap();
    assert_eq!(
        unmask(&mut again, &edited),
        Err("payload `api` of flag `s` changed since the plan was made".to_owned())
    );
}

#[test]
fn another_model_compares_as_the_plan_does() {
    let mut live = other("c", Status::Enabled, &["b", "a", "b"]);
    live.name = "live".to_owned();
    let mut desired = other("c", Status::Disabled, &["a", "b"]);
    desired.name = "live".to_owned();
    let ops = |changes: Vec<Change<OtherField>>| -> Vec<(OtherField, ChangeOp)> {
        changes.into_iter().map(|c| (c.field, c.op)).collect()
    };
    assert_eq!(
        ops(differences(&desired, &live)),
        vec![(OtherField::Status, ChangeOp::Changed)]
    );
    let drifted = drift(&desired, &live);
    assert_eq!(drifted[0].before, Some(json!("disabled")));
    assert_eq!(drifted[0].after, Some(json!("enabled")));
    assert!(differences(&live, &live).is_empty());
}

#[test]
fn another_model_is_rendered_in_its_own_words_with_its_risks_first() {
    let desired = vec![
        other("a", Status::Disabled, &[]),
        other("b", Status::Disabled, &[]),
        other("c", Status::Enabled, &["a", "b"]),
    ];
    let live = LiveState {
        flags: vec![
            live_other(other("b", Status::Enabled, &[])),
            live_other(other("c", Status::Enabled, &["b"])),
        ],
        unsupported: Vec::new(),
    };
    // `c` may not stay enabled on disabled flags: the plan is refused first.
    let refused = build(&desired, &live, &Environment::default()).unwrap_err();
    assert_eq!(
        refused.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
        vec!["disabled-dependency", "disabled-dependency"]
    );
    let desired = vec![
        other("a", Status::Enabled, &[]),
        other("b", Status::Disabled, &[]),
        other("c", Status::Enabled, &["a"]),
    ];
    let mut plan = build(&desired, &live, &Environment::default()).unwrap();
    plan.metadata.environment = "staging".to_owned();
    plan.metadata.backend = "other".to_owned();
    let text = crate::render::plan::human::render(&plan);
    let text =
        String::from_utf8(anstream::adapter::strip_bytes(text.as_bytes()).into_vec()).unwrap();
    let risky = text.find("`b`").unwrap();
    let created = text.find("`a`").unwrap();
    assert!(risky < created, "the risky step comes first:\n{text}");
    for line in [
        "! switched off",
        "! switched on",
        "status \"enabled\" → \"disabled\"",
        "now requires `a`",
        "no longer requires `b`",
        "status \"enabled\"",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let markdown = crate::render::plan::markdown::render(&plan);
    assert!(markdown.contains("⚠️ switched off"), "{markdown}");
}

#[test]
fn an_ignore_the_model_cannot_keep_is_refused() {
    let environment = Environment {
        ignore: vec!["name".to_owned(), "tags".to_owned(), "holdout".to_owned()],
        ..Environment::default()
    };
    let desired = vec![other("a", Status::Enabled, &[])];
    let refused = build(&desired, &LiveState::default(), &environment).unwrap_err();
    let found: Vec<(&str, Option<&str>, &str, Option<&str>)> = refused
        .problems
        .iter()
        .map(|p| {
            (
                p.code,
                p.flag.as_deref(),
                p.message.as_str(),
                p.help.as_deref(),
            )
        })
        .collect();
    let help = Some("remove it from the environment's `ignore`");
    assert_eq!(
        found,
        vec![
            (
                "ignore-field",
                None,
                "`ignore` names `holdout`, which this service's flags cannot keep",
                help
            ),
            (
                "ignore-field",
                None,
                "`ignore` names `tags`, which this service's flags cannot keep",
                help
            ),
        ]
    );
}
