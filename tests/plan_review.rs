//! The plan a reviewer reads: what is risky comes first, in full, in every format; the markdown
//! stays under its budget by leaving out low-risk flags whole and naming them; a plan without
//! changes says so; the header names the service. The README's example plan is this file's.

use flagops::config::Environment;
use flagops::plan::{self, ConfigRef, GitRef, Metadata, Plan};
use flagops::render::plan::markdown::{self, Options};
use flagops::render::plan::{Target, human, json};
use flagops::vendor::posthog::Flag;
use serde_json::json;

use crate::support::{crate_dir, flag, live};

fn metadata() -> Metadata {
    Metadata {
        flagops_version: "0.0.0-test".into(),
        environment: "production".into(),
        backend: "posthog".into(),
        service: None,
        config: ConfigRef {
            path: "flagops.yaml".into(),
            sha256: "sha256:c0ffee".into(),
        },
        git: Some(GitRef {
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            dirty: false,
        }),
        created_at: "2026-11-21T12:00:00Z".into(),
    }
}

fn posthog() -> Target {
    Target {
        kind: "PostHog project".into(),
        name: "4242".into(),
        at: Some("https://eu.posthog.com".into()),
    }
}

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

/// 1,500 changes: 1,000 creates and 497 tag updates (low risk), and three risky ones: a
/// deletion of a live-only flag, a disable, and a rollout to 100% of everyone.
fn large_plan() -> Plan {
    let mut desired: Vec<Flag> = (0..1_000)
        .map(|i| {
            flag(json!({"key": format!("new-{i:04}"), "name": format!("New flag number {i}"),
                "conditions": [{"rollout_percentage": 10,
                    "properties": [{"type": "person", "key": "email", "operator": "icontains", "value": "@example.com"}]}]}))
        })
        .collect();
    let mut live_flags = Vec::new();
    for i in 0..497_u64 {
        let key = format!("tagged-{i:04}");
        live_flags.push((
            i + 1,
            1,
            json!({"key": key, "conditions": [{"rollout_percentage": 20}]}),
        ));
        desired.push(flag(
            json!({"key": key, "tags": ["reviewed"], "conditions": [{"rollout_percentage": 20}]}),
        ));
    }
    live_flags.push((
        900,
        3,
        json!({"key": "made-in-the-ui", "conditions": [{"rollout_percentage": 30}]}),
    ));
    live_flags.push((
        901,
        5,
        json!({"key": "kill-switch", "conditions": [{"properties": [
            {"type": "person", "key": "plan", "value": "enterprise"}]}]}),
    ));
    desired.push(flag(
        json!({"key": "kill-switch", "active": false, "conditions": [{"properties": [
            {"type": "person", "key": "plan", "value": "enterprise"}]}]}),
    ));
    live_flags.push((
        902,
        2,
        json!({"key": "new-search", "conditions": [{"rollout_percentage": 5}]}),
    ));
    desired.push(flag(
        json!({"key": "new-search", "conditions": [{"rollout_percentage": 100}]}),
    ));
    let policy = Environment {
        prune: true,
        ..Environment::default()
    };
    let mut plan = plan::build(&desired, &live(live_flags), &policy).expect("accepted");
    plan.metadata = metadata();
    assert_eq!(plan.steps.len(), 1_500);
    plan
}

const RISKY_MARKDOWN: &str = "#### ⚠️ Needs attention (3 flags)

- **delete** `made-in-the-ui`
  - ⚠️ deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 30% of everyone
- **update** `kill-switch`
  - ⚠️ disabled: goes off for 100% where `plan` exact `\"enterprise\"`
  - disabled (active true → false)
- **update** `new-search`
  - ⚠️ rollout widens 5% → 100% of everyone in condition 1 (on for everyone)
  - rollout 5% → 100% in condition 1

";

