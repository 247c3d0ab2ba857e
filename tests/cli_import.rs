//! `flagops import` end to end: the binary pointed at the strict fake PostHog (the config's
//! `host` is the fake's URL, the API key only in the child's environment) or at the local
//! backend. Round trips through files, `validate` and `plan`; refusal, `--force`, `--key`,
//! skipped flags, idempotence, and usage errors.

use flagops::model::VendorFlag as _;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use flagops::vendor::posthog::Flag;
use serde_json::{Value, json};

use crate::support::fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};
use crate::support::{
    Repo, Run, TempRepo, crate_dir, flag, flagops_against_fake, flagops_with_env,
    posthog_repo_config,
};

fn adapter(fake: &FakePosthog) -> PosthogBackend {
    PosthogBackend::new(PosthogSettings::new(
        fake.base_url(),
        PROJECT_ID,
        ApiKey::new(WRITE_KEY),
    ))
    .unwrap()
}

/// Flags beyond the examples: strings YAML would misread, archived, mixed aggregation,
/// experiment stamps, fractional percentages.
fn extra_shapes() -> Vec<Flag> {
    vec![
        flag(json!({
            "key": "tricky-strings", "name": "yes",
            "conditions": [{"description": "a: b # c", "properties": [
                {"type": "person", "key": "123", "operator": "exact",
                 "value": ["true", "null", " padded ", "multi\nline", "1e3", "~"]},
                {"type": "person", "key": "plan: tier", "operator": "is_not", "value": "#free"}
            ], "rollout_percentage": 100}],
            "payloads": {"true": {"n": "1.5", "empty": "", "list": ["no", 0, null, false], "nested": {"k": {"deep": "@x"}}}}
        })),
        flag(
            json!({"key": "old-archived", "name": "Retired", "active": false, "archived": true,
            "conditions": [{"rollout_percentage": 0}]}),
        ),
        flag(json!({"key": "mixed-groups", "conditions": [
            {"aggregation_group_type_index": 0, "properties": [{"type": "group", "group_type_index": 0, "key": "size", "operator": "gt", "value": 10}]},
            {"aggregation_group_type_index": 1, "properties": [{"type": "group", "group_type_index": 1, "key": "$group_key", "value": ["a", "b"]}], "rollout_percentage": 12.5}
        ]})),
        flag(
            json!({"key": "fractions", "conditions": [{"rollout_percentage": 33.3, "sort_key": "b", "exposure_frozen": true}],
            "variants": [{"key": "a", "rollout_percentage": 33.33}, {"key": "b", "rollout_percentage": 33.33}, {"key": "c", "rollout_percentage": 33.34}]}),
        ),
    ]
}

/// The examples/posthog flags (resolved for `production`) plus [`extra_shapes`], created
/// through the adapter in dependency order. Returns the keys.
pub(crate) async fn seed_rich(fake: &FakePosthog) -> Vec<String> {
    fake.add_cohort(PROJECT_ID, 1842, "Enterprise accounts");
    fake.add_cohort(PROJECT_ID, 1907, "Churn risk");
    fake.add_group_type(PROJECT_ID, 0, "company");
    fake.add_group_type(PROJECT_ID, 1, "team");
    let examples = flagops::source::load::<flagops::vendor::posthog::Flag>(
        &crate_dir().join("examples/posthog"),
        None,
    )
    .unwrap();
    let mut flags: Vec<Flag> = examples
        .flags
        .iter()
        .map(|f| f.spec.resolve(Some("production")).0)
        .collect();
    flags.extend(extra_shapes());
    let writer = adapter(fake);
    let mut done: Vec<String> = Vec::new();
    while done.len() < flags.len() {
        let before = done.len();
        for flag in &flags {
            if !done.contains(&flag.key) && flag.dependencies().iter().all(|d| done.contains(d)) {
                writer.create(flag).await.unwrap_or_else(|e| panic!("{e}"));
                done.push(flag.key.clone());
            }
        }
        assert!(done.len() > before, "dependency cycle in the seed flags");
    }
    done.sort();
    done
}

pub(crate) fn posthog_repo(fake: &FakePosthog) -> Repo {
    let repo = Repo::empty();
    repo.write("flagops.yaml", posthog_repo_config(&fake.base_url()));
    repo
}

/// Every file under `dir`, relative path → bytes.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).unwrap();
            files.insert(
                rel.to_string_lossy().replace('\\', "/"),
                fs::read(entry.path()).unwrap(),
            );
        }
    }
    files
}

