//! `flagops plan` against the strict fake PostHog right after it was loaded with the
//! repository's own flags: normalisation leaves nothing to change, and the plan reads the
//! live state with list calls only (no per-flag GET).

use std::fs;

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use flagops::vendor::posthog::Flag;

use crate::support::fake_posthog::{FakePosthog, PROJECT_ID, WRITE_KEY};
use crate::support::{FAKE_KEY_VAR, Repo, crate_dir, flagops_against_fake};
use flagops::model::VendorFlag as _;

/// examples/posthog copied into a temporary repository whose environment `env` is the fake.
fn examples_repo(fake: &FakePosthog, env: &str) -> Repo {
    let source = crate_dir().join("examples/posthog");
    let repo = Repo::empty();
    for entry in walkdir::WalkDir::new(source.join("flags")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(&source).unwrap();
            repo.write(rel.to_str().unwrap(), fs::read(entry.path()).unwrap());
        }
    }
    let config = fs::read_to_string(source.join("flagops.yaml")).unwrap();
    let config: String = config
        .lines()
        .scan(String::new(), |current, line| {
            if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
                && !name.starts_with(' ')
            {
                name.clone_into(current);
            }
            let out = if current == env && line.trim_start().starts_with("host:") {
                format!("    host: {}", fake.base_url())
            } else if current == env && line.trim_start().starts_with("project_id:") {
                format!("    project_id: {PROJECT_ID}")
            } else if current == env && line.trim_start().starts_with("api_key_env:") {
                format!("    api_key_env: {FAKE_KEY_VAR}")
            } else {
                line.to_owned()
            };
            Some(out + "\n")
        })
        .collect();
    assert!(config.contains(&fake.base_url()), "{config}");
    repo.write("flagops.yaml", config);
    repo
}

/// Create the repository's flags, resolved for `env`, through the adapter (dependencies
/// first), as an apply would.
async fn load_fake(fake: &FakePosthog, repo: &Repo, env: &str) -> usize {
    fake.add_cohort(PROJECT_ID, 1842, "Enterprise accounts");
    fake.add_cohort(PROJECT_ID, 1907, "Churn risk");
    let loaded =
        flagops::source::load::<flagops::vendor::posthog::Flag>(repo.path(), None).unwrap();
    let flags: Vec<Flag> = loaded
        .flags
        .iter()
        .map(|f| f.spec.resolve(Some(env)).0)
        .collect();
    let writer = PosthogBackend::new(PosthogSettings::new(
        fake.base_url(),
        PROJECT_ID,
        ApiKey::new(WRITE_KEY),
    ))
    .unwrap();
    let mut done: Vec<&str> = Vec::new();
    while done.len() < flags.len() {
        let before = done.len();
        for flag in &flags {
            if !done.contains(&flag.key.as_str())
                && flag
                    .dependencies()
                    .iter()
                    .all(|d| done.contains(&d.as_str()))
            {
                writer.create(flag).await.unwrap_or_else(|e| panic!("{e}"));
                done.push(&flag.key);
            }
        }
        assert!(done.len() > before, "dependency cycle");
    }
    flags.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_right_after_loading_the_same_flags_shows_no_changes_and_lists_only() {
    for env in ["staging", "production"] {
        let fake = FakePosthog::start().await;
        let repo = examples_repo(&fake, env);
        let count = load_fake(&fake, &repo, env).await;
        assert!(count >= 14, "{env}: only {count} example flags");
        fake.clear_requests();

        let plan =
            flagops_against_fake(repo.path(), &["plan", "--env", env, "--detailed-exitcode"]).await;
        plan.expect_code(0);
        assert!(
            plan.stdout.contains(&format!(
                "no changes: `{env}` matches the repository ({count} flags in sync)"
            )),
            "{env}: {}",
            plan.stdout
        );
        let requests = fake.requests();
        assert!(!requests.is_empty());
        // The example targets cohorts by id: one cohort list checks they exist.
        let (cohorts, flags): (Vec<_>, Vec<_>) = requests
            .iter()
            .partition(|r| r.path == "/api/projects/1/cohorts/");
        assert_eq!(cohorts.len(), 1, "{env}: one cohort list");
        for request in flags {
            assert_eq!(
                (request.method.as_str(), request.path.as_str()),
                ("GET", "/api/projects/1/feature_flags/"),
                "{env}: only list calls, got `{}`",
                request.line()
            );
        }
    }
}

/// An organization without tagging returns `tags: []` and `evaluation_contexts: []` whatever
/// was written: every plan shows them as added, until the environment ignores them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_tags_ends_the_perpetual_diff_of_an_organization_without_tagging() {
    let env = "production";
    let fake = FakePosthog::start().await;
    fake.set_without_tags(true);
    let repo = examples_repo(&fake, env);
    let count = load_fake(&fake, &repo, env).await;

    let plan =
        flagops_against_fake(repo.path(), &["plan", "--env", env, "--detailed-exitcode"]).await;
    plan.expect_code(2);
    assert!(plan.stdout.contains("added"), "{}", plan.stdout);

    let config = fs::read_to_string(repo.path().join("flagops.yaml")).unwrap();
    let config = config.replace(
        &format!("  {env}:\n"),
        &format!("  {env}:\n    ignore: [tags, evaluation_contexts]\n"),
    );
    repo.write("flagops.yaml", config);
    let plan =
        flagops_against_fake(repo.path(), &["plan", "--env", env, "--detailed-exitcode"]).await;
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(&format!(
            "not compared on updates (`ignore` in the config): `tags`, `evaluation_contexts`\n\n\
             no changes: `{env}` matches the repository ({count} flags in sync)"
        )),
        "{}",
        plan.stdout
    );
}
