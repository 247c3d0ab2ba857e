//! `plan`, `import` and `apply` against a PostHog fake that misbehaves: no request leaves the
//! configured origin, a list that never ends stops, a garbled answer to a write is read back,
//! a `host` with a password is a config error, and long waits are announced on stderr.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::fake_posthog::{FakePosthog, Fault, WRITE_KEY};
use crate::support::{FAKE_KEY_VAR, Repo, flagops_against_fake, posthog_repo_config};

const NEW_FLAG: &str = "key: new-flag\nconditions:\n  - rollout_percentage: 100\n";

/// A repository whose environment `live` is `host`, with one flag to create.
fn repo(host: &str) -> Repo {
    let repo = Repo::empty();
    repo.write("flagops.yaml", posthog_repo_config(host));
    repo.write("flags/new-flag.yaml", NEW_FLAG);
    repo
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Run `flagops args…` in `dir` (key set) until it prints a `waiting: ` line on stderr, then
/// stop it: the line, or `None` if it ended (or 10 s passed) without one.
async fn first_wait_line(dir: &Path, args: &[&str]) -> Option<String> {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flagops"))
            .args(&args)
            .current_dir(&dir)
            .env_clear()
            .env("NO_COLOR", "1")
            .env(FAKE_KEY_VAR, WRITE_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run flagops");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let found = BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.starts_with("waiting: "));
            let _ = tx.send(found);
        });
        let found = rx.recv_timeout(Duration::from_secs(10)).ok().flatten();
        let _ = child.kill();
        let _ = child.wait();
        found
    })
    .await
    .expect("run flagops")
}

/// `plan` and `import` say on stderr that they wait out a 429, with or without
/// `Retry-After`; before, they were silent for up to 10 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_import_announce_a_rate_limit_wait() {
    let fake = FakePosthog::start().await;
    let repo = repo(&fake.base_url());
    for command in ["plan", "import"] {
        fake.inject(Fault::RateLimited {
            retry_after: Some("30".into()),
            times: 1,
        });
        assert_eq!(
            first_wait_line(repo.path(), &[command, "--env", "live"])
                .await
                .as_deref(),
            Some(
                "waiting: the server is rate limiting (429); every request waits 30 s as its `Retry-After` asks"
            ),
            "{command}"
        );
    }
    fake.inject(Fault::RateLimited {
        retry_after: None,
        times: 1,
    });
    assert_eq!(
        first_wait_line(repo.path(), &["plan", "--env", "live"])
            .await
            .as_deref(),
        Some(
            "waiting: the server is rate limiting (429); every request waits 5 s (it gave no `Retry-After`: the default backoff)"
        )
    );
}

/// A `Retry-After` past the longest wait fails `plan` at once, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_fails_at_once_on_a_retry_after_past_the_longest_wait() {
    let fake = FakePosthog::start().await;
    let repo = repo(&fake.base_url());
    fake.inject(Fault::RateLimited {
        retry_after: Some("1000000000000000000000".into()),
        times: 1,
    });
    let run = flagops_against_fake(repo.path(), &["plan", "--env", "live"]).await;
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: cannot read the live flags of `live`: could not list flags of project 1: the server is rate limiting (429) and asks to wait more than a day, longer than the 10 min flagops waits at most; try again later\n"
    );
    assert_eq!(fake.requests().len(), 1);
}

