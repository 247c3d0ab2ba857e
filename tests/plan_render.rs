//! Snapshots of rendered plans (human without colour, markdown, JSON): the reviewable record
//! of what the reconciler would do for each kind of change, and of each refusal.

use flagops::backend::{LiveState, Unsupported};
use flagops::config::Environment;
use flagops::plan::{self, ConfigRef, GitRef, Metadata, Plan};
use flagops::render::plan::{human, json, markdown};
use flagops::vendor::posthog::Flag;
use serde_json::json;

use crate::support::{flag, live};

fn metadata() -> Metadata {
    Metadata {
        flagops_version: "0.0.0-test".into(),
        environment: "production".into(),
        backend: "local".into(),
        service: None,
        config: ConfigRef {
            path: "flagops.yaml".into(),
            sha256: "sha256:c0ffee".into(),
        },
        git: Some(GitRef {
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            dirty: false,
        }),
        created_at: "2026-11-21T12:00:00Z".into(),
    }
}

fn build(desired: &[Flag], live: &LiveState, policy: &Environment) -> Plan {
    let mut plan = plan::build(desired, live, policy).expect("the plan is accepted");
    plan.metadata = metadata();
    plan
}

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

/// Snapshot all three renderings of a plan under `name`.
fn snapshot_all(name: &str, plan: &Plan) {
    insta::assert_snapshot!(format!("{name}__human"), plain(&human::render(plan)));
    insta::assert_snapshot!(format!("{name}__markdown"), markdown::render(plan));
    insta::assert_snapshot!(format!("{name}__json"), json::render(plan));
    // The JSON is the saved plan: it reads back to the same value.
    let back: Plan = serde_json::from_str(&json::render(plan)).expect("the plan reads back");
    assert_eq!(&back, plan);
}

fn refusal(name: &str, desired: &[Flag], live: &LiveState, policy: &Environment) {
    let error = plan::build(desired, live, policy).expect_err("the plan is refused");
    insta::assert_snapshot!(
        format!("{name}__human"),
        plain(&human::render_error("production", &error))
    );
    insta::assert_snapshot!(
        format!("{name}__markdown"),
        markdown::render_error("production", &error)
    );
    insta::assert_snapshot!(
        format!("{name}__json"),
        json::render_error("production", &error)
    );
}

#[test]
fn creates_in_dependency_order() {
    let desired = vec![
        flag(
            json!({"key": "new-checkout", "name": "New checkout flow", "tags": ["Payments", "frontend"],
            "conditions": [
                {"properties": [
                    {"type": "person", "key": "email", "operator": "icontains", "value": "@example.com"},
                    {"type": "flag", "flag": "checkout-backend", "value": true}]},
                {"rollout_percentage": 10}],
            "variants": [{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50}],
            "payloads": {"test": {"button": "blue"}}}),
        ),
        flag(json!({"key": "checkout-backend", "conditions": [{"rollout_percentage": 100}]})),
        flag(
            json!({"key": "dark-launch", "active": false, "evaluation_runtime": "server",
            "holdout": {"id": 7, "exclusion_percentage": 5}, "conditions": []}),
        ),
    ];
    let plan = build(&desired, &LiveState::default(), &Environment::default());
    assert_eq!(
        plan.steps
            .iter()
            .map(|s| (s.key.as_str(), s.level))
            .collect::<Vec<_>>(),
        vec![
            ("checkout-backend", 0),
            ("dark-launch", 0),
            ("new-checkout", 1)
        ]
    );
    snapshot_all("creates", &plan);
}

