//! Golden files: the exact bytes flagops writes today for a fixed repository and a fixed live
//! state, pinned before the core is made vendor-neutral (issue 11), so that no refactor changes
//! what PostHog and local users get.
//!
//! The repository is `tests/golden/repo` (a frozen copy of `examples/posthog`, with a local
//! config); the live state is `tests/golden/local/state.json` for the local backend and
//! `tests/golden/posthog/live.json` (management form, fixed ids and versions) seeded into the
//! fake PostHog. Pinned: the saved plan (`plan --out`) with its fingerprints and digests, the
//! apply report (JSON and human), the state after the apply, and the files `import` writes.
//! Only what is inherently variable is normalised: `metadata.created_at` (the clock) and, for
//! the fake, the config hash (the config names the fake's random port).
//!
//! `tests/golden/local/plan-0.1.0.json` is a plan saved by flagops 0.1.0: it is never
//! regenerated, and must stay accepted and applied by `apply PLAN_FILE`.
//!
//! After an intended change of output, `FLAGOPS_UPDATE_GOLDEN=1 cargo test golden` rewrites
//! the golden files (not the 0.1.0 plan); review the diff before committing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::fake_posthog::{FakePosthog, PROJECT_ID};
use crate::support::{FAKE_KEY_VAR, Run, crate_dir, flagops, flagops_against_fake};

/// When the creation time of a normalised plan is replaced with.
const FIXED_CREATED_AT: &str = "2026-01-01T00:00:00Z";

fn golden_dir() -> PathBuf {
    crate_dir().join("tests/golden")
}

/// Compare `actual` with the golden file `name` (under `tests/golden`), or write it when
/// `FLAGOPS_UPDATE_GOLDEN` is set.
#[track_caller]
fn check(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("FLAGOPS_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read golden file {}: {e}", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n--- golden ---\n{}\n--- actual ---\n{}\n(FLAGOPS_UPDATE_GOLDEN=1 rewrites it after an intended change)",
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            actual.lines().nth(first).unwrap_or("<end>"),
        );
    }
}

