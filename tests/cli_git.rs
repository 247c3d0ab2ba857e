//! `plan --base REV` (and the errors it shares with `validate --changed-since`) on temporary
//! git repositories built with git2 (no `git` command needed; one test also uses it for a
//! shallow clone), the live side in the local backend's state file.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{TempRepo, flagops};

pub(crate) const CONFIG: &str = "backend: local\nenvironments:\n  prod:\n    prune: true\n";

pub(crate) fn rollout(key: &str, percent: u32) -> String {
    format!("key: {key}\nconditions:\n  - rollout_percentage: {percent}\n")
}

/// A git repository at the flag repository's directory, ignoring the state file.
pub(crate) fn init(repo: &TempRepo) -> git2::Repository {
    std::fs::write(repo.path().join(".gitignore"), ".flagops/\n").unwrap();
    let git = git2::Repository::init(repo.path()).unwrap();
    let mut config = git.config().unwrap();
    config.set_str("user.name", "test").unwrap();
    config.set_str("user.email", "test@example.com").unwrap();
    git
}

/// Commit the whole working tree (additions, edits and deletions) with `parents`; HEAD moves
/// to it when `head` is true.
pub(crate) fn commit(
    git: &git2::Repository,
    message: &str,
    parents: &[git2::Oid],
    head: bool,
) -> git2::Oid {
    let mut index = git.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("test", "test@example.com").unwrap();
    let parents: Vec<git2::Commit<'_>> = parents
        .iter()
        .map(|p| git.find_commit(*p).unwrap())
        .collect();
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    git.commit(
        head.then_some("HEAD"),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )
    .unwrap()
}

/// Change the live flags of `prod` in the state file, as the service would (ids stay below
/// the environment's `next_id`).
fn edit_live(repo: &TempRepo, edit: impl FnOnce(&mut Vec<Value>)) {
    let path = repo.state_file();
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let flags = state["environments"]["prod"]["flags"]
        .as_array_mut()
        .unwrap();
    edit(flags);
    let next_id = flags
        .iter()
        .filter_map(|f| f["id"].as_u64())
        .max()
        .map_or(1, |id| id + 1);
    let next = &mut state["environments"]["prod"]["next_id"];
    *next = next.as_u64().unwrap_or(1).max(next_id).into();
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
}

/// Set the first condition's rollout of live flag `key`.
fn set_live_rollout(flags: &mut [Value], key: &str, percent: u32) {
    let flag = flags.iter_mut().find(|f| f["flag"]["key"] == key).unwrap();
    flag["flag"]["conditions"][0]["rollout_percentage"] = json!(percent);
}

fn apply(repo: &TempRepo) {
    repo.run(&["apply", "--env", "prod", "--auto-approve"])
        .expect_code(0);
}

fn json_plan(repo: &TempRepo, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--env", "prod", "--format", "json"];
    args.extend_from_slice(extra);
    let run = repo.run(&args);
    run.expect_code(0);
    serde_json::from_str(&run.stdout).unwrap()
}

pub(crate) fn short(id: git2::Oid) -> String {
    id.to_string()[..12].to_owned()
}

