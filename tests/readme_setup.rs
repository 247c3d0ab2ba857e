//! The README's "Set up" section is what was tried: its set-up block holds the two commands CI
//! runs (and `.ci/run` extracts the same two), every `cargo run` command of the section works
//! as written (run with the built binary in a copy of `examples/`), every example is listed,
//! and a new repository made by `flagops init` validates and plans at once.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{Repo, Run, crate_dir, flagops};

fn readme() -> String {
    fs::read_to_string(crate_dir().join("README.md")).expect("read README.md")
}

/// The README's `## Set up` section (up to the next `## ` heading).
fn set_up_section(readme: &str) -> &str {
    let start = readme
        .find("\n## Set up\n")
        .expect("README has a `## Set up` section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
    &rest[..end]
}

/// The commands of every ```sh block in `text`, in order: one per line, a trailing `# comment`
/// and surrounding spaces removed, empty lines skipped. Each block is a list of commands.
fn sh_blocks(text: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        match (&mut current, trimmed) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                let command = trimmed.split_once(" #").map_or(trimmed, |(c, _)| c).trim();
                if !command.is_empty() {
                    block.push(command.to_owned());
                }
            }
            (None, _) => {}
        }
    }
    blocks
}

/// `cargo run [--locked] -- ARGS` → ARGS (no shell quoting is used in the README's commands).
fn cargo_run_args(command: &str) -> Option<Vec<&str>> {
    let rest = command
        .strip_prefix("cargo run --locked -- ")
        .or_else(|| command.strip_prefix("cargo run -- "))?;
    assert!(
        !rest.contains(['"', '\'', '\\', '$', '|', '&', ';']),
        "README command needs a shell to run: {command}"
    );
    Some(rest.split_whitespace().collect())
}

/// A copy of the repository's `examples/` in a temporary directory (without any local state a
/// developer may have made), so README commands run as in a fresh clone.
fn examples_copy() -> Repo {
    let repo = Repo::empty();
    let source = crate_dir();
    for entry in walkdir::WalkDir::new(source.join("examples"))
        .into_iter()
        .filter_entry(|e| e.file_name() != ".flagops")
    {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(&source).unwrap();
            repo.write(relative.to_str().unwrap(), fs::read(entry.path()).unwrap());
        }
    }
    repo
}

/// The first block of the section holds exactly the two set-up commands CI runs.
#[test]
fn the_set_up_block_holds_the_two_commands() {
    let readme = readme();
    let blocks = sh_blocks(set_up_section(&readme));
    assert_eq!(
        blocks.first().map(Vec::as_slice),
        Some(
            [
                "cargo run --locked -- -C examples/quickstart plan --env staging".to_owned(),
                "cargo test --locked".to_owned(),
            ]
            .as_slice()
        ),
        "README's first set-up block"
    );
}

/// `.ci/run` runs the set-up commands it extracts from the README; it extracts the same two.
#[cfg(unix)]
#[test]
fn ci_extracts_the_same_set_up_commands() {
    let Ok(output) = Command::new("bash")
        .arg(crate_dir().join(".ci/run"))
        .arg("setup-commands")
        .output()
    else {
        panic!("bash is needed to run .ci/run");
    };
    assert!(output.status.success(), "{output:?}");
    let readme = readme();
    let expected = sh_blocks(set_up_section(&readme)).remove(0).join("\n") + "\n";
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
}