#[test]
fn updates_of_every_field_kind() {
    let before = json!({"key": "checkout", "name": "Checkout", "active": false, "tags": ["payments", "old"],
        "evaluation_contexts": ["web"],
        "conditions": [
            {"properties": [{"type": "person", "key": "email", "operator": "icontains", "value": "@example.com"},
                            {"type": "person", "key": "country", "value": "FR"}]},
            {"rollout_percentage": 10},
            {"rollout_percentage": 5, "variant": "control"}],
        "variants": [{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50},
                     {"key": "legacy", "rollout_percentage": 0}],
        "payloads": {"test": {"button": "red", "size": 2}, "legacy": "x"},
        "early_exit": false, "bucketing_identifier": "distinct_id"});
    let after = json!({"key": "checkout", "name": "Checkout v2", "active": true, "tags": ["payments", "new"],
        "evaluation_contexts": ["web", "app"],
        "conditions": [
            {"properties": [{"type": "person", "key": "email", "operator": "icontains", "value": "@example.org"},
                            {"type": "person", "key": "country", "value": "FR"},
                            {"type": "person", "key": "plan", "operator": "is_set"}]},
            {"rollout_percentage": 50},
            {"rollout_percentage": 5, "variant": "test", "description": "forced"}],
        "variants": [{"key": "control", "rollout_percentage": 40, "name": "Control"},
                     {"key": "test", "rollout_percentage": 30}, {"key": "fresh", "rollout_percentage": 30}],
        "payloads": {"test": {"button": "blue", "size": 2}, "fresh": [1, 2]},
        "early_exit": true, "bucketing_identifier": "device_id", "ensure_experience_continuity": false,
        "holdout": {"id": 3, "exclusion_percentage": 10}});
    let conditions_before = json!({"key": "targeting", "conditions": [
        {"rollout_percentage": 100, "properties": [{"type": "person", "key": "beta", "value": true}]},
        {"rollout_percentage": 20}]});
    let conditions_after = json!({"key": "targeting", "conditions": [
        {"rollout_percentage": 20},
        {"rollout_percentage": 1, "aggregation_group_type_index": 0,
         "properties": [{"type": "group", "group_type_index": 0, "key": "tier", "value": "pro"}]}]});
    let disable_before = json!({"key": "sunset", "name": "Sunset", "conditions": [{}]});
    let disable_after =
        json!({"key": "sunset", "name": "Sunset", "active": false, "conditions": [{}]});
    let live = live(vec![
        (1, 4, before),
        (2, 1, conditions_before),
        (3, 9, disable_before),
    ]);
    let desired = vec![flag(after), flag(conditions_after), flag(disable_after)];
    let plan = build(&desired, &live, &Environment::default());
    assert_eq!(plan.summary.update, 3);
    snapshot_all("updates", &plan);
}

#[test]
fn deletes_unmanaged_and_unsupported() {
    let live_state = {
        let mut l = live(vec![
            (1, 1, json!({"key": "kept", "conditions": [{}]})),
            (
                2,
                3,
                json!({"key": "stale-experiment", "conditions": [{"rollout_percentage": 50}]}),
            ),
            (
                3,
                1,
                json!({"key": "billing-kill-switch", "conditions": [{}]}),
            ),
            (
                4,
                2,
                json!({"key": "old-child", "conditions": [{"properties": [
                {"type": "flag", "flag": "stale-experiment", "value": true}]}]}),
            ),
        ]);
        l.unsupported.push(Unsupported {
            key: "rules-v2".into(),
            id: "9".into(),
            reason: "uses filters version 2".into(),
        });
        l
    };
    let desired = vec![flag(json!({"key": "kept", "conditions": [{}]}))];
    let prune = Environment {
        prune: true,
        protect: vec!["billing-*".into()],
        ..Environment::default()
    };
    let plan = build(&desired, &live_state, &prune);
    // The dependent goes first, then what it depended on.
    assert_eq!(
        plan.steps
            .iter()
            .map(|s| (s.key.as_str(), s.level))
            .collect::<Vec<_>>(),
        vec![("old-child", 0), ("stale-experiment", 1)]
    );
    snapshot_all("deletes", &plan);

    let plan = build(&desired, &live_state, &Environment::default());
    assert!(!plan.has_changes());
    snapshot_all("unmanaged", &plan);
}

