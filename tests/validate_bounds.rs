//! `flagops validate` stays bounded on large input: repeats of one rule over one list
//! collapse into one finding, findings are capped per file and per run (the totals still
//! count them all), and a repository has a size and a flag-count limit.

use std::fmt::Write as _;

use crate::support::Repo;

fn json(repo: &Repo) -> (serde_json::Value, i32) {
    let run = repo.run(&["validate", "--format", "json"]);
    let doc = serde_json::from_str(&run.stdout).expect("a JSON document");
    (doc, run.code)
}

/// (severity, code, field, message) of each finding.
fn rows(doc: &serde_json::Value) -> Vec<(String, String, String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("-").to_owned();
            (s("severity"), s("code"), s("field"), s("message"))
        })
        .collect()
}

#[test]
fn repeated_tag_findings_collapse_into_one_with_a_count() {
    let repo = Repo::posthog();
    let tags = vec!["Beta"; 20_000].join(", ");
    repo.write(
        "flags/tags.yaml",
        format!("key: tags\ntags: [{tags}]\nconditions: [{{ rollout_percentage: 1 }}]\n"),
    );
    let (doc, code) = json(&repo);
    assert_eq!(code, 0);
    let row = |code: &str, field: &str, message: &str| {
        (
            "warning".to_owned(),
            code.to_owned(),
            field.to_owned(),
            message.to_owned(),
        )
    };
    let case = "PostHog stores tag `Beta` as `beta`";
    let twice = "tag `beta` is listed twice";
    assert_eq!(
        rows(&doc),
        [
            row("tag-case", "tags[0]", case),
            row("duplicate-tag", "tags[1]", twice),
            row("tag-case", "tags[1]", case),
            row("duplicate-tag", "tags[2]", twice),
            row(
                "tag-case",
                "tags[2]",
                "PostHog stores tag `Beta` as `beta` (and 19,997 more in `tags`)"
            ),
            row(
                "duplicate-tag",
                "tags[3]",
                "tag `beta` is listed twice (and 19,996 more in `tags`)"
            ),
        ]
    );
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 1, "flags": 1, "errors": 0, "warnings": 6})
    );
}

#[test]
fn repeated_schema_findings_in_one_list_collapse() {
    let repo = Repo::posthog();
    repo.write(
        "flags/numbers.yaml",
        "key: numbers\ntags: [1, 2, 3, 4, 5]\nconditions: [{ rollout_percentage: 1 }]\n",
    );
    let (doc, code) = json(&repo);
    assert_eq!(code, 1);
    let row = |i: usize, message: &str| {
        (
            "error".to_owned(),
            "schema".to_owned(),
            format!("tags[{i}]"),
            message.to_owned(),
        )
    };
    assert_eq!(
        rows(&doc),
        [
            row(0, "`1` has the wrong type (expected string)"),
            row(1, "`2` has the wrong type (expected string)"),
            row(
                2,
                "`3` has the wrong type (expected string) (and 2 more in `tags`)"
            ),
        ]
    );
}

/// A boolean flag with `n` payload keys other than `true`: `n` distinct `payload-key` errors.
fn many_payloads(key: &str, n: usize) -> String {
    let mut text = format!("key: {key}\nconditions: [{{ rollout_percentage: 1 }}]\npayloads:\n");
    for i in 0..n {
        writeln!(text, "  p{i:05}: 1").unwrap();
    }
    text
}

#[test]
fn findings_past_the_per_file_limit_are_counted_not_shown() {
    let repo = Repo::posthog();
    repo.write("flags/many.yaml", many_payloads("many", 1_003));
    let (doc, code) = json(&repo);
    assert_eq!(code, 1);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1_001);
    assert_eq!(
        findings[999]["message"],
        "a boolean flag only serves the `true` payload; `p00999` is never served"
    );
    assert_eq!(
        findings[1_000],
        serde_json::json!({
            "severity": "error", "code": "finding-limit", "file": "flags/many.yaml",
            "line": null, "column": null, "end_line": null, "end_column": null,
            "flag": null, "field": null,
            "message": "3 more findings in this file not shown (limit 1,000 per file)",
            "help": "fix the findings shown and run again", "related": []
        })
    );
    // The totals count every finding, shown or not.
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 1, "flags": 1, "errors": 1_003, "warnings": 0})
    );
}

