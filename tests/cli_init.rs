//! `flagops init`: the files it writes, what it says, refusing to overwrite, and that the new
//! repository validates, plans (local) and has current schemas right away.

use std::fs;
use std::path::Path;

use flagops::config::BackendKind;
use flagops::init::{Options, files};

use crate::support::{Repo, flagops};

/// Every file under `dir`, relative, `/`-separated, sorted (hidden ones included).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).expect("list dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The files `init` is expected to write, as `tree` lists them.
fn expected_tree(options: Options) -> Vec<String> {
    let mut paths: Vec<String> = files(options).into_iter().map(|f| f.path).collect();
    paths.sort();
    paths
}

#[test]
fn init_local_writes_the_repository_and_says_what_next() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--backend", "local"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "\
wrote flagops.yaml
wrote flags/example-flag.yaml
wrote schemas/flagops.schema.json
wrote schemas/posthog-flag.schema.json
wrote .flagops/.gitignore

next:
  1. `flagops validate`, then `flagops plan --env staging`
  2. `flagops apply --env staging` makes the local state (.flagops/state.json) match
"
    );
    assert_eq!(run.stderr, "");
    let options = Options {
        backend: BackendKind::Local,
        emulate: None,
        github: false,
    };
    assert_eq!(tree(repo.path()), expected_tree(options));
    for file in files(options) {
        assert_eq!(
            fs::read_to_string(repo.path().join(&file.path)).unwrap(),
            file.content,
            "{}",
            file.path
        );
    }

    // Ready at once: clean validate, current schemas, a plan against the empty local state.
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "schemas are up to date\n");
    let run = repo.run(&["plan", "--env", "staging"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("  + create `example-flag`\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("Plan: 1 to create, 0 to update, 0 to delete.\n"),
        "{}",
        run.stdout
    );
    // The next steps work as written: apply, then nothing left to do.
    repo.run(&["apply", "--env", "staging", "--auto-approve"])
        .expect_code(0);
    assert!(repo.path().join(".flagops/state.json").is_file());
    let run = repo.run(&["plan", "--env", "staging", "--detailed-exitcode"]);
    run.expect_code(0);
}

#[test]
fn init_posthog_with_github_writes_workflows_and_validates() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--github"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "\
wrote flagops.yaml
wrote flags/example-flag.yaml
wrote schemas/flagops.schema.json
wrote schemas/posthog-flag.schema.json
wrote .github/workflows/flags-pull-request.yml
wrote .github/workflows/flags-apply.yml

next:
  1. in flagops.yaml, set each environment's `host` and `project_id`
  2. export POSTHOG_API_KEY_STAGING and POSTHOG_API_KEY_PROD (personal API keys)
  3. `flagops import --env staging` writes the flags you already have
  4. `flagops validate`, then `flagops plan --env staging`
  5. in .github/workflows/, replace `<owner>/flagops@<sha>` with the flagops action you use (pinned to a commit)
  6. add POSTHOG_API_KEY_STAGING and POSTHOG_API_KEY_PROD as repository secrets
"
    );
    let options = Options {
        backend: BackendKind::Posthog,
        emulate: None,
        github: true,
    };
    assert_eq!(tree(repo.path()), expected_tree(options));

    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(doc["summary"]["flags"], 1);
    repo.run(&["schema", "--check"]).expect_code(0);

    // The config loads as a posthog config with the README's two environments, and the
    // workflows pass each environment's key variable from a secret of the same name.
    let loaded =
        flagops::source::load::<flagops::vendor::posthog::Flag>(repo.path(), None).expect("load");
    assert_eq!(loaded.config.backend, BackendKind::Posthog);
    let names: Vec<&str> = loaded
        .config
        .environments
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, ["production", "staging"]);
    let pull_request = workflow(&repo.path().join(".github/workflows/flags-pull-request.yml"));
    let apply = workflow(&repo.path().join(".github/workflows/flags-apply.yml"));
    assert_eq!(
        pull_request["on"],
        serde_json::json!({ "pull_request": null })
    );
    assert_eq!(
        apply["on"],
        serde_json::json!({ "push": { "branches": ["main"] } })
    );
    let secret = |var: &str| serde_json::json!({ var: format!("${{{{ secrets.{var} }}}}") });
    let step = |command: &str, env: Option<&str>| {
        let mut with = serde_json::json!({ "command": command, "directory": "." });
        if let Some(env) = env {
            with["environment"] = env.into();
        }
        with
    };
    let flagops_steps = |doc: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        let jobs = doc["jobs"].as_object().unwrap();
        assert_eq!(jobs.len(), 1);
        let steps = jobs.values().next().unwrap()["steps"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(steps[0]["uses"], "actions/checkout@v4");
        steps[1..]
            .iter()
            .map(|s| {
                assert_eq!(s["uses"], "<owner>/flagops@<sha>");
                (s["with"].clone(), s["env"].clone())
            })
            .collect()
    };
    // Each environment's key variable comes from a secret of the same name, and only there.
    let var = |name: &str| {
        loaded.config.environments[name]
            .api_key_env
            .clone()
            .unwrap()
    };
    assert_eq!(
        flagops_steps(&pull_request),
        [
            (step("validate", None), serde_json::Value::Null),
            (step("plan", Some("staging")), secret(&var("staging"))),
            (step("plan", Some("production")), secret(&var("production"))),
        ]
    );
    assert_eq!(
        flagops_steps(&apply),
        [
            (step("apply", Some("staging")), secret(&var("staging"))),
            (
                step("apply", Some("production")),
                secret(&var("production"))
            ),
        ]
    );
}