#[test]
fn encrypted_payloads_are_masked_everywhere() {
    let live = live(vec![(
        5,
        2,
        json!({"key": "remote", "is_remote_configuration": true,
        "has_encrypted_payloads": true, "payloads": {"true": {"token": "old-secret"}}}),
    )]);
    let desired = vec![flag(
        json!({"key": "remote", "is_remote_configuration": true,
        "has_encrypted_payloads": true, "payloads": {"true": {"token": "new-secret"}}}),
    )];
    let plan = build(&desired, &live, &Environment::default());
    for text in [
        human::render(&plan),
        markdown::render(&plan),
        json::render(&plan),
    ] {
        assert!(!text.contains("secret"), "{text}");
    }
    snapshot_all("masked", &plan);
    let step = &plan.steps[0];
    assert!(step.masked_payloads.contains_key("true"));
    // The repository's value goes back in for apply, checked against the digest.
    let mut restored = plan.clone();
    plan::unmask(&mut restored, &desired).unwrap();
    assert_eq!(
        restored.steps[0].desired.as_ref().unwrap().payloads["true"],
        json!({"token": "new-secret"})
    );
    let changed = vec![flag(
        json!({"key": "remote", "is_remote_configuration": true,
        "has_encrypted_payloads": true, "payloads": {"true": {"token": "other"}}}),
    )];
    let mut stale = plan.clone();
    assert_eq!(
        plan::unmask(&mut stale, &changed).unwrap_err(),
        "payload `true` of flag `remote` changed since the plan was made"
    );
}

#[test]
fn the_encrypted_sentinel_is_not_a_change() {
    let live = live(vec![(
        5,
        2,
        json!({"key": "remote", "is_remote_configuration": true,
        "has_encrypted_payloads": true, "payloads": {"true": plan::ENCRYPTED_SENTINEL}}),
    )]);
    let desired = vec![flag(
        json!({"key": "remote", "is_remote_configuration": true,
        "has_encrypted_payloads": true, "payloads": {"true": {"token": "s"}}}),
    )];
    assert!(!build(&desired, &live, &Environment::default()).has_changes());
}

#[test]
fn refusal_max_deletes() {
    let live = live(vec![
        (1, 1, json!({"key": "a"})),
        (2, 1, json!({"key": "b"})),
        (3, 1, json!({"key": "c"})),
    ]);
    let policy = Environment {
        prune: true,
        max_deletes: Some(2),
        ..Environment::default()
    };
    refusal("refused_max_deletes", &[], &live, &policy);
}

#[test]
fn refusal_protected_flag_disabled() {
    let live = live(vec![(
        1,
        1,
        json!({"key": "billing-core", "conditions": [{}]}),
    )]);
    let desired = vec![flag(
        json!({"key": "billing-core", "active": false, "conditions": [{}]}),
    )];
    let policy = Environment {
        protect: vec!["billing-*".into()],
        ..Environment::default()
    };
    refusal("refused_protected", &desired, &live, &policy);
}

#[test]
fn refusal_dependency_errors() {
    // `child` (live only) depends on `parent`, which the repository disables; `orphan` depends
    // on a flag that exists nowhere; `gone` depends on a flag the plan prunes; `x` and `y`
    // depend on each other.
    let live = live(vec![
        (1, 1, json!({"key": "parent", "conditions": [{}]})),
        (
            2,
            1,
            json!({"key": "child", "conditions": [{"properties": [{"type": "flag", "flag": "parent", "value": true}]}]}),
        ),
        (3, 1, json!({"key": "pruned", "conditions": [{}]})),
    ]);
    let desired = vec![
        flag(json!({"key": "parent", "active": false, "conditions": [{}]})),
        flag(
            json!({"key": "child", "conditions": [{"properties": [{"type": "flag", "flag": "parent", "value": true}]}]}),
        ),
        flag(
            json!({"key": "orphan", "conditions": [{"properties": [{"type": "flag", "flag": "nowhere", "value": true}]}]}),
        ),
        flag(json!({"key": "gone", "depends_on": ["pruned"]})),
        flag(json!({"key": "x", "depends_on": ["y"]})),
        flag(
            json!({"key": "y", "conditions": [{"properties": [{"type": "flag", "flag": "x", "value": true}]}]}),
        ),
    ];
    let policy = Environment {
        prune: true,
        ..Environment::default()
    };
    refusal("refused_dependencies", &desired, &live, &policy);
}

#[test]
fn refusal_unsupported_flag_in_the_repository() {
    let mut live = live(vec![]);
    live.unsupported.push(Unsupported {
        key: "v2".into(),
        id: "4".into(),
        reason: "uses filters version 2".into(),
    });
    refusal(
        "refused_unsupported",
        &[flag(json!({"key": "v2"}))],
        &live,
        &Environment::default(),
    );
}

