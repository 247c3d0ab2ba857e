//! Text from Mixpanel is escaped in every output: live flags whose key, name, description,
//! tags, variant keys and values and test users hold HTML, links, ANSI and OSC escapes,
//! carriage returns and `::error::` lines reach `plan` (terminal, Markdown) only escaped, and
//! `import` skips keys that cannot be file names and writes the rest as YAML that reads back
//! the same.

use pulldown_cmark::{Event, Parser, Tag};
use serde_json::json;

use crate::support::fake_mixpanel::FakeMixpanel;
use crate::support::{flagops_against_fake_mixpanel, mixpanel_repo};

const KEY: &str = "x<!--\u{1b}[2J\r\n::error::pwned";
const NAME: &str = "<img src=x onerror=alert(1)>[a](javascript:alert(1))";
const VARIANT: &str = "c\u{1b}]8;;http://x\u{7}";

fn seed(fake: &FakeMixpanel) {
    fake.seed(vec![
        json!({"key": KEY, "name": NAME, "status": "enabled",
            "ruleset": {"variants": [], "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}]}}),
        json!({"key": "../../escape", "name": "e", "status": "disabled",
            "ruleset": {"variants": [], "rollout": []}}),
        json!({"key": "a", "name": NAME, "description": "line1\n::warning::x\u{1b}[31m",
            "tags": ["<b>t</b>", "\u{7}bell"], "status": "enabled",
            "ruleset": {
                "variants": [{"key": VARIANT, "value": "<script>\r\n::error::v", "is_control": true, "split": 1.0}],
                "rollout": [{"rollout_percentage": 1.0, "variant_splits": {}}],
                "test": {"users": {"u\r\n::error::x": VARIANT}}
            }}),
    ]);
}

/// No control character but newlines, and no line of the server's text.
#[track_caller]
fn assert_inert(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what}: a control character in {text:?}"
    );
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("::")),
        "{what}: a workflow command line in\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_from_mixpanel_is_escaped_in_plans() {
    let fake = FakeMixpanel::start().await;
    seed(&fake);
    let repo = mixpanel_repo(
        &fake.base_url(),
        "    prune: true\n",
        &[(
            "a.yaml",
            "key: a\nstatus: enabled\nrollout:\n  - rollout_percentage: 100\n",
        )],
    );
    let human = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
    human.expect_code(0);
    assert_inert("plan", &human.stdout);
    assert!(
        human.stdout.contains(
            "  - delete `x<!--\\u{1b}[2J\\r\\n::error::pwned`\n      ! deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone\n"
        ),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("      description \"line1\\n::warning::x\\u001b[31m\" → none\n"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains(
            "      test user `u\\r\\n::error::x` removed (was variant \"c\\u001b]8;;http://x\\u0007\")\n"
        ),
        "{}",
        human.stdout
    );

    let markdown = flagops_against_fake_mixpanel(
        repo.path(),
        &["plan", "--env", "live", "--format", "markdown"],
    )
    .await;
    markdown.expect_code(0);
    assert_inert("markdown", &markdown.stdout);
    for event in Parser::new(&markdown.stdout) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => assert!(
                ["</details>\n", "<sub>", "</sub>"].contains(&html.as_ref()),
                "{html:?} in {}",
                markdown.stdout
            ),
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                panic!("{event:?} in {}", markdown.stdout)
            }
            _ => {}
        }
    }

    let json =
        flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live", "--format", "json"])
            .await;
    json.expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let keys: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&KEY),
        "the saved plan keeps the key whole: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_names_files_safely_skips_keys_with_control_characters_and_quotes_the_rest() {
    let fake = FakeMixpanel::start().await;
    seed(&fake);
    let repo = mixpanel_repo(&fake.base_url(), "", &[]);
    let run = flagops_against_fake_mixpanel(repo.path(), &["import", "--env", "live"]).await;
    run.expect_code(0);
    // Mixpanel's keys may hold any text: `../../escape` is a flag like another, in a file
    // whose name is safe (inside `flags/`); a key with control characters is skipped.
    assert_eq!(
        run.stdout,
        "wrote flags/______escape-efbf103b.yaml\nwrote flags/a.yaml\n\
         wrote schemas/mixpanel-flag.schema.json\n\
         imported 2 flags from `live` into `flags/` (1 skipped)\n"
    );
    assert_eq!(
        run.stderr,
        "skipped `x<!--\\u{1b}[2J\\r\\n::error::pwned`: its key is not a valid flagops key (1 to 255 characters, no control characters)\n\
         sent 2 requests to Mixpanel\n"
    );
    let parent = repo.path().parent().unwrap();
    assert!(!parent.join("escape.yaml").exists());
    let files: Vec<String> = walkdir::WalkDir::new(repo.path())
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(repo.path())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    assert_eq!(
        files,
        [
            "flagops.yaml",
            "flags/______escape-efbf103b.yaml",
            "flags/a.yaml",
            "schemas/mixpanel-flag.schema.json"
        ]
    );
    let text = std::fs::read_to_string(repo.path().join("flags/a.yaml")).unwrap();
    assert_inert("flags/a.yaml", &text);
    let text =
        std::fs::read_to_string(repo.path().join("flags/______escape-efbf103b.yaml")).unwrap();
    assert!(text.contains("key: ../../escape\n"), "{text}");
    // The files mean what Mixpanel holds: the skipped flag aside, nothing to change.
    let plan = flagops_against_fake_mixpanel(repo.path(), &["plan", "--env", "live"]).await;
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("no changes: `live` matches the repository (2 flags in sync)"),
        "{}",
        plan.stdout
    );
}
