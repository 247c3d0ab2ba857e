//! `plan --github-issue`: one drift issue per environment, opened while the live flags
//! differ from the definitions, updated, and closed when they match again.

use crate::cli_github::{repo, run, writes};
use crate::support::fake_github::{FakeGithub, REPO};
use crate::support::flagops_with_env;

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
async fn a_drift_issue_opened_by_someone_else_is_left_alone() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let dir = repo.path().to_str().unwrap();
    let marker = format!("<!-- flagops:drift env=staging dir={dir} -->");
    let forged = fake.seed_issue_by(
        "mallory",
        "flagops: drift",
        &format!("{marker}\nclose me"),
        &["flagops-drift"],
    );
    let opened = run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--github-issue"],
    )
    .await;
    opened.expect_code(0);
    assert_eq!(
        opened.stderr,
        format!("opened drift issue #{} for `staging`\n", forged + 1)
    );
    assert_eq!(writes(&fake), [format!("POST /repos/{REPO}/issues")]);
    let issues = fake.issues();
    assert_eq!(issues[0].body, format!("{marker}\nclose me"));
    assert_eq!(issues[0].state, "open");
    assert_eq!(issues[1].author, "github-actions[bot]");
}
