//! `apply PLAN_FILE --require-reviewed-plan`: the saved plan is applied only when it is the
//! plan the pull request's comment shows (its digest), against the fake GitHub API.

use crate::cli_github::{PR, repo, run, writes};
use crate::support::fake_github::FakeGithub;

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
            "pull request #{PR} has no plan comment for `staging`; nothing was applied"
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
        other.stderr.contains(
            "`plan.json` is not the plan shown on the pull request (its digest is sha256:"
        ),
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
    assert!(
        no_pr
            .stderr
            .contains("`--require-reviewed-plan` needs a pull request"),
        "{}",
        no_pr.stderr
    );
    // Needs a saved plan; `--pr` needs the option it serves.
    for args in [
        &["apply", "--env", "staging", "--require-reviewed-plan"][..],
        &["apply", "--env", "staging", "plan.json", "--pr", "5"][..],
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
