//! End to end: a live flag whose key and name are hostile (HTML comment, image with a script,
//! link, ANSI escape, a `::error::` line) reaches `flagops plan` output only escaped: the
//! markdown holds no HTML but flagops' own and no link, and the terminal output no control
//! character and no line of the input's; the JSON plan keeps the key whole.

use pulldown_cmark::{Event, Parser, Tag};
use serde_json::json;

use crate::support::TempRepo;

const CONFIG: &str = "backend: local\nenvironments:\n  production:\n    prune: true\n";
const KEY: &str = "x<!--\u{1b}[2J\r\n::error::pwned";
const NAME: &str = "<img src=x onerror=alert(1)>[a](javascript:alert(1))";

/// A repository with one flag, applied, then a hostile live-only flag written into the local
/// backend's state (as a hostile server would list it).
fn repo() -> TempRepo {
    let repo = TempRepo::new(
        CONFIG,
        &[(
            "a.yaml",
            "key: a\nconditions:\n  - rollout_percentage: 100\n",
        )],
    );
    let run = repo.run(&["apply", "--env", "production", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    let text = std::fs::read_to_string(repo.state_file()).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    let flags = state["environments"]["production"]["flags"]
        .as_array_mut()
        .unwrap();
    flags.push(json!({"id": 99, "version": 1, "flag": {
        "key": KEY, "name": NAME, "conditions": [{"rollout_percentage": 100}]}}));
    state["environments"]["production"]["next_id"] = json!(101);
    std::fs::write(repo.state_file(), serde_json::to_string(&state).unwrap()).unwrap();
    repo
}

#[test]
fn plan_markdown_shows_a_hostile_key_as_code() {
    let repo = repo();
    let run = repo.run(&["plan", "--env", "production", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("- **delete** `x<!--\\u{1b}[2J\\r\\n::error::pwned`\n  - ⚠️ deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone\n"),
        "{}",
        run.stdout
    );
    for event in Parser::new(&run.stdout) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => assert!(
                ["</details>\n", "<sub>", "</sub>"].contains(&html.as_ref()),
                "{html:?} in {}",
                run.stdout
            ),
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                panic!("{event:?} in {}", run.stdout)
            }
            _ => {}
        }
    }
}

#[test]
fn plan_text_keeps_a_hostile_key_on_one_line() {
    let repo = repo();
    let run = repo.run(&["plan", "--env", "production"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("  - delete `x<!--\\u{1b}[2J\\r\\n::error::pwned`\n      ! deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone\n"),
        "{}",
        run.stdout
    );
    let run = repo.run(&["plan", "--env", "production", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        plan["steps"][0]["key"], KEY,
        "the saved plan keeps the key whole"
    );
    for text in [
        &run.stderr,
        &repo.run(&["plan", "--env", "production"]).stdout,
    ] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.lines().any(|l| l.starts_with("::")), "{text}");
    }
}

#[test]
fn validate_github_keeps_one_command_per_finding() {
    // A key with a line break and a workflow command in it: invalid, and quoted in the message.
    let repo = TempRepo::new(
        CONFIG,
        &[(
            "bad.yaml",
            "key: \"a\\r\\n::error::pwned%0A\\e[31m\"\nconditions:\n  - rollout_percentage: 100\n",
        )],
    );
    let run = repo.run(&["validate", "--format", "github"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        "::error file=flags/bad.yaml,line=1,col=6,endColumn=36,title=flagops schema::`a\\r\\n::error::pwned%250A\\u{1b}[31m` does not match `^[a-zA-Z0-9_-]+$` [flag `a\\r\\n::error::pwned%250A\\u{1b}[31m`]%0Ahelp: use only letters, digits, `_` and `-`\n"
    );
    let run = repo.run(&["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        !run.stderr.chars().any(|c| c.is_control() && c != '\n'),
        "{:?}",
        run.stderr
    );
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("::")),
        "{}",
        run.stderr
    );
}

/// `import` names a skipped live flag and the reason it was skipped (which quotes a hostile
/// dependency) with control characters escaped: one line each, nothing a terminal or a CI log
/// would act on.
#[test]
fn import_escapes_skipped_keys_and_reasons() {
    let repo = repo();
    let text = std::fs::read_to_string(repo.state_file()).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["environments"]["production"]["flags"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 100, "version": 1, "flag": {"key": "b", "conditions": [{
            "properties": [{"type": "flag", "flag": KEY, "operator": "flag_evaluates_to", "value": true}],
            "rollout_percentage": 100}]}}));
    std::fs::write(repo.state_file(), serde_json::to_string(&state).unwrap()).unwrap();
    let run = repo.run(&["import", "--env", "production"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr,
        "skipped `b`: it depends on `x<!--\\u{1b}[2J\\r\\n::error::pwned`, which is not a live flag (deleted?); fix the condition in the service first\n\
         skipped `x<!--\\u{1b}[2J\\r\\n::error::pwned`: its key is not a valid flagops key (letters, digits, `_` and `-`, at most 400 characters)\n"
    );
    assert!(
        run.stdout.ends_with("(1 unchanged, 2 skipped)\n"),
        "{}",
        run.stdout
    );
}

/// A flag file whose name holds control characters is named escaped when `import` refuses to
/// overwrite it.
#[test]
fn import_escapes_file_names() {
    let repo = TempRepo::new(
        CONFIG,
        &[(
            "a\u{1b}[2J\n::error::x.yaml",
            "key: a\nconditions:\n  - rollout_percentage: 50\n",
        )],
    );
    let state = TempRepo::new(
        CONFIG,
        &[(
            "a.yaml",
            "key: a\nconditions:\n  - rollout_percentage: 100\n",
        )],
    );
    state
        .run(&["apply", "--env", "production", "--auto-approve"])
        .expect_code(0);
    std::fs::create_dir_all(repo.state_file().parent().unwrap()).unwrap();
    std::fs::copy(state.state_file(), repo.state_file()).unwrap();
    let run = repo.run(&["import", "--env", "production"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "  flags/a\\u{1b}[2J\\n::error::x.yaml\nerror: 1 file already exists; nothing was written\n\
         hint: pass `--force` to overwrite them, or choose flags with `--key`\n"
    );
}

/// A key of 100,000 characters (invalid) is named capped in validate's human output, as in
/// its GitHub output: no finding's title is a 100 kB line.
#[test]
fn validate_caps_a_huge_key_in_finding_titles() {
    let key = "k".repeat(100_000);
    let repo = TempRepo::new(CONFIG, &[("long.yaml", &format!("key: {key}\n"))]);
    let run = repo.run(&["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    let capped = format!("[flag `{}… (99500 more characters)`]", "k".repeat(500));
    let titles: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.starts_with("warning"))
        .collect();
    assert_eq!(
        titles,
        [
            format!(
                "warning[no-conditions]: flag has no conditions, so it is off for everyone {capped}"
            ),
            format!("error[schema]: value is longer than 400 characters {capped}"),
        ]
    );
    assert!(
        run.stderr.lines().all(|l| l.chars().count() < 1_000),
        "a line is too long"
    );
}
