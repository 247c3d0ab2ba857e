//! `flagops validate`: every exit code and every output format, through the real binary.

use crate::support::{Repo, flagops};

const GOOD: &str = "key: good\nconditions:\n  - rollout_percentage: 50\n";

/// Warnings only: an upper-case tag (PostHog lower-cases it).
const WARNING_ONLY: &str = "key: shouty\ntags: [Growth]\nconditions:\n  - rollout_percentage: 50\n";

/// One error: the variants add up to 90.
const BAD: &str = "\
key: bad-sum
conditions:
  - rollout_percentage: 100
variants:
  - { key: control, rollout_percentage: 45 }
  - { key: test, rollout_percentage: 45 }
";

#[test]
fn clean_repository_exits_0_with_a_summary() {
    let repo = Repo::posthog();
    repo.write("flags/good.yaml", GOOD);
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );
}

#[test]
fn warnings_only_exit_0_and_are_printed() {
    let repo = Repo::posthog();
    repo.write("flags/shouty.yaml", WARNING_ONLY);
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert!(
        run.stderr.starts_with(
            "warning[tag-case]: PostHog stores tag `Growth` as `growth` [flag `shouty`]\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with("validated 1 flag in 1 file: 0 errors, 1 warning\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn findings_exit_1_and_draw_the_offending_line_with_a_caret() {
    let repo = Repo::posthog();
    repo.write("flags/good.yaml", GOOD);
    repo.write("flags/bad.yaml", BAD);
    let run = repo.run(&["validate"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    let expected = "\
error[variant-sum]: variant rollout percentages add up to 90, not 100 [flag `bad-sum`]
 --> flags/bad.yaml:5:3
  |
5 |   - { key: control, rollout_percentage: 45 }
  |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ variants
  |
  = help: adjust the variants' `rollout_percentage` so they sum to 100

validated 2 flags in 2 files: 1 error, 0 warnings
";
    assert_eq!(run.stderr, expected);
}

#[test]
fn no_colour_codes_with_no_color() {
    let repo = Repo::posthog();
    repo.write("flags/bad.yaml", BAD);
    let run = repo.run(&["validate"]);
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let repo = Repo::posthog();
    repo.write("flags/bad.yaml", BAD);
    repo.write(
        "flags/typo.yaml",
        "key: typo\nconditions:\n  - rollout_percentge: 5\n",
    );
    repo.write("flags/broken.yaml", "key: [unclosed\n");
    repo.write(
        "flags/dep.yaml",
        "key: dep\ndepends_on: [nope]\nconditions: [{rollout_percentage: 1}]\n",
    );
    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let codes: Vec<(&str, &str)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("flags/bad.yaml", "variant-sum"),
            ("flags/broken.yaml", "yaml-syntax"),
            ("flags/dep.yaml", "missing-flag"),
            ("flags/typo.yaml", "schema"),
        ]
    );
}

#[test]
fn json_format_is_a_versioned_document_on_stdout() {
    let repo = Repo::posthog();
    repo.write("flags/bad.yaml", BAD);
    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.stderr, "");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        doc,
        serde_json::json!({
            "version": 1,
            "summary": { "files": 1, "flags": 1, "errors": 1, "warnings": 0 },
            "findings": [{
                "severity": "error",
                "code": "variant-sum",
                "file": "flags/bad.yaml",
                "line": 5,
                "column": 3,
                "end_line": 7,
                "end_column": 1,
                "flag": "bad-sum",
                "field": "variants",
                "message": "variant rollout percentages add up to 90, not 100",
                "help": "adjust the variants' `rollout_percentage` so they sum to 100",
                "related": []
            }]
        })
    );
}

#[test]
fn json_format_of_a_clean_repository() {
    let repo = Repo::posthog();
    repo.write("flags/good.yaml", GOOD);
    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        doc,
        serde_json::json!({
            "version": 1,
            "summary": { "files": 1, "flags": 1, "errors": 0, "warnings": 0 },
            "findings": []
        })
    );
}

#[test]
fn json_related_locations() {
    let repo = Repo::posthog();
    repo.write("flags/a.yaml", GOOD);
    repo.write("flags/b.yaml", GOOD);
    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let finding = &doc["findings"][0];
    assert_eq!(finding["code"], "duplicate-flag");
    assert_eq!(finding["file"], "flags/b.yaml");
    assert_eq!(
        finding["related"],
        serde_json::json!([{ "file": "flags/a.yaml", "line": 1, "column": 6, "message": "first defined here" }])
    );
}

