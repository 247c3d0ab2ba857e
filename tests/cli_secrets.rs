//! No output ever contains the value of an environment variable, in particular the API keys
//! the config names: every command, passing and failing, every format.

use crate::support::{Repo, flagops_with_env};

const SECRET: &str = "phx_secret_value_123";
const OTHER_SECRET: &str = "phx_other_secret_456";

fn config(extra: &str) -> String {
    format!(
        "backend: posthog\nenvironments:\n  production:\n    host: https://eu.posthog.com\n    \
         project_id: 2\n    api_key_env: POSTHOG_API_KEY_PROD\n  staging:\n    host: https://us.posthog.com\n    \
         project_id: 1\n    api_key_env: POSTHOG_API_KEY_STAGING\n{extra}"
    )
}

fn repos() -> Vec<(&'static str, Repo)> {
    let passing = Repo::empty();
    passing.write("flagops.yaml", config(""));
    passing.write(
        "flags/a.yaml",
        "key: a\nconditions: [{ rollout_percentage: 5 }]\n",
    );

    let failing = Repo::empty();
    failing.write("flagops.yaml", config(""));
    failing.write(
        "flags/a.yaml",
        "key: a\ndepends_on: [b]\nconditions: [{ rollout_percentage: 5, variant: x }]\n\
         environments:\n  production: { active: false }\n  POSTHOG_API_KEY_PROD: {}\n",
    );
    failing.write(
        "flags/b.yaml",
        "key: b\ndepends_on: [a]\nconditions: [{ rollout_percentage: 500 }]\n",
    );
    failing.write("flags/c.yaml", "key: [\n");

    let bad_config = Repo::empty();
    bad_config.write(
        "flagops.yaml",
        config("  broken:\n    api_key_env: POSTHOG_API_KEY_PROD\n    unknown: 1\n"),
    );

    let unreadable_config = Repo::empty();
    unreadable_config.write("flagops.yaml", config("flags: [missing/]\n"));

    vec![
        ("passing", passing),
        ("failing", failing),
        ("bad config", bad_config),
        ("unreadable", unreadable_config),
    ]
}

#[test]
fn no_command_prints_an_environment_variable_value() {
    let env = [
        ("POSTHOG_API_KEY_PROD", SECRET),
        ("POSTHOG_API_KEY_STAGING", OTHER_SECRET),
        ("FLAGOPS_TOKEN", SECRET),
    ];
    let commands: &[&[&str]] = &[
        &["validate"],
        &["validate", "--format", "json"],
        &["validate", "--format", "github"],
        &["graph"],
        &["graph", "--env", "production"],
        &["graph", "--env", "nope"],
        &["graph", "--format", "dot"],
        &["schema", "--check"],
        &["schema"],
        &["--help"],
        &["nope"],
    ];
    let mut exits = Vec::new();
    for (name, repo) in repos() {
        for args in commands {
            let run = flagops_with_env(repo.path(), args, &env);
            exits.push(run.code);
            for secret in [SECRET, OTHER_SECRET] {
                assert!(
                    !run.stdout.contains(secret) && !run.stderr.contains(secret),
                    "{name}: `flagops {}` printed a secret:\n{}\n{}",
                    args.join(" "),
                    run.stdout,
                    run.stderr
                );
            }
        }
    }
    // The runs covered success, findings and config/usage errors.
    for code in [0, 1, 2] {
        assert!(exits.contains(&code), "no run exited {code}: {exits:?}");
    }
}

/// A key pasted into `api_key_env` instead of a variable name is refused without printing it,
/// in every format, even when it also breaks the schema's pattern.
#[test]
fn a_key_pasted_into_the_config_is_never_printed() {
    for pasted in ["phx_pasted_key_123", "phx_pasted-key-123"] {
        let repo = Repo::empty();
        repo.write(
            "flagops.yaml",
            format!(
                "backend: posthog\nenvironments:\n  prod:\n    host: https://eu.posthog.com\n    project_id: 1\n    api_key_env: {pasted}\n"
            ),
        );
        for format in ["human", "json", "github"] {
            let run = repo.run(&["validate", "--format", format]);
            run.expect_code(2);
            let all = format!("{}{}", run.stdout, run.stderr);
            assert!(!all.contains("pasted"), "{format}: {all}");
            assert!(
                all.contains("`api_key_env` of environment `prod` looks like a PostHog API key"),
                "{format}: {all}"
            );
            // Located, without drawing the line that holds the key.
            let place = match format {
                "human" => "= note: in flagops.yaml:6:18\n",
                "json" => "\"line\": 6,\n      \"column\": 18,",
                _ => "file=flagops.yaml,line=6,col=18,",
            };
            assert!(all.contains(place), "{format}: {all}");
        }
    }
}