/// A `host` with a user name and password, a query or a fragment is a config error (exit 2)
/// that never repeats the password or the query, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_credentials_a_query_or_a_fragment_is_a_config_error() {
    let fake = FakePosthog::start().await;
    let address = fake.base_url().replace("http://", "");
    for (host, shown, problem) in [
        (
            format!("http://ann:hunter2@{address}"),
            format!("http://***@{address}"),
            "contains a user name or password; remove it (the API key is the only credential sent)",
        ),
        (
            format!("http://{address}/?token=hunter2"),
            format!("http://{address}/…"),
            "has a query (`?…`); remove it",
        ),
        (
            format!("http://{address}/#hunter2"),
            format!("http://{address}/…"),
            "has a fragment (`#…`); remove it",
        ),
    ] {
        let repo = repo(&host);
        for command in ["plan", "import", "apply"] {
            let mut args = vec![command, "--env", "live"];
            if command == "apply" {
                args.push("--auto-approve");
            }
            let run = flagops_against_fake(repo.path(), &args).await;
            run.expect_code(2);
            assert_eq!(
                run.stderr,
                format!(
                    "error[config]: `host` `{shown}` {problem}\n  |\n  = note: in flagops.yaml:5:11\n\n\
                     error: `flagops.yaml` is not a valid flagops config\n"
                ),
                "{command} {host}"
            );
            assert!(!run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"));
        }
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

/// A 307 to another origin on a write: the other server receives nothing (no body, no key),
/// nothing is created, and the step fails naming the status and the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_never_follows_a_redirect_of_a_write_to_another_origin() {
    let fake = FakePosthog::start().await;
    let elsewhere = FakePosthog::start().await;
    let repo = repo(&fake.base_url());
    // The list reads pass (the plan's, which `--auto-approve` applies at once: two
    // requests); the create is redirected.
    fake.inject(Fault::Slow {
        delay: Duration::ZERO,
        times: 2,
    });
    fake.inject(Fault::Redirect {
        status: 307,
        to: elsewhere.base_url(),
        times: 1,
    });
    let run = flagops_against_fake(
        repo.path(),
        &[
            "apply",
            "--env",
            "live",
            "--auto-approve",
            "--format",
            "json",
        ],
    )
    .await;
    run.expect_code(1);
    let doc = json(&run.stdout);
    assert_eq!(doc["steps"][0]["status"], "failed", "{doc}");
    assert_eq!(
        doc["steps"][0]["reason"],
        format!(
            "the answer to `create flag `new-flag`` is a redirect (307) to `{}`; flagops follows no redirect, so nothing was sent there; set `host` to the origin that serves the API",
            elsewhere.base_url()
        )
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(fake.flag("new-flag").is_none());
    let posts: Vec<Option<u16>> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.status)
        .collect();
    assert_eq!(posts, [Some(307)]);
}

/// A redirect of a read: `plan` fails naming it, and never plans from another host's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_never_follows_a_redirect_of_a_read() {
    let fake = FakePosthog::start().await;
    let elsewhere = FakePosthog::start().await;
    let repo = repo(&fake.base_url());
    fake.inject(Fault::Redirect {
        status: 302,
        to: elsewhere.base_url(),
        times: 1,
    });
    let run = flagops_against_fake(repo.path(), &["plan", "--env", "live"]).await;
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot read the live flags of `live`: the answer to `list flags of project 1` is a redirect (302) to `{}`; flagops follows no redirect, so nothing was sent there; set `host` to the origin that serves the API\n",
            elsewhere.base_url()
        )
    );
    assert!(elsewhere.requests().is_empty());
}

/// The 201 of a create is garbled: the flag was created, so apply reads it back, reports it
/// applied, and does not create it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reads_back_a_write_whose_answer_was_garbled() {
    let fake = FakePosthog::start().await;
    let repo = repo(&fake.base_url());
    // The plan's list (two requests) passes; the create's answer is garbled.
    fake.inject(Fault::Slow {
        delay: Duration::ZERO,
        times: 2,
    });
    fake.inject(Fault::Garbled { times: 1 });
    let run = flagops_against_fake(
        repo.path(),
        &[
            "apply",
            "--env",
            "live",
            "--auto-approve",
            "--format",
            "json",
        ],
    )
    .await;
    run.expect_code(0);
    let doc = json(&run.stdout);
    assert_eq!(doc["steps"][0]["status"], "applied", "{doc}");
    assert_eq!(
        doc["steps"][0]["note"],
        "its answer was lost; reading the flag back showed it done"
    );
    let created: Vec<Value> = fake
        .flags()
        .into_iter()
        .filter(|f| f["key"] == "new-flag")
        .collect();
    assert_eq!(created.len(), 1);
}

/// A list whose `next` never ends: `plan` stops after what `count` needs and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_stops_reading_a_list_that_never_ends() {
    let fake = FakePosthog::start().await;
    fake.seed(vec![serde_json::json!({"key": "a", "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}})]);
    fake.set_endless_pages(true);
    let repo = repo(&fake.base_url());
    let run = flagops_against_fake(repo.path(), &["plan", "--env", "live"]).await;
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: cannot read the live flags of `live`: the answer to `list flags of project 1` did not end after 3 pages although its first page counted 1 flags (1 a page): its `next` link goes on; check that `host` is the PostHog API origin\n"
    );
    assert_eq!(fake.requests().len(), 3);
}