/// A workflow file, read as YAML (one document).
fn workflow(path: &Path) -> serde_json::Value {
    let parsed = flagops::source::yaml::parse(&fs::read_to_string(path).unwrap());
    assert!(
        parsed.errors.is_empty(),
        "{}: {:?}",
        path.display(),
        parsed.errors
    );
    assert_eq!(parsed.documents.len(), 1, "{}", path.display());
    parsed.documents.into_iter().next().unwrap().value
}

/// The pull-request workflow works as written: its checkout has the base commit the action's
/// `base` names (`validate --changed-since`, `plan --base` fail on a shallow clone), and the
/// job may post the plan's comment (the action's `comment` is on for pull requests).
#[test]
fn init_pull_request_workflows_fetch_the_base_and_may_comment() {
    for backend in ["posthog", "mixpanel", "local"] {
        let repo = Repo::empty();
        repo.run(&["init", "--backend", backend, "--github"])
            .expect_code(0);
        let doc = workflow(&repo.path().join(".github/workflows/flags-pull-request.yml"));
        let job = &doc["jobs"]["flags"];
        assert_eq!(
            job["permissions"],
            serde_json::json!({ "contents": "read", "pull-requests": "write" }),
            "{backend}"
        );
        assert_eq!(job["steps"][0]["uses"], "actions/checkout@v4", "{backend}");
        assert_eq!(
            job["steps"][0]["with"],
            serde_json::json!({ "fetch-depth": 0 }),
            "{backend}"
        );
    }
}

#[test]
fn init_local_with_github_has_no_apply_workflow_and_says_why() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--backend", "local", "--github"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "wrote .flagops/.gitignore\nwrote .github/workflows/flags-pull-request.yml\n\nnext:\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with(
        "  4. no apply workflow: the local state lives on one machine; with `backend: posthog`, \
         `flagops init --github` writes one\n"
    ));
    assert!(
        !repo
            .path()
            .join(".github/workflows/flags-apply.yml")
            .exists()
    );
    repo.run(&["validate"]).expect_code(0);
}

