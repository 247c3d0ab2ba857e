//! Mixpanel flags through the vendor-neutral plan: built against live flags (with the salt
//! Mixpanel generated and fractions read back), ordered by `depends_on`, saved and read back,
//! and rendered in Mixpanel's words with its risks first.

use serde_json::json;

use crate::backend::{LiveFlag, LiveState, Token};
use crate::config::Environment;
use crate::model::{Percent, VendorFlag};
use crate::plan::{Action, Plan, build};
use crate::vendor::mixpanel::MixpanelFlag;
use crate::vendor::mixpanel::tests::flag;

fn live(spec: serde_json::Value) -> LiveFlag<MixpanelFlag> {
    let flag = flag(spec);
    LiveFlag {
        id: format!("0b7e4c3a-{}", flag.key),
        token: Some(Token::Text("2026-11-21T12:00:00Z".to_owned())),
        flag,
    }
}

#[test]
fn a_mixpanel_repository_is_planned_saved_and_rendered() {
    let salt = "0123456789abcdef0123456789abcdef";
    let gate = json!({"key": "gate", "status": "enabled",
        "variants": [{"key": "off", "value": false, "is_control": true, "split": 0},
                     {"key": "on", "value": true, "split": 100}],
        "rollout": [{"rollout_percentage": 25.5}]});
    let desired = vec![
        flag(gate.clone()),
        flag(json!({"key": "checkout", "status": "enabled",
            "depends_on": ["gate", "new-gate"], "rollout": [{"rollout_percentage": 10}]})),
        flag(json!({"key": "new-gate"})),
        flag(
            json!({"key": "old-banner", "name": "Old banner (repository)",
            "rollout": [{"rollout_percentage": 100}]}),
        ),
    ];
    // Live: `gate` as Mixpanel returns it (its salt, the fraction read back, variants in
    // another order), `old-banner` enabled and renamed in the UI, `stale` not in the
    // repository.
    let mut gate_live = gate.clone();
    gate_live["hash_salt"] = json!(salt);
    gate_live["rollout"][0]["rollout_percentage"] = json!(0.255 * 100.0);
    gate_live["variants"] = json!([gate["variants"][1], gate["variants"][0]]);
    let state = LiveState {
        flags: vec![
            live(gate_live),
            live(
                json!({"key": "old-banner", "status": "enabled", "name": "Old banner (UI)",
                "rollout": [{"rollout_percentage": 100}]}),
            ),
            live(json!({"key": "stale"})),
        ],
        unsupported: Vec::new(),
    };
    let environment = Environment {
        prune: true,
        ignore: vec!["name".to_owned()],
        ..Environment::default()
    };
    let mut plan = build(&desired, &state, &environment).unwrap();
    let steps: Vec<(usize, Action, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.level, s.action, s.key.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (0, Action::Create, "new-gate"),
            (0, Action::Update, "old-banner"),
            (0, Action::Delete, "stale"),
            (1, Action::Create, "checkout"),
        ]
    );
    assert_eq!(
        plan.unchanged,
        vec!["gate"],
        "the salt and the fraction are no change"
    );
    assert_eq!(
        serde_json::to_value(&plan.steps[1].changes).unwrap(),
        json!([{"field": "status", "op": "changed", "before": "enabled", "after": "disabled"}]),
        "the ignored name is kept"
    );
    assert_eq!(
        plan.steps[1].desired.as_ref().unwrap().name,
        "Old banner (UI)"
    );

    let saved = serde_json::to_string(&plan).unwrap();
    let read: Plan<MixpanelFlag> = serde_json::from_str(&saved).unwrap();
    assert_eq!(read, plan);

    plan.metadata.environment = "production".to_owned();
    plan.metadata.backend = "mixpanel".to_owned();
    let text = crate::render::plan::human::render(&plan);
    let text =
        String::from_utf8(anstream::adapter::strip_bytes(text.as_bytes()).into_vec()).unwrap();
    let risky = text.find("`old-banner`").unwrap();
    let created = text.find("`checkout`").unwrap();
    assert!(risky < created, "the risky step comes first:\n{text}");
    for line in [
        "disabled: goes off for 100% of everyone",
        "disabled (status \"enabled\" → \"disabled\")",
        "rollout group 1: 10% of everyone",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let markdown = crate::render::plan::markdown::render(&plan);
    assert!(markdown.contains("disabled: goes off for"), "{markdown}");
}

#[test]
fn an_ignore_mixpanel_cannot_keep_is_refused() {
    let environment = Environment {
        ignore: vec!["holdout".to_owned()],
        ..Environment::default()
    };
    let refused = build::<MixpanelFlag>(&[], &LiveState::default(), &environment).unwrap_err();
    assert_eq!(
        refused.problems[0].message,
        "`ignore` names `holdout`, which this service's flags cannot keep"
    );
    assert!(MixpanelFlag::ignorable_fields().contains(&"tags"));
    assert_eq!(Percent(25.5).to_string(), "25.5%");
}

