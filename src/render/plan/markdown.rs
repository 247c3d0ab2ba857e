//! The plan as markdown, for a pull-request comment or a job summary.
//!
//! Summary first, then a table with one row per flag, then the full human rendering inside a
//! collapsed `<details>` block. The result always fits GitHub's comment limit (65,536
//! characters): rows are dropped whole and the details are cut at a line boundary with the
//! code block closed, and a note says what was left out and where to see everything.
//!
//! Keys and values are code spans, other text from the plan is escaped (`render::escape`), so
//! no flag name or server text can hide the rest of the comment (`<!--`), render HTML or
//! links, or break the table; the details are the human rendering (already escaped) in a
//! fenced code block longer than any backtick run inside.

use std::fmt::Write;

use super::human;
use super::words;
use crate::plan::{Action, Plan, PlanError};
use crate::render::escape::{Inline, markdown as md};

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The plan as markdown under [`GITHUB_COMMENT_LIMIT`].
pub fn render(plan: &Plan) -> String {
    render_within(plan, GITHUB_COMMENT_LIMIT)
}

fn flags(n: usize) -> String {
    if n == 1 {
        "1 flag".to_owned()
    } else {
        format!("{n} flags")
    }
}

fn live_flags(n: usize) -> String {
    if n == 1 {
        "1 live flag".to_owned()
    } else {
        format!("{n} live flags")
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn changes_cell(step: &crate::plan::Step) -> String {
    match step.action {
        Action::Create => "new flag".to_owned(),
        Action::Delete => step
            .reason
            .as_deref()
            .map_or_else(|| "soft delete".to_owned(), md::detail),
        Action::Update => {
            let all: Vec<String> = step
                .changes
                .iter()
                .map(|c| words::describe_for(c, Inline::Markdown).headline)
                .collect();
            let shown: Vec<&str> = all
                .iter()
                .take(3)
                .map(|h| h.trim_end_matches(':'))
                .collect();
            let mut text = shown.join("; ");
            if all.len() > shown.len() {
                let _ = write!(text, "; and {} more", all.len() - shown.len());
            }
            text
        }
    }
}

fn fence_for(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// The plan as markdown in at most `limit` characters (tests use small limits).
pub fn render_within(plan: &Plan, limit: usize) -> String {
    let env = &plan.metadata.environment;
    let s = plan.summary;
    let mut head = format!("### flagops plan: {}\n\n", md::code(env));
    if plan.steps.is_empty() {
        let _ = writeln!(head, "**No changes.** {} in sync.", flags(s.unchanged));
    } else {
        let _ = writeln!(
            head,
            "**{}.** {} unchanged.",
            human::summary_line(plan),
            s.unchanged
        );
    }
    if let Some(fields) = human::ignored(plan) {
        let _ = writeln!(
            head,
            "\nNot compared on updates (`ignore` in the config): {fields}."
        );
    }
    if s.unmanaged > 0 {
        let n = s.unmanaged;
        let _ = writeln!(
            head,
            "\n{} not in the repository; left alone.",
            live_flags(n)
        );
    }
    if s.unsupported > 0 {
        let n = s.unsupported;
        let _ = writeln!(
            head,
            "\n{} cannot be managed by flagops; never touched.",
            live_flags(n)
        );
    }
    head.push('\n');

    let mut foot = format!(
        "<sub>flagops {}",
        md::detail(&plan.metadata.flagops_version)
    );
    if let Some(git) = &plan.metadata.git {
        let short: String = git.commit.chars().take(12).collect();
        let _ = write!(
            foot,
            " · commit {}{}",
            md::code(&short),
            if git.dirty {
                " (uncommitted changes)"
            } else {
                ""
            }
        );
    }
    if !plan.metadata.created_at.is_empty() {
        let _ = write!(foot, " · {}", md::detail(&plan.metadata.created_at));
    }
    foot.push_str("</sub>\n");

    let pointer = format!(
        "run {} locally, or save the plan with `--out` and read the file",
        md::code(&format!("flagops plan --env {env}"))
    );
    let mut out = head;
    let budget = limit.saturating_sub(chars(&foot));

    if !plan.steps.is_empty() {
        // The table may use half of what is left; the details get the rest.
        let table_budget = budget.saturating_sub(chars(&out)) / 2;
        let mut table = String::from("| action | flag | changes |\n|---|---|---|\n");
        let mut table_chars = chars(&table);
        let note_room = 120 + chars(&pointer);
        let mut shown = 0;
        for step in &plan.steps {
            let row = format!(
                "| {} | {} | {} |\n",
                step.action.as_str(),
                md::cell(&md::code(&step.key)),
                md::cell(&changes_cell(step))
            );
            let row_chars = chars(&row);
            if table_chars + row_chars + note_room > table_budget {
                break;
            }
            table.push_str(&row);
            table_chars += row_chars;
            shown += 1;
        }
        if shown < plan.steps.len() {
            let _ = writeln!(
                table,
                "\n_{} more flags are not listed in this table; {pointer}._",
                plan.steps.len() - shown
            );
        }
        if shown > 0 || plan.steps.len() > shown {
            out.push_str(&table);
            out.push('\n');
        }
    }

    let body = anstream::adapter::strip_str(&human::render(plan)).to_string();
    let fence = fence_for(&body);
    let open = format!("<details><summary>Details</summary>\n\n{fence}text\n");
    let close = format!("{fence}\n\n</details>\n\n");
    let lines: Vec<&str> = body.lines().collect();
    let cut_note_room = 160 + chars(&pointer);
    let room = budget.saturating_sub(chars(&out) + chars(&open) + chars(&close));
    let mut details = String::new();
    let mut used = 0;
    let mut all_fit = true;
    for (i, line) in lines.iter().enumerate() {
        let len = chars(line) + 1;
        let remaining_after = lines.len() - i - 1;
        let reserve = if remaining_after == 0 {
            0
        } else {
            cut_note_room
        };
        if used + len + reserve > room {
            all_fit = false;
            break;
        }
        details.push_str(line);
        details.push('\n');
        used += len;
    }
    if room > cut_note_room || all_fit {
        out.push_str(&open);
        out.push_str(&details);
        out.push_str(&fence);
        out.push('\n');
        if !all_fit {
            let left = lines.len() - details.lines().count();
            let _ = writeln!(
                out,
                "\n_Details truncated: {left} more lines not shown; {pointer}._"
            );
        }
        out.push_str("\n</details>\n\n");
    }
    out.push_str(&foot);
    out
}

/// A refused plan as markdown.
pub fn render_error(environment: &str, error: &PlanError) -> String {
    let mut out = format!("### flagops plan: {} (refused)\n\n", md::code(environment));
    let _ = writeln!(
        out,
        "**The plan was refused: {}.** Nothing will be applied.\n",
        human::count(error)
    );
    for p in &error.problems {
        let _ = writeln!(out, "- **{}**: {}", p.code, md::detail(&p.message));
        if let Some(help) = &p.help {
            let _ = writeln!(out, "  _{}_", md::detail(help));
        }
    }
    let mut text: String = out.chars().take(GITHUB_COMMENT_LIMIT - 100).collect();
    if text.len() < out.len() {
        let cut = text.rfind('\n').unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n\n_More problems not shown; run `flagops plan` locally._\n");
    }
    text
}
