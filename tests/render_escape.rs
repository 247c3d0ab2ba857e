//! Hostile text from servers and files through every output kind: the escaping functions
//! (`render::escape`) and each renderer that writes keys, names, values, messages or details,
//! asserted exactly.

use std::path::Path;

use flagops::apply::{FailureCode, Outcome, Report, StepReport, Warning};
use flagops::backend::Unsupported;
use flagops::config::Environment;
use flagops::finding::{Finding, Related, Span};
use flagops::graph::DependencyGraph;
use flagops::plan::{self, Action, Plan};
use flagops::render::apply as render_apply;
use flagops::render::escape::{DETAIL_LIMIT, dot, github, markdown, mermaid, terminal};
use flagops::render::findings::{self, Sources, Summary};
use flagops::render::graph;
use flagops::render::plan::{human, markdown as plan_markdown};
use serde_json::json;

use crate::support::{flag, live};

const COMMENT: &str = "<!-- x";
const IMG: &str = "<img src=x onerror=alert(1)>";
const LINK: &str = "[a](javascript:alert(1))";
const ANSI: &str = "\x1b[31mred\x1b[0m";
const COMMAND: &str = "x\r\n::error::pwned";

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

fn megabyte() -> String {
    "a".repeat(1 << 20)
}

#[test]
fn terminal_text_shows_control_characters() {
    assert_eq!(terminal::text(ANSI), "\\u{1b}[31mred\\u{1b}[0m");
    assert_eq!(terminal::text(COMMAND), "x\\r\\n::error::pwned");
    assert_eq!(terminal::text("\t\u{0}\u{7f}"), "\\t\\u{0}\\u{7f}");
    // C1 controls (a one-byte CSI) and bidirectional overrides.
    assert_eq!(terminal::text("\u{9b}2J"), "\\u{9b}2J");
    assert_eq!(terminal::text("abc\u{202e}fed"), "abc\\u{202e}fed");
    assert_eq!(terminal::text("\u{2028}"), "\\u{2028}");
    // A source line keeps its tabs (the snippet drawer lines them up).
    assert_eq!(terminal::source_line("a\tb\x1b"), "a\tb\\u{1b}");
    // Nothing else changes.
    assert_eq!(terminal::text("kéy `<a>` \\ %"), "kéy `<a>` \\ %");
}

#[test]
fn source_lines_hide_url_credentials_column_for_column() {
    for (line, shown) in [
        (
            "    host: https://ann:hunter2@x.example/p",
            "    host: https://***********@x.example/p",
        ),
        ("a ftp://u@h b ssh://p:q@r", "a ftp://*@h b ssh://***@r"),
        ("url: \"https://h/x@y\"", "url: \"https://h/x@y\""),
        ("https://é:ü@h", "https://***@h"),
        ("no url @ here", "no url @ here"),
        ("://@", "://@"),
    ] {
        assert_eq!(terminal::without_credentials(line), shown, "{line}");
        assert_eq!(shown.chars().count(), line.chars().count());
    }
}

#[test]
fn details_are_capped() {
    let big = megabyte();
    let expected = format!(
        "{}… ({} more characters)",
        "a".repeat(DETAIL_LIMIT),
        (1 << 20) - DETAIL_LIMIT
    );
    assert_eq!(terminal::detail(&big), expected);
    assert_eq!(markdown::detail(&big), expected);
    assert_eq!(github::detail(&big), expected);
    let one_more = "é".repeat(DETAIL_LIMIT + 1);
    assert_eq!(
        terminal::detail(&one_more),
        format!("{}… (1 more character)", "é".repeat(DETAIL_LIMIT))
    );
    assert_eq!(
        terminal::detail(&"é".repeat(DETAIL_LIMIT)),
        "é".repeat(DETAIL_LIMIT)
    );
    // Cut first, then escaped: the detail stays on one line.
    assert_eq!(
        terminal::detail(&format!("{}\n::error::x", "a".repeat(DETAIL_LIMIT - 1))),
        format!("{}\\n… (10 more characters)", "a".repeat(DETAIL_LIMIT - 1))
    );
}