#[test]
fn github_format_emits_workflow_commands() {
    let repo = Repo::posthog();
    repo.write("flags/bad.yaml", BAD);
    repo.write("flags/shouty.yaml", WARNING_ONLY);
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(1);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "::error file=flags/bad.yaml,line=5,col=3,title=flagops variant-sum::variant rollout \
         percentages add up to 90, not 100 [flag `bad-sum`]%0Ahelp: adjust the variants' \
         `rollout_percentage` so they sum to 100\n\
         ::warning file=flags/shouty.yaml,line=2,col=8,endColumn=14,title=flagops tag-case::\
         PostHog stores tag `Growth` as `growth` [flag `shouty`]%0Ahelp: write `growth`\n"
    );
}

#[test]
fn github_format_with_a_path_prefix() {
    let repo = Repo::posthog();
    repo.write("flags/bad.yaml", BAD);
    let run = repo.run(&[
        "validate",
        "--format",
        "github",
        "--path-prefix",
        "infra/flags-repo",
    ]);
    run.expect_code(1);
    assert!(
        run.stdout
            .starts_with("::error file=infra/flags-repo/flags/bad.yaml,line=5,col=3,"),
        "{}",
        run.stdout
    );
}

#[test]
fn github_format_names_related_places_and_drops_a_dot_prefix() {
    // The action passes `--path-prefix .` by default; a cycle names every file involved.
    let repo = Repo::posthog();
    repo.write(
        "flags/a.yaml",
        "key: a\ndepends_on: [b]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    repo.write(
        "flags/b.yaml",
        "key: b\ndepends_on: [a]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    let run = repo.run(&["validate", "--format", "github", "--path-prefix", "."]);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        "::error file=flags/a.yaml,line=2,col=14,endColumn=15,title=flagops cycle::\
         dependency cycle: a → b → a [flag `a`]%0Anote: flags/b.yaml:2:14: `b` depends on `a` \
         here%0Ahelp: remove one of the dependencies to break the cycle\n"
    );
}

#[test]
fn directory_option_and_config_option() {
    let repo = Repo::empty();
    repo.write("sub/flagops.yaml", crate::support::POSTHOG_CONFIG);
    repo.write("sub/flags/good.yaml", GOOD);
    repo.run(&["-C", "sub", "validate"]).expect_code(0);
    repo.run(&["validate", "-C", "sub"]).expect_code(0);
    repo.run(&["--config", "sub/flagops.yaml", "validate"])
        .expect_code(0);
    // Paths in findings are relative to the config file's directory.
    repo.write("sub/flags/bad.yaml", BAD);
    let run = repo.run(&[
        "validate",
        "--config",
        "sub/flagops.yaml",
        "--format",
        "github",
    ]);
    run.expect_code(1);
    assert!(
        run.stdout.starts_with("::error file=flags/bad.yaml,"),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_config_exits_2_with_a_hint() {
    let repo = Repo::empty();
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: no `flagops.yaml` in `.`\nhint: create `flagops.yaml`, pass `-C <dir>` or `--config <file>`\n"
    );
    let run = repo.run(&["validate", "--config", "elsewhere.yaml"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: config file `./elsewhere.yaml` does not exist\nhint: check the path given to `--config`\n"
    );
}

#[test]
fn invalid_config_exits_2_with_a_located_finding() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nenvironments:\n  prod:\n    hots: https://eu.posthog.com\n",
    );
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error[schema]: unknown field `hots`\n --> flagops.yaml:4:5\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("4 |     hots: https://eu.posthog.com\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("= help: did you mean `host`?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with("error: `flagops.yaml` is not a valid flagops config\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("validated"), "{}", run.stderr);
}

#[test]
fn invalid_config_given_with_config_draws_its_own_lines() {
    // The findings of `sub/flagops.yaml` are relative to `sub/`; the snippet must come from
    // that file, not from the `flagops.yaml` of the directory flagops runs in.
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\nflags: flags/\n");
    repo.write(
        "sub/flagops.yaml",
        "backend: posthog\nenvironments:\n  prod:\n    hots: https://eu.posthog.com\n",
    );
    let run = repo.run(&["--config", "sub/flagops.yaml", "validate"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("4 |     hots: https://eu.posthog.com\n"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("flags: flags/"), "{}", run.stderr);
}

#[test]
fn config_integer_written_as_a_float_is_located() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nenvironments:\n  prod:\n    host: https://eu.posthog.com\n    \
         project_id: 12.0\n    api_key_env: KEY\n",
    );
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(
            "error[schema]: `12.0` has the wrong type (expected integer)\n --> flagops.yaml:5:17\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("= help: write it without a decimal point"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_with_only_a_separator_is_empty() {
    let repo = Repo::empty();
    repo.write("flagops.yaml", "---\n");
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error[empty-file]: config file is empty\n  |\n  = note: in flagops.yaml\n  \
         = help: write at least `backend: posthog` (or `backend: local`)\n\n\
         error: `flagops.yaml` is not a valid flagops config\n"
    );
}

#[test]
fn config_with_two_documents_is_refused() {
    // Only the first document was read; the second was silently ignored.
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\n---\nbackend: posthog\n");
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(
            "error[config]: config file holds more than one YAML document; only one is read\n \
             --> flagops.yaml:3:1\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn caret_on_the_first_line_of_a_file_with_a_byte_order_mark() {
    let repo = Repo::posthog();
    repo.write(
        "flags/bom.yaml",
        "\u{feff}key: bad key\r\nconditions: [{ rollout_percentage: 1 }]\r\n",
    );
    let run = repo.run(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(" --> flags/bom.yaml:1:6\n  |\n1 | key: bad key\n  |      ^^^^^^^ key\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_config_in_json_format_is_still_a_document() {
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: posthg\n");
    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(2);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["findings"][0]["file"], "flagops.yaml");
    assert_eq!(doc["findings"][0]["line"], 1);
    assert_eq!(doc["findings"][0]["column"], 10);
    assert_eq!(
        run.stderr,
        "error: `flagops.yaml` is not a valid flagops config\n"
    );
}

#[test]
fn posthog_environment_without_its_connection_fields_exits_2() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nenvironments:\n  prod:\n    host: https://eu.posthog.com\n",
    );
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(2);
    assert_eq!(
        run.stdout,
        "::error file=flagops.yaml,line=4,col=5,title=flagops config::environment `prod` needs `project_id` for the posthog backend\n\
         ::error file=flagops.yaml,line=4,col=5,title=flagops config::environment `prod` needs `api_key_env` for the posthog backend\n"
    );
}

#[test]
fn mixpanel_environment_without_its_connection_fields_exits_2() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: mixpanel\nenvironments:\n  prod:\n    region: eu\n    api_key_env: KEY\n",
    );
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(2);
    assert_eq!(
        run.stdout,
        "::error file=flagops.yaml,line=4,col=5,title=flagops config::environment `prod` needs `project_id` for the mixpanel backend\n\
         ::error file=flagops.yaml,line=4,col=5,title=flagops config::environment `prod` needs `username_env` for the mixpanel backend\n\
         ::error file=flagops.yaml,line=4,col=5,title=flagops config::environment `prod` needs `secret_env` for the mixpanel backend\n\
         ::error file=flagops.yaml,line=5,col=18,endColumn=21,title=flagops config::`api_key_env` of environment `prod` is not a setting of the mixpanel backend%0Ahelp: remove it, or check `backend`\n"
    );
}

