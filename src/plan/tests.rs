//! Tests of plan building: matching, policy and order rules on small cases.

use serde_json::{Value, json};

use super::*;
use crate::backend::LiveFlag;
use crate::vendor::posthog::normalize::normalize;

/// A resolved flag from its file form (no environment); also used by `split`'s tests.
pub(super) fn flag(value: Value) -> Flag {
    let spec: crate::vendor::posthog::FlagSpec = serde_json::from_value(value).unwrap();
    spec.resolve(None).0
}

/// Live flags with ids 1, 2, … (in the order given) and token 1, sorted by key as a backend
/// lists them; also used by `split`'s tests.
pub(super) fn live(flags: &[Value]) -> LiveState {
    let mut flags: Vec<LiveFlag> = flags
        .iter()
        .enumerate()
        .map(|(i, v)| LiveFlag {
            id: (i + 1).to_string(),
            flag: flag(v.clone()),
            token: Some(1.into()),
        })
        .collect();
    flags.sort_by(|a, b| a.flag.key.cmp(&b.flag.key));
    LiveState {
        flags,
        unsupported: Vec::new(),
    }
}

fn order(plan: &Plan) -> Vec<(&str, Action, usize)> {
    plan.steps
        .iter()
        .map(|s| (s.key.as_str(), s.action, s.level))
        .collect()
}

#[test]
fn removing_the_first_condition_is_one_removal() {
    let before = live(&[json!({"key": "a", "conditions": [
        {"rollout_percentage": 1}, {"rollout_percentage": 2}, {"rollout_percentage": 3}]})]);
    let desired = [flag(
        json!({"key": "a", "conditions": [{"rollout_percentage": 2}, {"rollout_percentage": 3}]}),
    )];
    let plan = build(&desired, &before, &Environment::default()).unwrap();
    let changes = &plan.steps[0].changes;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].field, changes[0].op, changes[0].condition),
        (Field::Conditions, ChangeOp::Removed, Some(1))
    );
}

#[test]
fn display_fields_set_only_live_are_kept_and_not_a_change() {
    let before = live(&[
        json!({"key": "a", "name": "old", "conditions": [{"description": "from the UI",
        "properties": [{"type": "flag", "flag": "b", "value": true, "label": "b"}]}]}),
        json!({"key": "b"}),
    ]);
    let same = [
        flag(
            json!({"key": "a", "name": "old", "conditions": [{"properties": [{"type": "flag", "flag": "b", "value": true}]}]}),
        ),
        flag(json!({"key": "b"})),
    ];
    let plan = build(&same, &before, &Environment::default()).unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.steps);

    let renamed = [
        flag(
            json!({"key": "a", "name": "new", "conditions": [{"properties": [{"type": "flag", "flag": "b", "value": true}]}]}),
        ),
        flag(json!({"key": "b"})),
    ];
    let plan = build(&renamed, &before, &Environment::default()).unwrap();
    let desired = plan.steps[0].desired.as_ref().unwrap();
    // Apply sends the live display fields back, so the UI's label survives.
    assert_eq!(
        desired.conditions[0].description.as_deref(),
        Some("from the UI")
    );
    assert_eq!(
        desired.conditions[0].properties[0].label.as_deref(),
        Some("b")
    );
    assert_eq!(plan.steps[0].changes.len(), 1);
}

#[test]
fn prune_deletes_only_unprotected_flags_outside_the_repository() {
    let before = live(&[
        json!({"key": "billing-a"}),
        json!({"key": "old"}),
        json!({"key": "kept"}),
    ]);
    let mut state = before.clone();
    state.unsupported.push(Unsupported {
        key: "v2".into(),
        id: "9".into(),
        reason: "uses filters version 2".into(),
    });
    let policy = Environment {
        prune: true,
        protect: vec!["billing-*".into()],
        ..Environment::default()
    };
    let plan = build(&[flag(json!({"key": "kept"}))], &state, &policy).unwrap();
    assert_eq!(order(&plan), vec![("old", Action::Delete, 0)]);
    assert_eq!(
        plan.unmanaged,
        vec![Unmanaged {
            key: "billing-a".into(),
            id: "1".into(),
            reason: UnmanagedReason::Protected
        }]
    );
    assert_eq!(plan.unsupported.len(), 1);
    assert_eq!(
        plan.summary,
        Summary {
            create: 0,
            update: 0,
            delete: 1,
            unchanged: 1,
            unmanaged: 1,
            unsupported: 1
        }
    );
}