#[test]
fn init_refuses_when_any_file_exists_and_writes_nothing() {
    let repo = Repo::empty();
    repo.write("flags/example-flag.yaml", "key: mine\nconditions: []\n");
    repo.write("schemas/posthog-flag.schema.json", "{}\n");
    let run = repo.run(&["init", "--backend", "local"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "\
error: these files already exist; nothing was written:
  flags/example-flag.yaml
  schemas/posthog-flag.schema.json
hint: move them away, or run `flagops init` in an empty directory (`-C DIR`)
"
    );
    assert_eq!(
        tree(repo.path()),
        [
            "flags/example-flag.yaml",
            "schemas/posthog-flag.schema.json"
        ]
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("flags/example-flag.yaml")).unwrap(),
        "key: mine\nconditions: []\n"
    );
    assert_eq!(
        fs::read_to_string(repo.path().join("schemas/posthog-flag.schema.json")).unwrap(),
        "{}\n"
    );
}

#[cfg(unix)]
#[test]
fn init_never_writes_through_a_dangling_symlink() {
    let repo = Repo::empty();
    let outside = Repo::empty();
    std::os::unix::fs::symlink(
        outside.path().join("target.yaml"),
        repo.path().join("flagops.yaml"),
    )
    .unwrap();
    let run = repo.run(&["init"]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with(
            "error: these files already exist; nothing was written:\n  flagops.yaml\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!outside.path().join("target.yaml").exists());
    assert!(!repo.path().join("flags").exists());
}

#[test]
fn init_in_another_directory_creates_it_and_shows_dash_c() {
    let repo = Repo::empty();
    let run = repo.run(&["-C", "flag repo/new", "init", "--backend", "local"]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(
            "next:\n  1. `flagops -C 'flag repo/new' validate`, then `flagops -C 'flag repo/new' \
             plan --env staging`\n  2. `flagops -C 'flag repo/new' apply --env staging` makes the \
             local state (.flagops/state.json) match\n"
        ),
        "{}",
        run.stdout
    );
    repo.run(&["-C", "flag repo/new", "validate"])
        .expect_code(0);
    let run = repo.run(&["-C", "sub", "init", "--backend", "local"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("  1. `flagops -C sub validate`"),
        "{}",
        run.stdout
    );
}

#[test]
fn init_with_an_unknown_backend_or_service_is_a_usage_error() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--backend", "launchdarkly"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: invalid value 'launchdarkly' for '--backend <BACKEND>': expected posthog, \
         mixpanel or local\n\nFor more information, try '--help'.\n"
    );
    let run = repo.run(&["init", "--backend", "local", "--emulate", "local"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: invalid value 'local' for '--emulate <SERVICE>': expected posthog or \
         mixpanel\n\nFor more information, try '--help'.\n"
    );
    // `--emulate` only means something for the local backend.
    for backend in ["posthog", "mixpanel"] {
        let run = repo.run(&["init", "--backend", backend, "--emulate", "mixpanel"]);
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            format!(
                "error: `--emulate` is for `--backend local`; the {backend} backend is the \
                 service itself\nhint: leave `--emulate` out, or use `--backend local --emulate \
                 …` to try flags without an account\n"
            )
        );
    }
    let run = repo.run(&["init", "--emulate", "mixpanel"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("error: `--emulate` is for `--backend local`; the posthog"),
        "{}",
        run.stderr
    );
    assert!(tree(repo.path()).is_empty());
}

#[test]
fn init_mixpanel_with_github_writes_its_files_and_validates() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--backend", "mixpanel", "--github"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "\
wrote flagops.yaml
wrote flags/example-flag.yaml
wrote schemas/flagops.schema.json
wrote schemas/mixpanel-flag.schema.json
wrote .github/workflows/flags-pull-request.yml
wrote .github/workflows/flags-apply.yml

next:
  1. in flagops.yaml, set each environment's `project_id` and `region`
  2. export MIXPANEL_SA_USERNAME and MIXPANEL_SA_SECRET (a service account)
  3. `flagops import --env staging` writes the flags you already have
  4. `flagops validate`, then `flagops plan --env staging`
  5. in .github/workflows/, replace `<owner>/flagops@<sha>` with the flagops action you use (pinned to a commit)
  6. add MIXPANEL_SA_USERNAME and MIXPANEL_SA_SECRET as repository secrets
"
    );
    assert_eq!(run.stderr, "");
    let options = Options {
        backend: BackendKind::Mixpanel,
        emulate: None,
        github: true,
    };
    assert_eq!(tree(repo.path()), expected_tree(options));
    for file in files(options) {
        assert_eq!(
            fs::read_to_string(repo.path().join(&file.path)).unwrap(),
            file.content,
            "{}",
            file.path
        );
    }
    // Only the config's schema and Mixpanel's flag schema: no PostHog one.
    assert!(
        !repo
            .path()
            .join("schemas/posthog-flag.schema.json")
            .exists()
    );

    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(doc["summary"]["flags"], 1);
    assert_eq!(doc["summary"]["warnings"], 0);
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "schemas are up to date\n");

    // The config loads as a Mixpanel config: two environments, a region, a project, the
    // service account by variable names, Mixpanel's default budget written out.
    let loaded =
        flagops::source::load::<flagops::vendor::mixpanel::MixpanelFlag>(repo.path(), None)
            .expect("load");
    assert_eq!(loaded.config.backend, BackendKind::Mixpanel);
    assert_eq!(
        loaded.config.environments.keys().collect::<Vec<_>>(),
        ["production", "staging"]
    );
    for (name, env) in &loaded.config.environments {
        assert_eq!(env.region, Some(flagops::config::Region::Us), "{name}");
        assert!(
            env.project_id.is_some() && env.api_key_env.is_none(),
            "{name}"
        );
        assert_eq!(env.username_env.as_deref(), Some("MIXPANEL_SA_USERNAME"));
        assert_eq!(env.secret_env.as_deref(), Some("MIXPANEL_SA_SECRET"));
        assert!(!env.hard_delete, "{name}: archive is the default");
        let limit = env.rate_limit.expect("rate_limit shown");
        assert_eq!(
            (limit.per_minute, limit.per_hour),
            (
                Some(flagops::backend::mixpanel::RATE_LIMIT.per_minute),
                Some(flagops::backend::mixpanel::RATE_LIMIT.per_hour)
            ),
            "{name}"
        );
    }
    // Both workflows give every flagops step but validate the service account, from secrets
    // of the same names, and nothing of PostHog's.
    let secrets = serde_json::json!({
        "MIXPANEL_SA_USERNAME": "${{ secrets.MIXPANEL_SA_USERNAME }}",
        "MIXPANEL_SA_SECRET": "${{ secrets.MIXPANEL_SA_SECRET }}",
    });
    for (file, expected) in [
        (
            "flags-pull-request.yml",
            [
                ("validate", None),
                ("plan", Some("staging")),
                ("plan", Some("production")),
            ]
            .as_slice(),
        ),
        (
            "flags-apply.yml",
            [("apply", Some("staging")), ("apply", Some("production"))].as_slice(),
        ),
    ] {
        let doc = workflow(&repo.path().join(".github/workflows").join(file));
        let steps = doc["jobs"].as_object().unwrap().values().next().unwrap()["steps"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(steps[0]["uses"], "actions/checkout@v4");
        let got: Vec<(String, Option<String>, serde_json::Value)> = steps[1..]
            .iter()
            .map(|s| {
                assert_eq!(s["uses"], "<owner>/flagops@<sha>", "{file}");
                (
                    s["with"]["command"].as_str().unwrap().to_owned(),
                    s["with"]["environment"].as_str().map(str::to_owned),
                    s["env"].clone(),
                )
            })
            .collect();
        let want: Vec<(String, Option<String>, serde_json::Value)> = expected
            .iter()
            .map(|(command, env)| {
                (
                    (*command).to_owned(),
                    env.map(str::to_owned),
                    if env.is_some() {
                        secrets.clone()
                    } else {
                        serde_json::Value::Null
                    },
                )
            })
            .collect();
        assert_eq!(got, want, "{file}");
    }
}