#[test]
fn a_large_plan_leads_with_its_risks_and_fits_the_comment_limit() {
    let plan = large_plan();
    let target = posthog();
    let text = markdown::render_with(
        &plan,
        &Options {
            target: Some(&target),
            budget: markdown::GITHUB_COMMENT_LIMIT,
        },
    );
    assert!(
        text.len() <= markdown::GITHUB_COMMENT_LIMIT,
        "{}",
        text.len()
    );
    // The first screen, before the first fold: header, summary and the three risky flags in
    // full.
    let first_fold = text
        .find("<details")
        .expect("the low-risk flags are folded");
    assert_eq!(
        &text[..first_fold],
        format!(
            "### flagops plan: `production`\n\n\
             PostHog project `4242` at `https://eu.posthog.com` · made at commit `0123456789ab`\n\n\
             **1000 to create, 499 to update, 1 to delete.** 0 unchanged.\n\n{RISKY_MARKDOWN}"
        )
    );
    // Every block shown is whole: each flag shown has its line of changes after it.
    let shown_creates = text.matches("- **create** `new-").count();
    let shown_updates = text.matches("- **update** `tagged-").count();
    assert_eq!(
        text.matches("  - condition 1: 10% where `email` icontains `\"@example.com\"`\n")
            .count(),
        shown_creates
    );
    assert_eq!(
        text.matches("  - tag `reviewed` added\n").count(),
        shown_updates
    );
    assert!(shown_creates > 100, "{shown_creates}");
    // What was left out is said exactly, with where the full plan is.
    let left_creates = 1_000 - shown_creates;
    let left_updates = 497 - shown_updates;
    let counts = match (left_creates, left_updates) {
        (0, u) => format!("{u} updates"),
        (c, 0) => format!("{c} creates"),
        (c, u) => format!("{c} creates, {u} updates"),
    };
    let note = format!(
        "_Left out to stay under 65536 bytes: {counts}; the full plan: \
         `flagops plan --env production --format json` (or save it with `--out`), or this \
         Markdown with `--markdown-budget 1048576` (a job summary's limit); the apply order and \
         the live flags left alone are there too._\n\n\
         <sub>flagops 0.0.0-test · 2026-11-21T12:00:00Z</sub>\n"
    );
    assert!(text.ends_with(&note), "{}", &text[text.len() - 600..]);

    // A job summary's budget holds the whole plan.
    let whole = markdown::render_with(
        &plan,
        &Options {
            target: Some(&target),
            budget: markdown::JOB_SUMMARY_LIMIT,
        },
    );
    assert!(whole.len() <= markdown::JOB_SUMMARY_LIMIT);
    assert_eq!(whole.matches("- **create** `new-").count(), 1_000);
    assert_eq!(whole.matches("- **update** `tagged-").count(), 497);
    assert!(!whole.contains("_Left out"));
    assert!(whole.starts_with(&text[..first_fold]));
}

const RISKY_COMPACT: &str = "_Too many to show every change; each flag with what makes it risky:_

- **delete** `made-in-the-ui`: ⚠️ deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 30% of everyone
- **update** `kill-switch`: ⚠️ disabled: goes off for 100% where `plan` exact `\"enterprise\"`
- **update** `new-search`: ⚠️ rollout widens 5% → 100% of everyone in condition 1 (on for everyone)
";

#[test]
fn a_budget_too_small_for_every_risky_change_still_names_each_risky_flag() {
    let plan = large_plan();
    let mut seen = (0, 0, 0);
    for budget in (700..=1_500).step_by(10) {
        let text = markdown::render_within(&plan, budget);
        assert!(text.len() <= budget, "{budget}: {}", text.len());
        assert!(
            text.contains("_Left out to stay under "),
            "{budget}: {text}"
        );
        if text.contains(RISKY_MARKDOWN) {
            seen.0 += 1;
        } else if text.contains(RISKY_COMPACT) {
            seen.1 += 1;
        } else {
            // Too small even for the names: the note says how many risky flags are not shown.
            assert!(text.contains("risky flag"), "{budget}: {text}");
            seen.2 += 1;
        }
    }
    assert!(seen.0 > 0 && seen.1 > 0 && seen.2 > 0, "{seen:?}");
}