#[test]
fn disabling_a_chain_goes_from_dependents_to_dependencies() {
    let dep = |k: &str, on: &str| json!({"key": k, "conditions": [{"properties": [{"type": "flag", "flag": on, "value": true}]}]});
    let before = live(&[json!({"key": "a"}), dep("b", "a"), dep("c", "b")]);
    let off = |v: Value| {
        let mut f = flag(v);
        f.active = false;
        f
    };
    let desired = [
        off(json!({"key": "a"})),
        off(dep("b", "a")),
        off(dep("c", "b")),
    ];
    let plan = build(&desired, &before, &Environment::default()).unwrap();
    assert_eq!(
        order(&plan),
        vec![
            ("c", Action::Update, 0),
            ("b", Action::Update, 1),
            ("a", Action::Update, 2)
        ]
    );
    // And enabling them again goes the other way.
    let plan = build(
        &[
            flag(json!({"key": "a"})),
            flag(dep("b", "a")),
            flag(dep("c", "b")),
        ],
        &LiveState::default(),
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(
        order(&plan),
        vec![
            ("a", Action::Create, 0),
            ("b", Action::Create, 1),
            ("c", Action::Create, 2)
        ]
    );
}

#[test]
fn a_live_only_dependent_blocks_disabling_its_dependency() {
    let before = live(&[
        json!({"key": "a"}),
        json!({"key": "z", "depends_on": [], "conditions": [
        {"properties": [{"type": "flag", "flag": "a", "value": true}]}]}),
    ]);
    let error = build(
        &[flag(json!({"key": "a", "active": false}))],
        &before,
        &Environment::default(),
    )
    .unwrap_err();
    assert_eq!(error.problems.len(), 1);
    assert_eq!(error.problems[0].code, "disabled-dependency");
    assert_eq!(
        error.problems[0].message,
        "`z` (live, not in the repository) is enabled but depends on `a`, which would be disabled"
    );
}

#[test]
fn depends_on_alone_does_not_block_disabling_its_target() {
    // `depends_on` is ordering only: PostHog guards `type: flag` properties, not it.
    let before = live(&[json!({"key": "a"})]);
    let plan = build(
        &[
            flag(json!({"key": "a", "active": false})),
            flag(json!({"key": "b", "depends_on": ["a"], "conditions": [{}]})),
        ],
        &before,
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(
        order(&plan),
        [("a", Action::Update, 0), ("b", Action::Create, 0)]
    );
}

#[test]
fn duplicate_desired_keys_are_refused() {
    let error = build(
        &[flag(json!({"key": "a"})), flag(json!({"key": "a"}))],
        &LiveState::default(),
        &Environment::default(),
    )
    .unwrap_err();
    assert_eq!(error.problems[0].code, "duplicate-flag");
}

#[test]
fn the_live_snapshot_carries_what_apply_needs() {
    let before = live(&[json!({"key": "a", "name": "x"})]);
    let plan = build(
        &[flag(json!({"key": "a", "name": "y"}))],
        &before,
        &Environment::default(),
    )
    .unwrap();
    let snapshot = plan.steps[0].live.as_ref().unwrap();
    assert_eq!(
        (snapshot.id.as_str(), snapshot.token.clone()),
        ("1", Some(1.into()))
    );
    assert_eq!(
        snapshot.fingerprint,
        fingerprint(&normalize(&before.flags[0].flag))
    );
    assert!(snapshot.fingerprint.starts_with("sha256:") && snapshot.fingerprint.len() == 71);
}

#[test]
fn ignored_fields_keep_their_live_value_on_update_and_are_not_a_change() {
    // PostHog without the tagging feature returns `tags: []` whatever was written.
    let before = live(&[
        json!({"key": "a", "tags": [], "evaluation_contexts": [], "name": "live name"}),
        json!({"key": "b", "tags": []}),
    ]);
    let desired = [
        flag(
            json!({"key": "a", "tags": ["beta"], "evaluation_contexts": ["web"], "name": "new name"}),
        ),
        flag(json!({"key": "b", "tags": ["beta"]})),
        flag(json!({"key": "c", "tags": ["beta"], "evaluation_contexts": ["web"]})),
    ];
    let policy = Environment {
        ignore: vec!["tags".to_owned(), "evaluation_contexts".to_owned()],
        ..Environment::default()
    };
    let plan = build(&desired, &before, &policy).unwrap();
    assert_eq!(
        order(&plan),
        vec![("a", Action::Update, 0), ("c", Action::Create, 0)]
    );
    assert_eq!(plan.unchanged, vec!["b".to_owned()]);
    let update = &plan.steps[0];
    assert_eq!(update.changes.len(), 1, "{:?}", update.changes);
    assert_eq!(update.changes[0].field, Field::Name);
    // Apply writes the live values of ignored fields back.
    let sent = update.desired.as_ref().unwrap();
    assert!(sent.tags.is_empty() && sent.evaluation_contexts.is_empty());
    // A new flag is created with the repository's values.
    let created = plan.steps[1].desired.as_ref().unwrap();
    assert_eq!(created.tags, vec!["beta".to_owned()]);
    assert_eq!(created.evaluation_contexts, vec!["web".to_owned()]);
    assert_eq!(plan.ignore, policy.ignore);

    // Without `ignore`, the same states differ.
    let plan = build(&desired, &before, &Environment::default()).unwrap();
    assert_eq!(plan.summary.update, 2);
    assert!(plan.ignore.is_empty());
}

#[test]
fn every_ignorable_field_is_left_out_of_the_diff() {
    let before = live(&[json!({"key": "a", "name": "x", "tags": ["t"],
        "evaluation_contexts": ["app"], "holdout": {"id": 1, "exclusion_percentage": 10},
        "early_exit": true, "feature_enrollment": true, "ensure_experience_continuity": true,
        "evaluation_runtime": "server", "bucketing_identifier": "device_id"})]);
    let desired = [flag(json!({"key": "a"}))];
    let every = vec![
        "name".to_owned(),
        "tags".to_owned(),
        "evaluation_contexts".to_owned(),
        "holdout".to_owned(),
        "early_exit".to_owned(),
        "feature_enrollment".to_owned(),
        "ensure_experience_continuity".to_owned(),
        "evaluation_runtime".to_owned(),
        "bucketing_identifier".to_owned(),
    ];
    let all_but = |skip: &str| Environment {
        ignore: every.iter().filter(|f| *f != skip).cloned().collect(),
        ..Environment::default()
    };
    let plan = build(
        &desired,
        &before,
        &Environment {
            ignore: every.clone(),
            ..Environment::default()
        },
    )
    .unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.steps);
    // Each one alone: leaving it out of the list brings back exactly its change.
    for field in &every {
        let plan = build(&desired, &before, &all_but(field)).unwrap();
        let fields: BTreeSet<&str> = plan.steps[0]
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(fields, BTreeSet::from([field.as_str()]), "{field:?}");
    }
}

/// (op, condition, previous condition, attribute) of the first step's changes.
type ConditionChange = (ChangeOp, Option<usize>, Option<usize>, Option<String>);

fn condition_changes(plan: &Plan) -> Vec<ConditionChange> {
    plan.steps[0]
        .changes
        .iter()
        .map(|c| (c.op, c.condition, c.previous_condition, c.attribute.clone()))
        .collect()
}

#[test]
fn reordered_conditions_are_moves_and_changed_ones_name_their_old_number() {
    let c = |p: u32| json!({"rollout_percentage": p});
    let changes = |live_conditions: Value, desired_conditions: Value| {
        let before = live(&[json!({"key": "a", "conditions": live_conditions})]);
        let desired = [flag(json!({"key": "a", "conditions": desired_conditions}))];
        condition_changes(&build(&desired, &before, &Environment::default()).unwrap())
    };
    // Swapping two conditions is one move, not a removal and an addition.
    assert_eq!(
        changes(json!([c(10), c(20), c(30)]), json!([c(20), c(10), c(30)])),
        vec![(
            ChangeOp::Changed,
            Some(1),
            Some(2),
            Some("position".to_owned())
        )]
    );
    // A condition inserted first shifts the others: a change names the old number too.
    assert_eq!(
        changes(json!([c(10), c(20)]), json!([c(5), c(10), c(21)])),
        vec![
            (ChangeOp::Added, Some(1), None, None),
            (
                ChangeOp::Changed,
                Some(3),
                Some(2),
                Some("rollout_percentage".to_owned())
            ),
        ]
    );
    // A condition changed in place carries no old number.
    assert_eq!(
        changes(json!([c(10), c(20)]), json!([c(11), c(20)])),
        vec![(
            ChangeOp::Changed,
            Some(1),
            None,
            Some("rollout_percentage".to_owned())
        )]
    );
}

#[test]
fn a_condition_inserted_before_a_changed_one_is_an_addition() {
    let before = live(&[json!({"key": "a", "conditions": [
        {"rollout_percentage": 10, "properties": [{"type": "person", "key": "email", "value": "x"}]},
        {"rollout_percentage": 20}]})]);
    let desired = [flag(json!({"key": "a", "conditions": [
        {"rollout_percentage": 5},
        {"rollout_percentage": 10, "properties": [{"type": "person", "key": "email", "value": "y"}]},
        {"rollout_percentage": 20}]}))];
    let plan = build(&desired, &before, &Environment::default()).unwrap();
    assert_eq!(
        condition_changes(&plan),
        vec![
            (ChangeOp::Added, Some(1), None, None),
            (
                ChangeOp::Changed,
                Some(2),
                Some(1),
                Some("properties".to_owned())
            ),
        ]
    );
}
