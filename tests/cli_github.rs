//! `plan --github-comment` and `plan --github-issue` against the fake GitHub API: one plan
//! comment per environment and directory, updated in place (every page of comments read),
//! no write when nothing changed, rate limits waited out, the token never shown; one drift
//! issue per environment, opened, updated and closed.

use std::path::Path;

use crate::support::fake_github::{FakeGithub, REPO, RecordedRequest, TOKEN};
use crate::support::{Run, TempRepo, flagops_with_env};

const CONFIG: &str = "backend: local\nenvironments:\n  staging: {}\n  production:\n    prune: true\n    max_deletes: 1\n";
pub(crate) const PR: u64 = 5;

pub(crate) fn repo() -> TempRepo {
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
pub(crate) fn event(repo: &TempRepo, pr: Option<u64>) -> std::path::PathBuf {
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
pub(crate) async fn run(fake: &FakeGithub, repo: &TempRepo, pr: Option<u64>, args: &[&str]) -> Run {
    let event = event(repo, pr);
    let vars = fake.env(Some(&event));
    run_with(repo.path(), args, vars).await
}

pub(crate) async fn run_with(dir: &Path, args: &[&str], vars: Vec<(String, String)>) -> Run {
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

pub(crate) fn writes(fake: &FakeGithub) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.is_write())
        .map(RecordedRequest::line)
        .collect()
}

pub(crate) fn comments_path() -> String {
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
