//! Benchmark: `flagops import` and `flagops plan` against the loopback fake Mixpanel
//! (`tests/support/fake_mixpanel`, included below), each figure beside its baseline in the
//! same run. Run with `cargo bench --bench mixpanel`.
//!
//! - The fake holds 1,000 and 10,000 generated flags (`BENCH_FLAGS=200,500` for other sizes):
//!   a mix of gates with JsonLogic rules, experiments with string variants and test users,
//!   dynamic configs with JSON values by data group, runtime event rules, disabled and archived
//!   flags. It answers every list request `BENCH_LIST_LATENCY_MS` late (default 500: Mixpanel's
//!   list has no pages, so all the flags come in one answer).
//! - `import` writes the repository the plans then compare against (so they show no change);
//!   `validate` of that repository shows what loading it costs, apart from the live flags.
//! - `plan` runs as a child process without `workspace_id`: two requests, the workspace
//!   lookup and the list. Figures as in `benches/posthog.rs` (the wrapper of
//!   `benches/common/`): wall time, the child's CPU time and peak memory, the requests the fake
//!   received.
//! - The per-flag refresh baseline (one `GET` per flag, as Terraform providers refresh state)
//!   goes through the same adapter, 10 at a time, without the request budget and without
//!   latency (a lower bound); its request count at the budget flagops keeps to by default (60
//!   an hour; Mixpanel publishes none) gives the time it would take.
//!
//! Not a timed test: it reports figures and never fails on them (it fails if a plan is not
//! "no changes", since the figures would then measure something else).
// A benchmark's failures are bugs of the benchmark: it panics with the reason.
// Counts and sizes are shown as floats.
#![allow(clippy::unwrap_used, clippy::doc_markdown, clippy::cast_precision_loss)]

#[path = "../tests/support/fake_posthog/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::pedantic)]
mod fake_posthog;

#[path = "../tests/support/fake_mixpanel/mod.rs"]
#[allow(dead_code, unused_imports, unreachable_pub, clippy::pedantic)]
mod fake_mixpanel;

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use flagops::backend::Backend;
use flagops::backend::mixpanel::{MixpanelBackend, MixpanelSettings, Secret};
use futures_util::StreamExt;
use serde_json::{Value, json};

use common::{RequestLog, count_files, run, secs};
use fake_mixpanel::{FakeMixpanel, PROJECT_ID, SA_SECRET, SA_USERNAME};

const USERNAME_VAR: &str = "BENCH_MIXPANEL_USERNAME";
const SECRET_VAR: &str = "BENCH_MIXPANEL_SECRET";
const SIZES: [usize; 2] = [1_000, 10_000];
/// Requests at once of the per-flag refresh (Terraform's default `-parallelism`).
const REFRESH_PARALLELISM: usize = 10;
/// The budget flagops keeps to on Mixpanel by default (`backend::mixpanel::RATE_LIMIT`).
const PER_HOUR: usize = 60;

fn main() {
    if common::wrapper() {
        return;
    }
    let latency = common::latency("BENCH_LIST_LATENCY_MS", 500);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "mixpanel: loopback fake, every list request answered {} ms late (BENCH_LIST_LATENCY_MS), {cores} cores available",
        latency.as_millis()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for n in common::sizes(&SIZES) {
        bench_size(&runtime, n, latency);
    }
}

fn bench_size(runtime: &tokio::runtime::Runtime, n: usize, latency: Duration) {
    let fake = runtime.block_on(FakeMixpanel::start());
    fake.seed((0..n).map(live_flag).collect());
    fake.set_list_latency(Some(latency));
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("flagops.yaml"),
        format!(
            "backend: mixpanel\nflags: flags/\nenvironments:\n  live:\n    host: {}\n    project_id: {PROJECT_ID}\n    username_env: {USERNAME_VAR}\n    secret_env: {SECRET_VAR}\n",
            fake.base_url()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(repo.path().join("flags")).unwrap();
    let envs = [(USERNAME_VAR, SA_USERNAME), (SECRET_VAR, SA_SECRET)];
    println!("\n{n} flags");

    let import = run(
        &fake,
        repo.path(),
        &["import", "--env", "live"],
        &envs,
        |out| {
            assert_eq!(count_files(&repo.path().join("flags")), n, "{out}");
        },
    );
    println!("  import:  {}", import.line());

    // The repository alone (no request): the part of a plan's figures that is not the list.
    run(&fake, repo.path(), &["validate"], &envs, |_| {});
    let validate = run(&fake, repo.path(), &["validate"], &envs, |_| {});
    println!(
        "  validate (the repository alone, for reference): {}",
        validate.line()
    );

    let no_changes = |out: &str| {
        assert!(
            out.contains(&format!("({n} flags in sync)")),
            "the plan is not `no changes`:\n{out}"
        );
    };
    // The first run warms the file cache; the second is reported.
    let args = ["plan", "--env", "live"];
    run(&fake, repo.path(), &args, &envs, no_changes);
    let plan = run(&fake, repo.path(), &args, &envs, no_changes);
    println!(
        "  plan (the workspace lookup and one list): {}",
        plan.line()
    );

    let (refresh_wall, refresh_requests) = runtime.block_on(per_flag_refresh(&fake, n));
    println!(
        "  per-flag refresh (baseline, {REFRESH_PARALLELISM} GETs at a time, no latency, no budget): wall {}, {refresh_requests} requests; at flagops' default {PER_HOUR} requests an hour: {:.1} h",
        secs(refresh_wall),
        refresh_requests as f64 / PER_HOUR as f64
    );
    println!(
        "    the plan makes {} requests, {:.2}% of the refresh's",
        plan.requests,
        100.0 * plan.requests as f64 / refresh_requests as f64
    );
}

/// One `GET` per flag through the adapter, after a list that learns the ids (not counted):
/// the wall time and the requests.
async fn per_flag_refresh(fake: &FakeMixpanel, n: usize) -> (Duration, usize) {
    fake.set_list_latency(None);
    let mut settings = MixpanelSettings::new(
        fake.base_url(),
        PROJECT_ID,
        SA_USERNAME,
        Secret::new(SA_SECRET),
    );
    settings.budgets = Vec::new();
    let backend = MixpanelBackend::new(settings).unwrap();
    let keys: Vec<String> = backend
        .list()
        .await
        .unwrap()
        .flags
        .into_iter()
        .map(|f| f.flag.key)
        .collect();
    assert_eq!(keys.len(), n);
    fake.clear_requests();
    let start = Instant::now();
    let read: Vec<_> = futures_util::stream::iter(&keys)
        .map(|key| backend.get(key))
        .buffer_unordered(REFRESH_PARALLELISM)
        .collect()
        .await;
    let wall = start.elapsed();
    assert!(read.iter().all(|r| matches!(r, Ok(Some(_)))));
    (wall, fake.requests().len())
}

/// One flag in the API's form (fractions 0–1): gates with JsonLogic rules, experiments with
/// string variants, sticky treatments and test users, dynamic configs with JSON values per
/// data group, runtime event rules, some disabled, every 50th archived.
fn live_flag(i: usize) -> Value {
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
    } else if i % 13 == 0 {
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
