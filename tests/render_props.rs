//! Property tests of the renderers: hostile strings (HTML, comments, links, backticks, pipes,
//! ANSI and other control characters, workflow commands, bidirectional overrides) as flag
//! keys, names, tags, values, payloads and server reasons, and as YAML through the loader,
//! never make a renderer panic, and:
//!
//! - terminal output holds no control character but its own line breaks and colours;
//! - markdown, read by a CommonMark parser (`pulldown-cmark`, with GitHub's tables), holds no
//!   HTML but the renderer's own tags, no link or image, and every flag key whole in a code
//!   span;
//! - GitHub workflow commands are one line per finding;
//! - DOT and Mermaid labels stay inside their quotes.
//!
//! Cases per property: [`CASES`] (256 each, 1,280 in all); the whole file runs in under a
//! second.

use std::path::{Path, PathBuf};

use flagops::backend::Unsupported;
use flagops::config::Environment;
use flagops::finding::Finding;
use flagops::graph::DependencyGraph;
use flagops::plan::{self, Plan};
use flagops::render::findings::{self, Sources, Summary};
use flagops::render::graph;
use flagops::render::plan::{human, json as plan_json, markdown};
use flagops::source::{self, Repository};
use proptest::prelude::*;
use pulldown_cmark::{Event, Options, Parser, Tag};
use serde_json::json;

use crate::support::{flag, live};

/// Cases run for each property below.
const CASES: u32 = 256;

/// Pieces that mean something to one output or another.
const FRAGMENTS: &[&str] = &[
    "<!--",
    "-->",
    "<",
    ">",
    "<img src=x onerror=alert(1)>",
    "</details>",
    "[a](javascript:alert(1))",
    "![i](x)",
    "<https://x.example>",
    "https://x.example",
    "www.x.example",
    "@team",
    "`",
    "```",
    "|",
    "\\",
    "\"",
    "'",
    "#",
    "# ",
    "- ",
    "1. ",
    "> ",
    "*",
    "_",
    "~",
    "&",
    "&lt;",
    "#quot;",
    "%",
    ",",
    ":",
    "::error::pwned",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x1b[2J",
    "\x1b]8;;https://x\x07",
    "\x1b",
    "\u{9b}",
    "\u{0}",
    "\u{7f}",
    "\u{202e}",
    "\u{2028}",
    " ",
    "a",
    "key",
    "é",
];

/// A hostile string: fragments and arbitrary characters.
fn hostile() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// Control characters in `text` other than line feeds and the start of an SGR colour
/// sequence (`ESC [ digits and ; m`), which only the renderers write.
fn stray_controls(text: &str) -> Vec<String> {
    let mut stray = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = c.len_utf8();
        if c == '\x1b' {
            let body = &rest[1..];
            let params = body.strip_prefix('[').map(|b| {
                b.len()
                    - b.trim_start_matches(|d: char| d.is_ascii_digit() || d == ';')
                        .len()
            });
            match params {
                Some(n) if body[1 + n..].starts_with('m') => {
                    rest = &body[2 + n..];
                    continue;
                }
                _ => stray.push(rest.chars().take(12).collect()),
            }
        } else if c != '\n'
            && (c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'))
        {
            stray.push(rest.chars().take(12).collect());
        }
        rest = &rest[len..];
    }
    stray
}

fn check_terminal(what: &str, text: &str) -> Result<(), TestCaseError> {
    let stray = stray_controls(text);
    prop_assert!(
        stray.is_empty(),
        "{what}: control characters {stray:?} in {text:?}"
    );
    Ok(())
}

/// The renderer's own HTML: fold openings, their ends and the footer's `<sub>`.
fn ours(html: &str) -> bool {
    let folds = [
        "To create: ",
        "To update: ",
        "To delete: ",
        "Live flags left alone",
        "Apply order (each level after the previous one)",
    ];
    ["</details>\n", "<sub>", "</sub>"].contains(&html)
        || ["<details><summary>", "<details open><summary>"]
            .iter()
            .filter_map(|open| html.strip_prefix(open))
            .filter_map(|rest| rest.strip_suffix("</summary>\n"))
            .any(|title| {
                folds.iter().any(|f| {
                    title.strip_prefix(f).is_some_and(|n| {
                        n.is_empty()
                            || n.trim_end_matches(" flags")
                                .trim_end_matches(" flag")
                                .parse::<usize>()
                                .is_ok()
                    })
                })
            })
}

/// The markdown plan read by a CommonMark parser with GitHub's tables: only the renderer's
/// own HTML, no link or image, and every flag key of the plan whole in a code span.
fn check_markdown(plan: &Plan, text: &str) -> Result<(), TestCaseError> {
    let mut spans = Vec::new();
    for event in Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => {
                prop_assert!(ours(&html), "HTML {html:?} in the markdown:\n{text}");
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                prop_assert!(false, "a link to {dest_url:?} in the markdown:\n{text}");
            }
            Event::Code(code) => spans.push(code.to_string()),
            _ => {}
        }
    }
    let keys = plan
        .steps
        .iter()
        .map(|s| &s.key)
        .chain(plan.unsupported.iter().map(|u| &u.key));
    for key in keys.filter(|k| !k.trim().is_empty()) {
        let shown = flagops::render::escape::terminal::text(key).into_owned();
        prop_assert!(
            spans.contains(&shown),
            "the key {key:?} is not a whole code span in:\n{text}"
        );
    }
    Ok(())
}