/// Right after `init --backend mixpanel`, with `region` replaced by a `host` (the fake
/// Mixpanel) and the project's id set, as the next steps say: the example flag plans, applies
/// (the strict fake accepts it) and then plans clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_mixpanel_then_plan_and_apply_against_the_fake() {
    use crate::support::fake_mixpanel::{FakeMixpanel, PROJECT_ID, SA_SECRET, SA_USERNAME};
    let fake = FakeMixpanel::start().await;
    let repo = Repo::empty();
    repo.run(&["init", "--backend", "mixpanel"]).expect_code(0);
    let config = fs::read_to_string(repo.path().join("flagops.yaml")).unwrap();
    let edited = config
        .replacen(
            "    region: us                           # the project's data residency",
            &format!(
                "    host: {}  # the project's data residency",
                fake.base_url()
            ),
            1,
        )
        .replacen(
            "project_id: 1234 ",
            &format!("project_id: {PROJECT_ID} "),
            1,
        );
    assert_ne!(edited, config);
    assert!(edited.contains("host: http://127.0.0.1:"), "{edited}");
    fs::write(repo.path().join("flagops.yaml"), edited).unwrap();
    let dir = repo.path().to_path_buf();
    let run = |args: &'static [&'static str]| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            crate::support::flagops_with_env(
                &dir,
                args,
                &[
                    ("MIXPANEL_SA_USERNAME", SA_USERNAME),
                    ("MIXPANEL_SA_SECRET", SA_SECRET),
                ],
            )
        })
    };
    let plan = run(&["plan", "--env", "staging"]).await.unwrap();
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("  + create `example-flag`\n")
            && plan
                .stdout
                .ends_with("Plan: 1 to create, 0 to update, 0 to delete.\n"),
        "{}",
        plan.stdout
    );
    // Without `workspace_id`, a plan is two requests: the workspace lookup and the list.
    let lines: Vec<String> = fake
        .requests()
        .iter()
        .map(crate::support::fake_mixpanel::RecordedRequest::line)
        .collect();
    assert_eq!(
        lines,
        [
            format!("GET /api/app/projects/{PROJECT_ID}/workspaces/"),
            format!("GET {}?include_archived=true", FakeMixpanel::flags_path()),
        ]
    );
    let apply = run(&["apply", "--env", "staging", "--auto-approve"])
        .await
        .unwrap();
    apply.expect_code(0);
    let stored = fake.flag("example-flag").expect("created on the fake");
    assert_eq!(stored["status"], "enabled");
    // The staging override: one group at 100% (a fraction of 1 on the wire).
    assert_eq!(
        stored["ruleset"]["rollout"][0]["rollout_percentage"],
        serde_json::json!(1.0)
    );
    assert_eq!(
        stored["ruleset"]["test"]["users"],
        serde_json::json!({ "qa-tester-1": "On" })
    );
    let again = run(&["plan", "--env", "staging", "--detailed-exitcode"])
        .await
        .unwrap();
    again.expect_code(0);
    assert!(
        again
            .stdout
            .contains("\nno changes: `staging` matches the repository (1 flag in sync)\n"),
        "{}",
        again.stdout
    );
    // The service account never shows.
    for out in [
        &plan.stdout,
        &plan.stderr,
        &apply.stdout,
        &apply.stderr,
        &again.stdout,
        &again.stderr,
    ] {
        assert!(
            !out.contains(SA_SECRET) && !out.contains(SA_USERNAME),
            "{out}"
        );
    }
}

