//! `flagops validate` on what the flag directories hold besides regular files, and on
//! `flags` entries that reach outside the config's directory.

use crate::support::Repo;

const GOOD: &str = "key: good\nconditions: [{ rollout_percentage: 1 }]\n";

/// Validate in GitHub format: one line per finding, then the exit code.
fn github(repo: &Repo) -> (String, i32) {
    let run = repo.run(&["validate", "--format", "github"]);
    (run.stdout, run.code)
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_named_like_a_flag_file_is_an_error() {
    let repo = Repo::posthog();
    repo.write("flags/good.yaml", GOOD);
    std::os::unix::fs::symlink("gone.yaml", repo.path().join("flags/dangling.yaml")).unwrap();
    assert_eq!(
        github(&repo),
        (
            "::error file=flags/dangling.yaml,title=flagops broken-symlink::symbolic link to \
             `gone.yaml`, which does not exist; not read%0Ahelp: point the link at an existing \
             flag file, or remove it\n"
                .to_owned(),
            1
        )
    );
}

#[cfg(unix)]
#[test]
fn a_looping_symlink_is_an_error() {
    let repo = Repo::posthog();
    std::os::unix::fs::symlink("b.yaml", repo.path().join("flags/a.yaml")).unwrap();
    std::os::unix::fs::symlink("a.yaml", repo.path().join("flags/b.yaml")).unwrap();
    let (out, code) = github(&repo);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "::error file=flags/a.yaml,title=flagops broken-symlink::symbolic link to `b.yaml` \
         that loops back on itself; not read%0Ahelp: point the link at an existing flag file, \
         or remove it\n\
         ::error file=flags/b.yaml,title=flagops broken-symlink::symbolic link to `a.yaml` \
         that loops back on itself; not read%0Ahelp: point the link at an existing flag file, \
         or remove it\n"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_reported_and_never_opened() {
    let repo = Repo::posthog();
    repo.write("flags/good.yaml", GOOD);
    let fifo = repo.path().join("flags/pipe.yaml");
    crate::support::mkfifo(&fifo);
    // Opening the FIFO for reading would block this run forever (no writer).
    let (out, code) = github(&repo);
    assert_eq!(
        (out.as_str(), code),
        (
            "::error file=flags/pipe.yaml,title=flagops not-a-file::a FIFO (named pipe) named \
             like a flag file; not read%0Ahelp: flag files must be regular files (or symbolic \
             links to them); remove it or rename it\n",
            1
        )
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_named_in_the_config_is_reported_and_never_opened() {
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\nflags: [pipe.yaml]\n");
    crate::support::mkfifo(&repo.path().join("pipe.yaml"));
    let (out, code) = github(&repo);
    assert_eq!(
        (out.as_str(), code),
        (
            "::error file=pipe.yaml,title=flagops not-a-file::a FIFO (named pipe) named like a \
             flag file; not read%0Ahelp: flag files must be regular files (or symbolic links to \
             them); remove it or rename it\n",
            1
        )
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_device_behind_a_symlink_is_reported_and_never_opened() {
    let repo = Repo::posthog();
    std::os::unix::fs::symlink("/dev/zero", repo.path().join("flags/zero.yaml")).unwrap();
    let (out, code) = github(&repo);
    assert_eq!(
        (out.as_str(), code),
        (
            "::error file=flags/zero.yaml,title=flagops not-a-file::a character device named \
             like a flag file; not read%0Ahelp: flag files must be regular files (or symbolic \
             links to them); remove it or rename it\n",
            1
        )
    );
}

#[test]
fn a_glob_outside_the_config_directory_is_read_with_a_warning() {
    let repo = Repo::empty();
    repo.write(
        "conf/flagops.yaml",
        "backend: local\nflags: [\"../shared/**/*.yaml\", \"local/\"]\n",
    );
    repo.write("shared/one.yaml", GOOD);
    repo.write(
        "conf/local/two.yaml",
        "key: two\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    let run = repo.run(&["--config", "conf/flagops.yaml", "validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "warning[outside-repository]: `flags` entry `../shared/**/*.yaml` reaches outside the \
         config's directory\n \
         --> flagops.yaml:2:9\n  \
         |\n\
         2 | flags: [\"../shared/**/*.yaml\", \"local/\"]\n  \
         |         ^^^^^^^^^^^^^^^^^^^^^ flags[0]\n  \
         |\n  \
         = help: its files are read too; move them below the config's directory unless that \
         is intended\n\n\
         validated 2 flags in 2 files: 0 errors, 1 warning\n"
    );
}

#[test]
fn a_path_that_only_passes_through_a_parent_stays_inside() {
    let repo = Repo::empty();
    repo.write(
        "flagops.yaml",
        "backend: local\nflags: [\"flags/../flags/*.yaml\"]\n",
    );
    repo.write("flags/good.yaml", GOOD);
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );
}

/// A pull request that adds a symlink from a flag file to a file outside the repository (the
/// environment of the process, a key in the home directory) must not make `validate` quote
/// that file: the link is an error and the file is never read, in every format. The
/// operating system's files are not read even when the config names them.
#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_repository_or_a_kernel_file_is_never_read() {
    let secret = "phx_from_the_environment_42";
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.yaml"),
        format!("key: \"{secret}\"\nbogus: 1\n"),
    )
    .unwrap();
    let repo = Repo::empty();
    repo.write("flagops.yaml", "backend: local\n");
    repo.write("flags/good.yaml", GOOD);
    std::os::unix::fs::symlink("/proc/self/environ", repo.path().join("flags/env.yaml")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("flags/home.yaml"),
    )
    .unwrap();
    let env = [("POSTHOG_API_KEY", secret)];
    for format in ["human", "json", "github"] {
        let run =
            crate::support::flagops_with_env(repo.path(), &["validate", "--format", format], &env);
        run.expect_code(1);
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{format}: {run:?}"
        );
    }
    let run =
        crate::support::flagops_with_env(repo.path(), &["validate", "--format", "github"], &env);
    assert_eq!(
        run.stdout,
        format!(
            "::error file=flags/env.yaml,title=flagops symlink-outside::symbolic link to \
             `/proc/self/environ`, which is outside the repository; not read%0A\
             help: copy the file into the repository, or point the link at a file inside it\n\
             ::error file=flags/home.yaml,title=flagops symlink-outside::symbolic link to \
             `{}`, which is outside the repository; not read%0A\
             help: copy the file into the repository, or point the link at a file inside it\n",
            outside.path().join("secret.yaml").display()
        )
    );

    repo.write(
        "flagops.yaml",
        "backend: local\nflags: [/proc/self/environ]\n",
    );
    let run =
        crate::support::flagops_with_env(repo.path(), &["validate", "--format", "json"], &env);
    run.expect_code(1);
    assert!(!run.stdout.contains(secret), "{}", run.stdout);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["not-a-file", "outside-repository"]);

    // `flagops.yaml` itself linked out of its directory (to a credentials file).
    std::fs::remove_file(repo.path().join("flagops.yaml")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("flagops.yaml"),
    )
    .unwrap();
    let run = crate::support::flagops_with_env(repo.path(), &["validate"], &env);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "error[symlink-outside]: symbolic link to `{}`, which is outside the repository; not read\n  \
             |\n  \
             = note: in flagops.yaml\n  \
             = help: copy the file into the repository, or point the link at a file inside it\n\n\
             error: `flagops.yaml` is not a valid flagops config\n",
            outside.path().join("secret.yaml").display()
        )
    );
}
