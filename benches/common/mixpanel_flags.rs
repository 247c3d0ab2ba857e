//! The Mixpanel flags the benchmarks seed into the fake, and its request log as they count
//! it (included with `#[path]`).

use serde_json::{Value, json};

use crate::common::RequestLog;
use crate::fake_mixpanel::FakeMixpanel;

/// One flag in the API's form (fractions 0–1): gates with JsonLogic rules, experiments with
/// string variants, sticky treatments and test users, dynamic configs with JSON values per
/// data group, runtime event rules, some disabled, every 50th archived.
pub(crate) fn live_flag(i: usize) -> Value {
    let gate = |on: f64| {
        json!([
            {"key": "off", "value": false, "is_control": true, "split": 1.0 - on},
            {"key": "on", "value": true, "is_control": false, "split": on}
        ])
    };
    let fraction = |percent: usize| percent as f64 / 100.0;
    let (variants, rollout, extra) = match i % 10 {
        0..=4 => (
            gate(1.0),
            json!([
                {"name": "Team", "rollout_percentage": fraction(i % 101),
                 "runtime_evaluation_rule": {"and": [
                    {"in": [format!("@team{i}.example"), {"var": "email"}]},
                    {"semver_compare": [{"var": "app_version"}, ">=", format!("1.{}.0", i % 30)]}
                 ]}},
                {"rollout_percentage": fraction(i % 7)}
            ]),
            json!({}),
        ),
        5 | 6 => (
            json!([
                {"key": "control", "value": "classic", "is_control": true, "split": 0.5},
                {"key": "test", "value": "new", "is_control": false, "split": 0.3, "is_sticky": true},
                {"key": "test-b", "value": "newer", "is_control": false, "split": 0.2, "description": "The second treatment"}
            ]),
            json!([
                {"name": "Paying", "rollout_percentage": 1.0,
                 "variant_splits": {"control": 0.0, "test": 1.0, "test-b": 0.0},
                 "runtime_evaluation_rule": {"in": [{"var": "plan"}, ["pro", "business"]]}},
                {"rollout_percentage": 0.5}
            ]),
            json!({
                "experiment_id": format!("4f1c2a3b-5d6e-4f70-8a9b-{i:012x}"),
                "is_experiment_active": true,
                "test": {"users": {format!("qa-{i}@example.com"): "test"}}
            }),
        ),
        7 => (
            json!([
                {"key": "basic", "value": {"limit": 10, "themes": ["light"]}, "is_control": true, "split": 1.0},
                {"key": "premium", "value": {"limit": 1000 + i, "themes": ["light", "dark"]}, "is_control": false, "split": 0.0}
            ]),
            json!([
                {"rollout_percentage": 1.0, "variant_splits": {"basic": 0.0, "premium": 1.0},
                 "runtime_evaluation_rule": {"==": [{"var": "tier"}, "pro"]}}
            ]),
            json!({"context": "company_id", "data_group_id": 7}),
        ),
        8 => (
            gate(1.0),
            json!([
                {"rollout_percentage": 0.25,
                 "runtime_event_rule": {"event_name": format!("Opened screen {}", i % 40), "time_window": "while_flag_enabled", "duration": "end_of_session"}}
            ]),
            json!({}),
        ),
        _ => (gate(1.0), json!([{"rollout_percentage": 0.1}]), json!({})),
    };
    let status = if i % 50 == 49 {
        "archived"
    } else if i.is_multiple_of(13) {
        "disabled"
    } else {
        "enabled"
    };
    // Every group has its splits (the API's answers always do): a gate's serve "on", others
    // the variants' own.
    let mut rollout = rollout;
    for group in rollout.as_array_mut().unwrap() {
        if group.get("variant_splits").is_none() {
            group["variant_splits"] = variants
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let split = if v["key"] == "off" {
                        json!(0.0)
                    } else if v["key"] == "on" {
                        json!(1.0)
                    } else {
                        v["split"].clone()
                    };
                    (v["key"].as_str().unwrap().to_owned(), split)
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
    }
    let serving = ["client", "server", "remote_or_local"][i % 3];
    let mut flag = json!({
        "key": format!("flag-{i:05}"),
        "name": format!("Generated flag number {i}"),
        "status": status,
        "serving_method": serving,
        "tags": [format!("team-{}", i % 17), "generated"],
        "ruleset": {"variants": variants, "rollout": rollout}
    });
    for (field, value) in extra.as_object().unwrap() {
        if field == "test" {
            flag["ruleset"]["test"] = value.clone();
        } else {
            flag[field] = value.clone();
        }
    }
    flag
}

impl RequestLog for FakeMixpanel {
    fn forget(&self) {
        self.clear_requests();
    }

    fn count(&self) -> usize {
        self.requests().len()
    }
}
