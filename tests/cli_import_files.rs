//! `flagops import` and the files already there: existing files refused without `--force`
//! (nothing written), flags defined in shared files or in files that do not load never
//! duplicated, and keys that make poor file names.

use std::fs;

use serde_json::json;

use crate::cli_import::{posthog_repo, seed_rich, snapshot};
use crate::support::fake_posthog::FakePosthog;
use crate::support::flagops_against_fake;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_existing_files_without_force_and_writes_nothing() {
    let fake = FakePosthog::start().await;
    seed_rich(&fake).await;
    let repo = posthog_repo(&fake);
    repo.write(
        "flags/new-onboarding.yaml",
        "key: new-onboarding\nname: mine\n",
    );
    repo.write(
        "flags/search-ranking-v2.yaml",
        "# hand-written\nkey: search-ranking-v2\n",
    );
    let before = snapshot(repo.path());

    let refused = flagops_against_fake(repo.path(), &["import", "--env", "live"]).await;
    refused.expect_code(1);
    assert_eq!(refused.stdout, "");
    assert_eq!(
        refused.stderr,
        "  flags/new-onboarding.yaml\n  flags/search-ranking-v2.yaml\n\
         error: 2 files already exist; nothing was written\n\
         hint: pass `--force` to overwrite them, or choose flags with `--key`\n"
    );
    assert_eq!(snapshot(repo.path()), before, "nothing may be written");

    // `--force` never drops a person's comment: the commented file is refused, with the
    // reason, and nothing at all is written.
    let commented =
        flagops_against_fake(repo.path(), &["import", "--env", "live", "--force"]).await;
    commented.expect_code(1);
    assert_eq!(commented.stdout, "");
    assert_eq!(
        commented.stderr,
        "  flags/search-ranking-v2.yaml: has comments (line 1) that a rewrite would drop; \
         edit it by hand, or remove the comments and import again\n\
         error: 1 file cannot be rewritten; nothing was written\n"
    );
    assert_eq!(snapshot(repo.path()), before, "nothing may be written");

    repo.write("flags/search-ranking-v2.yaml", "key: search-ranking-v2\n");
    let forced = flagops_against_fake(repo.path(), &["import", "--env", "live", "--force"]).await;
    forced.expect_code(0);
    assert!(
        forced
            .stdout
            .contains("overwrote flags/new-onboarding.yaml\n")
    );
    assert!(
        forced
            .stdout
            .contains("overwrote flags/search-ranking-v2.yaml\n")
    );
    assert!(forced.stdout.contains("wrote flags/company-sso.yaml\n"));
    let onboarding = fs::read_to_string(repo.path().join("flags/new-onboarding.yaml")).unwrap();
    assert!(
        onboarding.contains("name: New onboarding wizard\n"),
        "{onboarding}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_defined_in_a_shared_file_is_never_duplicated() {
    let fake = FakePosthog::start().await;
    seed_rich(&fake).await;
    let repo = posthog_repo(&fake);
    repo.write(
        "flags/billing.yaml",
        "key: billing-new-invoices\n---\nkey: billing-usage-alerts\n",
    );
    repo.write(
        "flags/legacy/kill.yaml",
        "key: kill-switch-payments\nactive: false\n",
    );

    let refused = flagops_against_fake(
        repo.path(),
        &["import", "--env", "live", "--key", "*-*", "--force"],
    )
    .await;
    refused.expect_code(1);
    assert!(
        refused.stderr.contains(
            "  `billing-new-invoices` is defined in `flags/billing.yaml` with 1 other flag\n"
        ) && refused
            .stderr
            .contains("error: 2 flags are already defined in files holding several flags; nothing was written\n"),
        "{}",
        refused.stderr
    );
    assert!(!repo.path().join("flags/ai-assistant-beta.yaml").exists());

    // A file holding only that flag is the flag's file: `--force` rewrites it in place.
    let kill = flagops_against_fake(
        repo.path(),
        &["import", "--env", "live", "--key", "kill-*", "--force"],
    )
    .await;
    kill.expect_code(0);
    assert!(
        kill.stdout
            .starts_with("overwrote flags/legacy/kill.yaml\n"),
        "{}",
        kill.stdout
    );
    let text = fs::read_to_string(repo.path().join("flags/legacy/kill.yaml")).unwrap();
    assert!(
        text.starts_with(
            "# yaml-language-server: $schema=../../schemas/posthog-flag.schema.json\n"
        ),
        "{text}"
    );
    assert!(!repo.path().join("flags/kill-switch-payments.yaml").exists());
}

/// Keys PostHog accepts but that make poor file names: up to 400 characters (most file
/// systems allow 255 bytes per name) and keys that differ only in case (one file on macOS
/// and Windows). Each gets a file of its own; plan then shows no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_keys_and_keys_differing_in_case_get_files_of_their_own() {
    let fake = FakePosthog::start().await;
    let long = "k".repeat(400);
    let group = json!({"groups": [{"properties": [], "rollout_percentage": 100}]});
    fake.seed(vec![
        json!({"key": "Beta", "filters": group}),
        json!({"key": "beta", "filters": group}),
        json!({"key": long, "filters": group}),
    ]);
    let repo = posthog_repo(&fake);
    let run = flagops_against_fake(repo.path(), &["import", "--env", "live"]).await;
    run.expect_code(0);
    let files: Vec<String> = snapshot(&repo.path().join("flags")).into_keys().collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut lower: Vec<String> = files.iter().map(|f| f.to_lowercase()).collect();
    lower.dedup();
    assert_eq!(lower.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.len() <= 255), "{files:?}");
    assert!(files.contains(&"Beta.yaml".to_owned()), "{files:?}");
    for file in &files {
        assert!(
            run.stdout.contains(&format!("wrote flags/{file}\n")),
            "{}",
            run.stdout
        );
    }
    flagops_against_fake(
        repo.path(),
        &["plan", "--env", "live", "--detailed-exitcode"],
    )
    .await
    .expect_code(0);
    // Importing again finds each flag in its file.
    let first = snapshot(repo.path());
    flagops_against_fake(repo.path(), &["import", "--env", "live", "--force"])
        .await
        .expect_code(0);
    assert_eq!(snapshot(repo.path()), first);
}