fn hostile_plan(
    key: &str,
    name: &str,
    tag: &str,
    value: &str,
    live_key: &str,
    reason: &str,
) -> Option<Plan> {
    let desired = vec![flag(json!({
        "key": key,
        "name": name,
        "tags": [tag],
        "conditions": [{"properties": [
            {"type": "person", "key": tag, "operator": "exact", "value": value}]}],
        "variants": [{"key": tag, "rollout_percentage": 100}],
        "payloads": {tag: {"v": value}},
    }))];
    let mut live_state = live(vec![
        (
            1,
            1,
            json!({"key": live_key, "name": value, "conditions": [{}]}),
        ),
        (
            2,
            1,
            json!({"key": format!("{key}-"), "tags": [value], "conditions": [{}]}),
        ),
    ]);
    live_state.unsupported.push(Unsupported {
        key: format!("{live_key}!"),
        id: "9".into(),
        reason: reason.to_owned(),
    });
    let policy = Environment {
        prune: true,
        ..Environment::default()
    };
    // Keys that collide (or that the plan refuses) are not what this test is about.
    let mut plan = plan::build(&desired, &live_state, &policy).ok()?;
    name.clone_into(&mut plan.metadata.environment);
    Some(plan)
}

/// Flag YAML with hostile strings as quoted scalars (JSON strings are YAML) and raw text.
fn yaml(key: &str, name: &str, raw: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "key: {}\nname: {}\ntags: [{}, {}]\nconditions:\n  - rollout_percentage: {raw}\n{raw}: {}\n",
        q(key),
        q(name),
        q(name),
        q(name),
        q(key)
    )
}

