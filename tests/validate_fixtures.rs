//! Fixture-driven validation tests: every file under `tests/fixtures/validate/` goes through
//! the real loader (`source::load`) and rules (`rules::validate`) inside a temporary
//! repository that uses `support::POSTHOG_CONFIG` (environments `staging` and `production`).
//!
//! - `valid/*.yaml` must give no finding at all, not even a warning.
//! - `invalid/<rule>_<what_is_wrong>.yaml` (or a directory of that name holding several flag
//!   files) states exactly the findings it must give, in comment lines:
//!
//!   ```text
//!   # expect: <severity> <code> <[file:]line:column | file | -> <exact message>
//!   # related: <file:line:column> <exact message>     (optional, for the expect above)
//!   # help: <exact help text>                          (optional, for the expect above)
//!   ```
//!
//!   The location is relative to the fixture file itself unless it names another file of the
//!   directory fixture; `-` means the finding has no line and column. Every finding must be
//!   expected and every expectation found.

use std::fs;
use std::path::{Path, PathBuf};

use flagops::finding::Finding;

use crate::support::{POSTHOG_CONFIG, Repo, crate_dir};

fn fixture_dir(kind: &str) -> PathBuf {
    crate_dir().join("tests/fixtures/validate").join(kind)
}

fn entries(kind: &str) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(fixture_dir(kind))
        .expect("list fixtures")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    entries
}

/// The files of one fixture: (name under `flags/`, bytes).
fn fixture_files(path: &Path) -> Vec<(String, Vec<u8>)> {
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    if path.is_dir() {
        let mut files: Vec<_> = fs::read_dir(path)
            .expect("list fixture dir")
            .map(|e| e.expect("dir entry").path())
            .map(|p| (name(&p), fs::read(&p).expect("read fixture")))
            .collect();
        files.sort();
        files
    } else {
        vec![(name(path), fs::read(path).expect("read fixture"))]
    }
}

/// Load the fixture files into a fresh repository and return every finding.
fn run(files: &[(String, Vec<u8>)]) -> Vec<Finding> {
    let repo = Repo::empty();
    repo.write("flagops.yaml", POSTHOG_CONFIG);
    for (name, bytes) in files {
        repo.write(&format!("flags/{name}"), bytes);
    }
    let loaded = flagops::source::load::<flagops::vendor::posthog::Flag>(repo.path(), None)
        .expect("the fixture config is valid");
    flagops::rules::validate(&loaded)
}

fn location(file: Option<&Path>, span: Option<flagops::finding::Span>) -> String {
    let file = file.map_or_else(
        || "-".to_owned(),
        |f| f.to_string_lossy().replace('\\', "/"),
    );
    match span {
        Some(s) => format!("{file}:{}:{}", s.start.line, s.start.column),
        None => file,
    }
}

/// One finding as the lines an expectation would be written as.
fn describe(f: &Finding, with_help: bool) -> String {
    let mut out = format!(
        "{} {} {} {}",
        f.severity.as_str(),
        f.code,
        location(f.file.as_deref(), f.span),
        f.message
    );
    for r in &f.related {
        out.push_str(&format!(
            "\n  related: {} {}",
            location(Some(&r.file), r.span),
            r.message
        ));
    }
    if with_help {
        out.push_str(&format!(
            "\n  help: {}",
            f.help.as_deref().unwrap_or("<none>")
        ));
    }
    out
}

/// Expectations written in the fixture files, rendered like `describe`; the flag says
/// whether a help line was given.
fn expectations(files: &[(String, Vec<u8>)]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# expect: ") {
                let mut parts = rest.splitn(4, ' ');
                let (Some(severity), Some(code), Some(loc), Some(message)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    panic!("{name}: malformed expectation `{line}`");
                };
                let loc = if loc == "-" {
                    format!("flags/{name}")
                } else if loc.starts_with(|c: char| c.is_ascii_digit()) {
                    format!("flags/{name}:{loc}")
                } else {
                    format!("flags/{loc}")
                };
                out.push((format!("{severity} {code} {loc} {message}"), false));
            } else if let Some(rest) = line.strip_prefix("# related: ") {
                let (loc, message) = rest.split_once(' ').expect("related: <loc> <message>");
                let last = out.last_mut().expect("`# related:` follows an `# expect:`");
                last.0
                    .push_str(&format!("\n  related: flags/{loc} {message}"));
            } else if let Some(help) = line.strip_prefix("# help: ") {
                let last = out.last_mut().expect("`# help:` follows an `# expect:`");
                last.0.push_str(&format!("\n  help: {help}"));
                last.1 = true;
            }
        }
    }
    out
}