#[test]
fn base_on_linear_history_splits_this_change_from_drift() {
    let repo = TempRepo::new(
        CONFIG,
        &[
            ("a.yaml", &rollout("a", 10)),
            ("b.yaml", &rollout("b", 10)),
            ("c.yaml", &rollout("c", 10)),
        ],
    );
    let git = init(&repo);
    let base = commit(&git, "base", &[], true);
    apply(&repo);
    // The change: `a` edited, `c`'s file deleted, `d` added.
    repo.write("a.yaml", &rollout("a", 50));
    repo.remove("c.yaml");
    repo.write("d.yaml", &rollout("d", 0));
    commit(&git, "change", &[base], true);
    // Drift: `b` changed in the service, `z` created there.
    edit_live(&repo, |flags| {
        set_live_rollout(flags, "b", 70);
        flags.push(json!({"id": 9, "version": 1, "flag": {"key": "z", "conditions": [{"rollout_percentage": 5}]}}));
    });

    let base_sha = base.to_string();
    let run = repo.run(&["plan", "--env", "prod", "--base", &base_sha]);
    run.expect_code(0);
    let section = format!(
        "\n\nsince base `{base_sha}` (commit `{}`):\n  this change (3 flags):\n    update `a`\n    delete `c` (removed from the repository)\n    create `d`\n  drift: changed outside git (2 flags), applying overwrites it:\n    ~ update `b`: the definition did not change since the base\n    - delete `z`: never in the repository (not at the base either)\n\nneeds attention",
        short(base)
    );
    assert!(run.stdout.contains(&section), "{}", run.stdout);

    let mut with = json_plan(&repo, &["--base", &base_sha]);
    assert_eq!(with["base"], json!({"rev": base_sha, "commit": base_sha}));
    assert_eq!(
        with["origin"],
        json!({"a": "change", "b": "drift", "c": "change", "d": "change", "z": "drift"})
    );
    // Additive: without `--base` the document is the same but for these two keys.
    let mut without = json_plan(&repo, &[]);
    assert!(without.get("base").is_none() && without.get("origin").is_none());
    let object = with.as_object_mut().unwrap();
    object.remove("base");
    object.remove("origin");
    with["metadata"]["created_at"] = json!("");
    without["metadata"]["created_at"] = json!("");
    assert_eq!(with, without);

    let run = repo.run(&[
        "plan", "--env", "prod", "--base", "HEAD~1", "--format", "markdown",
    ]);
    run.expect_code(0);
    let drift = run
        .stdout
        .find("#### ⚠️ Drift: changed outside git (2 flags)\n\nLive flags that already differed from the definitions at base `HEAD~1` (commit `")
        .expect(&run.stdout);
    let attention = run.stdout.find("#### ⚠️ Needs attention").unwrap();
    assert!(drift < attention, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "- **update** `b`: the definition did not change since the base\n- **delete** `z`: never in the repository (not at the base either)\n\nThis change (3 flags since `HEAD~1`):\n\n- update `a`\n- delete `c` (removed from the repository)\n- create `d`\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_flag_edited_here_and_in_the_service_is_both() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    let base = commit(&git, "base", &[], true);
    apply(&repo);
    repo.write("a.yaml", &rollout("a", 50));
    edit_live(&repo, |flags| set_live_rollout(flags, "a", 30));
    // Uncommitted: the working tree is what is planned.
    let plan = json_plan(&repo, &["--base", &base.to_string()]);
    assert_eq!(plan["origin"], json!({"a": "both"}));
    let run = repo.run(&["plan", "--env", "prod", "--base", "HEAD"]);
    assert!(
        run.stdout.contains("    ~ update `a`: this change edits it too, and the live flag already differed from the base\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_renamed_file_and_a_flag_moved_between_files_are_not_changes() {
    let repo = TempRepo::new(
        CONFIG,
        &[
            ("a.yaml", &rollout("a", 10)),
            (
                "pair.yaml",
                &format!("{}---\n{}", rollout("p", 10), rollout("q", 10)),
            ),
        ],
    );
    let git = init(&repo);
    let base = commit(&git, "base", &[], true);
    apply(&repo);
    std::fs::rename(
        repo.path().join("flags/a.yaml"),
        repo.path().join("flags/renamed.yaml"),
    )
    .unwrap();
    repo.write("pair.yaml", &rollout("p", 10));
    repo.write("q.yaml", &rollout("q", 10));
    commit(&git, "rename a, move q", &[base], true);
    edit_live(&repo, |flags| {
        set_live_rollout(flags, "a", 40);
        set_live_rollout(flags, "q", 40);
    });
    let plan = json_plan(&repo, &["--base", "HEAD~1"]);
    assert_eq!(plan["origin"], json!({"a": "drift", "q": "drift"}));
    assert_eq!(plan["unchanged"], json!(["p"]));
}

#[test]
fn base_across_a_merge_commit_counts_only_what_the_merge_brings() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    let root = commit(&git, "root", &[], true);
    // A feature branch adds `x` (HEAD stays on main).
    repo.write("x.yaml", &rollout("x", 10));
    let feature = commit(&git, "add x", &[root], false);
    // Main adds `y`.
    repo.remove("x.yaml");
    repo.write("y.yaml", &rollout("y", 10));
    let main = commit(&git, "add y", &[root], true);
    // The merge holds both.
    repo.write("x.yaml", &rollout("x", 10));
    commit(&git, "merge", &[main, feature], true);
    // The service runs what main had before the merge, except `a`, edited there.
    let checkout = repo.path().join("flags/x.yaml");
    std::fs::remove_file(&checkout).unwrap();
    apply(&repo);
    std::fs::write(&checkout, rollout("x", 10)).unwrap();
    edit_live(&repo, |flags| set_live_rollout(flags, "a", 60));

    // Against main's tip (the merge's first parent): only `x` is this change.
    let plan = json_plan(&repo, &["--base", "HEAD^1"]);
    assert_eq!(plan["origin"], json!({"a": "drift", "x": "change"}));
    assert_eq!(plan["base"]["commit"], json!(main.to_string()));
    // Against the feature branch (the second parent): `y` came in with the merge.
    let plan = json_plan(&repo, &["--base", &feature.to_string()]);
    assert_eq!(plan["origin"], json!({"a": "drift", "x": "drift"}));
    // `y` is live and in sync with the merge; against `feature` it is a change with no step.
    assert_eq!(plan["unchanged"], json!(["y"]));
}

#[test]
fn a_base_that_is_not_a_commit_is_a_usage_error() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    commit(&git, "base", &[], true);
    for args in [
        &["plan", "--env", "prod", "--base", "abc"][..],
        &["validate", "--changed-since", "abc"][..],
    ] {
        let run = repo.run(args);
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            "error: base `abc` is not a commit of this repository\nhint: fetch it first (e.g. `git fetch --depth=1 origin <sha>`)\n"
        );
        assert_eq!(run.stdout, "");
    }
    // A blob's id is not a commit either.
    let blob = git.blob(b"key: a\n").unwrap().to_string();
    let run = repo.run(&["plan", "--env", "prod", "--base", &blob]);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with(&format!("error: base `{blob}` is not a commit")),
        "{}",
        run.stderr
    );
}

