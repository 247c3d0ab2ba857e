//! Unit tests of the change/drift split, on PostHog flags.

use serde_json::{Value, json};

use super::*;
use crate::config::Environment;
use crate::plan::build;
use crate::plan::tests::{flag, live};
use crate::vendor::posthog::Flag;

fn origins(
    head: &[Value],
    base: &[Value],
    live_flags: &[Value],
    policy: &Environment,
) -> Vec<(String, Origin, Definition)> {
    let head: Vec<Flag> = head.iter().cloned().map(flag).collect();
    let base: Vec<Flag> = base.iter().cloned().map(flag).collect();
    let plan = build(&head, &live(live_flags), policy).unwrap();
    let split = split(&plan, &head, &base, &policy.ignore, "main", "0");
    split
        .steps
        .into_iter()
        .map(|(k, s)| (k, s.origin, s.definition))
        .collect()
}

fn rollout(key: &str, percent: u32) -> Value {
    json!({"key": key, "conditions": [{"rollout_percentage": percent}]})
}

#[test]
fn each_step_is_change_drift_or_both() {
    let prune = Environment {
        prune: true,
        ..Environment::default()
    };
    let got = origins(
        &[
            rollout("edited", 50),
            rollout("drifted", 10),
            rollout("both", 50),
            rollout("added", 10),
            rollout("recreated", 10),
        ],
        &[
            rollout("edited", 10),
            rollout("drifted", 10),
            rollout("both", 10),
            rollout("removed", 10),
            rollout("recreated", 10),
        ],
        &[
            rollout("edited", 10),
            rollout("drifted", 30),
            rollout("both", 30),
            rollout("removed", 10),
            rollout("stray", 10),
        ],
        &prune,
    );
    let expected = [
        ("added", Origin::Change, Definition::Added),
        ("both", Origin::Both, Definition::Edited),
        ("drifted", Origin::Drift, Definition::Unchanged),
        ("edited", Origin::Change, Definition::Edited),
        // Defined at the base and now, deleted in the service.
        ("recreated", Origin::Drift, Definition::Unchanged),
        ("removed", Origin::Change, Definition::Removed),
        ("stray", Origin::Drift, Definition::Never),
    ];
    let expected: Vec<(String, Origin, Definition)> = expected
        .into_iter()
        .map(|(k, o, d)| (k.to_owned(), o, d))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn the_same_flag_written_differently_is_not_a_change() {
    // Tags are a case-insensitive set; an absent rollout is 100%.
    let got = origins(
        &[json!({"key": "a", "tags": ["X", "y"], "conditions": [{}]})],
        &[json!({"key": "a", "tags": ["y", "x"], "conditions": [{"rollout_percentage": 100}]})],
        &[json!({"key": "a", "conditions": [{}]})],
        &Environment::default(),
    );
    assert_eq!(
        got,
        vec![("a".to_owned(), Origin::Drift, Definition::Unchanged)]
    );
}

#[test]
fn a_live_difference_in_an_ignored_field_is_not_drift() {
    let policy = Environment {
        ignore: vec!["tags".to_owned()],
        ..Environment::default()
    };
    let got = origins(
        &[rollout("a", 50)],
        &[rollout("a", 10)],
        &[json!({"key": "a", "tags": ["from-ui"], "conditions": [{"rollout_percentage": 10}]})],
        &policy,
    );
    assert_eq!(
        got,
        vec![("a".to_owned(), Origin::Change, Definition::Edited)]
    );
}