#[test]
fn settings_of_another_backend_and_emulate_outside_local_exit_2() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: posthog\nemulate: mixpanel\nenvironments:\n  prod:\n    host: https://eu.posthog.com\n    project_id: 1\n    api_key_env: KEY\n    region: eu\n",
    );
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(2);
    assert_eq!(
        run.stdout,
        "::error file=flagops.yaml,line=2,col=10,endColumn=18,title=flagops config::`emulate` is a setting of the local backend, not of `posthog`%0Ahelp: remove it: the service itself decides its flags' rules\n\
         ::error file=flagops.yaml,line=8,col=13,endColumn=15,title=flagops config::`region` of environment `prod` is not a setting of the posthog backend%0Ahelp: remove it, or check `backend`\n"
    );
}

#[test]
fn unknown_flags_directory_exits_2() {
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\nflags: flag-files/\n");
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`flags` entry `flag-files/` does not exist"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with("error: `flagops.yaml` is not a valid flagops config\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_glob_that_matches_nothing_is_a_warning_on_the_config() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: local\nflags: [\"flags/**/*.yaml\", \"more/*.yml\"]\n",
    );
    repo.write("flags/a/good.yaml", GOOD);
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "::warning file=flagops.yaml,line=2,col=28,endColumn=40,title=flagops no-files::`flags` entry `more/*.yml` matches no file\n"
    );
}

#[test]
fn a_glob_is_relative_to_the_config_file_even_outside_its_directory() {
    // Paths in the config are relative to it; a glob starting with `../` or `./` matched
    // nothing (globs were only tried on files below the config's directory).
    let repo = Repo::empty();
    repo.write(
        "conf/flagops.yaml",
        "backend: local\nflags: [\"../shared/*.yaml\", \"./local/**/*.yml\"]\n",
    );
    repo.write(
        "shared/one.yaml",
        "key: one\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    repo.write(
        "conf/local/deep/two.yml",
        "key: two\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    repo.write("conf/other.yaml", "key: three\n");
    let run = repo.run(&[
        "--config",
        "conf/flagops.yaml",
        "validate",
        "--format",
        "json",
    ]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 2, "flags": 2, "errors": 0, "warnings": 1}),
        "{}",
        run.stdout
    );
    assert_eq!(
        doc["findings"][0]["message"],
        "`flags` entry `../shared/*.yaml` reaches outside the config's directory"
    );
}

