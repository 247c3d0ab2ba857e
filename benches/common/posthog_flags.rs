//! The PostHog flags the benchmarks seed into the fake (the mix of `benches/validate.rs` in
//! PostHog's form), and its request log as they count it (included with `#[path]`).
#![allow(clippy::cast_possible_wrap)]

use serde_json::{Value, json};

use crate::common::RequestLog;
use crate::fake_posthog::{FakePosthog, PROJECT_ID};

/// Seed `n` flags with ids 1…n: the mix of `benches/validate.rs` in PostHog's form.
pub(crate) fn seed(fake: &FakePosthog, n: usize) {
    for cohort in 0..50 {
        fake.add_cohort(PROJECT_ID, 100_000 + cohort, &format!("Cohort {cohort}"));
    }
    fake.seed((0..n).map(|i| live_flag(i, n)).collect());
}

/// One flag: mostly boolean rollouts with person targeting, some experiments with payloads,
/// cohorts and groups, dependencies on earlier flags.
pub(crate) fn live_flag(i: usize, n: usize) -> Value {
    let id = i as i64 + 1;
    let (filters, continuity) = match i % 10 {
        0..=4 => (
            json!({"groups": [
                {"properties": [
                    {"key": "email", "type": "person", "operator": "icontains", "value": format!("@team{i}.example")},
                    {"key": "app_version", "type": "person", "operator": "semver_gte", "value": format!("1.{}.0", i % 30)},
                    {"key": "signed_up_at", "type": "person", "operator": "is_date_after", "value": format!("-{}d", i % 90 + 1)}
                ], "rollout_percentage": i % 101},
                {"properties": [], "rollout_percentage": i % 7}
            ]}),
            false,
        ),
        5 | 6 => (
            json!({
                "groups": [
                    {"properties": [{"key": "plan", "type": "person", "operator": "exact", "value": ["pro", "business"]}], "rollout_percentage": 100, "variant": "test"},
                    {"properties": [], "rollout_percentage": 50}
                ],
                "multivariate": {"variants": [
                    {"key": "control", "rollout_percentage": 50},
                    {"key": "test", "name": "Test", "rollout_percentage": 30},
                    {"key": "test-b", "rollout_percentage": 20}
                ]},
                "payloads": {
                    "test": json!({"colour": "blue", "size": i, "items": ["a", "b", "c"]}).to_string(),
                    "control": json!({"colour": "grey"}).to_string()
                }
            }),
            true,
        ),
        7 => (
            json!({"groups": [{"properties": [
                {"key": "id", "type": "cohort", "operator": "in", "value": 100_000 + (i % 50)},
                {"key": "$browser", "type": "person", "operator": "regex", "value": "^(Chrome|Firefox)"}
            ], "rollout_percentage": 100}]}),
            false,
        ),
        8 => (
            json!({"aggregation_group_type_index": 0, "groups": [{"properties": [
                {"key": "employees", "type": "group", "group_type_index": 0, "operator": "gt", "value": i % 500}
            ], "rollout_percentage": 25}]}),
            false,
        ),
        _ => (
            json!({"groups": [{"properties": [
                {"key": (id - 9).max(1).min(n as i64).to_string(), "type": "flag", "operator": "flag_evaluates_to", "value": true},
                {"key": "country", "type": "person", "operator": "exact", "value": ["DE", "FR"]}
            ], "rollout_percentage": 100}]}),
            false,
        ),
    };
    json!({
        "id": id,
        "key": format!("flag-{i:05}"),
        "name": format!("Generated flag number {i}"),
        "tags": [format!("team-{}", i % 17), "generated"],
        // Dependency targets (i % 10 == 0) stay enabled.
        "active": !i.is_multiple_of(13) || i.is_multiple_of(10),
        "ensure_experience_continuity": continuity,
        "filters": filters,
    })
}

impl RequestLog for FakePosthog {
    fn forget(&self) {
        self.clear_requests();
    }

    fn count(&self) -> usize {
        self.requests().len()
    }
}
