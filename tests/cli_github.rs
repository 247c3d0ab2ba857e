//! `plan --github-comment` and `plan --github-issue` against the fake GitHub API: one plan
//! comment per environment and directory, updated in place (every page of comments read),
//! no write when nothing changed, rate limits waited out, the token never shown; one drift
//! issue per environment, opened, updated and closed.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::fake_github::{FakeGithub, Fault, REPO, RecordedRequest, TOKEN};
use crate::support::{Run, TempRepo, flagops_with_env};

const CONFIG: &str = "backend: local\nenvironments:\n  staging: {}\n  production:\n    prune: true\n    max_deletes: 1\n";
const PR: u64 = 5;

fn repo() -> TempRepo {
    TempRepo::new(
        CONFIG,
        &[
            (
                "a.yaml",
                "key: a\nconditions:\n  - rollout_percentage: 100\n",
            ),
            (
                "b.yaml",
                "key: b\nconditions:\n  - rollout_percentage: 10\n",
            ),
        ],
    )
}

/// An event payload of a pull request (`Some(n)`) or of a push (`None`), in `repo`.
fn event(repo: &TempRepo, pr: Option<u64>) -> std::path::PathBuf {
    let path = repo.path().join("event.json");
    let payload = match pr {
        Some(n) => format!(r#"{{"action": "synchronize", "pull_request": {{"number": {n}}}}}"#),
        None => r#"{"ref": "refs/heads/main", "head_commit": {"id": "abc"}}"#.to_owned(),
    };
    std::fs::write(&path, payload).unwrap();
    path
}

/// Run `flagops -C <repo> args…` with the Actions variables pointing at `fake` (off the
/// runtime, so the fake keeps serving); the token never appears in stdout or stderr.
async fn run(fake: &FakeGithub, repo: &TempRepo, pr: Option<u64>, args: &[&str]) -> Run {
    let event = event(repo, pr);
    let vars = fake.env(Some(&event));
    run_with(repo.path(), args, vars).await
}

async fn run_with(dir: &Path, args: &[&str], vars: Vec<(String, String)>) -> Run {
    let dir = dir.to_path_buf();
    let mut full = vec!["-C".to_owned(), dir.to_str().unwrap().to_owned()];
    full.extend(args.iter().map(|a| (*a).to_owned()));
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = full.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        flagops_with_env(&dir, &args, &vars)
    })
    .await
    .unwrap();
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "the token was shown: {run:?}"
    );
    run
}

fn writes(fake: &FakeGithub) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.is_write())
        .map(RecordedRequest::line)
        .collect()
}