#[test]
fn an_empty_flag_directory_is_a_warning_on_the_config() {
    // A directory of `.json` files (or none yet) validated "0 flags in 0 files" silently.
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\nflags: flags/\n");
    repo.write("flags/a.json", "{}");
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "::warning file=flagops.yaml,line=2,col=8,endColumn=14,title=flagops no-files::`flags` entry `flags/` holds no \
         `*.yaml` or `*.yml` file\n"
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_flag_file_is_read() {
    let repo = Repo::posthog();
    repo.write(
        "shared/common.yaml",
        "key: common\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    std::os::unix::fs::symlink(
        "../shared/common.yaml",
        repo.path().join("flags/common.yaml"),
    )
    .unwrap();
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );
}

#[test]
fn unknown_format_is_a_usage_error() {
    let run = flagops(Repo::posthog().path(), &["validate", "--format", "xml"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("invalid value 'xml' for '--format <FORMAT>'"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_summary_counts_flags_with_schema_errors_too() {
    // "validated 1 flag" left out the flag whose `active` was `yes`.
    let repo = Repo::posthog();
    repo.write("flags/good.yaml", GOOD);
    repo.write(
        "flags/broken.yaml",
        "key: broken\nactive: yes\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    let run = repo.run(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .ends_with("validated 2 flags in 2 files: 1 error, 0 warnings\n"),
        "{}",
        run.stderr
    );
}

/// A `state` that names no file (empty, or a directory) is a located config error, not a
/// `plan` failure later.
#[test]
fn a_state_that_names_a_directory_is_a_config_error() {
    for state in ["\"\"", ".flagops/"] {
        let repo = Repo::empty();
        repo.write(
            "flagops.yaml",
            format!("backend: local\nstate: {state}\nenvironments:\n  a: {{}}\n"),
        );
        for args in [&["validate"][..], &["plan", "--env", "a"]] {
            let run = repo.run(args);
            run.expect_code(2);
            assert_eq!(
                run.stderr,
                format!(
                    "error[config]: `state` must name a file, not a directory\n --> flagops.yaml:2:8\n  |\n\
                     2 | state: {state}\n  |        {} state\n  |\n\
                     \x20 = help: write e.g. `state: .flagops/state.json`, or leave it out for that default\n\n\
                     error: `flagops.yaml` is not a valid flagops config\n",
                    "^".repeat(state.len())
                ),
                "{args:?}"
            );
        }
    }
}

/// `flags: []` reads nothing: a located warning, not a silent "0 flags in 0 files".
#[test]
fn an_empty_flags_list_is_a_warning_on_the_config() {
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\nflags: []\n");
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "::warning file=flagops.yaml,line=2,col=8,endColumn=10,title=flagops no-files::`flags` lists no entry, so no flag file is read%0Ahelp: write `flags: flags/` (the default) or list the directories and globs\n"
    );
}

/// A config that is a FIFO or a directory is named as such (exit 2), never opened; before, a
/// FIFO "did not exist".
#[cfg(unix)]
#[test]
fn a_config_that_is_not_a_file_is_named_as_such() {
    let repo = Repo::empty();
    crate::support::mkfifo(&repo.path().join("pipe.yaml"));
    let run = repo.run(&["--config", "pipe.yaml", "validate"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error[not-a-file]: the config is a FIFO (named pipe), not a file; not read\n  |\n  \
         = note: in pipe.yaml\n\nerror: `pipe.yaml` is not a valid flagops config\n"
    );
    std::fs::create_dir_all(repo.path().join("flagops.yaml")).unwrap();
    let run = repo.run(&["validate"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error[not-a-file]: the config is a directory, not a file; not read\n  |\n  \
         = note: in flagops.yaml\n\nerror: `flagops.yaml` is not a valid flagops config\n"
    );
}

/// Each `flags` entry is a walk of its directory: a config listing more than 1,000 is a
/// located config error, not minutes of walking.
#[test]
fn too_many_flags_entries_is_a_config_error() {
    let repo = Repo::empty();
    let config = |n: usize| {
        let entries: Vec<String> = (0..n)
            .map(|i| format!("  - \"flags/*{i}*.yaml\""))
            .collect();
        format!("backend: local\nflags:\n{}\n", entries.join("\n"))
    };
    repo.write("flagops.yaml", config(1_001));
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(2);
    assert_eq!(
        run.stdout,
        "::error file=flagops.yaml,line=3,col=3,title=flagops config::`flags` lists 1,001 entries; \
         the limit is 1,000%0Ahelp: name the directories that hold flag files, or use a glob such \
         as `flags/**/*.yaml`\n"
    );
    repo.write("flagops.yaml", config(1_000));
    repo.run(&["validate"]).expect_code(0);
}