#[test]
fn outside_a_git_repository_base_and_changed_since_are_usage_errors() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    if git2::Repository::discover(repo.path()).is_ok() {
        return; // the temporary directory is inside a git repository on this machine
    }
    let dir = repo.path().display().to_string();
    for (args, option) in [
        (&["plan", "--env", "prod", "--base", "main"][..], "--base"),
        (
            &["validate", "--changed-since", "main"][..],
            "--changed-since",
        ),
    ] {
        let run = repo.run(args);
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            format!(
                "error: `{dir}` is not inside a git repository; `{option}` reads the definitions from git\nhint: run flagops inside a git checkout, or leave the option out\n"
            )
        );
    }
}

#[test]
fn a_config_added_since_the_base_makes_everything_this_change() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    std::fs::rename(
        repo.path().join("flagops.yaml"),
        repo.path().join("later.yaml"),
    )
    .unwrap();
    let base = commit(&git, "before flagops", &[], true);
    std::fs::rename(
        repo.path().join("later.yaml"),
        repo.path().join("flagops.yaml"),
    )
    .unwrap();
    let plan = json_plan(&repo, &["--base", &base.to_string()]);
    assert_eq!(plan["origin"], json!({"a": "change"}));
}

/// `flagops` run from a subdirectory of the git repository still finds the flag repository's
/// place in it.
#[test]
fn base_works_when_the_flag_repository_is_a_subdirectory() {
    let outer = tempfile::tempdir().unwrap();
    let inner = outer.path().join("ops/flags-repo");
    std::fs::create_dir_all(inner.join("flags")).unwrap();
    std::fs::write(inner.join("flagops.yaml"), CONFIG).unwrap();
    std::fs::write(inner.join("flags/a.yaml"), rollout("a", 10)).unwrap();
    std::fs::write(outer.path().join(".gitignore"), ".flagops/\n").unwrap();
    let git = git2::Repository::init(outer.path()).unwrap();
    let mut index = git.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("test", "test@example.com").unwrap();
    git.commit(Some("HEAD"), &signature, &signature, "base", &tree, &[])
        .unwrap();
    std::fs::write(inner.join("flags/a.yaml"), rollout("a", 20)).unwrap();
    let dir = inner.to_str().unwrap();
    let run = flagops(
        Path::new(dir),
        &[
            "-C", dir, "plan", "--env", "prod", "--base", "HEAD", "--format", "json",
        ],
    );
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    // Not applied anywhere: `a` is created; it was defined at the base, so the service
    // lacking it is drift, and the edit makes it both.
    assert_eq!(plan["origin"], json!({"a": "both"}));

    // `--changed-since` finds the change below the subdirectory too.
    std::fs::write(inner.join("flags/b.yaml"), "key: b\ntags: [1]\n").unwrap();
    std::fs::write(outer.path().join("elsewhere.yaml"), "x: 1\n").unwrap();
    let run = flagops(
        Path::new(dir),
        &[
            "-C",
            dir,
            "validate",
            "--changed-since",
            "HEAD",
            "--format",
            "json",
        ],
    );
    run.expect_code(1);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let files: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["flags/b.yaml", "flags/b.yaml"], "{doc}");
}