fn assert_no_secret(run: &Run) {
    assert!(!run.stdout.contains(WRITE_KEY) && !run.stderr.contains(WRITE_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_writes_every_shape_and_validate_and_plan_agree() {
    let fake = FakePosthog::start().await;
    let keys = seed_rich(&fake).await;
    let repo = posthog_repo(&fake);

    let import = flagops_against_fake(repo.path(), &["import", "--env", "live"]).await;
    import.expect_code(0);
    assert_no_secret(&import);
    let mut expected: Vec<String> = keys
        .iter()
        .map(|k| format!("wrote flags/{k}.yaml"))
        .collect();
    expected.push("wrote schemas/posthog-flag.schema.json".to_owned());
    expected.push(format!(
        "imported {} flags from `live` into `flags/`",
        keys.len()
    ));
    assert_eq!(import.stdout.lines().collect::<Vec<_>>(), expected);
    assert_eq!(
        import.stderr,
        "warning: `mobile-api-endpoints` has encrypted payloads; `flags/mobile-api-endpoints.yaml` holds them in the clear\n"
    );
    // Only list calls: the import reads nothing per flag (and, as flags use cohorts and
    // group types, one list of each to write their names).
    let reads: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method != "POST")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        reads,
        [
            "GET /api/projects/1/feature_flags/",
            "GET /api/projects/1/feature_flags/",
            "GET /api/projects/1/cohorts/",
            "GET /api/projects/1/groups_types/",
        ]
    );

    // The canonical form, exactly: quoting, key order, defaults left out, the modeline.
    let tricky = fs::read_to_string(repo.path().join("flags/tricky-strings.yaml")).unwrap();
    assert_eq!(
        tricky,
        r##"# yaml-language-server: $schema=../schemas/posthog-flag.schema.json
key: tricky-strings
name: "yes"
conditions:
  - properties:
      - type: person
        key: "123"
        operator: exact
        value:
          - "true"
          - "null"
          - " padded "
          - "multi\nline"
          - "1e3"
          - "~"
      - type: person
        key: "plan: tier"
        operator: is_not
        value: "#free"
    rollout_percentage: 100
    description: "a: b # c"
payloads:
  "true":
    empty: ""
    list:
      - "no"
      - 0
      - null
      - false
    "n": "1.5"
    nested:
      k:
        deep: "@x"
"##
    );
    let company = fs::read_to_string(repo.path().join("flags/company-sso.yaml")).unwrap();
    assert!(
        company.contains("\naggregation: company\n")
            && !company.contains("    aggregation")
            && company.matches("group_type: company\n").count() == 3
            && !company.contains("index"),
        "a shared aggregation is written once, at the flag level, by name:\n{company}"
    );

    let validate = flagops_against_fake(repo.path(), &["validate", "--format", "json"]).await;
    validate.expect_code(0);
    let report: Value = serde_json::from_str(&validate.stdout).unwrap();
    assert_eq!(report["summary"]["errors"], 0, "{}", validate.stdout);
    assert_eq!(report["summary"]["flags"], keys.len());

    let plan = flagops_against_fake(
        repo.path(),
        &["plan", "--env", "live", "--detailed-exitcode"],
    )
    .await;
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(&format!(
            "no changes: `live` matches the repository ({} flags in sync)",
            keys.len()
        )),
        "{}",
        plan.stdout
    );

    // Importing again gives byte-identical files.
    let first = snapshot(repo.path());
    let again = flagops_against_fake(repo.path(), &["import", "--env", "live", "--force"]).await;
    again.expect_code(0);
    assert_eq!(snapshot(repo.path()), first);
    assert!(
        again.stdout.contains(&format!(
            "imported {} flags from `live` into `flags/` ({} unchanged)",
            keys.len(),
            keys.len()
        )),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_one_field_after_import_plans_exactly_that_change() {
    let fake = FakePosthog::start().await;
    seed_rich(&fake).await;
    let repo = posthog_repo(&fake);
    flagops_against_fake(repo.path(), &["import", "--env", "live"])
        .await
        .expect_code(0);
    let file = repo.path().join("flags/pricing-page-experiment.yaml");
    let text = fs::read_to_string(&file).unwrap();
    assert_eq!(
        text.matches("exclusion_percentage: 10\n").count(),
        1,
        "{text}"
    );
    fs::write(
        &file,
        text.replace("exclusion_percentage: 10\n", "exclusion_percentage: 15\n"),
    )
    .unwrap();

    let plan = flagops_against_fake(
        repo.path(),
        &[
            "plan",
            "--env",
            "live",
            "--format",
            "json",
            "--detailed-exitcode",
        ],
    )
    .await;
    plan.expect_code(2);
    let doc: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        doc["summary"],
        json!({"create": 0, "update": 1, "delete": 0, "unchanged": doc["summary"]["unchanged"],
               "unmanaged": 0, "unsupported": 0})
    );
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["key"], "pricing-page-experiment");
    assert_eq!(steps[0]["action"], "update");
    assert_eq!(
        steps[0]["changes"],
        json!([{"field": "holdout", "op": "changed",
                "before": {"id": 311, "exclusion_percentage": 10},
                "after": {"id": 311, "exclusion_percentage": 15}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_filter_imports_only_matching_flags_and_names_missing_dependencies() {
    let fake = FakePosthog::start().await;
    seed_rich(&fake).await;
    let repo = posthog_repo(&fake);

    let run = flagops_against_fake(
        repo.path(),
        &["import", "--env", "live", "--key", "checkout-*"],
    )
    .await;
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "wrote flags/checkout-api-v2.yaml\nwrote flags/checkout-backend.yaml\n\
         wrote schemas/posthog-flag.schema.json\n\
         imported 2 flags from `live` into `flags/`\n"
    );
    assert_eq!(run.stderr, "");

    let run = flagops_against_fake(
        repo.path(),
        &["import", "--env", "live", "--key", "new-checkout"],
    )
    .await;
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "wrote flags/new-checkout.yaml\nimported 1 flag from `live` into `flags/`\n"
    );
    assert_eq!(
        run.stderr,
        "note: `new-checkout` depends on `pricing-page-experiment`, which the repository does not define; import it too\n"
    );

    let none = flagops_against_fake(
        repo.path(),
        &["import", "--env", "live", "--key", "nothing-*"],
    )
    .await;
    none.expect_code(1);
    assert_eq!(
        none.stderr,
        "error: no live flag of `live` matches `nothing-*`; nothing was written\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_the_model_cannot_represent_are_skipped_with_a_reason() {
    let fake = FakePosthog::start().await;
    let ids = fake.seed(vec![
        json!({"key": "fine", "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}}),
        json!({"key": "rules-v2", "filters": {"version": 2, "groups": []}}),
        json!({"key": "gone", "deleted": true, "filters": {"groups": []}}),
    ]);
    fake.seed(vec![
        json!({"key": "orphan", "filters": {"groups": [{"properties": [
        {"key": ids[2].to_string(), "type": "flag", "operator": "flag_evaluates_to", "value": true}
    ], "rollout_percentage": 100}]}}),
    ]);
    let repo = posthog_repo(&fake);

    let run = flagops_against_fake(repo.path(), &["import", "--env", "live"]).await;
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        format!(
            "skipped `orphan`: it depends on flag id {}, which is not a live flag (deleted?); fix the condition in the service first\n\
             skipped `rules-v2`: it uses `filters.version` 2 (feature flag rules v2), which flagops cannot manage\n",
            ids[2]
        )
    );
    assert_eq!(
        run.stdout,
        "wrote flags/fine.yaml\nwrote schemas/posthog-flag.schema.json\n\
         imported 1 flag from `live` into `flags/` (2 skipped)\n"
    );
    assert!(!repo.path().join("flags/orphan.yaml").exists());
    assert!(!repo.path().join("flags/rules-v2.yaml").exists());
}

/// A new local repository whose state is `source`'s (its `production`), and whose `flags`
/// entry is `flags`: what imports from it.
fn importer(source: &TempRepo, flags: &str) -> Repo {
    let target = Repo::empty();
    target.write(
        "flagops.yaml",
        format!("backend: local\nflags: {flags}\nenvironments:\n  production: {{}}\n"),
    );
    target.write(
        ".flagops/state.json",
        fs::read(source.state_file()).unwrap(),
    );
    target
}

#[test]
fn import_from_the_local_backend_round_trips() {
    let source = TempRepo::new(
        &fs::read_to_string(crate_dir().join("examples/quickstart/flagops.yaml")).unwrap(),
        &[],
    );
    for entry in fs::read_dir(crate_dir().join("examples/quickstart/flags")).unwrap() {
        let path = entry.unwrap().path();
        source.write(
            path.file_name().unwrap().to_str().unwrap(),
            &fs::read_to_string(&path).unwrap(),
        );
    }
    source
        .run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);

    // A new repository sharing the state file: import, then plan shows nothing to do.
    let target = importer(&source, "[flags/, extra/*.yaml]");
    let run = target.run(&["import", "--env", "production"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "wrote flags/checkout-backend.yaml\nwrote flags/new-checkout.yaml\n\
         wrote flags/welcome-banner.yaml\nwrote schemas/posthog-flag.schema.json\n\
         imported 3 flags from `production` into `flags/`\n"
    );
    target
        .run(&["plan", "--env", "production", "--detailed-exitcode"])
        .expect_code(0);
    target.run(&["validate"]).expect_code(0);
}

#[test]
fn usage_and_config_errors_exit_2() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nflags: \"flags/**/*.yaml\"\nenvironments:\n  live:\n    host: http://127.0.0.1:9\n    project_id: 1\n    api_key_env: FLAGOPS_IMPORT_KEY\n",
    );
    let globs = flagops_with_env(
        repo.path(),
        &["import", "--env", "live"],
        &[("FLAGOPS_IMPORT_KEY", "phx_x")],
    );
    globs.expect_code(2);
    assert_eq!(
        globs.stderr,
        "error: `flags` in the config names no directory to import into\n\
         hint: add a directory (e.g. `flags/`) as the first entry of `flags`\n"
    );

    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nenvironments:\n  live:\n    host: http://127.0.0.1:9\n    project_id: 1\n    api_key_env: FLAGOPS_IMPORT_KEY\n",
    );
    let unset = repo.run(&["import", "--env", "live"]);
    unset.expect_code(2);
    assert!(
        unset.stderr.contains("FLAGOPS_IMPORT_KEY"),
        "{}",
        unset.stderr
    );
    repo.run(&["import", "--env", "nope"]).expect_code(2);
    let bad_glob = flagops_with_env(
        repo.path(),
        &["import", "--env", "live", "--key", "a[", "--force"],
        &[("FLAGOPS_IMPORT_KEY", "phx_x")],
    );
    bad_glob.expect_code(2);
    assert!(
        bad_glob
            .stderr
            .starts_with("error: invalid `--key` pattern `a[`"),
        "{}",
        bad_glob.stderr
    );
    repo.run(&["import"]).expect_code(2);
    assert!(!repo.path().join("flags").exists());
}

/// A FIFO where a flag's file would go is never opened (reading it would wait forever): the
/// import is refused naming it, and nothing is written.
#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_a_flag_file_is_refused_not_a_hang() {
    let repo = TempRepo::new(
        "backend: local\nenvironments:\n  production: {}\n",
        &[(
            "a.yaml",
            "key: a\nconditions:\n  - rollout_percentage: 100\n",
        )],
    );
    repo.run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);
    fs::remove_file(repo.path().join("flags/a.yaml")).unwrap();
    crate::support::mkfifo(&repo.path().join("flags/a.yaml"));
    let run = repo.run(&["import", "--env", "production"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "  flags/a.yaml: is not a regular file; remove it\n\
         error: 1 file cannot be rewritten; nothing was written\n"
    );
    assert!(
        !repo
            .path()
            .join("schemas/posthog-flag.schema.json")
            .exists()
    );
}

/// Imported files get the mode a new file gets (`0666` less the umask), not a temporary
/// file's `0600`, and a file an import replaces keeps its own.
#[cfg(unix)]
#[test]
fn imported_files_have_a_new_files_mode_and_replaced_ones_keep_theirs() {
    use std::os::unix::fs::PermissionsExt as _;
    let source = TempRepo::new(
        &fs::read_to_string(crate_dir().join("examples/quickstart/flagops.yaml")).unwrap(),
        &[(
            "a.yaml",
            "key: a\nconditions:\n  - rollout_percentage: 10\n",
        )],
    );
    source
        .run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);
    let target = importer(&source, "flags/");
    let import = |force: bool| {
        let script = format!(
            "umask 027 && exec \"$0\" import --env production{}",
            if force { " --force" } else { "" }
        );
        let status = std::process::Command::new("sh")
            .args(["-c", &script, env!("CARGO_BIN_EXE_flagops")])
            .current_dir(target.path())
            .env_clear()
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let mode = |path: &str| {
        fs::metadata(target.path().join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    import(false);
    assert_eq!(mode("flags/a.yaml"), 0o640, "0666 less the umask 027");
    // Edited and made readable by all: the import that replaces it keeps its mode.
    target.write(
        "flags/a.yaml",
        "key: a\nconditions:\n  - rollout_percentage: 20\n",
    );
    fs::set_permissions(
        target.path().join("flags/a.yaml"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    import(true);
    assert_eq!(
        fs::read_to_string(target.path().join("flags/a.yaml")).unwrap(),
        "# yaml-language-server: $schema=../schemas/posthog-flag.schema.json\nkey: a\nconditions:\n  - rollout_percentage: 10\n"
    );
    assert_eq!(mode("flags/a.yaml"), 0o644);
}