#[test]
fn markdown_text_escapes_structure() {
    assert_eq!(markdown::text(COMMENT), "&lt;!-- x");
    assert_eq!(markdown::text(IMG), "&lt;img src=x onerror=alert(1)&gt;");
    assert_eq!(markdown::text(LINK), "\\[a\\](javascript:alert(1))");
    assert_eq!(
        markdown::text("![i](https://x.example/i.png)"),
        "!\\[i\\](https\\://x.example/i.png)"
    );
    assert_eq!(
        markdown::text("<https://evil.example> www.evil.example WWW.E.X"),
        "&lt;https\\://evil.example&gt; www\\.evil.example WWW\\.E.X"
    );
    assert_eq!(
        markdown::text("a|b `c` *d* _e_ ~f~ \\ @g &amp;"),
        "a|b \\`c\\` \\*d\\* \\_e\\_ \\~f\\~ \\\\ \\@g &amp;amp;"
    );
    assert_eq!(markdown::text(ANSI), "\\\\u{1b}\\[31mred\\\\u{1b}\\[0m");
    assert_eq!(markdown::text(COMMAND), "x\\\\r\\\\n::error::pwned");
    // Leading block markers.
    assert_eq!(markdown::text("# h"), "\\# h");
    assert_eq!(markdown::text("- a"), "\\- a");
    assert_eq!(markdown::text("+ a"), "\\+ a");
    assert_eq!(markdown::text("=="), "\\==");
    assert_eq!(markdown::text("> q"), "&gt; q");
    assert_eq!(markdown::text("12. a"), "12\\. a");
    assert_eq!(markdown::text("3) a"), "3\\) a");
    assert_eq!(markdown::text("3 a"), "3 a");
    assert_eq!(markdown::text("a # b - c"), "a # b - c");
}

#[test]
fn markdown_messages_keep_names_as_code() {
    assert_eq!(
        markdown::message("flag `a<!--` depends on `b|c` <img>"),
        "flag `a<!--` depends on `b|c` &lt;img&gt;"
    );
    // An odd number of backticks: all text.
    assert_eq!(markdown::message("a `b"), "a \\`b");
    assert_eq!(markdown::message("a `` b"), "a \\`\\` b");
    assert_eq!(markdown::message("- `x` - y"), "\\- `x` - y");
}

#[test]
fn markdown_code_spans_hold_anything() {
    assert_eq!(markdown::code(COMMENT), "`<!-- x`");
    assert_eq!(markdown::code(IMG), "`<img src=x onerror=alert(1)>`");
    assert_eq!(markdown::code("a`b"), "``a`b``");
    assert_eq!(markdown::code("a``b`"), "``` a``b` ```");
    assert_eq!(markdown::code("`"), "`` ` ``");
    assert_eq!(markdown::code(" a "), "`  a  `");
    assert_eq!(markdown::code("  "), "`  `");
    assert_eq!(markdown::code(""), "` `");
    assert_eq!(markdown::code(COMMAND), "`x\\r\\n::error::pwned`");
    // In a table, `|` is escaped even inside a code span (GitHub reads it that way).
    assert_eq!(markdown::cell(&markdown::code("a|b")), "`a\\|b`");
    assert_eq!(markdown::cell("no pipe"), "no pipe");
}

