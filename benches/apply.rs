//! Benchmark: `flagops apply` of 1,000 updates against the loopback fakes (PostHog and
//! Mixpanel, `tests/support/`, included below), paced to a configured `rate_limit` while the
//! fake enforces the same budget (a sliding window, 429 past it). Run with
//! `cargo bench --bench apply`.
//!
//! For each vendor (`BENCH_VENDORS=posthog,mixpanel`): `import` 1,000 generated flags
//! (`BENCH_FLAGS` for another count), rename every one in its file, then `apply
//! --auto-approve` twice, each time against a fresh fake:
//!
//! - the baseline: a budget too large to matter, so the figures show how fast flagops would
//!   send without one (its requests, wall time and rate);
//! - paced: `rate_limit.per_minute` set to half the baseline's requests, rounded up
//!   (`BENCH_PER_MINUTE` to choose), so the run spans two windows (about a minute); the fake
//!   answers 429 to any request past that many in the last 60 s. From the fake's request log:
//!   the most requests in any 60 s (against the budget), the time from the first request to
//!   the first one past the budget (the window's length plus what flagops adds: the sustained
//!   rate is the budget per that time), and the 429s received (none, if the pacing holds).
//!
//! Not a timed test: it reports figures and fails only if the apply does not apply every
//! update (the figures would then measure something else).
// A benchmark's failures are bugs of the benchmark: it panics with the reason.
// Counts and rates are shown as floats.
#![allow(
    clippy::unwrap_used,
    clippy::doc_markdown,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

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
#[path = "common/posthog_flags.rs"]
mod posthog_flags;

use std::path::Path;
use std::time::Duration;

use fake_mixpanel::{FakeMixpanel, RequestBudget};
use fake_posthog::{FakePosthog, RateLimitRule, RecordedRequest};

use common::{RequestLog, run, secs};

const POSTHOG_KEY_VAR: &str = "BENCH_POSTHOG_KEY";
const USERNAME_VAR: &str = "BENCH_MIXPANEL_USERNAME";
const SECRET_VAR: &str = "BENCH_MIXPANEL_SECRET";
/// The window of `rate_limit.per_minute`.
const MINUTE: Duration = Duration::from_secs(60);
/// A budget too large to matter (the baseline's).
const UNLIMITED: u32 = 1_000_000;

/// A fake the bench can run an apply against.
trait Fake: RequestLog {
    /// Every request received, in order.
    fn log(&self) -> Vec<RecordedRequest>;
    /// Answer 429 past `max` requests in the last `window` (and forget the earlier ones).
    fn limit(&self, max: u32, window: Duration);
    /// The environment's config, with `rate_limit`.
    fn config(&self, per_minute: u32, per_hour: u32) -> String;
    /// The variables the child needs (the credentials).
    fn envs(&self) -> Vec<(&'static str, &'static str)>;
}

fn main() {
    if common::wrapper() {
        return;
    }
    let n = common::sizes(&[1_000])[0];
    let vendors = std::env::var("BENCH_VENDORS").unwrap_or_else(|_| "posthog,mixpanel".into());
    let runtime = common::runtime();
    for vendor in vendors.split(',').map(str::trim) {
        println!("\n{vendor}: apply of {n} updates (each flag renamed)");
        let start = || -> Box<dyn Fake> {
            match vendor {
                "posthog" => {
                    let fake = runtime.block_on(FakePosthog::start());
                    posthog_flags::seed(&fake, n);
                    Box::new(fake)
                }
                "mixpanel" => {
                    let fake = runtime.block_on(FakeMixpanel::start());
                    fake.seed((0..n).map(mixpanel_flags::live_flag).collect());
                    Box::new(fake)
                }
                other => panic!("unknown vendor {other:?} in BENCH_VENDORS"),
            }
        };
        bench_vendor(start, n);
    }
}

