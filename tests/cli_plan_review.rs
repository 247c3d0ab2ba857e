//! `flagops plan` for a reviewer, end to end: refused plans (a repository with a dependency
//! cycle, `max_deletes` exceeded) print their JSON document and a Markdown report instead of
//! nothing; a plan without changes says so in every format; the header names the state file or
//! the PostHog project; `--markdown-budget` bounds the Markdown.

use crate::support::fake_posthog::{FakePosthog, PROJECT_ID};
use crate::support::{Repo, TempRepo, flagops_against_fake, posthog_repo_config};

const CONFIG: &str =
    "backend: local\nenvironments:\n  production:\n    prune: true\n    max_deletes: 1\n";

fn cycle_repo() -> TempRepo {
    TempRepo::new(
        CONFIG,
        &[
            (
                "x.yaml",
                "key: x\ndepends_on: [y]\nconditions:\n  - rollout_percentage: 10\n",
            ),
            (
                "y.yaml",
                "key: y\nconditions:\n  - properties:\n      - { type: flag, flag: x, value: true }\n",
            ),
        ],
    )
}

#[test]
fn a_repository_with_a_cycle_prints_the_refused_plan_in_json_and_markdown() {
    let repo = cycle_repo();
    let run = repo.run(&["plan", "--env", "production", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        r#"{
  "environment": "production",
  "errors": [
    {
      "code": "cycle",
      "column": 14,
      "file": "flags/x.yaml",
      "flag": "x",
      "help": "remove one of the dependencies to break the cycle",
      "line": 2,
      "message": "dependency cycle: x → y → x"
    }
  ],
  "format_version": 1
}
"#
    );
    // The findings still go to stderr, with their source lines.
    assert!(
        run.stderr.contains(
            "error[cycle]: dependency cycle: x → y → x [flag `x`]\n --> flags/x.yaml:2:14\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with(&format!("error: the repository has errors; nothing was planned\nhint: fix the errors above (`flagops -C {} validate` lists them)\n", repo.path().display())),
        "{}",
        run.stderr
    );

    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        "### flagops plan: `production` (refused)\n\n\
         **The repository has 1 error; nothing was planned.** `flagops validate` lists them with \
         their source lines.\n\n\
         - `flags/x.yaml:2:14` **cycle**: dependency cycle: x → y → x\n  \
         _remove one of the dependencies to break the cycle_\n"
    );

    // Human: nothing on stdout, the findings on stderr (as before).
    let run = repo.run(&["plan", "--env", "production"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn a_hostile_finding_message_is_escaped_in_the_markdown_report() {
    // A missing dependency whose name would open an HTML comment and a link.
    let repo = TempRepo::new(
        CONFIG,
        &[(
            "a.yaml",
            "key: a\nconditions:\n  - properties:\n      - { type: flag, flag: \"<!--[x](http://e.example)\", value: true }\n",
        )],
    );
    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert_eq!(run.code, 1, "{run:?}");
    // The name is a code span: no HTML, no link.
    assert!(
        run.stdout.ends_with(
            "- `flags/a.yaml:4:29` **missing-flag**: `a` depends on `<!--[x](http://e.example)`, \
             which is not defined in the repository\n"
        ),
        "{}",
        run.stdout
    );
    for event in pulldown_cmark::Parser::new(&run.stdout) {
        assert!(
            !matches!(
                event,
                pulldown_cmark::Event::Html(_)
                    | pulldown_cmark::Event::InlineHtml(_)
                    | pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. })
            ),
            "{event:?} in {}",
            run.stdout
        );
    }
}

#[test]
fn max_deletes_exceeded_prints_the_refused_plan_in_json_and_markdown() {
    let repo = TempRepo::new(
        CONFIG,
        &[
            (
                "a.yaml",
                "key: a\nconditions:\n  - rollout_percentage: 10\n",
            ),
            (
                "b.yaml",
                "key: b\nconditions:\n  - rollout_percentage: 10\n",
            ),
        ],
    );
    assert_eq!(
        repo.run(&["apply", "--env", "production", "--auto-approve"])
            .code,
        0
    );
    repo.remove("a.yaml");
    repo.remove("b.yaml");
    repo.write(
        "c.yaml",
        "key: c\nconditions:\n  - rollout_percentage: 10\n",
    );
    let run = repo.run(&["plan", "--env", "production", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        r#"{
  "environment": "production",
  "errors": [
    {
      "code": "max-deletes",
      "help": "add the flags back to the repository, protect them, or raise `max_deletes`",
      "message": "the plan deletes 2 flags (`a`, `b`); `max_deletes` for this environment is 1"
    }
  ],
  "format_version": 1
}
"#
    );
    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        "### flagops plan: `production` (refused)\n\n\
         **The plan was refused: 1 problem.** Nothing will be applied.\n\n\
         - **max-deletes**: the plan deletes 2 flags (`a`, `b`); `max_deletes` for this \
         environment is 1\n  \
         _add the flags back to the repository, protect them, or raise `max_deletes`_\n"
    );
}