/// A flag already defined in a file that does not load (a schema error) is still the
/// repository's: importing it elsewhere would define it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_defined_in_a_file_that_does_not_load_is_not_imported_twice() {
    let fake = FakePosthog::start().await;
    let group = json!({"groups": [{"properties": [], "rollout_percentage": 100}]});
    fake.seed(vec![
        json!({"key": "broken", "filters": group}),
        json!({"key": "fine", "filters": group}),
    ]);
    let repo = posthog_repo(&fake);
    repo.write("flags/team/broken.yaml", "key: broken\nrollout: 50\n");
    let before = snapshot(repo.path());

    let run = flagops_against_fake(repo.path(), &["import", "--env", "live", "--force"]).await;
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "  `broken` is defined in a file that does not load (see `flagops validate`)\n\
         error: 1 flag is already defined in files that do not load; nothing was written\n\
         hint: fix those files, or leave those flags out with `--key`\n"
    );
    assert_eq!(snapshot(repo.path()), before);
}

/// Importing more flags than the process may hold open files (a soft limit of 64, where
/// macOS allows 256 by default): each staged file is closed once written, so every flag is
/// imported.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_more_flags_than_open_files_allowed_writes_them_all() {
    let fake = FakePosthog::start().await;
    fake.seed(
        (0..300)
            .map(|i| json!({"key": format!("flag-{i:03}"), "filters": {"groups": []}}))
            .collect(),
    );
    let repo = posthog_repo(&fake);
    let dir = repo.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", "ulimit -n 64 && exec \"$0\" import --env live"])
            .arg(env!("CARGO_BIN_EXE_flagops"))
            .current_dir(&dir)
            .env_clear()
            .env("NO_COLOR", "1")
            .env(
                crate::support::FAKE_KEY_VAR,
                crate::support::fake_posthog::WRITE_KEY,
            )
            .output()
            .expect("run flagops under sh")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let written = fs::read_dir(repo.path().join("flags"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert_eq!(written, 300, "{stderr}");
}
