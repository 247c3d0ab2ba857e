//! Benchmark: full `validate` (load + schema + rules) over a generated repository of 10,000
//! flags. Run with `cargo bench --bench validate`; the target is under one second.
//!
//! Not a timed test: it reports figures and never fails on them.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The binary's allocator (see `src/main.rs`), so that the figure is the command's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FLAGS: usize = 10_000;
const ITERATIONS: usize = 7;

const CONFIG: &str = "\
backend: posthog
flags: flags/
environments:
  staging:
    host: https://us.posthog.com
    project_id: 1
    api_key_env: POSTHOG_API_KEY_STAGING
  production:
    host: https://eu.posthog.com
    project_id: 2
    api_key_env: POSTHOG_API_KEY_PROD
    prune: true
    max_deletes: 5
";

/// One flag document; the mix follows what a real project holds: mostly boolean rollouts
/// with person targeting, some experiments, cohorts and groups, dependencies, overrides.
fn flag(i: usize) -> String {
    let key = format!("flag-{i:05}");
    let mut y = format!(
        "key: {key}\nname: Generated flag number {i}\ntags: [team-{}, generated]\n",
        i % 17
    );
    match i % 10 {
        0..=4 => {
            let _ = write!(
                y,
                "conditions:\n  - properties:\n      - {{ type: person, key: email, operator: icontains, value: \"@team{i}.example\" }}\n      \
                 - {{ type: person, key: app_version, operator: semver_gte, value: \"1.{}.0\" }}\n      \
                 - {{ type: person, key: signed_up_at, operator: is_date_after, value: \"-{}d\" }}\n    rollout_percentage: {}\n  \
                 - rollout_percentage: {}\n",
                i % 30,
                i % 90 + 1,
                i % 101,
                i % 7
            );
        }
        5 | 6 => {
            let _ = write!(
                y,
                "ensure_experience_continuity: true\nconditions:\n  - properties:\n      - {{ type: person, key: plan, operator: exact, value: [pro, business] }}\n    \
                 variant: test\n  - rollout_percentage: 50\nvariants:\n  - {{ key: control, rollout_percentage: 50 }}\n  \
                 - {{ key: test, name: Test, rollout_percentage: 30 }}\n  - {{ key: test-b, rollout_percentage: 20 }}\n\
                 payloads:\n  test: {{ colour: blue, size: {i}, items: [a, b, c] }}\n  control: {{ colour: grey }}\n"
            );
        }
        7 => {
            let _ = write!(
                y,
                "conditions:\n  - properties:\n      - {{ type: cohort, key: id, operator: in, value: {} }}\n      \
                 - {{ type: person, key: $browser, operator: regex, value: \"^(Chrome|Firefox)\" }}\n",
                1000 + i
            );
        }
        8 => {
            let _ = write!(
                y,
                "aggregation_group_type_index: 0\nconditions:\n  - properties:\n      \
                 - {{ type: group, group_type_index: 0, key: employees, operator: gt, value: {} }}\n    rollout_percentage: 25\n",
                i % 500
            );
        }
        _ => {
            // Depends on two earlier flags: a chain through `type: flag` plus `depends_on`.
            let a = format!("flag-{:05}", i.saturating_sub(9));
            let b = format!("flag-{:05}", i / 2);
            let _ = write!(
                y,
                "depends_on: [{b}]\nconditions:\n  - properties:\n      - {{ type: flag, flag: {a}, value: true }}\n      \
                 - {{ type: person, key: country, operator: exact, value: [DE, FR] }}\n"
            );
        }
    }
    if i.is_multiple_of(5) {
        y.push_str("environments:\n  staging:\n    conditions:\n      - rollout_percentage: 100\n  production:\n    active: true\n");
    }
    y
}

fn generate(dir: &Path) -> usize {
    std::fs::write(dir.join("flagops.yaml"), CONFIG).expect("write config");
    let mut files = 0;
    let mut i = 0;
    while i < FLAGS {
        let team = dir.join("flags").join(format!("team-{:02}", i % 17));
        std::fs::create_dir_all(&team).expect("create dir");
        // Every 25th file holds three flags as separate documents.
        let docs = if i % 25 == 0 { 3.min(FLAGS - i) } else { 1 };
        let text: Vec<String> = (i..i + docs).map(flag).collect();
        std::fs::write(team.join(format!("flag-{i:05}.yaml")), text.join("---\n"))
            .expect("write flag");
        files += 1;
        i += docs;
    }
    files
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = generate(dir.path());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("validate: {FLAGS} flags in {files} files, {cores} cores available");

    let mut times: Vec<Duration> = Vec::new();
    for round in 0..=ITERATIONS {
        let start = Instant::now();
        let repo = flagops::source::load::<flagops::vendor::posthog::Flag>(dir.path(), None)
            .expect("generated config is valid");
        let findings = flagops::rules::validate(&repo);
        let elapsed = start.elapsed();
        assert_eq!(repo.flags.len(), FLAGS);
        assert!(
            findings.is_empty(),
            "the generated repository has findings: {:?}",
            &findings[..findings.len().min(3)]
        );
        if round == 0 {
            println!("  warm-up: {elapsed:.3?}");
        } else {
            times.push(elapsed);
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let min = times[0];
    println!(
        "  {ITERATIONS} iterations: median {median:.3?}, min {min:.3?}, max {:.3?}",
        times[times.len() - 1]
    );
}
