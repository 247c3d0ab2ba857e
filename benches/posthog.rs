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

#[path = "../tests/support/fake_posthog/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::pedantic)]
mod fake_posthog;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use futures_util::StreamExt;
use serde_json::{Value, json};

use fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};

/// The first argument of the wrapper process.
const MEASURE: &str = "--measure";
/// Where the wrapper writes its figures: the last line of its stderr.
const FIGURES: &str = "bench-rusage:";
const KEY_VAR: &str = "BENCH_POSTHOG_KEY";
const SIZES: [usize; 2] = [1_000, 10_000];
/// Requests at once of the per-flag refresh (Terraform's default `-parallelism`).
const REFRESH_PARALLELISM: usize = 10;
/// PostHog's budget per personal API key.
const PER_MINUTE: usize = 480;

/// The figures of one child process.
#[derive(Debug, Clone, Copy)]
struct Figures {
    wall: Duration,
    cpu: Duration,
    user: Duration,
    system: Duration,
    /// Max RSS in bytes.
    peak: u64,
    requests: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(MEASURE) {
        measure(&args[1..]);
        return;
    }
    let latency = Duration::from_millis(
        std::env::var("BENCH_PAGE_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "posthog: loopback fake, every list request answered {} ms late (BENCH_PAGE_LATENCY_MS), {cores} cores available",
        latency.as_millis()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sizes: Vec<usize> = std::env::var("BENCH_FLAGS").map_or_else(
        |_| SIZES.to_vec(),
        |v| v.split(',').map(|n| n.trim().parse().unwrap()).collect(),
    );
    for n in sizes {
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
        &[],
        |out| {
            assert_eq!(count_files(&repo.path().join("flags")), n, "{out}");
        },
    );
    println!("  import:  {}", import.line());

    // The repository alone (no request): the part of a plan's figures that is not the list.
    run(&fake, repo.path(), &["validate"], &[], |_| {});
    let validate = run(&fake, repo.path(), &["validate"], &[], |_| {});
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
        let envs: Vec<(&str, &str)> = concurrency
            .map(|c| ("FLAGOPS_LIST_CONCURRENCY", c))
            .into_iter()
            .collect();
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

/// Run `flagops args…` in `dir` through the wrapper, check its output with `check`, and return
/// its figures and the requests the fake received meanwhile.
fn run(
    fake: &FakePosthog,
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    check: impl Fn(&str),
) -> Figures {
    fake.clear_requests();
    let start = Instant::now();
    let output = Command::new(std::env::current_exe().unwrap())
        .arg(MEASURE)
        .arg(env!("CARGO_BIN_EXE_flagops"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .env(KEY_VAR, WRITE_KEY)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let figures = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(FIGURES))
        .unwrap_or_else(|| panic!("no figures from the wrapper:\n{stderr}"));
    let numbers: Vec<u64> = figures
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [code, user_us, system_us, peak_kb] = numbers[..] else {
        panic!("{figures}");
    };
    assert_eq!(
        code,
        0,
        "`flagops {}` failed:\n{stdout}\n{stderr}",
        args.join(" ")
    );
    check(&stdout);
    let user = Duration::from_micros(user_us);
    let system = Duration::from_micros(system_us);
    Figures {
        wall,
        cpu: user + system,
        user,
        system,
        peak: peak_kb * 1024,
        requests: fake.requests().len(),
    }
}

/// The wrapper: run `args` (a program and its arguments), then write its exit code, user and
/// system CPU time (µs) and max RSS (KiB) on stderr, from `getrusage` of its only child.
fn measure(args: &[String]) {
    use nix::sys::resource::{UsageWho, getrusage};
    let status = Command::new(&args[0]).args(&args[1..]).status().unwrap();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let micros = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    eprintln!(
        "{FIGURES} {} {} {} {}",
        status.code().map_or(255, i32::unsigned_abs),
        micros(usage.user_time()),
        micros(usage.system_time()),
        usage.max_rss()
    );
}

impl Figures {
    fn line(&self) -> String {
        format!(
            "wall {}, CPU {} (user {}, system {}), peak memory {:.0} MB, {} requests",
            secs(self.wall),
            secs(self.cpu),
            secs(self.user),
            secs(self.system),
            self.peak as f64 / 1e6,
            self.requests
        )
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count()
}

/// Seed `n` flags with ids 1…n: the mix of `benches/validate.rs` in PostHog's form.
fn seed(fake: &FakePosthog, n: usize) {
    for cohort in 0..50 {
        fake.add_cohort(PROJECT_ID, 100_000 + cohort, &format!("Cohort {cohort}"));
    }
    fake.seed((0..n).map(|i| live_flag(i, n)).collect());
}

/// One flag: mostly boolean rollouts with person targeting, some experiments with payloads,
/// cohorts and groups, dependencies on earlier flags.
fn live_flag(i: usize, n: usize) -> Value {
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
