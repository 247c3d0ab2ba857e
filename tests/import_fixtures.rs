//! Import round trip over every flag of the posthog-go SDK fixtures (`tests/fixtures/
//! posthog-go`): each file is seeded into a fresh fake PostHog in management form, `flagops
//! import` writes the repository, `flagops validate` reports exactly the fixtures' real rule
//! violations, and the plan against the same fake is empty.

use std::collections::BTreeMap;

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use flagops::config::Environment;
use flagops::model::VendorFlag as _;
use flagops::vendor::posthog::Flag;
use serde_json::Value;

use crate::posthog_fixtures::fixture_files;
use crate::support::fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};
use crate::support::{Repo, flagops_against_fake, posthog_repo_config};

/// The rule findings each fixture really deserves, as `severity code flag`; every other
/// fixture validates clean. Why each is right (checked against the fixture's JSON):
/// - `test-api-feature-flag`: `enabled-flag` is a boolean flag with a payload under `"false"`;
///   a boolean flag only serves the `true` payload (the fixture README names this one);
/// - `test-feature-flags-dont-fallback…`: both flags aggregate by group type 0 but filter on a
///   cohort and on a person property, which a group-aggregated condition cannot match;
/// - `test-variant-override-invalid`: both conditions force variants (`second???`,
///   `first???`) that the flag does not define — the fixture tests that the evaluator ignores
///   them.
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "test-api-feature-flag.json",
        &["error payload-key enabled-flag"],
    ),
    (
        "test-feature-flags-dont-fallback-to-decide-when-only-local-evaluation-is-true.json",
        &[
            "error aggregation beta-feature",
            "error aggregation beta-feature2",
        ],
    ),
    (
        "test-variant-override-invalid.json",
        &[
            "error variant-override beta-feature",
            "error variant-override beta-feature",
        ],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sdk_fixture_flag_imports_validates_and_plans_without_changes() {
    let files = fixture_files();
    assert!(files.len() >= 30, "expected the posthog-go fixtures");
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut flags_imported = 0;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let fake = FakePosthog::start().await;
        let set = fake.seed_fixture(&file);
        let repo = Repo::empty();
        repo.write("flagops.yaml", posthog_repo_config(&fake.base_url()));

        let import = flagops_against_fake(repo.path(), &["import", "--env", "live"]).await;
        import.expect_code(0);
        assert!(import.stderr.is_empty(), "{name}: {}", import.stderr);
        let wrote = import
            .stdout
            .lines()
            .filter(|l| l.starts_with("wrote flags/"))
            .count();
        assert_eq!(wrote, set.flags.len(), "{name}: {}", import.stdout);
        flags_imported += wrote;

        let validate = flagops_against_fake(repo.path(), &["validate", "--format", "json"]).await;
        let report: Value = serde_json::from_str(&validate.stdout).unwrap();
        let mut errors = 0;
        for finding in report["findings"].as_array().unwrap() {
            if finding["severity"] == "error" {
                errors += 1;
            }
            found.entry(name.clone()).or_default().push(format!(
                "{} {} {}",
                finding["severity"].as_str().unwrap(),
                finding["code"].as_str().unwrap(),
                finding["flag"].as_str().unwrap_or("-"),
            ));
        }
        // No schema problem: every imported file has the shape flagops reads.
        assert!(
            !validate.stdout.contains("\"code\": \"schema\""),
            "{name}: {}",
            validate.stdout
        );

        // The plan, computed from the files as loaded (whatever the rules say).
        let loaded =
            flagops::source::load::<flagops::vendor::posthog::Flag>(repo.path(), None).unwrap();
        let mut desired: Vec<Flag> = loaded
            .flags
            .iter()
            .map(|f| f.spec.resolve(Some("live")).0)
            .collect();
        let adapter = PosthogBackend::new(PosthogSettings::new(
            fake.base_url(),
            PROJECT_ID,
            ApiKey::new(WRITE_KEY),
        ))
        .unwrap();
        // Import wrote cohorts and group types by name: resolved as `plan` does.
        let mut needs = flagops::model::Needs::default();
        for flag in &desired {
            needs.add(flag.catalogue_needs());
        }
        let catalogue = adapter.catalogue(&needs).await.unwrap();
        for flag in &mut desired {
            assert_eq!(flag.resolve_names(&catalogue), Vec::new(), "{name}");
        }
        let live = adapter.list().await.unwrap();
        let plan = flagops::plan::build(&desired, &live, &Environment::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(plan.steps.is_empty(), "{name}: {:#?}", plan.steps);
        assert_eq!(plan.unchanged.len(), set.flags.len(), "{name}");

        // Through the binary too, when the rules let `plan` run.
        if errors == 0 {
            let plan = flagops_against_fake(
                repo.path(),
                &["plan", "--env", "live", "--detailed-exitcode"],
            )
            .await;
            plan.expect_code(0);
            assert!(
                plan.stdout.contains("no changes"),
                "{name}: {}",
                plan.stdout
            );
        }
    }
    let expected: BTreeMap<String, Vec<String>> = EXPECTED
        .iter()
        .map(|(file, findings)| {
            (
                (*file).to_owned(),
                findings.iter().map(|f| (*f).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(found, expected);
    assert!(flags_imported >= 44, "only {flags_imported} flags imported");
}