fn bench_vendor(start: impl Fn() -> Box<dyn Fake>, n: usize) {
    let fake = start();
    let baseline = apply(fake.as_ref(), n, UNLIMITED, None);
    let requests = baseline.requests;
    println!(
        "  baseline, no budget to speak of: {} requests in {} ({:.0} requests a minute)",
        requests,
        secs(baseline.wall),
        requests as f64 / baseline.wall.as_secs_f64() * 60.0
    );
    drop(fake);

    let per_minute: u32 = std::env::var("BENCH_PER_MINUTE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| u32::try_from(requests.div_ceil(2)).unwrap());
    let fake = start();
    let paced = apply(fake.as_ref(), n, per_minute, Some(per_minute));
    let log = fake.log();
    let throttled = log.iter().filter(|r| r.status == Some(429)).count();
    let busiest = busiest_window(&log, MINUTE);
    println!(
        "  paced, rate_limit.per_minute {per_minute} (the fake answers 429 past {per_minute} in any 60 s): {} requests in {}",
        paced.requests,
        secs(paced.wall)
    );
    println!(
        "    most requests in any 60 s: {busiest} ({:.1}% of the budget); 429s received: {throttled}",
        100.0 * busiest as f64 / f64::from(per_minute)
    );
    for request in log.iter().filter(|r| r.status == Some(429)).take(3) {
        println!(
            "    429 for request {} of the run ({}), {} after the first",
            log.iter().position(|r| std::ptr::eq(r, request)).unwrap() + 1,
            request.line(),
            secs(request.at.duration_since(log[0].at))
        );
    }
    let accepted: Vec<&RecordedRequest> = log.iter().filter(|r| r.status != Some(429)).collect();
    if let Some(next) = accepted.get(per_minute as usize) {
        let period = next.at.duration_since(accepted[0].at);
        println!(
            "    the first request past the budget was let through {} after the first: sustained {:.0} requests a minute, {:.1}% of the budget",
            secs(period),
            f64::from(per_minute) / period.as_secs_f64() * 60.0,
            100.0 * MINUTE.as_secs_f64() / period.as_secs_f64()
        );
    }
}

/// Import `n` flags from `fake` into a fresh repository whose config sets
/// `rate_limit.per_minute`, rename each in its file, and apply, the fake enforcing `limit`
/// from then on: the apply's figures.
fn apply(fake: &dyn Fake, n: usize, per_minute: u32, limit: Option<u32>) -> common::Figures {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("flagops.yaml"),
        fake.config(per_minute, UNLIMITED),
    )
    .unwrap();
    let flags = repo.path().join("flags");
    std::fs::create_dir_all(&flags).unwrap();
    let envs = fake.envs();
    run(
        fake,
        repo.path(),
        &["import", "--env", "live"],
        &envs,
        |_| {
            assert_eq!(common::count_files(&flags), n);
        },
    );
    rename_all(&flags);
    if let Some(max) = limit {
        fake.limit(max, MINUTE);
    }
    run(
        fake,
        repo.path(),
        &["apply", "--env", "live", "--auto-approve"],
        &envs,
        |out| {
            let done = format!(
                "Apply complete for `live`: {n} applied, 0 already applied, 0 failed, 0 skipped, 0 untouched."
            );
            assert!(
                out.contains(&done),
                "not every update applied:\n{}",
                out.lines().rev().take(5).collect::<Vec<_>>().join("\n")
            );
        },
    )
}

/// Change every flag's name in the imported files.
fn rename_all(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let renamed = text.replace("Generated flag number", "Renamed flag number");
        assert_ne!(text, renamed, "{}", path.display());
        std::fs::write(&path, renamed).unwrap();
    }
}

/// The most requests received within any `window`.
fn busiest_window(log: &[RecordedRequest], window: Duration) -> usize {
    let mut first = 0;
    let mut most = 0;
    for (last, request) in log.iter().enumerate() {
        while request.at.duration_since(log[first].at) >= window {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

impl Fake for FakePosthog {
    fn log(&self) -> Vec<RecordedRequest> {
        self.requests()
    }

    fn limit(&self, max: u32, window: Duration) {
        self.set_rate_limit(Some(RateLimitRule {
            max_requests: max,
            window,
            retry_after_secs: window.as_secs(),
        }));
    }

    fn config(&self, per_minute: u32, per_hour: u32) -> String {
        format!(
            "backend: posthog\nflags: flags/\nenvironments:\n  live:\n    host: {}\n    project_id: {}\n    api_key_env: {POSTHOG_KEY_VAR}\n    rate_limit: {{ per_minute: {per_minute}, per_hour: {per_hour} }}\n",
            self.base_url(),
            fake_posthog::PROJECT_ID
        )
    }

    fn envs(&self) -> Vec<(&'static str, &'static str)> {
        vec![(POSTHOG_KEY_VAR, fake_posthog::WRITE_KEY)]
    }
}

impl Fake for FakeMixpanel {
    fn log(&self) -> Vec<RecordedRequest> {
        self.requests()
    }

    fn limit(&self, max: u32, window: Duration) {
        self.set_budget(Some(RequestBudget {
            max_requests: max,
            window,
        }));
    }

    fn config(&self, per_minute: u32, per_hour: u32) -> String {
        format!(
            "backend: mixpanel\nflags: flags/\nenvironments:\n  live:\n    host: {}\n    project_id: {}\n    username_env: {USERNAME_VAR}\n    secret_env: {SECRET_VAR}\n    rate_limit: {{ per_minute: {per_minute}, per_hour: {per_hour} }}\n",
            self.base_url(),
            fake_mixpanel::PROJECT_ID
        )
    }

    fn envs(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (USERNAME_VAR, fake_mixpanel::SA_USERNAME),
            (SECRET_VAR, fake_mixpanel::SA_SECRET),
        ]
    }
}