/// Copy the directory `from` into `to` (created).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// Every file under `dir` (relative path → text), skipping `skip` (relative paths).
fn files(dir: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(
                    relative.replace('\\', "/"),
                    fs::read_to_string(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out.retain(|path, _| !skip.iter().any(|s| path.starts_with(s)));
    out
}

/// A copy of the fixed repository (outside any git repository, so plans record no commit),
/// with `state` as the local backend's state file when given.
fn fixed_repo(state: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&golden_dir().join("repo"), dir.path());
    if let Some(state) = state {
        fs::create_dir_all(dir.path().join(".flagops")).unwrap();
        fs::copy(
            golden_dir().join(state),
            dir.path().join(".flagops/state.json"),
        )
        .unwrap();
    }
    dir
}

/// The saved plan with its creation time (checked to be an RFC 3339 UTC second) fixed.
#[track_caller]
fn fix_created_at(plan: &str) -> String {
    let value: Value = serde_json::from_str(plan).unwrap();
    let created = value["metadata"]["created_at"].as_str().unwrap();
    assert!(
        created.len() == FIXED_CREATED_AT.len() && created.ends_with('Z'),
        "created_at {created:?} is not an RFC 3339 UTC second"
    );
    let field = |at: &str| format!("\"created_at\": \"{at}\"");
    assert_eq!(plan.matches(&field(created)).count(), 1);
    plan.replace(&field(created), &field(FIXED_CREATED_AT))
}

/// One line per digest of a saved plan: each live fingerprint and masked payload digest.
fn digests(plan: &str) -> String {
    let value: Value = serde_json::from_str(plan).unwrap();
    let mut out = format!("config {}\n", value["metadata"]["config"]["sha256"]);
    for step in value["steps"].as_array().unwrap() {
        let key = step["key"].as_str().unwrap();
        if let Some(fingerprint) = step["live"]["fingerprint"].as_str() {
            out.push_str(&format!("{key} live {fingerprint}\n"));
        }
        if let Some(masked) = step["masked_payloads"].as_object() {
            for (payload, digest) in masked {
                out.push_str(&format!(
                    "{key} payload {payload} {}\n",
                    digest.as_str().unwrap()
                ));
            }
        }
    }
    out
}

#[track_caller]
fn ok(run: &Run) -> &Run {
    run.expect_code(0)
}

#[test]
fn local_plan_apply_and_state_bytes_are_pinned() {
    let repo = fixed_repo(Some("local/state.json"));
    let planned = ok(&flagops(
        repo.path(),
        &[
            "plan",
            "--env",
            "production",
            "--out",
            "plan.json",
            "--format",
            "json",
        ],
    ))
    .stdout
    .clone();
    let saved = fs::read_to_string(repo.path().join("plan.json")).unwrap();
    assert_eq!(planned, saved, "--format json prints what --out saves");
    check("local/plan.json", &fix_created_at(&saved));
    check("local/digests.txt", &digests(&saved));

    let applied = flagops(
        repo.path(),
        &[
            "apply",
            "--env",
            "production",
            "plan.json",
            "--format",
            "json",
        ],
    );
    check("local/apply.json", &ok(&applied).stdout);
    check(
        "local/state-after.json",
        &fs::read_to_string(repo.path().join(".flagops/state.json")).unwrap(),
    );

    // The same changes without a saved plan, reported in words (the plan, then the steps).
    let words = fixed_repo(Some("local/state.json"));
    let applied = flagops(
        words.path(),
        &["apply", "--env", "production", "--auto-approve"],
    );
    check("local/apply.txt", &ok(&applied).stdout);
    assert_eq!(
        fs::read_to_string(words.path().join(".flagops/state.json")).unwrap(),
        fs::read_to_string(repo.path().join(".flagops/state.json")).unwrap()
    );
}

#[test]
fn a_plan_saved_by_flagops_0_1_0_is_still_applied() {
    let repo = fixed_repo(Some("local/state.json"));
    fs::copy(
        golden_dir().join("local/plan-0.1.0.json"),
        repo.path().join("plan.json"),
    )
    .unwrap();
    let applied = flagops(
        repo.path(),
        &[
            "apply",
            "--env",
            "production",
            "plan.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        ok(&applied).stdout,
        fs::read_to_string(golden_dir().join("local/apply.json")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(repo.path().join(".flagops/state.json")).unwrap(),
        fs::read_to_string(golden_dir().join("local/state-after.json")).unwrap()
    );
    // Applying it again converges: every step is found done.
    let again = flagops(
        repo.path(),
        &[
            "apply",
            "--env",
            "production",
            "plan.json",
            "--format",
            "json",
        ],
    );
    let report: Value = serde_json::from_str(&ok(&again).stdout).unwrap();
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "applied" && s["already_applied"] == true),
        "{report}"
    );
}

#[test]
fn local_import_bytes_are_pinned() {
    let repo = tempfile::tempdir().unwrap();
    fs::copy(
        golden_dir().join("repo/flagops.yaml"),
        repo.path().join("flagops.yaml"),
    )
    .unwrap();
    fs::create_dir_all(repo.path().join(".flagops")).unwrap();
    fs::copy(
        golden_dir().join("local/state.json"),
        repo.path().join(".flagops/state.json"),
    )
    .unwrap();
    let run = flagops(repo.path(), &["import", "--env", "production"]);
    check("local/import.txt", &ok(&run).stdout);
    check_imported(repo.path(), "local/import");
}

/// The files `import` wrote under `dir`: flag files as golden files under `golden`, the
/// schema as the committed one.
#[track_caller]
fn check_imported(dir: &Path, golden: &str) {
    let mut written = files(dir, &["flagops.yaml", ".flagops"]);
    let schema = written.remove("schemas/posthog-flag.schema.json").unwrap();
    assert_eq!(
        schema,
        fs::read_to_string(crate_dir().join("schemas/posthog-flag.schema.json")).unwrap()
    );
    if std::env::var_os("FLAGOPS_UPDATE_GOLDEN").is_some() {
        let _ = fs::remove_dir_all(golden_dir().join(golden));
    } else {
        let expected = files(&golden_dir().join(golden), &[]);
        assert_eq!(
            written.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
    }
    for (path, text) in &written {
        check(&format!("{golden}/{path}"), text);
    }
}

/// The fixed repository's policies, pointed at the fake PostHog.
fn posthog_config(base_url: &str) -> String {
    format!(
        "backend: posthog\nflags: flags/\nenvironments:\n  staging:\n    host: {base_url}\n    project_id: {PROJECT_ID}\n    api_key_env: {FAKE_KEY_VAR}\n  production:\n    host: {base_url}\n    project_id: {PROJECT_ID}\n    api_key_env: {FAKE_KEY_VAR}\n    prune: true\n    max_deletes: 5\n    protect: [billing-*]\n    ignore: [evaluation_contexts]\n"
    )
}

/// A fake PostHog holding the fixed live state (`tests/golden/posthog/live.json`).
async fn seeded_fake() -> FakePosthog {
    let fake = FakePosthog::start().await;
    fake.add_cohort(PROJECT_ID, 1842, "Enterprise accounts");
    fake.add_cohort(PROJECT_ID, 1907, "Churn risk");
    let live: Vec<Value> =
        serde_json::from_str(&fs::read_to_string(golden_dir().join("posthog/live.json")).unwrap())
            .unwrap();
    fake.seed(live);
    fake
}

/// The fixed repository with the config pointing at `fake`, outside any git repository.
fn posthog_repo(fake: &FakePosthog) -> tempfile::TempDir {
    let repo = fixed_repo(None);
    fs::write(
        repo.path().join("flagops.yaml"),
        posthog_config(&fake.base_url()),
    )
    .unwrap();
    repo
}

/// The saved plan with the config hash (which covers the fake's port) checked and fixed.
#[track_caller]
fn fix_config_hash(plan: &str, repo: &Path) -> String {
    let config = fs::read(repo.join("flagops.yaml")).unwrap();
    let hash = flagops::plan::sha256(&config);
    assert_eq!(plan.matches(&hash).count(), 1);
    plan.replace(&hash, "sha256:<config naming the fake's port>")
}

#[tokio::test(flavor = "multi_thread")]
async fn posthog_plan_apply_and_import_bytes_are_pinned() {
    let fake = seeded_fake().await;
    let repo = posthog_repo(&fake);
    let planned = flagops_against_fake(
        repo.path(),
        &[
            "plan",
            "--env",
            "production",
            "--out",
            "plan.json",
            "--format",
            "json",
        ],
    )
    .await;
    let saved = fs::read_to_string(repo.path().join("plan.json")).unwrap();
    assert_eq!(ok(&planned).stdout, saved);
    let fixed = fix_config_hash(&fix_created_at(&saved), repo.path());
    check("posthog/plan.json", &fixed);
    check(
        "posthog/digests.txt",
        &fix_config_hash(&digests(&saved), repo.path()),
    );

    fake.clear_requests();
    let applied = flagops_against_fake(
        repo.path(),
        &[
            "apply",
            "--env",
            "production",
            "plan.json",
            "--format",
            "json",
            "--concurrency",
            "1",
        ],
    )
    .await;
    check("posthog/apply.json", &ok(&applied).stdout);
    let mut requests = String::new();
    for r in fake.requests() {
        let body = r.body.as_ref().map(|b| format!(" {b}")).unwrap_or_default();
        requests.push_str(&format!("{} {}{body}\n", r.line(), r.status.unwrap_or(0)));
    }
    check("posthog/apply-requests.txt", &requests);

    // The same changes without a saved plan, reported in words, on a fresh fake.
    let fake = seeded_fake().await;
    let repo = posthog_repo(&fake);
    let applied = flagops_against_fake(
        repo.path(),
        &[
            "apply",
            "--env",
            "production",
            "--auto-approve",
            "--concurrency",
            "1",
        ],
    )
    .await;
    // The plan it shows names the fake's origin, whose port changes from run to run.
    check(
        "posthog/apply.txt",
        &ok(&applied)
            .stdout
            .replace(&fake.base_url(), "http://127.0.0.1:PORT"),
    );

    // Import of the fixed live state into an empty repository.
    let fake = seeded_fake().await;
    let empty = tempfile::tempdir().unwrap();
    fs::write(
        empty.path().join("flagops.yaml"),
        posthog_config(&fake.base_url()),
    )
    .unwrap();
    let imported = flagops_against_fake(empty.path(), &["import", "--env", "production"]).await;
    check("posthog/import.txt", &ok(&imported).stdout);
    check_imported(empty.path(), "posthog/import");
}