/// The local backend in Mixpanel mode: it refuses what Mixpanel refuses, applies a plan, and
/// keeps each flag in its canonical file form; a second plan has nothing to do.
#[tokio::test]
async fn the_local_backend_keeps_mixpanel_flags() {
    use crate::apply::{Options, Quiet, run};
    use crate::backend::Backend;
    use crate::backend::local::LocalBackend;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let local = LocalBackend::<MixpanelFlag>::of_model(&path, "production");
    let refused = local
        .create(&flag(json!({"key": "a", "hash_salt": "short"})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("a hash_salt must be exactly 32 characters"),
        "{refused}"
    );
    local
        .create(&flag(json!({"key": "stale", "status": "enabled"})))
        .await
        .unwrap();

    let desired = vec![
        flag(
            json!({"key": "gate", "status": "enabled", "depends_on": ["config"],
            "variants": [{"key": "off", "value": false, "is_control": true, "split": 50},
                         {"key": "on", "value": true, "split": 50}],
            "rollout": [{"rollout_percentage": 25}],
            "test_users": {"qa": "on"}}),
        ),
        flag(json!({"key": "config",
            "variants": [{"key": "default", "value": {"limit": 10}, "is_control": true, "split": 100}]})),
    ];
    let plan = build(
        &desired,
        &local.list().await.unwrap(),
        &Environment {
            prune: true,
            ..Environment::default()
        },
    )
    .unwrap();
    let report = run(&plan, &local, &Options::default(), &Quiet)
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:?}");
    let again = build(
        &desired,
        &local.list().await.unwrap(),
        &Environment::default(),
    )
    .unwrap();
    assert!(!again.has_changes(), "{again:?}");
    assert_eq!(again.unchanged, vec!["config", "gate"]);

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let flags = &state["environments"]["production"]["flags"];
    let gate = flags
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"]["key"] == "gate")
        .unwrap();
    assert_eq!(
        gate["flag"],
        json!({"key": "gate", "status": "enabled",
            "variants": [{"key": "off", "value": false, "is_control": true, "split": 50},
                         {"key": "on", "value": true, "split": 50}],
            "rollout": [{"rollout_percentage": 25}],
            "test_users": {"qa": "on"}}),
        "the file form, without the repository-only depends_on"
    );
}

/// Mixpanel refuses to change `context` once a flag has been enabled (now, or before: its
/// `enabled_at`): the plan says so instead of failing halfway through an apply. A flag never
/// enabled may change it.
#[test]
fn a_context_change_mixpanel_would_refuse_refuses_the_plan() {
    let desired = vec![flag(json!({"key": "gate", "context": "device_id"}))];
    let state = |live: LiveFlag<MixpanelFlag>| LiveState {
        flags: vec![live],
        unsupported: Vec::new(),
    };
    let enabled = live(json!({"key": "gate", "status": "enabled"}));
    let refused = build(&desired, &state(enabled), &Environment::default()).unwrap_err();
    assert_eq!(refused.problems.len(), 1);
    assert_eq!(refused.problems[0].code, "service-refuses");
    assert_eq!(refused.problems[0].flag.as_deref(), Some("gate"));
    assert_eq!(
        refused.problems[0].message,
        "`gate` has been enabled, and Mixpanel then refuses to change its `context` \
         (`distinct_id` → `device_id`)"
    );
    assert_eq!(
        refused.problems[0].help.as_deref(),
        Some("keep `context: distinct_id`, or give the flag for the new context a new key")
    );

    let mut once = live(json!({"key": "gate", "status": "disabled"}));
    once.flag.enabled_at = Some("2026-11-01T09:00:00Z".to_owned());
    assert!(build(&desired, &state(once), &Environment::default()).is_err());

    let never = live(json!({"key": "gate", "status": "disabled"}));
    let plan = build(&desired, &state(never), &Environment::default()).unwrap();
    assert_eq!(plan.steps[0].action, Action::Update);
}

/// An archived Mixpanel flag is already deleted the way Mixpanel deletes: `prune` never plans
/// it again, and it is not listed as unmanaged.
#[test]
fn an_archived_flag_is_not_pruned_again() {
    let state = LiveState {
        flags: vec![
            live(json!({"key": "old", "status": "archived"})),
            live(json!({"key": "stale", "status": "disabled"})),
        ],
        unsupported: Vec::new(),
    };
    let environment = Environment {
        prune: true,
        ..Environment::default()
    };
    let plan = build::<MixpanelFlag>(&[], &state, &environment).unwrap();
    let steps: Vec<(&str, Action)> = plan
        .steps
        .iter()
        .map(|s| (s.key.as_str(), s.action))
        .collect();
    assert_eq!(steps, vec![("stale", Action::Delete)]);
    assert!(plan.unmanaged.is_empty());
}

/// A repository flag whose key belongs to an archived flag is refused at plan time (restoring
/// it is decided in Mixpanel); keeping it archived is no problem.
#[test]
fn a_key_taken_by_an_archived_flag_refuses_the_plan() {
    let state = LiveState {
        flags: vec![live(json!({"key": "old", "status": "archived"}))],
        unsupported: Vec::new(),
    };
    let desired = vec![flag(json!({"key": "old", "status": "enabled"}))];
    let refused = build(&desired, &state, &Environment::default()).unwrap_err();
    assert_eq!(refused.problems[0].code, "service-refuses");
    assert_eq!(
        refused.problems[0].message,
        "`old` is the key of an archived flag in this project (Mixpanel keeps the keys of \
         archived flags)"
    );
    let kept = vec![flag(json!({"key": "old", "status": "archived"}))];
    let plan = build(&kept, &state, &Environment::default()).unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.steps);
}