fn comments_path() -> String {
    format!("/repos/{REPO}/issues/{PR}/comments")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_plan_creates_one_comment_and_later_plans_update_it() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let first = run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    first.expect_code(0);
    assert_eq!(
        first.stderr,
        format!("posted the plan comment on pull request #{PR}\n")
    );
    assert_eq!(
        fake.lines(),
        [
            format!("GET {}?per_page=100", comments_path()),
            format!("POST {}", comments_path())
        ]
    );
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    let dir = repo.path().to_str().unwrap();
    let mut lines = body.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("<!-- flagops:plan env=staging dir={dir} -->")
    );
    let digest = lines.next().unwrap();
    assert!(
        digest.starts_with("<!-- flagops:digest sha256:") && digest.ends_with(" -->"),
        "{digest}"
    );
    assert!(body.contains("### flagops plan: `staging`"), "{body}");
    assert!(body.contains("2 to create"), "{body}");
    // stdout is the plan as usual (human format).
    assert!(
        first
            .stdout
            .contains("Plan: 2 to create, 0 to update, 0 to delete.")
    );

    // The same plan again: read, nothing written.
    fake.clear_requests();
    let same = run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    same.expect_code(0);
    assert_eq!(writes(&fake), Vec::<String>::new());
    assert_eq!(
        same.stderr,
        format!("the plan comment on pull request #{PR} is up to date\n")
    );

    // A change: the same comment is updated.
    repo.write("c.yaml", "key: c\n");
    fake.clear_requests();
    let changed = run(
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
    changed.expect_code(2);
    let id = comments[0].id;
    assert_eq!(
        writes(&fake),
        [format!("PATCH /repos/{REPO}/issues/comments/{id}")]
    );
    let now = fake.comments(PR);
    assert_eq!(now.len(), 1);
    assert!(now[0].body.contains("3 to create"), "{}", now[0].body);
    assert_ne!(
        now[0].body.lines().nth(1),
        Some(digest),
        "the digest follows the plan"
    );
    assert_eq!(
        changed.stderr,
        format!("updated the plan comment on pull request #{PR}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn its_own_comment_is_found_on_the_second_page_of_150() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    fake.seed_comments(PR, 149);
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    assert_eq!(
        fake.comments(PR).len(),
        150,
        "the 150th comment is flagops'"
    );
    repo.write("c.yaml", "key: c\n");
    fake.clear_requests();
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    let own = fake.comments(PR)[149].id;
    assert_eq!(
        fake.lines(),
        [
            format!("GET {}?per_page=100", comments_path()),
            format!("GET {}?per_page=100&page=2", comments_path()),
            format!("PATCH /repos/{REPO}/issues/comments/{own}"),
        ]
    );
    assert_eq!(fake.comments(PR).len(), 150, "no duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_environments_keep_two_comments() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    for env in ["staging", "production", "staging", "production"] {
        run(
            &fake,
            &repo,
            Some(PR),
            &["plan", "--env", env, "--github-comment"],
        )
        .await
        .expect_code(0);
    }
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 2);
    assert!(
        comments[0]
            .body
            .starts_with("<!-- flagops:plan env=staging ")
    );
    assert!(
        comments[1]
            .body
            .starts_with("<!-- flagops:plan env=production ")
    );
    assert_eq!(writes(&fake).len(), 2, "{:?}", fake.lines());
    // A comment that only quotes the marker further down is not flagops'.
    let other = FakeGithub::start().await;
    let marker = fake.comments(PR)[0].body.lines().next().unwrap().to_owned();
    other.seed_comment(PR, &format!("> quoted\n{marker}\n"));
    run(
        &other,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    assert_eq!(other.comments(PR).len(), 2);
    assert_eq!(other.comments(PR)[0].body, format!("> quoted\n{marker}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_plan_shows_its_findings_in_the_comment() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    // Errors in the repository: the findings, with file, line and column.
    repo.write("bad.yaml", "key: Bad Key\n");
    let run1 = run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    run1.expect_code(1);
    let body = fake.comments(PR)[0].body.clone();
    assert!(
        body.contains("### flagops plan: `staging` (refused)"),
        "{body}"
    );
    assert!(body.contains("nothing was planned"), "{body}");
    assert!(body.contains("bad.yaml:1:"), "{body}");
    assert!(
        run1.stderr.contains("posted the plan comment"),
        "{}",
        run1.stderr
    );
    assert!(
        run1.stderr.contains("nothing was planned"),
        "{}",
        run1.stderr
    );

    // A plan refused by policy (two deletes, `max_deletes: 1`) updates the same comment.
    repo.remove("bad.yaml");
    flagops_with_env(
        repo.path(),
        &[
            "-C",
            repo.path().to_str().unwrap(),
            "apply",
            "--env",
            "production",
            "--auto-approve",
        ],
        &[],
    )
    .expect_code(0);
    repo.remove("a.yaml");
    repo.remove("b.yaml");
    let run2 = run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "production", "--github-comment"],
    )
    .await;
    run2.expect_code(1);
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 2, "staging and production");
    let body = &comments[1].body;
    assert!(
        body.contains("### flagops plan: `production` (refused)"),
        "{body}"
    );
    assert!(body.contains("The plan was refused"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_rate_limit_is_waited_out() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    fake.inject(Fault::SecondaryRateLimit { retry_after: 1 });
    let started = Instant::now();
    let run = run(
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
    let run = crate::cli_github::run(
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
    let run1 = run(
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
    let run = run(
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
async fn without_a_pull_request_nothing_is_posted() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let run = run(
        &fake,
        &repo,
        None,
        &[
            "plan",
            "--env",
            "staging",
            "--github-comment",
            "--detailed-exitcode",
        ],
    )
    .await;
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "no pull request (the event has no `pull_request` and `--pr` was not given): the plan comment is not posted\n"
    );
    assert!(fake.requests().is_empty());
    // `--pr N` names one.
    let run = crate::cli_github::run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-comment", "--pr", "9"],
    )
    .await;
    run.expect_code(0);
    assert_eq!(fake.comments(9).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_issue_is_opened_updated_and_closed() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let issues = format!("/repos/{REPO}/issues");
    let list = format!("GET {issues}?state=open&labels=flagops-drift&per_page=100");

    let opened = run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-issue"],
    )
    .await;
    opened.expect_code(0);
    assert_eq!(opened.stderr, "opened drift issue #100 for `staging`\n");
    assert_eq!(fake.lines(), [list.clone(), format!("POST {issues}")]);
    let issue = &fake.issues()[0];
    assert_eq!(issue.labels, ["flagops-drift"]);
    assert_eq!(issue.state, "open");
    assert!(
        issue
            .body
            .starts_with("<!-- flagops:drift env=staging dir="),
        "{}",
        issue.body
    );
    assert!(issue.body.contains("2 to create"), "{}", issue.body);

    // Unchanged drift: no write. Changed drift: the body is updated.
    fake.clear_requests();
    let same = run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-issue"],
    )
    .await;
    assert_eq!(
        same.stderr,
        "drift issue #100 for `staging` is up to date\n"
    );
    assert_eq!(writes(&fake), Vec::<String>::new());
    repo.write("c.yaml", "key: c\n");
    fake.clear_requests();
    let updated = run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-issue"],
    )
    .await;
    assert_eq!(updated.stderr, "updated drift issue #100 for `staging`\n");
    assert_eq!(writes(&fake), [format!("PATCH {issues}/100")]);
    assert!(fake.issues()[0].body.contains("3 to create"));

    // Live matches again: a comment, then closed.
    flagops_with_env(
        repo.path(),
        &[
            "-C",
            repo.path().to_str().unwrap(),
            "apply",
            "--env",
            "staging",
            "--auto-approve",
        ],
        &[],
    )
    .expect_code(0);
    fake.clear_requests();
    let closed = run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-issue"],
    )
    .await;
    closed.expect_code(0);
    assert_eq!(
        closed.stderr,
        "closed drift issue #100: the live flags of `staging` match the definitions\n"
    );
    assert_eq!(
        writes(&fake),
        [
            format!("POST {issues}/100/comments"),
            format!("PATCH {issues}/100")
        ]
    );
    assert_eq!(fake.issues()[0].state, "closed");
    assert!(fake.comments(100)[0].body.contains("match the definitions"));

    // Still no drift: nothing to do.
    fake.clear_requests();
    let quiet = run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-issue"],
    )
    .await;
    assert_eq!(quiet.stderr, "no drift in `staging`, no drift issue open\n");
    assert_eq!(fake.lines(), [list]);
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
    let run1 = run(
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
    let run2 = run(
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