#[test]
fn valid_fixtures_give_no_findings() {
    let all = entries("valid");
    assert!(all.len() >= 8, "too few valid fixtures");
    let mut failures = String::new();
    for path in all {
        let findings = run(&fixture_files(&path));
        if !findings.is_empty() {
            failures.push_str(&format!("\n== {}\n", path.display()));
            for f in &findings {
                failures.push_str(&describe(f, true));
                failures.push('\n');
            }
        }
    }
    assert!(
        failures.is_empty(),
        "valid fixtures with findings:{failures}"
    );
}

#[test]
fn invalid_fixtures_give_exactly_the_expected_findings() {
    let all = entries("invalid");
    let mut failures = String::new();
    for path in &all {
        let files = fixture_files(path);
        let expected = expectations(&files);
        let name = path.file_name().unwrap().to_string_lossy();
        if expected.is_empty() {
            failures.push_str(&format!("\n== {name}: no `# expect:` line\n"));
            continue;
        }
        let rule = name.split('_').next().unwrap_or_default();
        if !expected
            .iter()
            .any(|(e, _)| e.split(' ').nth(1) == Some(rule))
        {
            failures.push_str(&format!(
                "\n== {name}: named after `{rule}` but expects no such finding\n"
            ));
        }
        let findings = run(&files);
        let mut actual: Vec<String> = findings
            .iter()
            .map(|f| {
                let plain = describe(f, false);
                // Compare help only where the fixture states it.
                let with_help = describe(f, true);
                if expected
                    .iter()
                    .any(|(e, has_help)| *has_help && *e == with_help)
                {
                    with_help
                } else {
                    plain
                }
            })
            .collect();
        let mut wanted: Vec<String> = expected.into_iter().map(|(e, _)| e).collect();
        actual.sort();
        wanted.sort();
        if actual != wanted {
            failures.push_str(&format!(
                "\n== {name}\n-- expected:\n{}\n-- actual:\n{}\n",
                wanted.join("\n"),
                findings
                    .iter()
                    .map(|f| describe(f, true))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "fixtures whose findings differ:{failures}"
    );
}

#[test]
fn every_rule_code_has_an_invalid_fixture() {
    let names: Vec<String> = entries("invalid")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let codes = [
        // loader
        "duplicate-key",
        "duplicate-flag",
        "not-utf8",
        "empty-file",
        "yaml-syntax",
        "yaml-value",
        "yaml-too-large",
        "yaml-too-deep",
        "yaml-key",
        // schema
        "schema",
        // rules
        "variant-sum",
        "duplicate-variant",
        "payload-key",
        "no-conditions",
        "variant-override",
        "property-key",
        "operator",
        "ignored-value",
        "missing-value",
        "value-type",
        "regex",
        "semver",
        "date",
        "group-type",
        "aggregation",
        "flag-reference",
        "flag-variant",
        "encrypted-payloads",
        "continuity",
        "archived-active",
        "tag-case",
        "duplicate-tag",
        "evaluation-context",
        "unknown-environment",
        "ignored-override",
        "missing-flag",
        "disabled-dependency",
        "cycle",
    ];
    let missing: Vec<&str> = codes
        .iter()
        .copied()
        .filter(|c| !names.iter().any(|n| n.starts_with(&format!("{c}_"))))
        .collect();
    assert!(missing.is_empty(), "no invalid fixture for: {missing:?}");
}

/// A file over the 8 MiB limit is refused before it is parsed (generated: too big to commit).
#[test]
fn a_file_over_the_size_limit_is_refused() {
    let limit = usize::try_from(flagops::source::MAX_FILE_BYTES).unwrap();
    let mut text = String::from("key: huge\nname: \"");
    text.push_str(&"x".repeat(limit));
    text.push_str("\"\n");
    let size = text.len();
    let findings = run(&[("huge.yaml".to_owned(), text.into_bytes())]);
    let described: Vec<String> = findings.iter().map(|f| describe(f, true)).collect();
    assert_eq!(
        described,
        [format!(
            "error file-too-large flags/huge.yaml file is {size} bytes; the limit is {limit} bytes\n  \
             help: split it into one file per flag"
        )]
    );
}

/// A file of exactly the limit is still read.
#[test]
fn a_file_at_the_size_limit_is_read() {
    let limit = usize::try_from(flagops::source::MAX_FILE_BYTES).unwrap();
    let head = "key: big\nconditions: [{rollout_percentage: 1}]\n";
    let mut text = String::from(head);
    text.push_str(&"#".repeat(limit - head.len()));
    text.push('\n');
    text.truncate(limit);
    let findings = run(&[("big.yaml".to_owned(), text.into_bytes())]);
    assert!(findings.is_empty(), "{findings:?}");
}

/// `(code, severity)` of every row of the README's rule table.
fn readme_rules() -> Vec<(String, String)> {
    let readme = fs::read_to_string(crate_dir().join("README.md")).expect("read README");
    let table = readme
        .split("#### Rules")
        .nth(1)
        .expect("README has a `#### Rules` section");
    let mut rules = Vec::new();
    for line in table.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (codes, severity) = (cells[1], cells[2]);
        if !codes.starts_with('`') {
            continue; // header and separator rows
        }
        for code in codes.split(", ") {
            rules.push((code.trim_matches('`').to_owned(), severity.to_owned()));
        }
    }
    rules
}

/// The README's rule table says what every fixture shows: each code a fixture expects is in
/// the table with that severity, and each code of the table is shown by a fixture (except
/// the few a committed file cannot show).
#[test]
fn readme_rule_table_matches_the_fixtures() {
    let documented = readme_rules();
    let mut shown = std::collections::BTreeSet::<(String, String)>::new();
    for path in entries("invalid") {
        for (_, bytes) in fixture_files(&path) {
            for line in String::from_utf8_lossy(&bytes).lines() {
                if let Some(rest) = line.strip_prefix("# expect: ") {
                    let mut parts = rest.split(' ');
                    let severity = parts.next().unwrap().to_owned();
                    let code = parts.next().unwrap().to_owned();
                    shown.insert((code, severity));
                }
            }
        }
    }
    let matches = |(code, severity): &(String, String), (c, s): &(String, String)| {
        s == severity && (c == code || c.strip_suffix('*').is_some_and(|p| code.starts_with(p)))
    };
    let undocumented: Vec<_> = shown
        .iter()
        .filter(|s| !documented.iter().any(|d| matches(s, d)))
        .collect();
    assert!(
        undocumented.is_empty(),
        "fixtures show (code, severity) pairs the README's rule table does not list: {undocumented:?}"
    );
    // Generated by tests (too big to commit), or not producible by a committed file.
    // `tests/validate_files.rs` and `tests/validate_bounds.rs` show the rest.
    let untestable = [
        "file-too-large",
        "io",
        "no-files",
        "outside-repository",
        "broken-symlink",
        "symlink-outside",
        "not-a-file",
        "repository-too-large",
        "too-many-flags",
        "finding-limit",
    ];
    let unshown: Vec<_> = documented
        .iter()
        .filter(|(code, _)| !code.ends_with('*') && !untestable.contains(&code.as_str()))
        .filter(|d| !shown.iter().any(|s| matches(s, d)))
        .collect();
    assert!(
        unshown.is_empty(),
        "README rules no invalid fixture shows: {unshown:?}"
    );
}