#[test]
fn the_human_plan_leads_with_its_risks() {
    let plan = large_plan();
    let text = plain(&human::render_for(&plan, Some(&posthog())));
    let head = "plan for environment `production` (backend `posthog`, PostHog project `4242` at `https://eu.posthog.com`)
made at commit 0123456789ab

needs attention (3):
  - delete `made-in-the-ui`
      ! deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 30% of everyone
  ~ update `kill-switch`
      ! disabled: goes off for 100% where `plan` exact \"enterprise\"
      disabled (active true → false)
  ~ update `new-search`
      ! rollout widens 5% → 100% of everyone in condition 1 (on for everyone)
      rollout 5% → 100% in condition 1

to create (1000 flags):
  + create `new-0000`
";
    assert!(text.starts_with(head), "{}", &text[..2_000]);
    assert!(text.contains(
        "\nto update (497 flags):\n  ~ update `tagged-0000`\n      tag `reviewed` added\n"
    ));
    assert!(text.ends_with("Plan: 1000 to create, 499 to update, 1 to delete.\n"));
}

/// Each kind of risk, in words, with the audience it concerns.
#[test]
fn every_kind_of_risk_is_named_with_its_audience() {
    let live_state = live(vec![
        (
            1,
            1,
            json!({"key": "archived", "conditions": [{"rollout_percentage": 50}]}),
        ),
        (
            2,
            1,
            json!({"key": "enabled", "active": false, "conditions": [{"rollout_percentage": 25}]}),
        ),
        (
            3,
            1,
            json!({"key": "loosened", "conditions": [{"properties": [
                {"type": "person", "key": "country", "value": "FR"},
                {"type": "person", "key": "beta", "value": true}]}]}),
        ),
        (
            4,
            1,
            json!({"key": "split", "conditions": [{"rollout_percentage": 10}],
                "variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]}),
        ),
        (
            5,
            1,
            json!({"key": "added", "conditions": [{"rollout_percentage": 10}]}),
        ),
        (
            6,
            1,
            json!({"key": "off-widened", "active": false, "conditions": [{"rollout_percentage": 10}]}),
        ),
    ]);
    let desired = vec![
        flag(
            json!({"key": "archived", "archived": true, "conditions": [{"rollout_percentage": 50}]}),
        ),
        flag(json!({"key": "enabled", "conditions": [{"rollout_percentage": 25}]})),
        flag(json!({"key": "loosened", "conditions": [{"properties": [
            {"type": "person", "key": "country", "value": "FR"}]}]})),
        flag(
            json!({"key": "split", "conditions": [{"rollout_percentage": 10}],
            "variants": [{"key": "a", "rollout_percentage": 80}, {"key": "b", "rollout_percentage": 20}]}),
        ),
        flag(
            json!({"key": "added", "conditions": [{"rollout_percentage": 10},
            {"properties": [{"type": "person", "key": "email", "operator": "icontains", "value": "@corp.example"}]}]}),
        ),
        // Widened while it stays off: it reaches nobody, so it is not risky.
        flag(
            json!({"key": "off-widened", "active": false, "conditions": [{"rollout_percentage": 90}]}),
        ),
        // Live for everyone as soon as it is created.
        flag(json!({"key": "everyone", "conditions": [{}]})),
        // Created for a filtered audience: not risky.
        flag(
            json!({"key": "filtered", "conditions": [{"properties": [{"type": "person", "key": "beta", "value": true}]}]}),
        ),
    ];
    let mut plan = plan::build(&desired, &live_state, &Environment::default()).expect("accepted");
    plan.metadata = metadata();
    insta::assert_snapshot!("risks__human", plain(&human::render(&plan)));
    insta::assert_snapshot!("risks__markdown", markdown::render(&plan));
}

#[test]
fn a_plan_without_changes_says_so_in_one_line_in_every_format() {
    let live_state = live(vec![(1, 3, json!({"key": "a", "conditions": [{}]}))]);
    let desired = vec![flag(json!({"key": "a", "conditions": [{}]}))];
    let mut plan = plan::build(&desired, &live_state, &Environment::default()).expect("accepted");
    plan.metadata = metadata();
    let target = posthog();
    assert_eq!(
        plain(&human::render_for(&plan, Some(&target))),
        "plan for environment `production` (backend `posthog`, PostHog project `4242` at `https://eu.posthog.com`)\n\
         made at commit 0123456789ab\n\n\
         no changes: `production` matches the repository (1 flag in sync)\n\n\
         Plan: 0 to create, 0 to update, 0 to delete.\n"
    );
    assert_eq!(
        markdown::render_with(
            &plan,
            &Options {
                target: Some(&target),
                budget: 65_536
            }
        ),
        "### flagops plan: `production`\n\n\
         PostHog project `4242` at `https://eu.posthog.com` · made at commit `0123456789ab`\n\n\
         **No changes.** 1 flag in sync.\n\n\
         <sub>flagops 0.0.0-test · 2026-11-21T12:00:00Z</sub>\n"
    );
    // The JSON is the plan document, unchanged: no steps, the summary says it.
    let doc: serde_json::Value = serde_json::from_str(&json::render(&plan)).unwrap();
    assert_eq!(doc["steps"], json!([]));
    assert_eq!(
        doc["summary"],
        json!({"create": 0, "update": 0, "delete": 0, "unchanged": 1, "unmanaged": 0, "unsupported": 0})
    );
}

/// The plan shown in the README, section `flagops plan`.
fn readme_plan() -> Plan {
    let live_state = live(vec![
        (
            11,
            4,
            json!({"key": "new-checkout", "tags": ["payments"], "conditions": [{"rollout_percentage": 20}]}),
        ),
        (
            12,
            2,
            json!({"key": "legacy-banner", "conditions": [{"rollout_percentage": 100}]}),
        ),
        (
            13,
            7,
            json!({"key": "search-v2", "conditions": [{"properties": [
                {"type": "person", "key": "email", "operator": "icontains", "value": "@example.com"}]}],
                "variants": [{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50}]}),
        ),
        (
            14,
            1,
            json!({"key": "hand-made", "conditions": [{"rollout_percentage": 10}]}),
        ),
    ]);
    let desired = vec![
        flag(
            json!({"key": "new-checkout", "tags": ["payments", "ga"], "conditions": [{"rollout_percentage": 100}]}),
        ),
        flag(
            json!({"key": "legacy-banner", "active": false, "conditions": [{"rollout_percentage": 100}]}),
        ),
        flag(json!({"key": "search-v2", "conditions": [{"properties": [
                {"type": "person", "key": "email", "operator": "icontains", "value": "@example.com"}]}],
                "variants": [{"key": "control", "rollout_percentage": 20}, {"key": "test", "rollout_percentage": 80}]})),
        flag(
            json!({"key": "dark-mode", "name": "Dark mode", "conditions": [{"rollout_percentage": 10,
            "properties": [{"type": "person", "key": "beta", "value": true}]}]}),
        ),
    ];
    let policy = Environment {
        prune: true,
        ..Environment::default()
    };
    let mut plan = plan::build(&desired, &live_state, &policy).expect("accepted");
    plan.metadata = metadata();
    plan
}

/// The README's example is the renderer's output for [`readme_plan`], so it cannot go stale.
#[test]
fn the_readme_shows_a_real_markdown_plan() {
    let target = posthog();
    let text = markdown::render_with(
        &readme_plan(),
        &Options {
            target: Some(&target),
            budget: markdown::GITHUB_COMMENT_LIMIT,
        },
    );
    let expected = format!(
        "<!-- plan-example: start -->\n````markdown\n{text}````\n<!-- plan-example: end -->"
    );
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).unwrap();
    let start = readme
        .find("<!-- plan-example: start -->")
        .expect("the README has the example's start marker");
    let end = readme
        .find("<!-- plan-example: end -->")
        .expect("the README has the example's end marker")
        + "<!-- plan-example: end -->".len();
    assert_eq!(
        &readme[start..end],
        expected,
        "the README's example plan is stale; replace it with the expected text"
    );
}
