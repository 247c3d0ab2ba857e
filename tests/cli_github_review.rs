//! `apply [PLAN_FILE] --require-reviewed-plan`: the saved plan, or the plan made now, is
//! applied only when it is the plan the pull request's comment shows (its digest), against the
//! fake GitHub API: the pull request of the event, or after the merge (a push) the one the
//! commit was merged from (commit → pulls); only flagops' own comment is trusted.

use crate::cli_git::{commit, init};
use crate::cli_github::{PR, comments_path, repo, run, run_with, writes};
use crate::support::TempRepo;
use crate::support::fake_github::{FakeGithub, Fault, REPO};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_plan_shown_on_the_pull_request_is_applied() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let apply = [
        "apply",
        "--env",
        "staging",
        "plan.json",
        "--require-reviewed-plan",
    ];

    // No comment yet: refused, nothing applied.
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--out", "plan.json"],
    )
    .await
    .expect_code(0);
    let none = run(&fake, &repo, Some(PR), &apply).await;
    none.expect_code(1);
    assert!(
        none.stderr.contains(&format!(
            "error: pull request #{PR} has no plan comment for `staging` by `github-actions[bot]`; nothing was applied\n"
        )),
        "{}",
        none.stderr
    );
    assert!(!repo.state_file().exists());

    // The comment shows another plan (a flag added since plan.json was saved): refused.
    repo.write("c.yaml", "key: c\n");
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    let other = run(&fake, &repo, Some(PR), &apply).await;
    other.expect_code(1);
    assert!(
        other.stderr.contains(&format!(
            "error: `plan.json` is not the plan shown on pull request #{PR} (its digest is sha256:"
        )),
        "{}",
        other.stderr
    );
    assert!(!repo.state_file().exists());

    // The plan saved and posted together: applied, and GitHub was only read.
    run(
        &fake,
        &repo,
        Some(PR),
        &[
            "plan",
            "--env",
            "staging",
            "--out",
            "plan.json",
            "--github-comment",
        ],
    )
    .await
    .expect_code(0);
    fake.clear_requests();
    let applied = run(&fake, &repo, Some(PR), &apply).await;
    applied.expect_code(0);
    assert!(applied.stdout.contains("created `c`"), "{}", applied.stdout);
    assert!(repo.state_file().exists());
    assert_eq!(writes(&fake), Vec::<String>::new());

    // A refused plan in the comment shows no plan: refused.
    repo.write("bad.yaml", "key: Bad Key\n");
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(1);
    repo.remove("bad.yaml");
    let refused = run(&fake, &repo, Some(PR), &apply).await;
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("shows no plan (it was refused)"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_options_need_what_they_check() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    run(
        &fake,
        &repo,
        None,
        &["plan", "--env", "staging", "--out", "plan.json"],
    )
    .await
    .expect_code(0);
    // Without a pull request: a usage error, nothing read or applied.
    let no_pr = run(
        &fake,
        &repo,
        None,
        &[
            "apply",
            "--env",
            "staging",
            "plan.json",
            "--require-reviewed-plan",
        ],
    )
    .await;
    no_pr.expect_code(2);
    assert_eq!(
        no_pr.stderr,
        "error: `--require-reviewed-plan` needs a pull request: the event has no `pull_request`, `--pr` was not given and `GITHUB_SHA` is not set\n"
    );
    // `--pr` and `--github-comment-author` need the option they serve.
    for args in [
        &["apply", "--env", "staging", "plan.json", "--pr", "5"][..],
        &[
            "apply",
            "--env",
            "staging",
            "--github-comment-author",
            "octocat",
        ][..],
        &["plan", "--env", "staging", "--pr", "5"][..],
    ] {
        let run = run(&fake, &repo, Some(PR), args).await;
        run.expect_code(2);
        assert!(
            run.stderr
                .contains("the following required arguments were not provided"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(fake.requests().is_empty());
    assert!(!repo.state_file().exists());
}

/// A full commit id that is in no repository.
const ORPHAN: &str = "0123456789abcdef0123456789abcdef01234567";

/// Run `flagops -C <repo> args…` as a push build of commit `sha` (no pull request in the
/// event), with `extra` variables.
async fn run_push(
    fake: &FakeGithub,
    repo: &TempRepo,
    sha: &str,
    extra: &[(&str, &str)],
    args: &[&str],
) -> crate::support::Run {
    let event = crate::cli_github::event(repo, None);
    let mut vars = fake.env(Some(&event));
    vars.push(("GITHUB_SHA".to_owned(), sha.to_owned()));
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    run_with(repo.path(), args, vars).await
}

const APPLY_NOW: [&str; 5] = [
    "apply",
    "--env",
    "staging",
    "--auto-approve",
    "--require-reviewed-plan",
];

/// The digest the plan comment for `staging` on `PR` shows.
fn shown_digest(fake: &FakeGithub) -> String {
    let body = fake.comments(PR)[0].body.clone();
    let line = body.lines().nth(1).unwrap();
    line.strip_prefix("<!-- flagops:digest ")
        .and_then(|l| l.strip_suffix(" -->"))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_merge_the_plan_shown_on_the_merged_pull_request_is_applied() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let git = init(&repo);
    let head = commit(&git, "the change", &[], true);
    // The plan comment, made on the pull request's commit.
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    // The merge: a new commit (its id differs from the reviewed one), the same flags.
    std::fs::write(repo.path().join("NOTES.md"), "merged\n").unwrap();
    let merge = commit(&git, "Merge pull request #5", &[head], true).to_string();
    // 120 other pull requests hold the commit (merged as other commits), the merged one is on
    // the second page.
    let other = "f".repeat(40);
    for n in 100..220 {
        fake.seed_pull(n, &[&merge], n % 2 == 0, &other);
    }
    fake.seed_pull(PR, &[&head.to_string()], true, &merge);
    fake.clear_requests();
    let applied = run_push(&fake, &repo, &merge, &[], &APPLY_NOW).await;
    applied.expect_code(0);
    assert!(applied.stdout.contains("created `a`"), "{}", applied.stdout);
    assert!(repo.state_file().exists());
    assert_eq!(
        fake.lines(),
        [
            format!("GET /repos/{REPO}/commits/{merge}/pulls?per_page=100"),
            format!("GET /repos/{REPO}/commits/{merge}/pulls?per_page=100&page=2"),
            format!("GET {}?per_page=100", comments_path()),
        ]
    );
    assert_eq!(writes(&fake), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_merge_a_plan_that_changed_since_the_review_is_refused() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    let git = init(&repo);
    let head = commit(&git, "the change", &[], true);
    run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    let shown = shown_digest(&fake);
    // The merge brings a flag nobody saw in this pull request's plan.
    repo.write("c.yaml", "key: c\n");
    let merge = commit(&git, "Merge pull request #5", &[head], true).to_string();
    fake.seed_pull(PR, &[&head.to_string()], true, &merge);
    fake.clear_requests();
    let refused = run_push(&fake, &repo, &merge, &[], &APPLY_NOW).await;
    refused.expect_code(1);
    let (before, after) = refused
        .stderr
        .split_once("(its digest is sha256:")
        .unwrap_or_else(|| panic!("{}", refused.stderr));
    assert_eq!(
        before,
        format!("error: the plan for `staging` is not the one shown on pull request #{PR} ")
    );
    assert!(
        after.ends_with(&format!(
            ", the comment shows {shown}): the definitions or the live flags changed since the review; nothing was applied\nhint: post the current plan with `flagops -C {} plan --env staging --github-comment --pr {PR}`, review it, then apply again\n",
            repo.path().display()
        )),
        "{}",
        refused.stderr
    );
    assert!(!repo.state_file().exists());
    assert_eq!(writes(&fake), Vec::<String>::new());

    // Posted again (as the hint says) and applied: the plan shown is the plan applied.
    run_push(
        &fake,
        &repo,
        &merge,
        &[],
        &["plan", "--env", "staging", "--github-comment", "--pr", "5"],
    )
    .await
    .expect_code(0);
    let applied = run_push(&fake, &repo, &merge, &[], &APPLY_NOW).await;
    applied.expect_code(0);
    assert!(applied.stdout.contains("created `c`"), "{}", applied.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_one_merged_pull_request_is_refused() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    // In no pull request.
    let none = run_push(&fake, &repo, ORPHAN, &[], &APPLY_NOW).await;
    none.expect_code(1);
    assert_eq!(
        none.stderr,
        format!(
            "error: commit {ORPHAN} is in no pull request, so no plan for `staging` was reviewed; nothing was applied\nhint: merge changes through a pull request whose plan comment shows the plan, or name the pull request with `--pr N`\n"
        )
    );
    // In two open pull requests, neither merged as it.
    fake.seed_pull(9, &[ORPHAN], false, &"e".repeat(40));
    fake.seed_pull(8, &[ORPHAN], false, &"d".repeat(40));
    let two = run_push(&fake, &repo, ORPHAN, &[], &APPLY_NOW).await;
    two.expect_code(1);
    assert_eq!(
        two.stderr,
        format!(
            "error: commit {ORPHAN} is in pull requests #8, #9 and none of them was merged as it; nothing was applied\nhint: name the reviewed pull request with `--pr N`\n"
        )
    );
    // `--pr` chooses; that pull request has no plan comment.
    let named = run_push(
        &fake,
        &repo,
        ORPHAN,
        &[],
        &[&APPLY_NOW[..], &["--pr", "8"]].concat(),
    )
    .await;
    named.expect_code(1);
    assert!(
        named.stderr.starts_with(
            "error: pull request #8 has no plan comment for `staging` by `github-actions[bot]`; nothing was applied\n"
        ),
        "{}",
        named.stderr
    );
    // `GITHUB_SHA` that is not a commit id: never put in a URL.
    fake.clear_requests();
    let bad = run_push(&fake, &repo, "../../issues/5", &[], &APPLY_NOW).await;
    bad.expect_code(2);
    assert_eq!(
        bad.stderr,
        "error: `GITHUB_SHA` is not a full commit id (40 or 64 lower-case hexadecimal digits): `../../issues/5`\n"
    );
    assert!(fake.requests().is_empty());
    assert!(!repo.state_file().exists());
    assert_eq!(writes(&fake), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_pasted_by_someone_else_is_never_trusted_nor_updated() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    // The pull request's author pastes the exact comment flagops would post (marker and
    // digest of the plan about to be applied) before flagops posts anything.
    let scratch = FakeGithub::start().await;
    run(
        &scratch,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await
    .expect_code(0);
    let forged = scratch.comments(PR)[0].body.clone();
    let forged_id = fake.seed_comment_by(PR, "mallory", &forged);
    let apply = [
        "apply",
        "--env",
        "staging",
        "--auto-approve",
        "--require-reviewed-plan",
    ];
    let refused = run(&fake, &repo, Some(PR), &apply).await;
    refused.expect_code(1);
    assert_eq!(
        refused.stderr,
        format!(
            "error: pull request #{PR} has no plan comment for `staging` by `github-actions[bot]` (the marker in a comment by `mallory` is not trusted); nothing was applied\nhint: post the plan with `flagops -C {} plan --env staging --github-comment --pr {PR}`, review it, then apply\n",
            repo.path().display()
        )
    );
    assert!(!repo.state_file().exists());
    // flagops posts its own comment and leaves the pasted one as it was.
    let posted = run(
        &fake,
        &repo,
        Some(PR),
        &["plan", "--env", "staging", "--github-comment"],
    )
    .await;
    posted.expect_code(0);
    assert_eq!(
        posted.stderr,
        format!(
            "ignored the plan marker in a comment by `mallory`: only comments by `github-actions[bot]` are flagops' own (set `--github-comment-author` when the token is another account's)\nposted the plan comment on pull request #{PR}\n"
        )
    );
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 2);
    assert_eq!(
        (comments[0].id, comments[0].body.as_str()),
        (forged_id, forged.as_str())
    );
    assert_eq!(comments[1].author, "github-actions[bot]");
    assert_eq!(
        writes(&fake),
        [format!("POST {}", comments_path())],
        "the pasted comment is never updated"
    );
    // Now the plan is shown by flagops: applied.
    run(&fake, &repo, Some(PR), &apply).await.expect_code(0);
    assert!(repo.state_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_another_account_names_its_login() {
    let fake = FakeGithub::start().await;
    fake.set_identity("flagops-app[bot]");
    let repo = repo();
    let plan = [
        "plan",
        "--env",
        "staging",
        "--github-comment",
        "--github-comment-author",
        "flagops-app[bot]",
    ];
    run(&fake, &repo, Some(PR), &plan).await.expect_code(0);
    repo.write("c.yaml", "key: c\n");
    let second = run(&fake, &repo, Some(PR), &plan).await;
    second.expect_code(0);
    assert_eq!(
        second.stderr,
        format!("updated the plan comment on pull request #{PR}\n")
    );
    let comments = fake.comments(PR);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].author, "flagops-app[bot]");
    assert_eq!(
        writes(&fake),
        [
            format!("POST {}", comments_path()),
            format!("PATCH /repos/{REPO}/issues/comments/{}", comments[0].id),
        ]
    );
    // Without the login, the app's comment is not trusted: apply refuses.
    let apply = [
        "apply",
        "--env",
        "staging",
        "--auto-approve",
        "--require-reviewed-plan",
    ];
    let refused = run(&fake, &repo, Some(PR), &apply).await;
    refused.expect_code(1);
    assert!(
        refused.stderr.starts_with(&format!(
            "error: pull request #{PR} has no plan comment for `staging` by `github-actions[bot]` (the marker in a comment by `flagops-app[bot]` is not trusted); nothing was applied\n"
        )),
        "{}",
        refused.stderr
    );
    assert!(!repo.state_file().exists());
    // Named by the variable (as the action's input sets it): applied.
    let event = crate::cli_github::event(&repo, Some(PR));
    let mut vars = fake.env(Some(&event));
    vars.push((
        "FLAGOPS_GITHUB_COMMENT_AUTHOR".to_owned(),
        "flagops-app[bot]".to_owned(),
    ));
    let applied = run_with(repo.path(), &apply, vars).await;
    applied.expect_code(0);
    assert!(applied.stdout.contains("created `c`"), "{}", applied.stdout);

    // A login that is not one, and the option without a GitHub option: usage errors.
    fake.clear_requests();
    let bad = run(
        &fake,
        &repo,
        Some(PR),
        &[
            "plan",
            "--env",
            "staging",
            "--github-comment",
            "--github-comment-author",
            "evil login",
        ],
    )
    .await;
    bad.expect_code(2);
    assert_eq!(
        bad.stderr,
        "error: the comment author `evil login` (`--github-comment-author` or `FLAGOPS_GITHUB_COMMENT_AUTHOR`) is not a GitHub login: letters, digits and `-`, at most 39, optionally followed by `[bot]`\n"
    );
    let alone = run(
        &fake,
        &repo,
        Some(PR),
        &[
            "plan",
            "--env",
            "staging",
            "--github-comment-author",
            "octocat",
        ],
    )
    .await;
    alone.expect_code(2);
    assert_eq!(
        alone.stderr,
        "error: `--github-comment-author` needs `--github-comment` or `--github-issue`\n"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_lookup_is_a_clear_error_without_the_token() {
    let fake = FakeGithub::start().await;
    let elsewhere = FakeGithub::start().await;
    let repo = repo();
    // A server that echoes the token: scrubbed.
    fake.inject(Fault::EchoAuthorization);
    let echoed = run_push(&fake, &repo, ORPHAN, &[], &APPLY_NOW).await;
    echoed.expect_code(1);
    assert_eq!(
        echoed.stderr,
        format!(
            "error: cannot find the pull request of commit {ORPHAN}: GitHub answered 422: Validation Failed: unexpected header Bearer ***\n"
        )
    );
    // A next page on another origin: never requested.
    fake.seed_pull(9, &[ORPHAN], true, ORPHAN);
    fake.inject(Fault::ForeignNext {
        origin: elsewhere.base_url(),
    });
    let foreign = run_push(&fake, &repo, ORPHAN, &[], &APPLY_NOW).await;
    foreign.expect_code(1);
    assert_eq!(
        foreign.stderr,
        format!(
            "error: cannot find the pull request of commit {ORPHAN}: GitHub pointed to `{}`, which is not the API origin; nothing was sent there\n",
            elsewhere.base_url()
        )
    );
    assert!(elsewhere.requests().is_empty());
    assert!(!repo.state_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_to_apply_github_is_not_asked() {
    let fake = FakeGithub::start().await;
    let repo = repo();
    repo.run(&["apply", "--env", "staging", "--auto-approve"])
        .expect_code(0);
    // A push without `GITHUB_SHA` would be a usage error, were there anything to apply.
    let event = crate::cli_github::event(&repo, None);
    let nothing = run_with(repo.path(), &APPLY_NOW, fake.env(Some(&event))).await;
    nothing.expect_code(0);
    assert_eq!(
        nothing.stdout,
        "No changes: `staging` already matches the repository.\n"
    );
    assert!(fake.requests().is_empty());
}