#[test]
fn a_plan_without_changes_says_so_in_every_format() {
    let repo = TempRepo::new(
        CONFIG,
        &[(
            "a.yaml",
            "key: a\nconditions:\n  - rollout_percentage: 10\n",
        )],
    );
    assert_eq!(
        repo.run(&["apply", "--env", "production", "--auto-approve"])
            .code,
        0
    );
    let run = repo.run(&["plan", "--env", "production", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "plan for environment `production` (backend `local`, local state file `.flagops/state.json`)\n\n\
         no changes: `production` matches the repository (1 flag in sync)\n\n\
         Plan: 0 to create, 0 to update, 0 to delete.\n"
    );
    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{run:?}");
    let (head, foot) = run.stdout.split_once("<sub>flagops ").unwrap();
    assert_eq!(
        head,
        "### flagops plan: `production`\n\n\
         local state file `.flagops/state.json`\n\n\
         **No changes.** 1 flag in sync.\n\n"
    );
    assert!(foot.ends_with("</sub>\n"), "{foot}");
    let run = repo.run(&["plan", "--env", "production", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["steps"], serde_json::json!([]));
    assert_eq!(doc["summary"]["unchanged"], 1);
}

#[test]
fn the_markdown_budget_bounds_the_comment_and_is_checked() {
    let files: Vec<(String, String)> = (0..60)
        .map(|i| {
            (
                format!("f{i:02}.yaml"),
                format!("key: flag-{i:02}\nname: A flag with a long enough name {i}\nconditions:\n  - rollout_percentage: 10\n"),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let repo = TempRepo::new(CONFIG, &files);
    let run = repo.run(&[
        "plan",
        "--env",
        "production",
        "--format",
        "markdown",
        "--markdown-budget",
        "2000",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.len() <= 2_000, "{}", run.stdout.len());
    assert!(
        run.stdout.contains("_Left out to stay under 2000 bytes: "),
        "{}",
        run.stdout
    );
    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert!(!run.stdout.contains("_Left out"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("- **create** `flag-").count(), 60);

    let run = repo.run(&["plan", "--env", "production", "--markdown-budget", "999"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("999 is not in 1000..=1048576"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_names_the_posthog_host_and_project_never_the_key() {
    let fake = FakePosthog::start().await;
    let repo = Repo::empty();
    repo.write("flagops.yaml", posthog_repo_config(&fake.base_url()));
    repo.write(
        "flags/a.yaml",
        "key: a\nconditions:\n  - rollout_percentage: 10\n",
    );
    let host = fake.base_url();
    let run = flagops_against_fake(repo.path(), &["plan", "--env", "live"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!(
            "plan for environment `live` (backend `posthog`, PostHog project `{PROJECT_ID}` at `{host}`)\n"
        )),
        "{}",
        run.stdout
    );
    let run = flagops_against_fake(
        repo.path(),
        &["plan", "--env", "live", "--format", "markdown"],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!(
            "### flagops plan: `live`\n\nPostHog project `{PROJECT_ID}` at `{host}`"
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(crate::support::fake_posthog::WRITE_KEY));
}