#[test]
fn findings_past_the_per_run_limit_are_counted_not_shown() {
    let repo = Repo::posthog();
    for f in 0..11 {
        repo.write(
            &format!("flags/f{f:02}.yaml"),
            many_payloads(&format!("f{f:02}"), 1_000),
        );
    }
    let (doc, code) = json(&repo);
    assert_eq!(code, 1);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 10_001);
    assert_eq!(findings[9_999]["file"], "flags/f09.yaml");
    assert_eq!(findings[10_000]["code"], "finding-limit");
    assert_eq!(findings[10_000]["file"], serde_json::Value::Null);
    assert_eq!(
        findings[10_000]["message"],
        "1,000 more findings not shown (limit 10,000 per run)"
    );
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 11, "flags": 11, "errors": 11_000, "warnings": 0})
    );
}

#[cfg(unix)]
#[test]
fn a_repository_over_the_size_limit_is_not_loaded() {
    let repo = Repo::posthog();
    // Sparse files: 5 × 7 MiB listed, nothing written. The first four are read (their NULs
    // are findings of their own), then none is loaded and only the limit is reported.
    for i in 0..5 {
        sparse_flag_file(&repo, i, 7 * 1024 * 1024);
    }
    assert_only_the_repository_limit(&repo, "36,700,160");
}

/// `flags/big{i}.yaml`, `size` bytes long with nothing written (zeros).
#[cfg(unix)]
fn sparse_flag_file(repo: &Repo, i: usize, size: u64) -> std::fs::File {
    let file = std::fs::File::create(repo.path().join(format!("flags/big{i}.yaml"))).unwrap();
    file.set_len(size).unwrap();
    file
}

/// `validate` reports the repository's size limit alone (exit 1), for files of `total` bytes.
#[cfg(unix)]
fn assert_only_the_repository_limit(repo: &Repo, total: &str) {
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        format!(
            "::error file=flagops.yaml,title=flagops repository-too-large::the 5 flag files total \
             {total} bytes; the limit is 33,554,432 bytes (32 MiB) per repository, so none was \
             loaded%0Ahelp: split the flags into several repositories, each with its own config\n"
        )
    );
}

/// Files that cannot be used count against the repository's limit all the same: one over
/// the file limit (not read) by its size, one that is not UTF-8 (read) by its bytes.
#[cfg(unix)]
#[test]
fn files_that_cannot_be_used_count_against_the_repository_limit() {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let repo = Repo::posthog();
    let mib = 1024 * 1024;
    // 9 MiB (over the 8 MiB file limit), 7 MiB ending in a byte that is not UTF-8, then
    // three of 7 MiB: 37 MiB in all, over 32 MiB only if the first two are counted.
    let sizes = [9 * mib, 7 * mib, 7 * mib, 7 * mib, 7 * mib];
    for (i, size) in sizes.into_iter().enumerate() {
        let mut file = sparse_flag_file(&repo, i, size);
        if i == 1 {
            file.seek(SeekFrom::Start(size - 1)).unwrap();
            file.write_all(b"\xff").unwrap();
        }
    }
    assert_only_the_repository_limit(&repo, "38,797,312");
}

#[test]
fn flags_past_the_repository_limit_are_not_loaded() {
    let repo = Repo::posthog();
    let mut text = String::new();
    for i in 0..10_001 {
        write!(text, "---\nkey: f{i:05}\nconditions: [{{}}]\n").unwrap();
    }
    repo.write("flags/a.yaml", &text);
    repo.write("flags/b.yaml", "key: later\nconditions: [{}]\n");
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        "::error file=flags/a.yaml,line=30002,col=6,endColumn=12,title=flagops \
         too-many-flags::the repository defines more than 10,000 flags (the limit); this flag, \
         the rest of this file and 1 later file were not loaded [flag `f10000`]%0Ahelp: split \
         the flags into several repositories, each with its own config\n"
    );
}

#[test]
fn yaml_nodes_past_the_repository_limit_are_not_read() {
    let repo = Repo::posthog();
    let tags = vec!["a"; 210_000].join(",");
    for i in 1..=5 {
        repo.write(
            &format!("flags/t{i}.yaml"),
            format!("key: t{i}\nconditions: [{{}}]\ntags: [{tags}]\n"),
        );
    }
    repo.write("flags/u.yaml", "key: u\nconditions: [{}]\n");
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(1);
    let limit: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.contains("duplicate-tag"))
        .collect();
    assert_eq!(
        limit,
        [
            "::error file=flags/t5.yaml,line=3,col=319962,endColumn=319963,title=flagops \
          repository-too-large::the repository's flag files hold more than 1,000,000 YAML nodes \
          (the limit); the rest of this file and the later files were not read"
        ]
    );
    // Four files were read whole and the fifth in part (its key was read): `u` never.
    let run = repo.run(&["validate"]);
    assert!(
        run.stderr
            .ends_with("validated 5 flags in 5 files: 1 error, 12 warnings\n"),
        "{}",
        run.stderr
    );
}