#[test]
fn markdown_fits_the_limit_and_closes_its_code_block() {
    let desired: Vec<Flag> = (0..400)
        .map(|i| flag(json!({"key": format!("flag-{i:03}"), "name": "x".repeat(100),
            "conditions": [{"rollout_percentage": 10}], "payloads": {"true": {"text": "y".repeat(200)}}})))
        .collect();
    let plan = build(&desired, &LiveState::default(), &Environment::default());
    let full = markdown::render(&plan);
    assert!(
        full.len() <= markdown::GITHUB_COMMENT_LIMIT,
        "{}",
        full.len()
    );
    assert!(
        full.contains("_Left out to stay under 65536 bytes: "),
        "{full}"
    );
    for limit in [2_000, 5_000, 20_000] {
        let text = markdown::render_within(&plan, limit);
        assert!(text.len() <= limit, "limit {limit}: {}", text.len());
        // Every code fence and fold is closed, and no flag block is cut: each flag shown has
        // its payload line.
        assert_eq!(text.matches("```").count() % 2, 0, "{text}");
        assert_eq!(
            text.matches("<details").count(),
            text.matches("</details>").count()
        );
        assert_eq!(
            text.matches("- **create** `flag-").count(),
            text.matches("  - payload `true`: ").count()
        );
        assert!(text.starts_with(
            "### flagops plan: `production`\n\nbackend `local` · made at commit `0123456789ab`\n\n**400 to create, 0 to update, 0 to delete.**"
        ));
        assert!(
            text.contains(&format!("_Left out to stay under {limit} bytes: ")),
            "{text}"
        );
        assert!(text.ends_with("2026-11-21T12:00:00Z</sub>\n"));
    }
    insta::assert_snapshot!("truncated_markdown", markdown::render_within(&plan, 3_000));
}

#[test]
fn no_changes() {
    let live = live(vec![(
        1,
        3,
        json!({"key": "a", "tags": ["x"], "conditions": [{"rollout_percentage": 100.0}]}),
    )]);
    let desired = vec![flag(
        json!({"key": "a", "tags": ["X "], "conditions": [{}]}),
    )];
    let plan = build(&desired, &live, &Environment::default());
    assert_eq!(plan.unchanged, vec!["a".to_owned()]);
    insta::assert_snapshot!("no_changes__human", plain(&human::render(&plan)));
    insta::assert_snapshot!("no_changes__markdown", markdown::render(&plan));
}

#[test]
fn ignored_fields_are_named_and_not_shown_as_changes() {
    // What PostHog returns for an organization without tagging or evaluation contexts.
    let live = live(vec![(
        1,
        3,
        json!({"key": "a", "name": "old", "tags": [], "evaluation_contexts": []}),
    )]);
    let desired = vec![flag(
        json!({"key": "a", "name": "new", "tags": ["beta"], "evaluation_contexts": ["web"]}),
    )];
    let policy = Environment {
        ignore: vec!["evaluation_contexts".to_owned(), "tags".to_owned()],
        ..Environment::default()
    };
    snapshot_all("ignored", &build(&desired, &live, &policy));
}

#[test]
fn moved_and_shifted_conditions_read_with_their_old_numbers() {
    let c = |p: u32| json!({"rollout_percentage": p});
    let live = live(vec![(
        1,
        3,
        json!({"key": "a", "conditions": [c(10), c(20), c(30)]}),
    )]);
    let desired = vec![flag(
        json!({"key": "a", "conditions": [c(20), c(10), c(30)]}),
    )];
    let text = plain(&human::render(&build(
        &desired,
        &live,
        &Environment::default(),
    )));
    assert!(
        text.contains("  ~ update `a`\n      condition 2 moved to 1: 20% of everyone\n"),
        "{text}"
    );
    let desired = vec![flag(
        json!({"key": "a", "conditions": [c(5), c(10), c(20), c(35)]}),
    )];
    let text = plain(&human::render(&build(
        &desired,
        &live,
        &Environment::default(),
    )));
    assert!(
        text.contains(
            "  ~ update `a`\n      ! condition 1 added: on for 5% of everyone\n      ! rollout widens 30% → 35% of everyone in condition 4\n      condition 1 added: 5% of everyone\n      rollout 30% → 35% in condition 4 (was 3)\n"
        ),
        "{text}"
    );
}