#[test]
fn github_commands_encode_per_the_rules() {
    assert_eq!(github::data("100%\r\n::error::x"), "100%25%0D%0A::error::x");
    assert_eq!(github::property("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
    assert_eq!(github::detail(COMMAND), "x\\r\\n::error::pwned");
    assert_eq!(github::detail(ANSI), "\\u{1b}[31mred\\u{1b}[0m");
}

#[test]
fn graph_labels_are_quoted() {
    assert_eq!(dot::quoted("a\"b\\c\n"), "\"a\\\"b\\\\c\\\\n\"");
    assert_eq!(dot::quoted("plain-key"), "\"plain-key\"");
    assert_eq!(
        mermaid::quoted("a\"<b>#&`\x1b"),
        "\"a#quot;#lt;b#gt;#35;#amp;#96;\\u{1b}\""
    );
}

/// A plan whose every name and detail is hostile: a new flag (key, name, tag, property key and
/// value, variant, payload), a delete of a live flag and an unsupported live flag.
fn hostile_plan() -> Plan {
    let desired = vec![
        flag(json!({
            "key": "new`<!--",
            "name": IMG,
            "tags": [LINK],
            "conditions": [{"properties": [
                {"type": "person", "key": "e|mail", "operator": "icontains", "value": ANSI}]}],
            "variants": [{"key": "v|<b>", "rollout_percentage": 100}],
            "payloads": {"v|<b>": {"html": "</details><!--"}}
        })),
        flag(json!({
            "key": "upd",
            "tags": [IMG, "`x`"],
            "conditions": [{"rollout_percentage": 5, "properties": [
                {"type": "person", "key": "<k>", "value": LINK}]}]
        })),
    ];
    let mut live_state = live(vec![
        (1, 1, json!({"key": COMMAND, "conditions": [{}]})),
        (
            2,
            1,
            json!({"key": "upd", "tags": ["old|"], "conditions": [{"rollout_percentage": 5}]}),
        ),
    ]);
    live_state.unsupported.push(Unsupported {
        key: ANSI.into(),
        id: "9".into(),
        reason: format!("{COMMAND} {}", megabyte()),
    });
    let policy = Environment {
        prune: true,
        ..Environment::default()
    };
    let mut plan = plan::build(&desired, &live_state, &policy).expect("the plan is accepted");
    plan.metadata.environment = "prod<!--".into();
    plan.metadata.flagops_version = "0.0.0-test".into();
    plan.metadata.created_at = String::new();
    plan.metadata.git = None;
    plan
}

/// [`hostile_plan`] for people; `<A*>` stands for the 482 `a`s shown of the 1 MB reason.
const HUMAN_PLAN: &str = r#"plan for environment `prod<!--` (backend ``)

needs attention (1):
  - delete `x\r\n::error::pwned`
      ! deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone

to create (1 flag):
  + create `new`<!--`
      name "<img src=x onerror=alert(1)>"
      tags `[a](javascript:alert(1))`
      condition 1: 100% where `e|mail` icontains "\u001b[31mred\u001b[0m"
      variant `v|<b>` 100%
      payload `v|<b>`: {"html":"</details><!--"}

to update (1 flag):
  ~ update `upd`
      tag `old|` removed
      tag `<img src=x onerror=alert(1)>` added
      tag ``x`` added
      property 1 added to condition 1: `<k>` exact "[a](javascript:alert(1))"

cannot be managed (live, never touched):
  ! `\u{1b}[31mred\u{1b}[0m`: x\r\n::error::pwned <A*>… (1048094 more characters)

Plan: 1 to create, 1 to update, 1 to delete.
"#;

/// [`hostile_plan`] as markdown; `<A*>` stands for the 482 `a`s shown of the 1 MB reason.
const MARKDOWN_PLAN: &str = r#"### flagops plan: `prod<!--`

backend ` `

**1 to create, 1 to update, 1 to delete.** 0 unchanged.

1 live flag cannot be managed by flagops; never touched.

#### ⚠️ Needs attention (1 flag)

- **delete** `x\r\n::error::pwned`
  - ⚠️ deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone

<details open><summary>To create: 1 flag</summary>

- **create** ``new`<!--``
  - name `"<img src=x onerror=alert(1)>"`
  - tags `[a](javascript:alert(1))`
  - condition 1: 100% where `e|mail` icontains `"\u001b[31mred\u001b[0m"`
  - variant `v|<b>` 100%
  - payload `v|<b>`: `{"html":"</details><!--"}`

</details>

<details open><summary>To update: 1 flag</summary>

- **update** `upd`
  - tag `old|` removed
  - tag `<img src=x onerror=alert(1)>` added
  - tag `` `x` `` added
  - property 1 added to condition 1: `<k>` exact `"[a](javascript:alert(1))"`

</details>

<details><summary>Live flags left alone</summary>

- `\u{1b}[31mred\u{1b}[0m`: cannot be managed: x\\r\\n::error::pwned <A*>… (1048094 more characters)

</details>

<sub>flagops 0.0.0-test</sub>
"#;

#[test]
fn plan_human_escapes_names_and_caps_details() {
    let out = human::render(&hostile_plan());
    assert_eq!(plain(&out), HUMAN_PLAN.replace("<A*>", &"a".repeat(482)));
}

#[test]
fn plan_markdown_escapes_names_and_caps_details() {
    let out = plan_markdown::render(&hostile_plan());
    assert_eq!(out, MARKDOWN_PLAN.replace("<A*>", &"a".repeat(482)));
}

fn hostile_findings(dir: &Path) -> Vec<Finding> {
    std::fs::write(dir.join("a.yaml"), "key: \"\x1b[31mx\"\r\nname: <!-- y\n").expect("write");
    vec![
        Finding::error("schema", format!("bad {COMMENT} {COMMAND}"))
            .in_file(Path::new("a.yaml"))
            .at(Some(Span::point(1, 7)))
            .for_flag(ANSI)
            .field("x\ny")
            .help(megabyte())
            .related(Related {
                file: "b\n.yaml".into(),
                span: Some(Span::point(2, 1)),
                message: IMG.into(),
            }),
        Finding::warning("schema", LINK)
            .in_file(Path::new("a.yaml"))
            .at(Some(Span::point(2, 7))),
    ]
}

#[test]
fn findings_human_escapes_messages_and_caps_details() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = hostile_findings(dir.path());
    let out = findings::human(
        &list,
        Summary::new(1, 1, &list),
        &mut Sources::new(dir.path()),
    );
    let expected = r#"error[schema]: bad <!-- x x\r\n::error::pwned [flag `\u{1b}[31mred\u{1b}[0m`]
 --> a.yaml:1:7
  |
1 | key: "\u{1b}[31mx"
  |       ^^^^^^ x\ny
  |
  = note: b\n.yaml:2:1: <img src=x onerror=alert(1)>
  = help: <A*>… (1048076 more characters)

warning[schema]: [a](javascript:alert(1))
 --> a.yaml:2:7
  |
2 | name: <!-- y
  |       ^

validated 1 flag in 1 file: 1 error, 1 warning
"#;
    assert_eq!(
        plain(&out),
        expected.replace("<A*>", &"a".repeat(DETAIL_LIMIT))
    );
}

#[test]
fn findings_github_keeps_one_command_per_finding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = hostile_findings(dir.path());
    let out = findings::github(&list, Path::new("sub,dir"));
    let expected = r"::error file=sub%2Cdir/a.yaml,line=1,col=7,title=flagops schema::bad <!-- x x\r\n::error::pwned [flag `\u{1b}[31mred\u{1b}[0m`]%0Anote: sub,dir/b\n.yaml:2:1: <img src=x onerror=alert(1)>%0Ahelp: <A*>… (1048076 more characters)
::warning file=sub%2Cdir/a.yaml,line=2,col=7,title=flagops schema::[a](javascript:alert(1))
";
    assert_eq!(out, expected.replace("<A*>", &"a".repeat(DETAIL_LIMIT)));
}

#[test]
fn findings_json_is_lossless_and_escaped_by_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = hostile_findings(dir.path());
    let out = findings::json(&list[1..], Summary::new(1, 1, &list[1..]));
    assert_eq!(
        out,
        r#"{
  "version": 1,
  "summary": {
    "files": 1,
    "flags": 1,
    "errors": 0,
    "warnings": 1
  },
  "findings": [
    {
      "severity": "warning",
      "code": "schema",
      "file": "a.yaml",
      "line": 2,
      "column": 7,
      "end_line": 2,
      "end_column": 7,
      "flag": null,
      "field": null,
      "message": "[a](javascript:alert(1))",
      "help": null,
      "related": []
    }
  ]
}
"#
    );
    // The first finding's 1 MB help and control characters are kept whole, JSON-escaped.
    let full = findings::json(&list[..1], Summary::new(1, 1, &list[..1]));
    let doc: serde_json::Value = serde_json::from_str(&full).unwrap();
    assert_eq!(
        doc["findings"][0]["help"].as_str().map(str::len),
        Some(1 << 20)
    );
    assert_eq!(doc["findings"][0]["flag"], ANSI);
    assert!(full.contains(r#""flag": "\u001b[31mred\u001b[0m""#));
}

#[test]
fn graphs_quote_their_labels() {
    let graph = DependencyGraph::new([
        ("a\"b".to_owned(), vec![ANSI.to_owned()]),
        (ANSI.to_owned(), vec![]),
        ("<!--".to_owned(), vec!["a\"b".to_owned()]),
    ]);
    let levels = graph.levels().expect("no cycle");
    assert_eq!(
        graph::text(&graph, &levels),
        r#"apply order (dependencies first; flags in one level are independent):
level 0
  \u{1b}[31mred\u{1b}[0m
level 1
  a"b → \u{1b}[31mred\u{1b}[0m
level 2
  <!-- → a"b
"#
    );
    assert_eq!(
        graph::dot(&graph),
        r#"digraph flagops {
  rankdir=LR;
  node [shape=box];
  "\\u{1b}[31mred\\u{1b}[0m";
  "<!--";
  "a\"b";
  "<!--" -> "a\"b";
  "a\"b" -> "\\u{1b}[31mred\\u{1b}[0m";
}
"#
    );
    assert_eq!(
        graph::mermaid(&graph),
        r##"flowchart LR
  f0["\u{1b}[31mred\u{1b}[0m"]
  f1["#lt;!--"]
  f2["a#quot;b"]
  f1 --> f2
  f2 --> f0
"##
    );
}

fn hostile_report() -> Report {
    Report {
        steps: vec![
            StepReport {
                key: "a|<!--".into(),
                action: Action::Update,
                level: 0,
                outcome: Outcome::Failed {
                    code: FailureCode::Invalid,
                    reason: format!("400: {COMMAND} {IMG} {}", megabyte()),
                    change_request: None,
                    changes: Vec::new(),
                },
                changes: Vec::new(),
            },
            StepReport {
                key: ANSI.into(),
                action: Action::Create,
                level: 1,
                outcome: Outcome::Skipped {
                    after: "a|<!--".into(),
                    failed: "a|<!--".into(),
                },
                changes: Vec::new(),
            },
        ],
        untouched: vec![LINK.into()],
        warnings: vec![Warning {
            key: Some(COMMENT.into()),
            message: COMMAND.into(),
            changes: Vec::new(),
        }],
    }
}

#[test]
fn apply_human_escapes_keys_and_caps_reasons() {
    let out = render_apply::human("prod", &hostile_report());
    let expected = r"failed to update `a|<!--`: 400: x\r\n::error::pwned <img src=x onerror=alert(1)> <A*>… (1048128 more characters)
skipped create of `\u{1b}[31mred\u{1b}[0m`: it waits for `a|<!--`, which failed
untouched (already in sync): `[a](javascript:alert(1))`
warning: `<!-- x`: x\r\n::error::pwned

Apply incomplete for `prod`: 0 applied, 0 already applied, 1 failed, 1 skipped, 1 untouched.
Fix the causes, then run `flagops plan --env prod` and apply again: what was done is not repeated.
";
    assert_eq!(plain(&out), expected.replace("<A*>", &"a".repeat(448)));
}

#[test]
fn apply_markdown_escapes_keys_and_caps_reasons() {
    let out = render_apply::markdown("prod", &hostile_report());
    let expected = r"### ❌ flagops apply: `prod`

**0 applied, 0 already applied, 1 failed, 1 skipped, 1 untouched.**

| flag | action | result | details |
|---|---|---|---|
| `a\|<!--` | update | **failed** | failed to update `a\|<!--`: 400: x\\r\\n::error::pwned &lt;img src=x onerror=alert(1)&gt; <A*>… (1048128 more characters) |
| `\u{1b}[31mred\u{1b}[0m` | create | skipped | skipped create of `\u{1b}[31mred\u{1b}[0m`: it waits for `a\|<!--`, which failed |

**Warnings**

- `<!-- x`: x\\r\\n::error::pwned

<details><summary>1 untouched (already in sync)</summary>

`[a](javascript:alert(1))`

</details>
";
    assert_eq!(out, expected.replace("<A*>", &"a".repeat(448)));
}
