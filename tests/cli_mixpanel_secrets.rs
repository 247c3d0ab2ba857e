//! The Mixpanel service account (username and secret, read from the two variables the config
//! names) never appears in any output: every command and format against the fake Mixpanel,
//! the saved plan, a rejected account (401), and a server that echoes what it was sent.

use std::path::Path;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;

use crate::cli_mixpanel_apply::{BACKEND, BANNER};
use crate::support::fake_mixpanel::{FakeMixpanel, SA_SECRET, SA_USERNAME, basic_auth};
use crate::support::{
    MIXPANEL_SECRET_VAR, MIXPANEL_USERNAME_VAR, Run, flagops_against_fake_mixpanel,
    flagops_with_env, mixpanel_repo,
};

/// Every form of the credentials a leak could take.
fn forms() -> Vec<String> {
    let header = basic_auth(SA_USERNAME, SA_SECRET);
    let encoded = header.strip_prefix("Basic ").unwrap().to_owned();
    vec![
        SA_USERNAME.to_owned(),
        SA_SECRET.to_owned(),
        format!("{SA_USERNAME}:{SA_SECRET}"),
        encoded,
    ]
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for form in forms() {
        assert!(!text.contains(&form), "{what} shows `{form}`:\n{text}");
    }
}

#[track_caller]
fn assert_run_clean(what: &str, run: &Run) {
    assert_clean(&format!("{what} (stdout)"), &run.stdout);
    assert_clean(&format!("{what} (stderr)"), &run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_or_format_shows_the_service_account() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![json!({"key": "old", "name": "Old", "status": "disabled",
        "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 0.5, "variant_splits": {}}]}})]);
    let repo = mixpanel_repo(
        &fake.base_url(),
        "    prune: true\n    hard_delete: true\n",
        &[("banner.yaml", BANNER), ("backend.yaml", BACKEND)],
    );
    let commands: &[&[&str]] = &[
        &["validate"],
        &["validate", "--format", "json"],
        &["graph", "--env", "live"],
        &["plan", "--env", "live"],
        &["plan", "--env", "live", "--format", "json"],
        &["plan", "--env", "live", "--format", "markdown"],
        &["plan", "--env", "live", "--out", "plan.json"],
        &[
            "apply",
            "--env",
            "live",
            "--auto-approve",
            "--format",
            "json",
        ],
        &[
            "apply",
            "--env",
            "live",
            "--auto-approve",
            "--format",
            "markdown",
        ],
        &["plan", "--env", "live", "--detailed-exitcode"],
        &["import", "--env", "live", "--force"],
        &["plan", "--env", "nope"],
    ];
    for args in commands {
        let run = flagops_against_fake_mixpanel(repo.path(), args).await;
        assert!(run.code >= 0, "{args:?}: {run:?}");
        assert_run_clean(&format!("{args:?}"), &run);
    }
    let saved = std::fs::read_to_string(repo.path().join("plan.json")).unwrap();
    assert_clean("the saved plan", &saved);
    // The account did reach the fake, in the header only.
    let sent = fake.requests();
    assert!(sent.len() > 10, "{}", sent.len());
    assert!(
        sent.iter()
            .all(|r| r.authorization.as_deref() == Some(fake.authorization().as_str()))
    );
}

fn run_with(dir: &Path, args: &[&str], username: &str, secret: &str) -> Run {
    flagops_with_env(
        dir,
        args,
        &[
            (MIXPANEL_USERNAME_VAR, username),
            (MIXPANEL_SECRET_VAR, secret),
        ],
    )
}

/// A secret the fake refuses: exit 1, the error names the variables and what to do, never
/// the username or the secret that was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_service_account_is_named_by_its_variables_only() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    let dir = repo.path().to_owned();
    let wrong = "wrong-secret-value-4242";
    let base = fake.base_url();
    for command in ["plan", "import", "apply"] {
        let dir = dir.clone();
        let run = tokio::task::spawn_blocking(move || {
            let mut args = vec![command, "--env", "live"];
            if command == "apply" {
                args.push("--auto-approve");
            }
            run_with(&dir, &args, SA_USERNAME, wrong)
        })
        .await
        .unwrap();
        run.expect_code(1);
        assert_eq!(run.stdout, "", "{command}");
        assert_eq!(
            run.stderr,
            format!(
                "error: cannot read the live flags of `live`: the service account from \
                 `{MIXPANEL_USERNAME_VAR}` and `{MIXPANEL_SECRET_VAR}` was rejected when trying \
                 to look up the workspaces of project 12345 (401: Invalid credentials); set them \
                 to the username and secret of a valid service account of project 12345 at {base} \
                 (a project in another region is not found: check `region`)\n"
            ),
            "{command}"
        );
        assert_run_clean(command, &run);
        assert!(!run.stderr.contains(wrong), "{command}: {}", run.stderr);
    }
    assert!(fake.flags().is_empty());
    // Only the workspace lookup was tried, once per command (a 401 is not repeated).
    assert_eq!(fake.requests().len(), 3);
}

/// An unset or empty variable is named, with the setting that names it; nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_variable_is_named_and_nothing_is_sent() {
    let fake = FakeMixpanel::start().await;
    let repo = mixpanel_repo(&fake.base_url(), "", &[("backend.yaml", BACKEND)]);
    let dir = repo.path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        run_with(&dir, &["plan", "--env", "live"], SA_USERNAME, "  ")
    })
    .await
    .unwrap();
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&format!("`{MIXPANEL_SECRET_VAR}`"))
            && run.stderr.contains("`secret_env`"),
        "{}",
        run.stderr
    );
    assert_run_clean("unset secret", &run);
    assert!(fake.requests().is_empty());
}

/// A server that answers every request with `status` and a message built from what it was
/// sent: `echo(authorization header)` as the error text.
async fn echo_server(status: u16, echo: fn(&str) -> String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app =
        axum::Router::new().fallback(move |_: Method, _: Uri, headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = json!({"status": "error", "error": echo(&auth)});
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// The secret itself, echoed back in an error, is replaced by `***`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_in_an_error_is_masked() {
    for status in [400, 401, 403, 500] {
        let url = echo_server(status, |_| format!("no access with {SA_SECRET}")).await;
        let repo = mixpanel_repo(&url, "    workspace_id: 5\n", &[("backend.yaml", BACKEND)]);
        for command in ["plan", "import"] {
            let run = flagops_against_fake_mixpanel(repo.path(), &[command, "--env", "live"]).await;
            run.expect_code(1);
            assert!(
                run.stderr.contains("no access with ***"),
                "{status} {command}: {}",
                run.stderr
            );
            assert_run_clean(&format!("{status} {command}"), &run);
        }
    }
}

/// A server (or a proxy) that echoes the `Authorization` header it got, or the username:
/// the header is the username and secret in base64, so either shows the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_authorization_header_or_username_is_masked() {
    for status in [400, 401, 403, 500] {
        for echo in [
            (|auth: &str| format!("bad header {auth}")) as fn(&str) -> String,
            |_| format!("unknown user {SA_USERNAME}"),
        ] {
            let url = echo_server(status, echo).await;
            let repo = mixpanel_repo(&url, "    workspace_id: 5\n", &[("backend.yaml", BACKEND)]);
            for command in ["plan", "import", "apply"] {
                let mut args = vec![command, "--env", "live"];
                if command == "apply" {
                    args.push("--auto-approve");
                }
                let run = flagops_against_fake_mixpanel(repo.path(), &args).await;
                run.expect_code(1);
                assert_run_clean(&format!("{status} {command}"), &run);
            }
        }
    }
}