/// `init --backend local --emulate mixpanel`: Mixpanel flag files against a local state that
/// follows Mixpanel's rules; validate, plan, apply, then nothing to do.
#[test]
fn init_local_emulating_mixpanel_plans_and_applies_without_an_account() {
    let repo = Repo::empty();
    let run = repo.run(&[
        "init",
        "--backend",
        "local",
        "--emulate",
        "mixpanel",
        "--github",
    ]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "\
wrote flagops.yaml
wrote flags/example-flag.yaml
wrote schemas/flagops.schema.json
wrote schemas/mixpanel-flag.schema.json
wrote .flagops/.gitignore
wrote .github/workflows/flags-pull-request.yml

next:
  1. `flagops validate`, then `flagops plan --env staging`
  2. `flagops apply --env staging` makes the local state (.flagops/state.json) match
  3. in .github/workflows/, replace `<owner>/flagops@<sha>` with the flagops action you use (pinned to a commit)
  4. no apply workflow: the local state lives on one machine; with `backend: mixpanel`, `flagops init --backend mixpanel --github` writes one
"
    );
    let options = Options {
        backend: BackendKind::Local,
        emulate: Some(flagops::config::Service::Mixpanel),
        github: true,
    };
    assert_eq!(tree(repo.path()), expected_tree(options));
    let (_, _, config) = flagops::source::load_config(repo.path(), None).unwrap();
    assert_eq!(config.service(), flagops::config::Service::Mixpanel);

    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "schemas are up to date\n");
    let run = repo.run(&["plan", "--env", "staging"]);
    run.expect_code(0);
    // Mixpanel's words: variants with values, rollout groups, test users.
    assert!(
        run.stdout.contains(
            "      variant `Off` 0% (control): false\n      variant `On` 100%: true\n      \
             rollout group 1: 100% of everyone\n      test user `qa-tester-1`: variant `On`\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("Plan: 1 to create, 0 to update, 0 to delete.\n"),
        "{}",
        run.stdout
    );
    for env in ["staging", "production"] {
        repo.run(&["apply", "--env", env, "--auto-approve"])
            .expect_code(0);
        repo.run(&["plan", "--env", env, "--detailed-exitcode"])
            .expect_code(0);
    }
}

