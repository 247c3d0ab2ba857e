//! Every flag of the posthog-go SDK fixtures survives PostHog → model → PostHog.
//!
//! "Without loss", precisely: for each fixture file, the flags are seeded (in management form)
//! into fake A and listed through the adapter into `model::Flag`s; those flags are then created
//! through the adapter in an empty fake B (dependency targets first). For every flag, the
//! stored `filters` of A and B are equal after normalisation (`comparable_filters`: the
//! server's own write normalisation, injected `cohort_name`/`group_key_names` removed, null
//! members and `false`/empty defaults dropped, payload strings parsed, numbers compared as
//! numbers, dependency ids replaced by the target's key, the UI `label` of dependencies
//! ignored), and so are the top-level fields flagops manages. Listing B gives the same
//! model flags as listing A.

use std::path::{Path, PathBuf};

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use flagops::vendor::posthog::Flag;
use serde_json::Value;

use crate::support::fake_posthog::normalize::comparable_filters;
use crate::support::fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};
use flagops::model::VendorFlag as _;

const TOP_LEVEL: [&str; 9] = [
    "name",
    "active",
    "archived",
    "tags",
    "ensure_experience_continuity",
    "evaluation_runtime",
    "bucketing_identifier",
    "is_remote_configuration",
    "has_encrypted_payloads",
];

fn adapter(fake: &FakePosthog) -> PosthogBackend {
    PosthogBackend::new(PosthogSettings::new(
        fake.base_url(),
        PROJECT_ID,
        ApiKey::new(WRITE_KEY),
    ))
    .unwrap()
}

/// The posthog-go SDK fixtures, committed under `tests/fixtures/posthog-go` (MIT; its
/// `README.md` says where they come from). The suite reads nothing outside the repository.
pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/posthog-go")
}

/// Every fixture file (`*.json`), sorted.
pub(crate) fn fixture_files() -> Vec<PathBuf> {
    let dir = fixtures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Flags ordered so that every dependency comes before its dependents.
fn dependency_order(flags: &[Flag]) -> Vec<Flag> {
    let mut done: Vec<Flag> = Vec::new();
    let mut left: Vec<Flag> = flags.to_vec();
    while !left.is_empty() {
        let (ready, rest): (Vec<Flag>, Vec<Flag>) = left.into_iter().partition(|f| {
            f.dependencies()
                .iter()
                .all(|d| done.iter().any(|x| &x.key == d))
        });
        assert!(!ready.is_empty(), "dependency cycle among {rest:?}");
        done.extend(ready);
        left = rest;
    }
    done
}

#[tokio::test]
async fn every_sdk_fixture_flag_round_trips_without_loss() {
    let files = fixture_files();
    assert!(
        files.len() >= 30,
        "expected the posthog-go fixtures in {}",
        fixtures_dir().display()
    );
    let mut flags_checked = 0;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let source = FakePosthog::start().await;
        let set = source.seed_fixture(&file);
        let read = adapter(&source).list().await.unwrap();
        assert!(
            read.unsupported.is_empty(),
            "{name}: {:?}",
            read.unsupported
        );
        assert_eq!(read.flags.len(), set.flags.len(), "{name}");

        let copy = FakePosthog::start().await;
        for (id, cohort) in &set.cohorts {
            copy.add_cohort(PROJECT_ID, *id, cohort);
        }
        let writer = adapter(&copy);
        let model: Vec<Flag> = read.flags.iter().map(|f| f.flag.clone()).collect();
        for flag in dependency_order(&model) {
            writer
                .create(&flag)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }

        let keys_a = source.keys_by_id(PROJECT_ID);
        let keys_b = copy.keys_by_id(PROJECT_ID);
        for original in source.flags() {
            let key = original["key"].as_str().unwrap();
            let created = copy
                .flag(key)
                .unwrap_or_else(|| panic!("{name}: `{key}` missing"));
            assert_eq!(
                comparable_filters(&created["filters"], &|id| keys_b.get(&id).cloned()),
                comparable_filters(&original["filters"], &|id| keys_a.get(&id).cloned()),
                "{name}: filters of `{key}`"
            );
            for field in TOP_LEVEL {
                assert_eq!(
                    created[field], original[field],
                    "{name}: `{field}` of `{key}`"
                );
            }
            flags_checked += 1;
        }
        let reread = adapter(&copy).list().await.unwrap();
        let strip = |flags: Vec<flagops::backend::LiveFlag>| -> Vec<Flag> {
            flags.into_iter().map(|f| f.flag).collect()
        };
        assert_eq!(
            strip(reread.flags),
            model,
            "{name}: model after the round trip"
        );
    }
    assert!(flags_checked >= 44, "only {flags_checked} flags checked");
}

#[tokio::test]
async fn fixture_conversion_rewrites_dependencies_to_ids() {
    let fake = FakePosthog::start().await;
    let set = fake.seed_fixture(&fixtures_dir().join("test-flag-with-dependencies.json"));
    assert_eq!(set.stubs, ["beta-feature"]);
    let dependent = fake.flag("flag-with-dependencies").unwrap();
    let target = fake.flag("beta-feature").unwrap();
    let property = &dependent["filters"]["groups"][0]["properties"][0];
    assert_eq!(property["key"], Value::String(target["id"].to_string()));
    assert!(property.get("dependency_chain").is_none());
    assert!(dependent.get("is_simple_flag").is_none());
}
