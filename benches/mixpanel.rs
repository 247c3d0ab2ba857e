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

#[path = "../tests/support/faults.rs"]
#[allow(dead_code, unreachable_pub)]
mod faults;

#[path = "../tests/support/fake_posthog/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::pedantic)]
mod fake_posthog;

#[path = "../tests/support/fake_mixpanel/mod.rs"]
#[allow(dead_code, unused_imports, unreachable_pub, clippy::pedantic)]
mod fake_mixpanel;

#[path = "common/mod.rs"]
mod common;
#[path = "common/mixpanel_flags.rs"]
mod mixpanel_flags;

use std::time::{Duration, Instant};

use flagops::backend::Backend;
use flagops::backend::mixpanel::{MixpanelBackend, MixpanelSettings, Secret};
use futures_util::StreamExt;

use common::{count_files, run, secs};
use fake_mixpanel::{FakeMixpanel, PROJECT_ID, SA_SECRET, SA_USERNAME};
use mixpanel_flags::live_flag;

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
    let runtime = common::runtime();
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
    common::hold(repo.path(), &fake.base_url(), &envs);

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
