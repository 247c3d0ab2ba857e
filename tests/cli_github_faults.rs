//! `plan --github-comment` when GitHub misbehaves: rate limits waited out (bounded), a failed
//! read repeated and a failed write not, a next page on another origin never requested, bad
//! Actions variables refused before planning; the token is never shown.

use std::time::{Duration, Instant};

use crate::cli_github::{PR, comments_path, event, repo, run as plan, run_with};
use crate::support::fake_github::{FakeGithub, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_rate_limit_is_waited_out() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    fake.inject(Fault::SecondaryRateLimit { retry_after: 1 });
    let started = Instant::now();
    let run = plan(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run.expect_code(0);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let requests = fake.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.line(), r.status))
            .collect::<Vec<_>>(),
        [
            (format!("GET {}?per_page=100", comments_path()), 403),
            (format!("GET {}?per_page=100", comments_path()), 200),
            (format!("POST {}", comments_path()), 201),
        ]
    );
    assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(990));
    assert!(
        run.stderr
            .contains("waiting: GitHub is rate limiting (403); trying again in 1 s\n"),
        "{}",
        run.stderr
    );

    // A primary limit (`x-ratelimit-remaining: 0`) that resets in an hour fails at once.
    fake.inject(Fault::PrimaryRateLimit { reset_in: 3600 });
    repo.write("c.yaml", "key: c\n");
    let started = Instant::now();
    let run = plan(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run.expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        run.stderr.contains(&format!("cannot read the comments of pull request #{PR}: GitHub is rate limiting (403) and asks to wait")),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_failures_are_exit_1_and_never_show_the_token() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    // A server that echoes the Authorization header in its error.
    fake.inject(Fault::EchoAuthorization);
    let run1 = plan(
        &fake,
        &repo,
        Some(PR),
        &[
            "plan",
            "--env",
            "staging",
            "--github-comment",
            "--detailed-exitcode",
        ],
    )
    .await;
    run1.expect_code(1);
    assert!(
        run1.stderr.contains(&format!(
            "cannot read the comments of pull request #{PR}: GitHub answered 422: Validation Failed: unexpected header Bearer ***"
        )),
        "{}",
        run1.stderr
    );
    // A wrong token: GitHub's 401, named.
    let mut vars = fake.env(Some(&event(&repo, Some(PR))));
    vars.retain(|(k, _)| k != "GITHUB_TOKEN");
    vars.push(("GITHUB_TOKEN".to_owned(), "ghs_wrong".to_owned()));
    let run2 = run_with(
        repo.path(),
        &["plan", "--env", "staging", "--github-comment"],
        vars.clone(),
    )
    .await;
    run2.expect_code(1);
    assert!(
        run2.stderr.contains("GitHub answered 401: Bad credentials"),
        "{}",
        run2.stderr
    );
    assert!(!run2.stderr.contains("ghs_wrong"));
    // No token at all: a usage error before anything is planned or sent.
    vars.retain(|(k, _)| k != "GITHUB_TOKEN");
    fake.clear_requests();
    let run3 = run_with(
        repo.path(),
        &["plan", "--env", "staging", "--github-comment"],
        vars,
    )
    .await;
    run3.expect_code(2);
    assert!(
        run3.stderr.contains("`GITHUB_TOKEN` is not set"),
        "{}",
        run3.stderr
    );
    assert!(fake.requests().is_empty());
    assert!(fake.comments(PR).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_on_another_origin_is_never_requested() {
    let fake = FakeGithub::start().await;
    let elsewhere = FakeGithub::start().await;
    let repo = repo();
    fake.inject(Fault::ForeignNext {
        origin: elsewhere.base_url(),
    });
    let run = plan(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("is not the API origin; nothing was sent there"),
        "{}",
        run.stderr
    );
    assert!(elsewhere.requests().is_empty());
    assert!(
        fake.comments(PR).is_empty(),
        "no comment without the whole list"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_payload_or_repository_is_a_usage_error_before_planning() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let path = repo.path().join("event.json");
    std::fs::write(&path, "{not json").unwrap();
    let run1 = run_with(
        repo.path(),
        &["plan", "--env", "staging", "--github-comment"],
        fake.env(Some(&path)),
    )
    .await;
    run1.expect_code(2);
    assert!(
        run1.stderr
            .contains("the event payload `GITHUB_EVENT_PATH` is not JSON: key must be a string at line 1 column 2"),
        "{}",
        run1.stderr
    );
    assert!(
        run1.stdout.is_empty(),
        "nothing was planned: {}",
        run1.stdout
    );
    let mut vars = fake.env(None);
    vars.retain(|(k, _)| k != "GITHUB_REPOSITORY");
    let run2 = run_with(
        repo.path(),
        &["plan", "--env", "staging", "--github-issue"],
        vars,
    )
    .await;
    run2.expect_code(2);
    assert!(
        run2.stderr
            .contains("`GITHUB_REPOSITORY` is not set to `owner/name`"),
        "{}",
        run2.stderr
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_is_repeated_and_a_failed_write_is_not() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    fake.inject(Fault::BadGateway);
    let run1 = plan(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run1.expect_code(0);
    assert!(
        run1.stderr.contains(&format!(
            "waiting: GitHub failed to read the comments of pull request #{PR}; trying again in 1 s (attempt 2 of 3)\n"
        )),
        "{}",
        run1.stderr
    );
    assert_eq!(fake.comments(PR).len(), 1);

    // The write of a changed plan fails: exit 1, written once, never repeated.
    repo.write("c.yaml", "key: c\n");
    fake.clear_requests();
    let statuses = |fake: &FakeGithub| {
        fake.requests()
            .iter()
            .map(|r| (r.method.clone(), r.status))
            .collect::<Vec<_>>()
    };
    fake.fail_writes(true);
    let run2 = plan(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run2.expect_code(1);
    assert_eq!(
        statuses(&fake),
        [("GET".to_owned(), 200), ("PATCH".to_owned(), 502)]
    );
    assert!(
        run2.stderr.contains(&format!(
            "cannot update the plan comment on pull request #{PR}: GitHub answered 502: Server Error"
        )),
        "{}",
        run2.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_followed() {
    let fake = FakeGithub::start().await;
    let elsewhere = FakeGithub::start().await;
    let repo = repo();
    fake.inject(Fault::Redirect {
        location: format!(
            "{}/repos/acme/flags/issues/5/comments",
            elsewhere.base_url()
        ),
    });
    let run = plan(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "cannot read the comments of pull request #{PR}: GitHub answered a redirect (302); redirects are not followed (check `GITHUB_API_URL`)"
        )),
        "{}",
        run.stderr
    );
    assert!(elsewhere.requests().is_empty());
    assert!(fake.comments(PR).is_empty());
}
