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
fn init_mixpanel_is_a_usage_error_saying_it_is_not_supported_yet() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--backend", "mixpanel"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: invalid value 'mixpanel' for '--backend <BACKEND>': the mixpanel backend is not \
         supported yet (use posthog or local)\n\nFor more information, try '--help'.\n"
    );
    assert!(tree(repo.path()).is_empty());

    let run = repo.run(&["init", "--backend", "launchdarkly"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: invalid value 'launchdarkly' for '--backend <BACKEND>': expected posthog or \
         local\n\nFor more information, try '--help'.\n"
    );
    assert!(tree(repo.path()).is_empty());
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
