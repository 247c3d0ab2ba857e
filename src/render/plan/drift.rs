//! The split of a plan against a base revision (`plan --base REV`): which steps are *this
//! change* and which are *drift* (live flags that already differed from the definitions at
//! the base), as a section of the human and Markdown plans and as keys of the JSON document.
//!
//! Drift is a risk: a reviewer approving this change would also overwrite what someone
//! changed outside git, so the section comes before the rest of the plan.

use std::fmt::Write;

use serde_json::json;

use crate::model::VendorFlag;
use crate::plan::split::{Definition, Origin, Split, StepOrigin};
use crate::plan::{Action, Plan};
use crate::render::escape::Inline;

/// Most flags each list of the section names; the JSON document has them all.
const MAX_LISTED: usize = 50;

fn sign(action: Action) -> char {
    match action {
        Action::Create => '+',
        Action::Update => '~',
        Action::Delete => '-',
    }
}

/// Why a drifted step is drift, in words.
fn why(origin: StepOrigin) -> &'static str {
    match (origin.origin, origin.definition) {
        (_, Definition::Never) => "never in the repository (not at the base either)",
        (Origin::Both, Definition::Edited) => {
            "this change edits it too, and the live flag already differed from the base"
        }
        (Origin::Both, Definition::Added) => {
            "this change adds it, and the service already has a flag with this key"
        }
        (Origin::Both, Definition::Removed) => {
            "this change removes it from the repository, and the live flag already differed \
             from the base"
        }
        _ => "the definition did not change since the base",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "flag" } else { "flags" }
}

/// The base, in words: ``base `main` (commit `abc123456789`)``.
fn base_words(split: &Split, out: Inline) -> String {
    let short: String = split.commit.chars().take(12).collect();
    format!(
        "base {} (commit {})",
        out.name(&split.rev),
        out.name(&short)
    )
}

/// The steps of this change (origin `change` or `both`), with deletions of removed flags
/// said as such.
fn change_items<F: VendorFlag>(plan: &Plan<F>, split: &Split, out: Inline) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| split.of(&s.key).map(|o| (s, o)))
        .filter(|(_, o)| o.origin != Origin::Drift)
        .map(|(s, o)| {
            let removed = if o.definition == Definition::Removed {
                " (removed from the repository)"
            } else {
                ""
            };
            format!("{} {}{removed}", s.action.as_str(), out.name(&s.key))
        })
        .collect()
}

/// The drifted steps, one line each (without a list marker).
fn drift_items<F: VendorFlag>(plan: &Plan<F>, split: &Split, out: Inline) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| split.of(&s.key).map(|o| (s, o)))
        .filter(|(_, o)| o.origin.drifted())
        .map(|(s, o)| match out {
            Inline::Terminal => format!(
                "{} {} {}: {}",
                sign(s.action),
                s.action.as_str(),
                out.name(&s.key),
                why(o)
            ),
            Inline::Markdown => {
                format!("**{}** {}: {}", s.action.as_str(), out.name(&s.key), why(o))
            }
        })
        .collect()
}

/// `items` cut at `max`, with a last line saying how many more.
fn capped(mut items: Vec<String>, max: usize) -> Vec<String> {
    if items.len() > max {
        let more = items.len() - max;
        items.truncate(max);
        items.push(format!(
            "… and {more} more (`--format json` lists every step)"
        ));
    }
    items
}

/// The section of the human plan (plain text; the caller places it after the header).
pub fn human<F: VendorFlag>(plan: &Plan<F>, split: &Split) -> String {
    let out = Inline::Terminal;
    let mut text = format!("since {}:\n", base_words(split, out));
    let change = change_items(plan, split, out);
    let drift = drift_items(plan, split, out);
    let _ = writeln!(
        text,
        "  this change ({} {}):",
        change.len(),
        plural(change.len())
    );
    for item in capped(change, MAX_LISTED) {
        let _ = writeln!(text, "    {item}");
    }
    if drift.is_empty() {
        let _ = writeln!(
            text,
            "  no drift: every live flag this plan touches matched the base"
        );
    } else {
        let _ = writeln!(
            text,
            "  drift: changed outside git ({} {}), applying overwrites it:",
            drift.len(),
            plural(drift.len())
        );
        for item in capped(drift, MAX_LISTED) {
            let _ = writeln!(text, "    {item}");
        }
    }
    text.push('\n');
    text
}

/// The section of the Markdown plan (the caller places it before the first `####` section),
/// at most `room` bytes when its titles fit: the lists are cut shorter until it does.
pub fn markdown<F: VendorFlag>(plan: &Plan<F>, split: &Split, room: usize) -> String {
    let mut section = String::new();
    for max in [MAX_LISTED, 20, 5, 0] {
        section = markdown_listing(plan, split, max);
        if section.len() <= room {
            break;
        }
    }
    section
}

fn markdown_listing<F: VendorFlag>(plan: &Plan<F>, split: &Split, max: usize) -> String {
    let out = Inline::Markdown;
    let mut text = String::new();
    let change = change_items(plan, split, out);
    let drift = drift_items(plan, split, out);
    if drift.is_empty() {
        let _ = writeln!(
            text,
            "No drift: every live flag this plan touches matched the definitions at {}.\n",
            base_words(split, out)
        );
    } else {
        let _ = writeln!(
            text,
            "#### ⚠️ Drift: changed outside git ({} {})\n\nLive flags that already differed \
             from the definitions at {}; applying overwrites them:\n",
            drift.len(),
            plural(drift.len()),
            base_words(split, out)
        );
        for item in capped(drift, max) {
            let _ = writeln!(text, "- {item}");
        }
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "This change ({} {} since {}):\n",
        change.len(),
        plural(change.len()),
        out.name(&split.rev)
    );
    for item in capped(change, max) {
        let _ = writeln!(text, "- {item}");
    }
    text.push('\n');
    text
}

/// Insert `section` into the human plan `rendered`, after its header (the first blank line).
pub fn into_human(rendered: &str, section: &str) -> String {
    let at = rendered.find("\n\n").map_or(0, |i| i + 2);
    format!("{}{section}{}", &rendered[..at], &rendered[at..])
}

/// Insert `section` into the Markdown plan `rendered`, before its first `####` section (or
/// at its end).
pub fn into_markdown(rendered: &str, section: &str) -> String {
    let at = rendered.find("\n#### ").map_or(rendered.len(), |i| i + 1);
    format!("{}{section}{}", &rendered[..at], &rendered[at..])
}

/// The JSON plan document `rendered` (as `json::render` prints it) with the split added: a
/// top-level `base` (`rev`, `commit`) and `origin` (each step's key → `change`, `drift` or
/// `both`). The other bytes are unchanged.
pub fn into_json(rendered: &str, split: &Split) -> String {
    let origin: serde_json::Map<String, serde_json::Value> = split
        .steps
        .iter()
        .map(|(k, o)| (k.clone(), json!(o.origin.as_str())))
        .collect();
    crate::render::append::append_keys(
        rendered,
        &[
            ("base", json!({ "rev": split.rev, "commit": split.commit })),
            ("origin", serde_json::Value::Object(origin)),
        ],
    )
}
