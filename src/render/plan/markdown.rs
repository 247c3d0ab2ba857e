//! The plan as markdown, for a pull-request comment or a job summary.
//!
//! The header names the environment and the service (host and project, or the state file),
//! then the summary, then **Needs attention**: every risky step (`risk`) in full, never folded
//! and never cut. The other steps follow, folded and grouped by action (create, update), one
//! block per flag. The result stays under a byte budget ([`GITHUB_COMMENT_LIMIT`] by default;
//! a job summary allows [`JOB_SUMMARY_LIMIT`]): the apply order and the list of flags left
//! alone go first, then whole low-risk flag blocks from the end; a note names what was left out
//! and where the full plan is. A flag's block is never cut in the middle.
//!
//! Keys and values are code spans, other text from the plan is escaped (`render::escape`), so
//! no flag name or server text can hide the rest of the comment (`<!--`), render HTML or
//! links; value diffs are in fenced code blocks longer than any backtick run inside.

use std::fmt::Write;

use super::risk::{self, Risk};
use super::{FlagWords, Target, human};
use crate::finding::{Finding, Severity};
use crate::plan::{Action, Plan, PlanError, Step, UnmanagedReason};
use crate::render::escape::{Inline, markdown as md};

/// GitHub's limit on a comment body, in characters (the budget is counted in bytes, which is
/// never less).
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// GitHub's limit on a job summary, in bytes.
pub const JOB_SUMMARY_LIMIT: usize = 1_048_576;

/// How to render: the service named in the header and the size budget.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Which service the environment is (from the config), if known.
    pub target: Option<&'a Target>,
    /// The most bytes the markdown may take.
    pub budget: usize,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            target: None,
            budget: GITHUB_COMMENT_LIMIT,
        }
    }
}

/// The plan as markdown under [`GITHUB_COMMENT_LIMIT`] bytes.
pub fn render<F: FlagWords>(plan: &Plan<F>) -> String {
    render_with(plan, &Options::default())
}

