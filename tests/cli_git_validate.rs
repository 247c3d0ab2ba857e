//! `validate --changed-since REV` on temporary git repositories built with git2: the
//! findings of the change, its dependents, and what was left out.

use serde_json::{Value, json};

use crate::cli_git::{CONFIG, commit, init, rollout, short};
use crate::support::TempRepo;

const DEPENDENT: &str = "key: child\nconditions:\n  - properties:\n      - { type: flag, flag: a, value: true }\n    rollout_percentage: 10\n";

#[test]
fn changed_since_narrows_findings_to_the_change_and_keeps_dependents() {
    let repo = TempRepo::new(
        CONFIG,
        &[
            ("a.yaml", &rollout("a", 10)),
            ("child.yaml", DEPENDENT),
            // An old problem elsewhere.
            (
                "old.yaml",
                "key: old\ntags: [1]\nconditions:\n  - rollout_percentage: 1\n",
            ),
        ],
    );
    let git = init(&repo);
    commit(&git, "base", &[], true);
    // The change removes `a` (its dependent breaks) and adds a broken flag.
    repo.remove("a.yaml");
    repo.write(
        "new.yaml",
        "key: new\nconditions:\n  - rollout_percentage: 101\n",
    );

    let all = repo.run(&["validate", "--format", "json"]);
    all.expect_code(1);
    let all: Value = serde_json::from_str(&all.stdout).unwrap();
    let codes = |doc: &Value| -> Vec<(String, String)> {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["file"].as_str().unwrap().to_owned(),
                    f["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert!(codes(&all).iter().any(|(file, _)| file == "flags/old.yaml"));

    let run = repo.run(&["validate", "--changed-since", "HEAD", "--format", "json"]);
    run.expect_code(1); // the repository still has errors, shown or not
    let narrowed: Value = serde_json::from_str(&run.stdout).unwrap();
    let kept = codes(&narrowed);
    assert!(
        kept.iter().all(|(file, _)| file != "flags/old.yaml"),
        "{kept:?}"
    );
    assert!(
        kept.iter()
            .any(|(file, code)| file == "flags/child.yaml" && code == "missing-flag"),
        "{kept:?}"
    );
    assert!(
        kept.iter().any(|(file, _)| file == "flags/new.yaml"),
        "{kept:?}"
    );
    assert_eq!(
        narrowed["changed_since"],
        json!({"rev": "HEAD", "commit": git.head().unwrap().target().unwrap().to_string(), "left_out": {"errors": 1, "warnings": 0}})
    );
    assert_eq!(narrowed["summary"], all["summary"]);

    let run = repo.run(&["validate", "--changed-since", "HEAD"]);
    run.expect_code(1);
    let head = short(git.head().unwrap().target().unwrap());
    assert!(
        run.stderr.ends_with(&format!(
            "validated 3 flags in 3 files: 3 errors, 0 warnings\nshowing the findings of the change since `HEAD` (commit `{head}`); left out elsewhere: 1 error, 0 warnings\n"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("old.yaml"), "{}", run.stderr);

    let run = repo.run(&["validate", "--changed-since", "HEAD", "--format", "github"]);
    run.expect_code(1);
    assert!(!run.stdout.contains("old.yaml"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with(&format!("::notice title=flagops::showing the findings of the change since `HEAD` (commit `{head}`); left out elsewhere: 1 error, 0 warnings\n")),
        "{}",
        run.stdout
    );
}

#[test]
fn changed_since_with_nothing_changed_leaves_every_file_finding_out() {
    let repo = TempRepo::new(
        CONFIG,
        &[(
            "old.yaml",
            "key: old\ntags: [1]\nconditions:\n  - rollout_percentage: 1\n",
        )],
    );
    let git = init(&repo);
    commit(&git, "base", &[], true);
    let run = repo.run(&["validate", "--changed-since", "HEAD", "--format", "json"]);
    run.expect_code(1);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["findings"], json!([]));
    assert_eq!(
        doc["changed_since"]["left_out"],
        json!({"errors": 1, "warnings": 0})
    );
}
