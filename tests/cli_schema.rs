//! `flagops schema`: writes `schemas/*.json`; `--check` exits 1 with a hint when stale.

use std::fs;

use crate::support::Repo;

/// A repository's config names its service: only that service's flag schema is written.
#[test]
fn with_a_config_writes_the_config_schema_and_its_services_flag_schema() {
    for (config, flag_schema) in [
        ("backend: posthog\n", "posthog-flag.schema.json"),
        ("backend: local\n", "posthog-flag.schema.json"),
        (
            "backend: local\nemulate: mixpanel\n",
            "mixpanel-flag.schema.json",
        ),
        ("backend: mixpanel\n", "mixpanel-flag.schema.json"),
    ] {
        let repo = Repo::empty();
        repo.write("flagops.yaml", config);
        let run = repo.run(&["schema"]);
        run.expect_code(0);
        assert_eq!(
            run.stderr,
            format!("wrote schemas/flagops.schema.json\nwrote schemas/{flag_schema}\n"),
            "{config}"
        );
        repo.run(&["schema", "--check"]).expect_code(0);
    }
}

#[test]
fn without_a_config_writes_every_schema_then_check_passes() {
    let repo = Repo::empty();
    let run = repo.run(&["schema"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "wrote schemas/flagops.schema.json\nwrote schemas/posthog-flag.schema.json\n\
         wrote schemas/mixpanel-flag.schema.json\n"
    );
    for file in flagops::schema::generate(None) {
        let written =
            fs::read_to_string(repo.path().join("schemas").join(file.name)).expect("written");
        assert_eq!(written, file.content);
    }
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "schemas are up to date\n");
    // Writing again changes nothing and says nothing.
    let run = repo.run(&["schema"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
}

/// A config that cannot be read is an error (exit 2, its findings shown), as for every
/// command: the schemas written would be guessed, and `--check` would name the wrong ones.
#[test]
fn a_config_that_cannot_be_read_is_an_error_and_nothing_is_written() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: mixpanel
bogus: 1
",
    );
    for args in [&["schema"][..], &["schema", "--check"]] {
        let run = repo.run(args);
        run.expect_code(2);
        assert!(
            run.stderr
                .starts_with("error[schema]: unknown field `bogus`\n --> flagops.yaml:2:1\n"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .ends_with("\nerror: `flagops.yaml` is not a valid flagops config\n"),
            "{}",
            run.stderr
        );
        assert!(!repo.path().join("schemas").exists());
    }
    let run = repo.run(&["--config", "missing.yaml", "schema"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: config file `./missing.yaml` does not exist\nhint: check the path given to `--config`\n"
    );
}

#[test]
fn check_fails_with_a_hint_when_a_schema_is_stale_or_missing() {
    let repo = Repo::empty();
    repo.run(&["schema"]).expect_code(0);
    repo.write("schemas/posthog-flag.schema.json", "{}\n");
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: out of date: schemas/posthog-flag.schema.json\nhint: run `flagops schema` and commit the result\n"
    );
    // --check never writes.
    assert_eq!(
        fs::read_to_string(repo.path().join("schemas/posthog-flag.schema.json")).unwrap(),
        "{}\n"
    );

    fs::remove_file(repo.path().join("schemas/flagops.schema.json")).unwrap();
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with(
            "error: out of date: schemas/flagops.schema.json (missing), schemas/posthog-flag.schema.json\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn check_of_the_committed_schemas_passes() {
    crate::support::flagops(&crate::support::crate_dir(), &["schema", "--check"]).expect_code(0);
}

#[test]
fn directory_option_selects_where_schemas_go() {
    let repo = Repo::empty();
    repo.run(&["-C", "sub", "schema"]).expect_code(0);
    assert!(
        repo.path()
            .join("sub/schemas/flagops.schema.json")
            .is_file()
    );
}

/// A schema path that is a FIFO is never opened (reading or writing one would wait forever),
/// and `schemas` being a file is named as such.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_file_in_the_way_is_an_error_not_a_hang() {
    let repo = Repo::empty();
    fs::create_dir_all(repo.path().join("schemas")).unwrap();
    let fifo = repo.path().join("schemas/flagops.schema.json");
    crate::support::mkfifo(&fifo);
    let run = repo.run(&["schema", "--check"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: out of date: schemas/flagops.schema.json (not a regular file), \
         schemas/posthog-flag.schema.json (missing), schemas/mixpanel-flag.schema.json (missing)\n\
         hint: run `flagops schema` and commit the result\n"
    );
    let run = repo.run(&["schema"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: cannot write `./schemas/flagops.schema.json`: it is not a regular file\n"
    );

    let repo = Repo::empty();
    repo.write("schemas", "x");
    let run = repo.run(&["schema"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: cannot write `./schemas/flagops.schema.json`: `./schemas` is not a directory\n"
    );
}