#[test]
fn init_with_config_is_a_usage_error() {
    let repo = Repo::empty();
    let run = repo.run(&["--config", "other.yaml", "init"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: `init` writes `flagops.yaml` in DIR; `--config` does not apply\nhint: use \
         `flagops -C DIR init` to initialise another directory\n"
    );
    assert!(tree(repo.path()).is_empty());
}

#[test]
fn init_reports_a_directory_it_cannot_create() {
    let repo = Repo::empty();
    repo.write("taken", "a file, not a directory\n");
    let run = repo.run(&["-C", "taken/repo", "init"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: `taken` is not a directory; nothing was written\n\
         hint: pass a directory (or a path to create) with `-C DIR`\n"
    );
    assert_eq!(tree(repo.path()), ["taken"]);
    // A bare `flagops init` in a clean directory still works (the default backend).
    let clean = Repo::empty();
    flagops(clean.path(), &["init"]).expect_code(0);
}

#[test]
fn a_failed_init_removes_what_it_wrote() {
    let repo = Repo::empty();
    // `.github` is a file: the workflows, written last, cannot be; everything before is undone.
    repo.write(".github", "not a directory\n");
    let run = repo.run(&["init", "--github"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("error: cannot write `.github/workflows/flags-pull-request.yml`: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert_eq!(tree(repo.path()), [".github"]);
    assert!(!repo.path().join("flags").exists());
    assert!(!repo.path().join("schemas").exists());
}

/// `-C` naming a file (or a path through one) says so, instead of "File exists" about a
/// `flagops.yaml` that does not exist.
#[test]
fn init_in_a_file_says_it_is_not_a_directory() {
    let repo = Repo::empty();
    repo.write("afile", "x");
    for dir in ["afile", "afile/below"] {
        let run = repo.run(&["-C", dir, "init"]);
        run.expect_code(1);
        assert_eq!(
            run.stderr,
            "error: `afile` is not a directory; nothing was written\n\
             hint: pass a directory (or a path to create) with `-C DIR`\n"
        );
    }
    assert_eq!(tree(repo.path()), ["afile"]);
}

/// A `-C` directory whose name holds an escape sequence is shown escaped in the next steps.
#[test]
fn init_shows_a_hostile_directory_name_escaped() {
    let repo = Repo::empty();
    let run = repo.run(&["-C", "new\u{1b}[2Jrepo", "init", "--backend", "local"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("  1. `flagops -C 'new\\u{1b}[2Jrepo' validate`, then"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
}
