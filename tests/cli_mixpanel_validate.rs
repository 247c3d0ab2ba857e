//! `flagops validate` on Mixpanel repositories, through the binary: every file under
//! `tests/fixtures/validate-mixpanel/` is copied into a `backend: mixpanel` repository
//! (environments `staging` and `production`) and validated.
//!
//! - `valid/` together give no finding at all, not even a warning.
//! - `invalid/<code>_<what_is_wrong>.yaml` ends with the exact findings it must give:
//!
//!   ```text
//!   # expect: <severity> <code> <line:column | -> <exact message>
//!   # help: <exact help text>      (optional, for the expect above)
//!   ```
//!
//!   `schema_<rule>_…` fixtures break a Mixpanel rule that the schema already refuses, so the
//!   finding is the schema's. Every finding must be expected and every expectation found.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::support::{TempRepo, crate_dir};

/// Two Mixpanel environments in the EU region; validation needs no credentials.
pub(crate) const CONFIG: &str = "\
backend: mixpanel
flags: flags/
environments:
  staging:
    region: eu
    project_id: 1
    username_env: MP_SA_USERNAME
    secret_env: MP_SA_SECRET
  production:
    region: eu
    project_id: 2
    username_env: MP_SA_USERNAME
    secret_env: MP_SA_SECRET
";

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = crate_dir()
        .join("tests/fixtures/validate-mixpanel")
        .join(kind);
    let mut all: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all
}

fn name(path: &std::path::Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// One finding of `validate --format json` as an expectation line (`help` only when asked).
fn describe(finding: &Value, with_help: bool) -> String {
    let at = match (finding["line"].as_u64(), finding["column"].as_u64()) {
        (Some(line), Some(column)) => format!("{line}:{column}"),
        _ => "-".to_owned(),
    };
    let mut out = format!(
        "{} {} {at} {}",
        finding["severity"].as_str().unwrap(),
        finding["code"].as_str().unwrap(),
        finding["message"].as_str().unwrap()
    );
    if with_help && let Some(help) = finding["help"].as_str() {
        out.push_str(&format!("\n  help: {help}"));
    }
    out
}

/// The expectations written at the end of a fixture; the flag says whether help was given.
fn expectations(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# expect: ") {
            out.push((rest.to_owned(), false));
        } else if let Some(help) = line.strip_prefix("# help: ") {
            let last = out.last_mut().expect("`# help:` follows an `# expect:`");
            last.0.push_str(&format!("\n  help: {help}"));
            last.1 = true;
        }
    }
    out
}

#[test]
fn the_valid_mixpanel_fixtures_give_no_findings() {
    let files: Vec<(String, String)> = fixtures("valid")
        .iter()
        .map(|p| (name(p), fs::read_to_string(p).unwrap()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let repo = TempRepo::new(CONFIG, &refs);
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "validated 4 flags in 3 files: 0 errors, 0 warnings\n"
    );
    let json = repo.run(&["validate", "--format", "json"]);
    json.expect_code(0);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 3, "flags": 4, "errors": 0, "warnings": 0})
    );
}