#[test]
fn the_drift_section_keeps_a_markdown_plan_under_its_budget() {
    let files: Vec<(String, String)> = (0..60)
        .map(|i| (format!("f{i:02}.yaml"), rollout(&format!("f{i:02}"), 10)))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let repo = TempRepo::new(CONFIG, &files);
    let git = init(&repo);
    commit(&git, "base", &[], true);
    apply(&repo);
    edit_live(&repo, |flags| {
        for i in 0..60 {
            set_live_rollout(flags, &format!("f{i:02}"), 20);
        }
    });
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--base",
        "HEAD",
        "--format",
        "markdown",
        "--markdown-budget",
        "4000",
    ]);
    run.expect_code(0);
    assert!(run.stdout.len() <= 4000, "{} bytes", run.stdout.len());
    assert!(
        run.stdout
            .contains("#### ⚠️ Drift: changed outside git (60 flags)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("- **update** `f04`: the definition did not change since the base\n- … and 55 more (`--format json` lists every step)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_invalid_config_at_the_base_is_a_usage_error() {
    let repo = TempRepo::new("backend: nowhere\n", &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    commit(&git, "broken config", &[], true);
    std::fs::write(repo.path().join("flagops.yaml"), CONFIG).unwrap();
    let run = repo.run(&["plan", "--env", "prod", "--base", "HEAD"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: the config at base `HEAD` is not valid: `flagops.yaml` is not a valid flagops config\nhint: the definitions at the base cannot be read; pick a base whose config is valid, or leave the option out\n"
    );
}

#[test]
fn flag_files_over_the_repository_limit_at_the_base_are_a_usage_error() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    // 33 MiB of comments at the base, gone now.
    let big = vec![b'#'; 33 * 1024 * 1024];
    std::fs::write(repo.path().join("flags/big.yaml"), &big).unwrap();
    commit(&git, "big", &[], true);
    repo.remove("big.yaml");
    let run = repo.run(&["plan", "--env", "prod", "--base", "HEAD"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: the files flagops reads at base `HEAD` are over its size limits (8 MiB for the config, 32 MiB for the YAML files the `flags` entries reach)\n"
    );
}

#[test]
fn the_temporary_copy_of_the_base_is_removed() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    commit(&git, "base", &[], true);
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo.path().to_str().unwrap();
    let run = crate::support::flagops_with_env(
        repo.path(),
        &[
            "-C", dir, "plan", "--env", "prod", "--base", "HEAD", "--format", "json",
        ],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    // Read from the copy: `a` is defined at the base, unchanged, and missing live.
    assert_eq!(plan["origin"], json!({"a": "drift"}));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Run the `git` command; `None` when it is not installed.
fn git_command(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .ok()
}

#[test]
fn in_a_shallow_clone_the_base_must_be_fetched_first() {
    let repo = TempRepo::new(CONFIG, &[("a.yaml", &rollout("a", 10))]);
    let git = init(&repo);
    let base = commit(&git, "base", &[], true);
    repo.write("b.yaml", &rollout("b", 10));
    commit(&git, "add b", &[base], true);
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    let Some(clone) = git_command(
        clones.path(),
        &["clone", "-q", "--depth=1", &url, "shallow"],
    ) else {
        eprintln!("skipped: no `git` command");
        return;
    };
    assert!(clone.status.success(), "{clone:?}");
    let shallow = clones.path().join("shallow");
    let dir = shallow.to_str().unwrap();
    let sha = base.to_string();
    let args = [
        "-C", dir, "plan", "--env", "prod", "--base", &sha, "--format", "json",
    ];
    let run = flagops(&shallow, &args);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "error: base `{sha}` is not a commit of this repository\nhint: fetch it first (e.g. `git fetch --depth=1 origin <sha>`)\n"
        )
    );
    let fetch = git_command(&shallow, &["fetch", "-q", "--depth=1", "origin", &sha]).unwrap();
    assert!(fetch.status.success(), "{fetch:?}");
    let run = flagops(&shallow, &args);
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["origin"], json!({"a": "drift", "b": "change"}));
}
