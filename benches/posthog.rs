//! Benchmark: `flagops import` and `flagops plan` against the loopback fake PostHog
//! (`tests/support/fake_posthog`, included below), each figure beside its baseline in the same
//! run. Run with `cargo bench --bench posthog`.
//!
//! - The fake holds 1,000 and 10,000 generated flags (`BENCH_FLAGS=200,500` for other sizes) (a realistic mix: person targeting,
//!   experiments with payloads, cohorts, groups, dependencies) and answers every list request
//!   `BENCH_PAGE_LATENCY_MS` late (default 500: a page of 1,000 flags takes time to serve).
//! - `import` writes the repository the plans then compare against (so they show no change);
//!   `validate` of that repository shows what loading it costs, apart from the live flags.
//! - `plan` runs as a child process three ways: pages read at once (the default, 4 at a time),
//!   16 at a time, and one after another (`FLAGOPS_LIST_CONCURRENCY=1`, the baseline). Each
//!   reports wall time, CPU time (user + system) and peak memory (max RSS) of the child, from
//!   `getrusage` in a small wrapper process (this binary again, `--measure`), and the requests
//!   the fake received.
//! - The per-flag refresh baseline (one `GET` per flag, as Terraform providers refresh state)
//!   goes through the same adapter, 10 at a time (Terraform's default parallelism), without
//!   the request budget and without latency (a lower bound); its request count at PostHog's
//!   480 requests a minute gives the time it would really take.
//!
//! Not a timed test: it reports figures and never fails on them (it fails if a plan is not
//! "no changes", since the figures would then measure something else).
// A benchmark's failures are bugs of the benchmark: it panics with the reason.
// Counts and sizes are shown as floats.
#![allow(
    clippy::unwrap_used,
    clippy::doc_markdown,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)]

#[path = "../tests/support/faults.rs"]
#[allow(dead_code, unreachable_pub)]
mod faults;

#[path = "../tests/support/fake_posthog/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::pedantic)]
mod fake_posthog;

#[path = "common/mod.rs"]
mod common;
#[path = "common/posthog_flags.rs"]
mod posthog_flags;

use std::time::{Duration, Instant};

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use futures_util::StreamExt;

use common::{count_files, ratio, run, secs};
use fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};
use posthog_flags::seed;

const KEY_VAR: &str = "BENCH_POSTHOG_KEY";
const SIZES: [usize; 2] = [1_000, 10_000];
/// Requests at once of the per-flag refresh (Terraform's default `-parallelism`).
const REFRESH_PARALLELISM: usize = 10;
/// PostHog's budget per personal API key.
const PER_MINUTE: usize = 480;

fn main() {
    if common::wrapper() {
        return;
    }
    let latency = common::latency("BENCH_PAGE_LATENCY_MS", 500);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "posthog: loopback fake, every list request answered {} ms late (BENCH_PAGE_LATENCY_MS), {cores} cores available",
        latency.as_millis()
    );
    let runtime = common::runtime();
    for n in common::sizes(&SIZES) {
        bench_size(&runtime, n, latency);
    }
}

fn bench_size(runtime: &tokio::runtime::Runtime, n: usize, latency: Duration) {
    let fake = runtime.block_on(FakePosthog::start());
    seed(&fake, n);
    fake.set_list_latency(Some(latency));
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("flagops.yaml"),
        format!(
            "backend: posthog\nflags: flags/\nenvironments:\n  live:\n    host: {}\n    project_id: {PROJECT_ID}\n    api_key_env: {KEY_VAR}\n",
            fake.base_url()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(repo.path().join("flags")).unwrap();
    println!("\n{n} flags");

    let import = run(
        &fake,
        repo.path(),
        &["import", "--env", "live"],
        &[(KEY_VAR, WRITE_KEY)],
        |out| {
            assert_eq!(count_files(&repo.path().join("flags")), n, "{out}");
        },
    );
    println!("  import:  {}", import.line());
    common::hold(repo.path(), &fake.base_url(), &[(KEY_VAR, WRITE_KEY)]);

    // The repository alone (no request): the part of a plan's figures that is not the list.
    run(
        &fake,
        repo.path(),
        &["validate"],
        &[(KEY_VAR, WRITE_KEY)],
        |_| {},
    );
    let validate = run(
        &fake,
        repo.path(),
        &["validate"],
        &[(KEY_VAR, WRITE_KEY)],
        |_| {},
    );
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
    let plan = |concurrency: Option<&str>| {
        let mut envs = vec![(KEY_VAR, WRITE_KEY)];
        envs.extend(concurrency.map(|c| ("FLAGOPS_LIST_CONCURRENCY", c)));
        // The first run warms the file cache; the second is reported.
        run(
            &fake,
            repo.path(),
            &["plan", "--env", "live"],
            &envs,
            no_changes,
        );
        run(
            &fake,
            repo.path(),
            &["plan", "--env", "live"],
            &envs,
            no_changes,
        )
    };
    let parallel = plan(None);
    let wide = plan(Some("16"));
    let sequential = plan(Some("1"));
    println!(
        "  plan, pages at once (default, 4 at a time): {}",
        parallel.line()
    );
    println!(
        "  plan, 16 pages at a time:                   {} ({:.2}x the sequential wall time)",
        wide.line(),
        ratio(wide.wall, sequential.wall)
    );
    println!(
        "  plan, pages one after another (baseline, FLAGOPS_LIST_CONCURRENCY=1): {}",
        sequential.line()
    );
    println!(
        "    pages at once take {:.2}x the wall time of pages one after another",
        ratio(parallel.wall, sequential.wall)
    );

    let (refresh_wall, refresh_requests) = runtime.block_on(per_flag_refresh(&fake, n));
    println!(
        "  per-flag refresh (baseline, {REFRESH_PARALLELISM} GETs at a time, no latency, no budget): wall {}, {refresh_requests} requests; at PostHog's {PER_MINUTE} requests a minute: {:.1} min",
        secs(refresh_wall),
        refresh_requests as f64 / PER_MINUTE as f64
    );
    println!(
        "    the plan makes {} requests, {:.1}% of the refresh's",
        parallel.requests,
        100.0 * parallel.requests as f64 / refresh_requests as f64
    );
}

/// One `GET` per flag through the adapter, after a list that learns the ids (not counted):
/// the wall time and the requests.
async fn per_flag_refresh(fake: &FakePosthog, n: usize) -> (Duration, usize) {
    fake.set_list_latency(None);
    let mut settings = PosthogSettings::new(fake.base_url(), PROJECT_ID, ApiKey::new(WRITE_KEY));
    settings.budgets = Vec::new();
    let backend = PosthogBackend::new(settings).unwrap();
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