#[test]
fn each_invalid_mixpanel_fixture_gives_exactly_its_findings() {
    let all = fixtures("invalid");
    assert!(all.len() >= 25, "too few fixtures: {}", all.len());
    let mut failures = String::new();
    for path in &all {
        let file = name(path);
        let text = fs::read_to_string(path).unwrap();
        let expected = expectations(&text);
        let rule = file.split('_').next().unwrap();
        let named = if rule == "schema" {
            file.split('_').nth(1).unwrap()
        } else {
            rule
        };
        assert!(
            named.starts_with("mixpanel-")
                || [
                    "variant-sum",
                    "duplicate-variant",
                    "variant-override",
                    "duplicate-tag",
                    "no-conditions",
                ]
                .contains(&named),
            "{file}: not named after a rule"
        );
        if !expected
            .iter()
            .any(|(e, _)| e.split(' ').nth(1) == Some(rule))
        {
            failures.push_str(&format!("\n== {file}: expects no `{rule}` finding\n"));
        }
        let repo = TempRepo::new(CONFIG, &[(&file, &text)]);
        let run = repo.run(&["validate", "--format", "json"]);
        let doc: Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{file}: {e}: {run:?}"));
        let findings = doc["findings"].as_array().unwrap();
        let errors = findings.iter().filter(|f| f["severity"] == "error").count();
        let code = i32::from(errors > 0);
        if run.code != code {
            failures.push_str(&format!("\n== {file}: exit {} not {code}\n", run.code));
        }
        let mut actual: Vec<String> = Vec::new();
        for f in findings {
            assert_eq!(f["file"], format!("flags/{file}"), "{file}");
            let with_help = describe(f, true);
            actual.push(if expected.iter().any(|(e, h)| *h && *e == with_help) {
                with_help
            } else {
                describe(f, false)
            });
        }
        let mut wanted: Vec<String> = expected.into_iter().map(|(e, _)| e).collect();
        actual.sort();
        wanted.sort();
        if actual != wanted {
            failures.push_str(&format!(
                "\n== {file}\n-- expected:\n{}\n-- actual:\n{}\n",
                wanted.join("\n"),
                actual.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// A variant value past 32 KiB as JSON (too big for a fixture file).
#[test]
fn a_variant_value_over_32_kib_is_an_error_at_the_value() {
    let big = "x".repeat(32 * 1024);
    let text = format!(
        "key: big-config\nvariants:\n  - {{ key: small, value: \"s\", is_control: true, split: 50 }}\n  - {{ key: big, value: \"{big}\", split: 50 }}\n"
    );
    let repo = TempRepo::new(CONFIG, &[("big.yaml", &text)]);
    let run = repo.run(&["validate", "--format", "json"]);
    run.expect_code(1);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let found: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| describe(f, true))
        .collect();
    assert_eq!(
        found,
        [
            "error mixpanel-value-size 4:24 variant `big`'s value is 32770 bytes as JSON; Mixpanel allows at most 32768"
        ]
    );
}

/// An override of `status` in one environment is resolved for that environment only, and a
/// finding it causes names the environment and points into the override.
#[test]
fn a_production_override_is_resolved_and_located_in_human_output() {
    let text = "key: launch\nrollout:\n  - rollout_percentage: 100\n    runtime_evaluation_rule: { \"==\": [ { var: plan }, premium ] }\nenvironments:\n  staging: { status: enabled }\n  production:\n    status: enabled\n    rollout: []\n";
    let repo = TempRepo::new(CONFIG, &[("launch.yaml", text)]);
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "warning[no-conditions]: the flag is enabled but has no rollout groups, so it serves no one (environment `production`) [flag `launch`]\n \
         --> flags/launch.yaml:9:14\n  |\n9 |     rollout: []\n  |              ^^ environments.production.rollout\n  |\n  \
         = help: add a rollout group (`- rollout_percentage: 0` keeps it off)\n\n\
         validated 1 flag in 1 file: 0 errors, 1 warning\n"
    );
    // The same flag without the production override of `rollout` is clean everywhere.
    repo.write(
        "launch.yaml",
        &text.replace(
            "    status: enabled\n    rollout: []\n",
            "    status: enabled\n",
        ),
    );
    let run = repo.run(&["validate"]);
    run.expect_code(0);
    assert_eq!(
        run.stderr,
        "validated 1 flag in 1 file: 0 errors, 0 warnings\n"
    );
}

/// `--format github` annotations for a Mixpanel rule name the file, line and column.
#[test]
fn github_annotations_for_a_mixpanel_rule() {
    let text = "key: two-controls\nvariants:\n  - { key: a, value: 1, is_control: true, split: 50 }\n  - { key: b, value: 2, is_control: true, split: 50 }\n";
    let repo = TempRepo::new(CONFIG, &[("two.yaml", text)]);
    let run = repo.run(&["validate", "--format", "github"]);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        "::error file=flags/two.yaml,line=4,col=37,endColumn=41,title=flagops mixpanel-control::\
         variant `b` is a second control (the first is `a`); a flag has exactly one [flag `two-controls`]\n"
    );
}

/// `depends_on` across files: a cycle and a missing flag, each at the reference, in
/// `validate` and `graph`; a valid repository's graph gives the apply order.
#[test]
fn depends_on_cycles_and_missing_flags_and_the_graph() {
    let repo = TempRepo::new(
        CONFIG,
        &[
            ("a.yaml", "key: a\ndepends_on: [b]\n"),
            ("b.yaml", "key: b\ndepends_on: [a, ghost]\n"),
        ],
    );
    let expected = "error[cycle]: dependency cycle: a → b → a [flag `a`]\n \
         --> flags/a.yaml:2:14\n  |\n2 | depends_on: [b]\n  |              ^ depends_on[0]\n  |\n  \
         = note: flags/b.yaml:2:14: `b` depends on `a` here\n  \
         = help: remove one of the dependencies to break the cycle\n\n\
         error[missing-flag]: `b` depends on `ghost`, which is not defined in the repository [flag `b`]\n \
         --> flags/b.yaml:2:17\n  |\n2 | depends_on: [a, ghost]\n  |                 ^^^^^ depends_on[1]\n\n\
         validated 2 flags in 2 files: 2 errors, 0 warnings\n";
    for command in ["validate", "graph"] {
        let run = repo.run(&[command]);
        run.expect_code(1);
        assert_eq!(run.stdout, "", "{command}");
        assert_eq!(run.stderr, expected, "{command}");
    }

    let files: Vec<(String, String)> = fixtures("valid")
        .iter()
        .map(|p| (name(p), fs::read_to_string(p).unwrap()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let repo = TempRepo::new(CONFIG, &refs);
    let run = repo.run(&["graph", "--env", "production"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "apply order (dependencies first; flags in one level are independent):\nlevel 0\n  \
         checkout-api\n  company-tier\n  dark-mode\nlevel 1\n  checkout-v2 → checkout-api\n"
    );
}