/// The plan as markdown in at most `limit` bytes.
pub fn render_within<F: FlagWords>(plan: &Plan<F>, limit: usize) -> String {
    render_with(
        plan,
        &Options {
            target: None,
            budget: limit,
        },
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
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

/// One flag's block: its headline, its risks and every change (value diffs in a code block).
fn block<F: FlagWords>(step: &Step<F>, risks: &[Risk]) -> String {
    let mut out = format!("- **{}** {}\n", step.action.as_str(), md::code(&step.key));
    for r in risks {
        let _ = writeln!(out, "  - ⚠️ {}", r.words);
    }
    for d in human::described(step, Inline::Markdown) {
        let _ = writeln!(out, "  - {}", d.headline);
        if !d.lines.is_empty() {
            let body = d.lines.join("\n");
            let fence = fence_for(&body);
            let _ = writeln!(out, "    {fence}diff");
            for line in &d.lines {
                let _ = writeln!(out, "    {line}");
            }
            let _ = writeln!(out, "    {fence}");
        }
    }
    out
}

/// A risky flag in one line and its risks, without its other changes.
fn compact<F: FlagWords>(step: &Step<F>, risks: &[Risk]) -> String {
    let words: Vec<String> = risks.iter().map(|r| r.words.clone()).collect();
    format!(
        "- **{}** {}: ⚠️ {}\n",
        step.action.as_str(),
        md::code(&step.key),
        words.join("; ")
    )
}

fn head<F: FlagWords>(plan: &Plan<F>, target: Option<&Target>) -> String {
    let env = &plan.metadata.environment;
    let s = plan.summary;
    let mut head = format!("### flagops plan: {}\n\n", md::code(env));
    let mut identity = Vec::new();
    if let Some(t) = target {
        identity.push(t.words(Inline::Markdown));
    } else {
        identity.push(format!("backend {}", md::code(&plan.metadata.backend)));
    }
    if let Some(git) = &plan.metadata.git {
        let short: String = git.commit.chars().take(12).collect();
        identity.push(format!(
            "made at commit {}{}",
            md::code(&short),
            if git.dirty {
                " (with uncommitted changes)"
            } else {
                ""
            }
        ));
    }
    let _ = writeln!(head, "{}\n", identity.join(" · "));
    if plan.steps.is_empty() {
        let _ = writeln!(
            head,
            "**No changes.** {} in sync.",
            plural(s.unchanged, "flag", "flags")
        );
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
        let _ = writeln!(
            head,
            "\n{} not in the repository; left alone.",
            plural(s.unmanaged, "live flag", "live flags")
        );
    }
    if s.unsupported > 0 {
        let _ = writeln!(
            head,
            "\n{} cannot be managed by flagops; never touched.",
            plural(s.unsupported, "live flag", "live flags")
        );
    }
    head.push('\n');
    head
}

fn foot<F: FlagWords>(plan: &Plan<F>) -> String {
    let mut foot = format!(
        "<sub>flagops {}",
        md::detail(&plan.metadata.flagops_version)
    );
    if !plan.metadata.created_at.is_empty() {
        let _ = write!(foot, " · {}", md::detail(&plan.metadata.created_at));
    }
    foot.push_str("</sub>\n");
    foot
}

fn pointer(env: &str) -> String {
    format!(
        "the full plan: {} (or save it with `--out`), or this Markdown with \
         `--markdown-budget 1048576` (a job summary's limit)",
        md::code(&format!("flagops plan --env {env} --format json"))
    )
}

fn group_title(action: Action) -> &'static str {
    match action {
        Action::Create => "To create",
        Action::Update => "To update",
        Action::Delete => "To delete",
    }
}

/// The folded, low-risk extras: the apply order and the live flags left alone.
fn extras<F: FlagWords>(plan: &Plan<F>) -> Vec<String> {
    let mut out = Vec::new();
    let levels = plan.levels();
    if levels.len() > 1 {
        let mut text = String::from(
            "<details><summary>Apply order (each level after the previous one)</summary>\n\n",
        );
        for (i, level) in levels.iter().enumerate() {
            let keys: Vec<String> = level.iter().map(|s| md::code(&s.key)).collect();
            let _ = writeln!(text, "- level {i}: {}", keys.join(", "));
        }
        text.push_str("\n</details>\n\n");
        out.push(text);
    }
    if !plan.unmanaged.is_empty() || !plan.unsupported.is_empty() {
        let mut text = String::from("<details><summary>Live flags left alone</summary>\n\n");
        for u in &plan.unmanaged {
            let why = match u.reason {
                UnmanagedReason::PruneOff => "not in the repository; `prune` is off",
                UnmanagedReason::Protected => "not in the repository; protected",
            };
            let _ = writeln!(text, "- {}: {why}", md::code(&u.key));
        }
        for u in &plan.unsupported {
            let _ = writeln!(
                text,
                "- {}: cannot be managed: {}",
                md::code(&u.key),
                md::detail(&u.reason)
            );
        }
        text.push_str("\n</details>\n\n");
        out.push(text);
    }
    out
}

/// The plan as markdown under `options.budget` bytes (when the header, the names of the risky
/// flags and the footer fit in it).
pub fn render_with<F: FlagWords>(plan: &Plan<F>, options: &Options<'_>) -> String {
    let mut out = head(plan, options.target);
    let foot = foot(plan);
    let limit = options.budget.saturating_sub(foot.len());
    let (risky, rest) = risk::split(plan, Inline::Markdown);
    // Room kept for the note on what was left out: its longest form with counts only (the
    // keys are listed only if they fit).
    let note_reserve = left_out_note(plan, &rest, risky.len(), options.budget, 0).len();

    let mut left_out_risky = 0;
    if !risky.is_empty() {
        let title = format!(
            "#### ⚠️ Needs attention ({})\n\n",
            plural(risky.len(), "flag", "flags")
        );
        let full: Vec<String> = risky.iter().map(|(s, r)| block(s, r)).collect();
        let full_len: usize = full.iter().map(String::len).sum();
        let room = limit.saturating_sub(out.len() + note_reserve);
        out.push_str(&title);
        if title.len() + full_len < room {
            out.extend(full);
        } else {
            // Every risky flag named, with its risks; the other changes of these flags are in
            // the full plan.
            let _ = writeln!(
                out,
                "_Too many to show every change; each flag with what makes it risky:_\n"
            );
            for (s, r) in &risky {
                let line = compact(s, r);
                if out.len() + line.len() + 1 + note_reserve > limit {
                    left_out_risky += 1;
                    continue;
                }
                out.push_str(&line);
            }
        }
        out.push('\n');
    }

    let mut left_out: Vec<&Step<F>> = Vec::new();
    let fold_open = rest.len() <= 10;
    for action in [Action::Create, Action::Update, Action::Delete] {
        let group: Vec<&Step<F>> = rest
            .iter()
            .copied()
            .filter(|s| s.action == action)
            .collect();
        if group.is_empty() {
            continue;
        }
        let open = format!(
            "<details{}><summary>{}: {}</summary>\n\n",
            if fold_open { " open" } else { "" },
            group_title(action),
            plural(group.len(), "flag", "flags")
        );
        let close = "\n</details>\n\n";
        let mut text = open.clone();
        let mut shown = 0;
        for s in &group {
            let b = block(s, &[]);
            if left_out.is_empty()
                && out.len() + text.len() + b.len() + close.len() + note_reserve <= limit
            {
                text.push_str(&b);
                shown += 1;
            } else {
                left_out.push(s);
            }
        }
        if shown > 0 {
            out.push_str(&text);
            out.push_str(close);
        }
    }

    if left_out.is_empty() && left_out_risky == 0 {
        for extra in extras(plan) {
            if out.len() + extra.len() <= limit {
                out.push_str(&extra);
            }
        }
    } else {
        out.push_str(&left_out_note(
            plan,
            &left_out,
            left_out_risky,
            options.budget,
            limit - out.len().min(limit),
        ));
    }
    out.push_str(&foot);
    out
}

/// What was left out to stay under the budget, and where the full plan is.
fn left_out_note<F: FlagWords>(
    plan: &Plan<F>,
    left_out: &[&Step<F>],
    left_out_risky: usize,
    budget: usize,
    room: usize,
) -> String {
    let mut counts = Vec::new();
    if left_out_risky > 0 {
        counts.push(plural(left_out_risky, "risky flag", "risky flags"));
    }
    for (action, one, many) in [
        (Action::Create, "create", "creates"),
        (Action::Update, "update", "updates"),
        (Action::Delete, "delete", "deletes"),
    ] {
        let n = left_out.iter().filter(|s| s.action == action).count();
        if n > 0 {
            counts.push(plural(n, one, many));
        }
    }
    let pointer = pointer(&plan.metadata.environment);
    let start = format!(
        "_Left out to stay under {budget} bytes: {}",
        counts.join(", ")
    );
    let end =
        format!("; {pointer}; the apply order and the live flags left alone are there too._\n\n");
    let keys: Vec<String> = left_out.iter().map(|s| md::code(&s.key)).collect();
    let all = format!(" ({})", keys.join(", "));
    if start.len() + all.len() + end.len() <= room {
        format!("{start}{all}{end}")
    } else {
        format!("{start}{end}")
    }
}

/// A refused plan as markdown.
pub fn render_error(environment: &str, error: &PlanError) -> String {
    let mut out = format!("### flagops plan: {} (refused)\n\n", md::code(environment));
    let _ = writeln!(
        out,
        "**The plan was refused: {}.** Nothing will be applied.\n",
        human::count(error)
    );
    let items: Vec<String> = error
        .problems
        .iter()
        .map(|p| {
            let mut item = format!("- **{}**: {}\n", p.code, md::detail(&p.message));
            if let Some(help) = &p.help {
                let _ = writeln!(item, "  _{}_", md::detail(help));
            }
            item
        })
        .collect();
    push_items(&mut out, &items, environment);
    out
}

/// A plan not made because the repository has errors: the errors, with file, line and column.
pub fn render_findings(environment: &str, findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let lead = format!(
        "**The repository has {}; nothing was planned.** `flagops validate` lists them with \
         their source lines.",
        plural(errors, "error", "errors")
    );
    refused(environment, findings, &lead)
}

/// A plan refused because the environment's project lacks what the flags name (a cohort, a
/// group type), each at the place it is written: `validate` cannot see these.
pub fn render_unresolved(environment: &str, findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let lead = format!(
        "**The environment's project lacks what the flags name ({}); nothing was planned.** \
         Create it there first, or change the flags.",
        plural(errors, "error", "errors")
    );
    refused(environment, findings, &lead)
}

fn refused(environment: &str, findings: &[Finding], lead: &str) -> String {
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let mut out = format!("### flagops plan: {} (refused)\n\n", md::code(environment));
    let _ = writeln!(out, "{lead}\n");
    let items: Vec<String> = errors
        .iter()
        .map(|f| {
            let mut place = f
                .file
                .as_ref()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if let Some(span) = f.span {
                let _ = write!(place, ":{}:{}", span.start.line, span.start.column);
            }
            let place = if place.is_empty() {
                String::new()
            } else {
                format!("{} ", md::code(&place))
            };
            let mut item = format!("- {place}**{}**: {}\n", f.code, md::detail(&f.message));
            if let Some(help) = &f.help {
                let _ = writeln!(item, "  _{}_", md::detail(help));
            }
            item
        })
        .collect();
    push_items(&mut out, &items, environment);
    out
}

/// Whole list items while they fit under [`GITHUB_COMMENT_LIMIT`], then how many were not shown.
fn push_items(out: &mut String, items: &[String], environment: &str) {
    let limit = GITHUB_COMMENT_LIMIT - 200;
    for (i, item) in items.iter().enumerate() {
        if out.len() + item.len() > limit {
            let _ = writeln!(
                out,
                "\n_{} more not shown; run {} locally._",
                items.len() - i,
                md::code(&format!("flagops plan --env {environment}"))
            );
            return;
        }
        out.push_str(item);
    }
}
