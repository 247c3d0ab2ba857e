//! Top-level behaviour: `--help`, `--version`, usage errors.

use crate::support::Repo;

#[test]
fn help_lists_every_command_and_exits_0() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let run = Repo::empty().run(args);
        run.expect_code(0);
        assert!(
            run.stdout.starts_with("Feature flags as code"),
            "{}",
            run.stdout
        );
        for command in ["validate", "schema", "graph"] {
            assert!(
                run.stdout.contains(&format!("\n  {command} ")),
                "{command}: {}",
                run.stdout
            );
        }
        assert_eq!(run.stderr, "");
    }
}

#[test]
fn subcommand_help() {
    let run = Repo::empty().run(&["validate", "--help"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Usage: flagops validate [OPTIONS]"),
        "{}",
        run.stdout
    );
    for value in ["human", "json", "github"] {
        assert!(run.stdout.contains(value), "{value}");
    }
    let run = Repo::empty().run(&["graph", "--help"]);
    run.expect_code(0);
    assert!(run.stdout.contains("mermaid"), "{}", run.stdout);
}

#[test]
fn apply_help_describes_the_report_formats_not_the_plan_document() {
    let run = Repo::empty().run(&["apply", "--help"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "json:     The report as a versioned JSON document (`format_version` 1; stdout)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("the same as `--out` saves"),
        "{}",
        run.stdout
    );
}

#[test]
fn version_exits_0() {
    let run = Repo::empty().run(&["--version"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        format!("flagops {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_exits_2() {
    let run = Repo::empty().run(&["deploy"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("unrecognized subcommand 'deploy'"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_subcommand_exits_2() {
    let run = Repo::empty().run(&[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("Usage: flagops [OPTIONS] <COMMAND>"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_option_exits_2() {
    let run = Repo::empty().run(&["validate", "--strict"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unexpected argument '--strict'"),
        "{}",
        run.stderr
    );
}