/// Every `cargo run` command of the section, in order, exits 0 when run as written.
#[test]
fn every_cargo_run_command_of_the_set_up_section_works() {
    let readme = readme();
    let repo = examples_copy();
    let mut ran: Vec<(String, Run)> = Vec::new();
    for command in sh_blocks(set_up_section(&readme)).concat() {
        let Some(args) = cargo_run_args(&command) else {
            continue;
        };
        let run = flagops(repo.path(), &args);
        assert_eq!(
            run.code, 0,
            "`{command}`\n--- stdout ---\n{}\n--- stderr ---\n{}",
            run.stdout, run.stderr
        );
        ran.push((command, run));
    }
    let output = |needle: &str| {
        &ran.iter()
            .find(|(c, _)| c.contains(needle))
            .unwrap_or_else(|| panic!("README has no `{needle}` command"))
            .1
            .stdout
    };
    // The first plan of the quickstart sees an empty state; after the apply, nothing to do.
    let plans: Vec<&str> = ran
        .iter()
        .filter(|(c, _)| c.contains("-C examples/quickstart plan --env staging"))
        .map(|(_, r)| r.stdout.as_str())
        .collect();
    assert_eq!(plans.len(), 2, "{ran:?}");
    assert!(
        plans[0].ends_with("Plan: 3 to create, 0 to update, 0 to delete.\n"),
        "{}",
        plans[0]
    );
    assert!(
        plans[1].contains("\nno changes: `staging` matches the repository (3 flags in sync)\n")
            && plans[1].ends_with("Plan: 0 to create, 0 to update, 0 to delete.\n"),
        "{}",
        plans[1]
    );
    assert!(output("graph").contains("\nlevel 1\n  new-checkout → checkout-backend\n"));
    // examples/posthog without an account: every flag of it, planned against the local state.
    assert!(
        output("-C examples/posthog --config flagops.local.yaml plan --env staging")
            .ends_with("Plan: 16 to create, 0 to update, 0 to delete.\n")
    );
    // examples/mixpanel the same way, then applied.
    assert!(
        output("-C examples/mixpanel --config flagops.local.yaml plan --env staging")
            .ends_with("Plan: 7 to create, 0 to update, 0 to delete.\n")
    );
    assert!(
        output("-C examples/mixpanel --config flagops.local.yaml apply --env staging").ends_with(
            "Apply complete for `staging`: 7 applied, 0 already applied, 0 failed, 0 skipped, 0 untouched.\n"
        )
    );
}

/// The Examples list names every directory under `examples/`, and its figures are true.
#[test]
fn the_readme_lists_every_example_with_true_figures() {
    let readme = readme();
    let section = set_up_section(&readme);
    let mut names: Vec<String> = fs::read_dir(crate_dir().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        assert!(
            section.contains(&format!("- `examples/{name}` (")),
            "README's Examples list does not describe examples/{name}"
        );
    }
    for example in ["posthog", "mixpanel"] {
        let run = flagops(&crate_dir().join("examples").join(example), &["validate"]);
        run.expect_code(0);
        let summary = run.stderr.trim_end();
        let (flags, files) = summary
            .strip_prefix("validated ")
            .and_then(|s| s.split_once(" flags in "))
            .and_then(|(flags, rest)| Some((flags, rest.split_once(" files")?.0)))
            .unwrap_or_else(|| panic!("{summary}"));
        // The figures may be broken across two lines of the list.
        let words = section.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains(&format!("{flags} flags in {files} files")),
            "README's figures for examples/{example} differ from `{summary}`"
        );
    }
}

/// The section's `flagops init` commands, run as written in an empty directory, give a
/// repository that validates cleanly.
#[test]
fn the_readme_init_commands_give_a_repository_that_validates() {
    let readme = readme();
    let commands: Vec<String> = sh_blocks(set_up_section(&readme))
        .concat()
        .into_iter()
        .filter(|c| c.starts_with("flagops init"))
        .collect();
    for expected in [
        "flagops init --backend posthog",
        "flagops init --backend mixpanel",
        "flagops init --backend local --emulate mixpanel",
    ] {
        assert!(commands.contains(&expected.to_owned()), "{commands:?}");
    }
    for command in commands {
        let repo = Repo::empty();
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        repo.run(&args).expect_code(0);
        let run = repo.run(&["validate"]);
        run.expect_code(0);
        assert_eq!(
            run.stderr, "validated 1 flag in 1 file: 0 errors, 0 warnings\n",
            "`{command}`"
        );
    }
}

/// A first hour without an account: `init --backend local`, `validate`, `plan --env staging`.
#[test]
fn init_local_then_validate_then_plan() {
    let repo = Repo::empty();
    let run = repo.run(&["init", "--backend", "local"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("wrote flagops.yaml\n"),
        "{}",
        run.stdout
    );
    assert!(Path::new(&repo.path().join("flags/example-flag.yaml")).is_file());

    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );

    let run = repo.run(&["plan", "--env", "staging"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with("plan for environment `staging` (backend `local`, local state file `.flagops/state.json`)\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  + create `example-flag`\n"));
    assert!(
        run.stdout
            .ends_with("Plan: 1 to create, 0 to update, 0 to delete.\n")
    );
}