fn check_findings(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("flags/hostile.yaml");
    let contents = source::load_file::<flagops::vendor::posthog::Flag>(text, file);
    let config = serde_json::from_value(json!({
        "backend": "local",
        "environments": { "production": {} }
    }))
    .expect("config");
    let repo = Repository {
        root: PathBuf::from("."),
        config_file: PathBuf::from("flagops.yaml"),
        config,
        flags: contents.flags,
        partial: contents.partial,
        files: 1,
        invalid_keys: contents.invalid_keys.into_iter().collect(),
        unread: Vec::new(),
        findings: contents.findings,
    };
    let mut list: Vec<Finding> = repo.findings.clone();
    list.extend(flagops::rules::validate(&repo));
    let summary = Summary::new(1, repo.flags.len(), &list);
    let mut sources = Sources::new(Path::new("."));
    sources.insert(file, text.to_owned());
    check_terminal(
        "findings human",
        &findings::human(&list, summary, &mut sources),
    )?;
    let github = findings::github(&list, Path::new(""));
    prop_assert_eq!(github.lines().count(), list.len(), "{}", github);
    prop_assert!(!github.contains('\r'), "{github:?}");
    for line in github.lines() {
        prop_assert!(
            line.starts_with("::error ") || line.starts_with("::warning "),
            "{line:?}"
        );
    }
    let doc: serde_json::Value =
        serde_json::from_str(&findings::json(&list, summary)).expect("valid JSON");
    prop_assert_eq!(doc["findings"].as_array().map(Vec::len), Some(list.len()));
    // A plan refused for these findings: a Markdown report without HTML or links, and the
    // refused-plan document with one entry per error.
    let md = markdown::render_findings("production", &list);
    for event in Parser::new_ext(&md, Options::ENABLE_TABLES) {
        let bad = matches!(
            event,
            Event::Html(_)
                | Event::InlineHtml(_)
                | Event::Start(Tag::Link { .. } | Tag::Image { .. })
        );
        prop_assert!(!bad, "{event:?} in:\n{md}");
    }
    let refused: serde_json::Value =
        serde_json::from_str(&plan_json::render_findings("production", &list)).expect("valid JSON");
    let errors = list
        .iter()
        .filter(|f| f.severity == flagops::finding::Severity::Error)
        .count();
    prop_assert_eq!(refused["errors"].as_array().map(Vec::len), Some(errors));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plans_with_hostile_text_render_safely(
        key in hostile(), name in hostile(), tag in hostile(), value in hostile(),
        live_key in hostile(), reason in hostile(),
    ) {
        if let Some(plan) = hostile_plan(&key, &name, &tag, &value, &live_key, &reason) {
            check_terminal("plan human", &human::render(&plan))?;
            check_markdown(&plan, &markdown::render(&plan))?;
            let back: Plan = serde_json::from_str(&plan_json::render(&plan)).expect("reads back");
            prop_assert_eq!(&back, &plan);
        }
    }

    #[test]
    fn refused_plans_with_hostile_text_render_safely(key in hostile(), target in hostile()) {
        // A flag that depends on a flag that exists nowhere: the plan is refused, naming both.
        let desired = vec![flag(json!({"key": key, "conditions": [{"properties": [
            {"type": "flag", "flag": target, "value": true}]}]}))];
        if let Err(error) = plan::build(&desired, &live(vec![]), &Environment::default()) {
            check_terminal("refusal human", &human::render_error(&key, &error))?;
            let md = markdown::render_error(&key, &error);
            for event in Parser::new_ext(&md, Options::ENABLE_TABLES) {
                let bad = matches!(
                    event,
                    Event::Html(_) | Event::InlineHtml(_) | Event::Start(Tag::Link { .. } | Tag::Image { .. })
                );
                prop_assert!(!bad, "{event:?} in:\n{md}");
            }
        }
    }

    #[test]
    fn hostile_yaml_renders_safely(key in hostile(), name in hostile(), raw in hostile()) {
        check_findings(&yaml(&key, &name, &raw))?;
    }

    #[test]
    fn arbitrary_text_renders_safely(text in hostile()) {
        check_findings(&text)?;
    }

    #[test]
    fn graphs_with_hostile_keys_render_safely(keys in prop::collection::vec(hostile(), 1..5)) {
        // Each key depends on the next one.
        let graph = DependencyGraph::new(keys.iter().enumerate().map(|(i, k)| {
            (k.clone(), keys.get(i + 1).cloned().into_iter().collect::<Vec<_>>())
        }));
        let nodes = graph.keys().count();
        if let Some(levels) = graph.levels() {
            let text = graph::text(&graph, &levels);
            check_terminal("graph text", &text)?;
            let listed = levels.len() + nodes + 1;
            prop_assert_eq!(text.lines().count(), listed, "{}", text);
        }
        let dot = graph::dot(&graph);
        check_terminal("dot", &dot)?;
        // Every statement line is one or two complete quoted strings.
        let quoted = r#""(?:[^"\\]|\\.)*""#;
        let statement = regex::Regex::new(&format!("^  {quoted}(?: -> {quoted})?;$")).expect("regex");
        for line in dot.lines().skip(3).take_while(|l| *l != "}") {
            prop_assert!(statement.is_match(line), "{line:?} in\n{dot}");
        }
        let mermaid = graph::mermaid(&graph);
        check_terminal("mermaid", &mermaid)?;
        let node = regex::Regex::new(r#"^  f\d+\["[^"`<>]*"\]$|^  (f\d+|missing) --> (f\d+|missing)$"#).expect("regex");
        for line in mermaid.lines().skip(1) {
            prop_assert!(node.is_match(line), "{line:?} in\n{mermaid}");
        }
    }
}
