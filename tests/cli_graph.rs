//! `flagops graph`: text, DOT and Mermaid output, environments, and exit 1 on a cycle.

use crate::support::Repo;

fn chain() -> Repo {
    let repo = Repo::posthog();
    repo.write(
        "flags/base.yaml",
        "key: base\nconditions: [{ rollout_percentage: 100 }]\n",
    );
    repo.write(
        "flags/middle.yaml",
        "key: middle\nconditions:\n  - properties: [{ type: flag, flag: base, value: true }]\n",
    );
    repo.write(
        "flags/top.yaml",
        "key: top\ndepends_on: [base]\nconditions:\n  - properties: [{ type: flag, flag: middle, value: true }]\n\
         environments:\n  staging:\n    depends_on: []\n",
    );
    repo.write(
        "flags/alone.yaml",
        "key: alone\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    repo
}

#[test]
fn text_lists_apply_levels() {
    let run = chain().run(&["graph"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "apply order (dependencies first; flags in one level are independent):\n\
         level 0\n  alone\n  base\n\
         level 1\n  middle → base\n\
         level 2\n  top → base, middle\n"
    );
}

#[test]
fn text_for_an_environment_uses_its_overrides() {
    let run = chain().run(&["graph", "--env", "staging"]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("level 2\n  top → middle\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_environment_is_a_usage_error() {
    let run = chain().run(&["graph", "--env", "prod"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: unknown environment `prod`\nhint: defined environments: production, staging\n"
    );
}

#[test]
fn dot() {
    let run = chain().run(&["graph", "--format", "dot"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "digraph flagops {\n  rankdir=LR;\n  node [shape=box];\n\
         \x20 \"alone\";\n  \"base\";\n  \"middle\";\n  \"top\";\n\
         \x20 \"middle\" -> \"base\";\n  \"top\" -> \"base\";\n  \"top\" -> \"middle\";\n}\n"
    );
}

#[test]
fn mermaid() {
    let run = chain().run(&["graph", "--format", "mermaid"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "flowchart LR\n  f0[\"alone\"]\n  f1[\"base\"]\n  f2[\"middle\"]\n  f3[\"top\"]\n\
         \x20 f2 --> f1\n  f3 --> f1\n  f3 --> f2\n"
    );
}

#[test]
fn a_cycle_exits_1_and_names_the_full_path() {
    let repo = Repo::posthog();
    repo.write(
        "flags/a.yaml",
        "key: a\ndepends_on: [b]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    repo.write(
        "flags/b.yaml",
        "key: b\ndepends_on: [c]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    repo.write(
        "flags/c.yaml",
        "key: c\ndepends_on: [a]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    for format in ["text", "dot", "mermaid"] {
        let run = repo.run(&["graph", "--format", format]);
        run.expect_code(1);
        assert_eq!(run.stdout, "", "{format}");
        assert!(
            run.stderr.starts_with(
                "error[cycle]: dependency cycle: a → b → c → a [flag `a`]\n --> flags/a.yaml:2:14\n"
            ),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("= note: flags/b.yaml:2:14: `b` depends on `c` here"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("= note: flags/c.yaml:2:14: `c` depends on `a` here"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_missing_dependency_exits_1() {
    let repo = Repo::posthog();
    repo.write(
        "flags/a.yaml",
        "key: a\ndepends_on: [ghost]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    let run = repo.run(&["graph"]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with(
            "error[missing-flag]: `a` depends on `ghost`, which is not defined in the repository"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn other_findings_do_not_stop_the_graph() {
    let repo = chain();
    repo.write(
        "flags/shouty.yaml",
        "key: shouty\ntags: [Loud]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    let run = repo.run(&["graph"]);
    run.expect_code(0);
    assert!(run.stdout.contains("  shouty\n"), "{}", run.stdout);
}

#[test]
fn missing_config_exits_2() {
    Repo::empty().run(&["graph"]).expect_code(2);
}

#[test]
fn an_unreadable_flag_file_stops_the_graph() {
    // `b` fails the schema, so it is not in the graph: drawing `a → b` without `b` (Mermaid
    // drew an edge to a node called `missing`) would be a wrong picture, not a graph.
    let repo = Repo::posthog();
    repo.write(
        "flags/a.yaml",
        "key: a\nconditions:\n  - properties: [{ type: flag, flag: b, value: true }]\n",
    );
    repo.write(
        "flags/b.yaml",
        "key: b\nconditions: [{ rollout_percentage: 1 }]\nbogus: 1\n",
    );
    for format in ["text", "dot", "mermaid"] {
        let run = repo.run(&["graph", "--format", format]);
        run.expect_code(1);
        assert_eq!(run.stdout, "", "{format}");
        assert!(
            run.stderr.starts_with(
                "error[schema]: unknown field `bogus` [flag `b`]\n --> flags/b.yaml:3:1\n"
            ),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_cycle_in_another_environment_does_not_stop_this_graph() {
    let repo = Repo::posthog();
    repo.write(
        "flags/a.yaml",
        "key: a\nconditions: [{ rollout_percentage: 1 }]\n\
         environments:\n  production:\n    depends_on: [b]\n",
    );
    repo.write(
        "flags/b.yaml",
        "key: b\ndepends_on: [a]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    for args in [&["graph"][..], &["graph", "--env", "staging"]] {
        let run = repo.run(args);
        run.expect_code(0);
        assert_eq!(
            run.stdout,
            "apply order (dependencies first; flags in one level are independent):\n\
             level 0\n  a\nlevel 1\n  b → a\n",
            "{args:?}"
        );
    }
    let run = repo.run(&["graph", "--env", "production"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error[cycle]: dependency cycle: a → b → a [flag `a`]\n"),
        "{}",
        run.stderr
    );
}

/// When a flag breaks the schema, graph stops with the findings, and its totals count that
/// flag like `validate`'s do.
#[test]
fn a_flag_that_breaks_the_schema_is_counted_as_validate_counts_it() {
    let repo = Repo::posthog();
    repo.write(
        "flags/a.yaml",
        "key: a\ndepends_on: [b]\nconditions: [{ rollout_percentage: 100 }]\n",
    );
    repo.write(
        "flags/b.yaml",
        "key: b\nconditions: [{ rollout_percentage: 500 }]\n",
    );
    let graph = repo.run(&["graph"]);
    graph.expect_code(1);
    assert_eq!(graph.stdout, "");
    let validate = repo.run(&["validate"]);
    validate.expect_code(1);
    let last = |text: &str| text.lines().last().unwrap_or_default().to_owned();
    assert_eq!(
        last(&graph.stderr),
        "validated 2 flags in 2 files: 1 error, 0 warnings"
    );
    assert_eq!(last(&graph.stderr), last(&validate.stderr));
}