/// `validate` reports a `host` with a user name and password (or that is not an http(s) URL)
/// at its line and column, once, in every format, and never prints the password: not in the
/// message (the schema's pattern message would repeat the value) nor by drawing its line.
#[test]
fn validate_reports_a_host_with_a_password_without_printing_it() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nenvironments:\n  production:\n    host: ftp://ann:hunter2@x.example\n    \
         project_id: 1\n    api_key_env: POSTHOG_API_KEY\n  staging:\n    host: https://ann:hunter3@x.example/\n    \
         project_id: 2\n    api_key_env: POSTHOG_API_KEY\n",
    );
    let human = repo.run(&["validate"]);
    human.expect_code(2);
    assert_eq!(human.stdout, "");
    assert_eq!(
        human.stderr,
        "error[config]: `host` `ftp://***@x.example` is not an http(s) URL; use e.g. `https://us.posthog.com`
  |
  = note: in flagops.yaml:4:11

error[config]: `host` `https://***@x.example/` contains a user name or password; remove it (the API key is the only credential sent)
  |
  = note: in flagops.yaml:8:11

error: `flagops.yaml` is not a valid flagops config
"
    );
    let json = repo.run(&["validate", "--format", "json"]);
    json.expect_code(2);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let places: Vec<(String, u64, u64, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (
                "environments.production.host".to_owned(),
                4,
                11,
                "`host` `ftp://***@x.example` is not an http(s) URL; use e.g. `https://us.posthog.com`".to_owned()
            ),
            (
                "environments.staging.host".to_owned(),
                8,
                11,
                "`host` `https://***@x.example/` contains a user name or password; remove it (the API key is the only credential sent)".to_owned()
            ),
        ]
    );
    let github = repo.run(&["validate", "--format", "github"]);
    github.expect_code(2);
    assert_eq!(
        github.stdout,
        "::error file=flagops.yaml,line=4,col=11,endColumn=38,title=flagops config::`host` `ftp://***@x.example` is not an http(s) URL; use e.g. `https://us.posthog.com`
::error file=flagops.yaml,line=8,col=11,endColumn=41,title=flagops config::`host` `https://***@x.example/` contains a user name or password; remove it (the API key is the only credential sent)
"
    );
    for run in [&human, &json, &github] {
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("hunter") && !all.contains("ann"), "{all}");
    }
}

/// A YAML error on the line of a host with a password draws that line without the password.
#[test]
fn a_yaml_error_on_a_host_line_does_not_draw_the_password() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nenvironments:\n  production:\n    host: \"https://ann:hunter2@x.example\" x\n",
    );
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("host: \"https://***********@x.example\" x"),
        "{}",
        run.stderr
    );
}

/// Every file under `dir` (plan files, flag files written by `import`, state), as text.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
            (e.path().to_owned(), text)
        })
        .collect()
}

/// plan (every format, `--out`), apply of the saved plan, import, and their failures (a key
/// without the write scope, a server error mid-apply) against the fake with the key set:
/// no output and no file written contains the key, even with `RUST_BACKTRACE=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_import_against_posthog_never_print_or_save_the_key() {
    use crate::support::fake_posthog::{FakePosthog, READ_KEY, WRITE_KEY};
    const WRONG_KEY: &str = "phx_not_a_key_of_the_fake_42";
    use crate::support::{FAKE_KEY_VAR, TempRepo, posthog_repo_config};

    let fake = FakePosthog::start().await;
    fake.seed(vec![serde_json::json!({"key": "live-only", "filters": {"groups": [{"properties": [], "rollout_percentage": 10}]}})]);
    let repo = TempRepo::new(
        &posthog_repo_config(&fake.base_url()),
        &[(
            "a.yaml",
            "key: a\nconditions: [{ rollout_percentage: 5 }]\n",
        )],
    );
    let dir = repo.path().to_owned();
    // (which key, arguments, approval policies on?)
    let steps: Vec<(&str, Vec<&str>, bool)> = vec![
        ("wrong", vec!["plan", "--env", "live"], false),
        ("write", vec!["plan", "--env", "live"], false),
        (
            "write",
            vec!["plan", "--env", "live", "--format", "json"],
            false,
        ),
        (
            "write",
            vec!["plan", "--env", "live", "--out", "plan.json"],
            false,
        ),
        ("read", vec!["apply", "--env", "live", "plan.json"], false),
        ("write", vec!["apply", "--env", "live", "plan.json"], true),
        ("write", vec!["apply", "--env", "live", "plan.json"], false),
        ("write", vec!["import", "--env", "live", "--force"], false),
        (
            "read",
            vec!["plan", "--env", "live", "--out", "plan2.json"],
            false,
        ),
    ];
    let mut codes = Vec::new();
    for (key, args, approval) in steps {
        fake.set_approval_required(approval);
        let secret = match key {
            "write" => WRITE_KEY,
            "read" => READ_KEY,
            _ => WRONG_KEY,
        };
        let dir = dir.clone();
        let shown = args.join(" ");
        let run = tokio::task::spawn_blocking(move || {
            crate::support::flagops_with_env(
                &dir,
                &args,
                &[(FAKE_KEY_VAR, secret), ("RUST_BACKTRACE", "1")],
            )
        })
        .await
        .unwrap();
        codes.push(run.code);
        eprintln!(
            "DBG {shown} -> {} {}",
            run.code,
            run.stderr.lines().last().unwrap_or("")
        );
        for key in [WRITE_KEY, READ_KEY, WRONG_KEY] {
            assert!(
                !run.stdout.contains(key) && !run.stderr.contains(key),
                "`flagops {shown}` printed a key:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    // Successes and failures were both covered.
    assert!(codes.contains(&0) && codes.contains(&1), "{codes:?}");
    let files = files_under(&dir);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("plan.json"))
            && files
                .iter()
                .any(|(p, _)| p.ends_with("flags/live-only.yaml")),
        "{files:?}"
    );
    for (path, text) in files {
        for key in [WRITE_KEY, READ_KEY, WRONG_KEY] {
            assert!(!text.contains(key), "{} contains a key", path.display());
        }
    }
}
