//! The apply report for people (text), machines (JSON, versioned) and pull requests or job
//! summaries (markdown, under GitHub's comment limit).

use std::fmt::Write;

use anstyle::{AnsiColor, Style};
use serde_json::json;

use super::escape::{Inline, markdown as md, terminal};
use super::plan::ChangeWords;
use super::plan::markdown::GITHUB_COMMENT_LIMIT;
use crate::apply::{Outcome, Report, StepReport, Warning};
use crate::plan::Action;

/// The version of the JSON report.
pub const REPORT_FORMAT_VERSION: u32 = 1;

const GREEN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const RED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const BOLD: Style = Style::new().bold();

fn past(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
    }
}

/// One line for a step: `created `a``, `already updated `b` (…)`, `failed to update `c`: …`,
/// `skipped `d`: …`.
pub fn step_line<F: ChangeWords>(step: &StepReport<F>) -> String {
    let key = terminal::text(&step.key);
    match &step.outcome {
        Outcome::Applied {
            note: None,
            already: false,
        } => format!("{} `{key}`", past(step.action)),
        Outcome::Applied {
            note: Some(note),
            already: false,
        } => {
            let note = terminal::detail(note);
            format!("{} `{key}` ({note})", past(step.action))
        }
        Outcome::Applied {
            note,
            already: true,
        } => format!(
            "already {} `{key}`{}: nothing was sent",
            past(step.action),
            note.as_ref()
                .map(|n| format!(" ({})", terminal::detail(n)))
                .unwrap_or_default()
        ),
        Outcome::Failed { reason, .. } => {
            let reason = terminal::detail(reason);
            format!("failed to {} `{key}`: {reason}", step.action.as_str())
        }
        Outcome::Skipped { after, failed } if after == failed => format!(
            "skipped {} of `{key}`: it waits for `{}`, which failed",
            step.action.as_str(),
            terminal::text(failed)
        ),
        Outcome::Skipped { after, failed } => format!(
            "skipped {} of `{key}`: it waits for `{}`, skipped because `{}` failed",
            step.action.as_str(),
            terminal::text(after),
            terminal::text(failed)
        ),
    }
}

/// What a failed step found changed (`lost`), in the plan's words.
fn found_changes<F: ChangeWords>(step: &StepReport<F>) -> Vec<String> {
    match &step.outcome {
        Outcome::Failed { changes, .. } => changes
            .iter()
            .map(|c| ChangeWords::describe(c, Inline::Terminal).headline)
            .collect(),
        _ => Vec::new(),
    }
}

/// `1 applied, 3 already applied, …`: steps found already done are counted apart (the JSON
/// `summary.applied` counts both, `summary.already_applied` the second).
fn summary<F: ChangeWords>(report: &Report<F>) -> String {
    let c = report.counts();
    format!(
        "{} applied, {} already applied, {} failed, {} skipped, {} untouched",
        c.applied - c.already_applied,
        c.already_applied,
        c.failed,
        c.skipped,
        c.untouched
    )
}

fn warning_lines<F: ChangeWords>(warning: &Warning<F>) -> Vec<String> {
    let head = match &warning.key {
        Some(key) => format!(
            "`{}`: {}",
            terminal::text(key),
            terminal::detail(&warning.message)
        ),
        None => terminal::detail(&warning.message),
    };
    let mut lines = vec![head];
    for change in &warning.changes {
        lines.push(ChangeWords::describe(change, Inline::Terminal).headline);
    }
    lines
}

/// The report as text.
pub fn human<F: ChangeWords>(environment: &str, report: &Report<F>) -> String {
    let mut out = String::new();
    for step in &report.steps {
        let style = match step.outcome {
            Outcome::Applied { .. } => GREEN,
            Outcome::Failed { .. } => RED,
            Outcome::Skipped { .. } => YELLOW,
        };
        let _ = writeln!(out, "{style}{}{style:#}", step_line(step));
        for line in found_changes(step) {
            let _ = writeln!(out, "    {line}");
        }
    }
    if !report.untouched.is_empty() {
        let keys: Vec<String> = report
            .untouched
            .iter()
            .map(|k| format!("`{}`", terminal::text(k)))
            .collect();
        let _ = writeln!(out, "untouched (already in sync): {}", keys.join(", "));
    }
    for warning in &report.warnings {
        let mut lines = warning_lines(warning).into_iter();
        if let Some(head) = lines.next() {
            let _ = writeln!(out, "{YELLOW}warning{YELLOW:#}: {head}");
        }
        for line in lines {
            let _ = writeln!(out, "    {line}");
        }
    }
    let verdict = if report.succeeded() {
        format!("{GREEN}Apply complete{GREEN:#}")
    } else {
        format!("{RED}Apply incomplete{RED:#}")
    };
    let _ = writeln!(
        out,
        "\n{BOLD}{verdict}{BOLD:#} for `{}`: {}.",
        terminal::text(environment),
        summary(report)
    );
    if !report.succeeded() {
        let _ = writeln!(
            out,
            "Fix the causes, then run `flagops plan --env {environment}` and apply again: what was done is not repeated."
        );
    }
    out
}

/// The report as a versioned JSON document.
pub fn json<F: ChangeWords>(environment: &str, report: &Report<F>) -> String {
    let doc = json!({
        "format_version": REPORT_FORMAT_VERSION,
        "environment": environment,
        "succeeded": report.succeeded(),
        "summary": report.counts(),
        "steps": report.steps,
        "untouched": report.untouched,
        "warnings": report.warnings,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The details cell of a step: what changed (an update applied: the plan's words for each
/// field), what was found (a lost step), or its line.
fn details<F: ChangeWords>(step: &StepReport<F>) -> String {
    let mut parts = vec![step_line(step)];
    match step.outcome {
        Outcome::Applied { already: false, .. } => {
            parts.extend(
                step.changes
                    .iter()
                    .map(|c| ChangeWords::describe(c, Inline::Terminal).headline),
            );
        }
        Outcome::Failed { .. } => parts.extend(found_changes(step)),
        Outcome::Applied { .. } | Outcome::Skipped { .. } => {}
    }
    parts.join("; ")
}

/// A table cell from a line in the project's style (names in backticks).
fn cell(text: &str) -> String {
    md::cell(&md::message(text)).into_owned()
}

/// The report as markdown: summary first, then a table of the steps that did not simply
/// apply, then every step; cut (between rows, with a note) to stay under `limit` characters.
pub fn markdown_within<F: ChangeWords>(
    environment: &str,
    report: &Report<F>,
    limit: usize,
) -> String {
    let mut head = String::new();
    let mark = if report.succeeded() { "✅" } else { "❌" };
    let _ = writeln!(
        head,
        "### {mark} flagops apply: {}\n\n**{}.**\n",
        md::code(environment),
        summary(report)
    );
    let mut rows: Vec<String> = Vec::new();
    let mut ordered: Vec<&StepReport<F>> = report.steps.iter().collect();
    // Failures first, then skips, then the rest, each in plan order.
    ordered.sort_by_key(|s| match s.outcome {
        Outcome::Failed { .. } => 0,
        Outcome::Skipped { .. } => 1,
        Outcome::Applied { .. } => 2,
    });
    for step in ordered {
        let result = match step.outcome {
            Outcome::Applied { already: false, .. } => "applied",
            Outcome::Applied { already: true, .. } => "already applied",
            Outcome::Failed { .. } => "**failed**",
            Outcome::Skipped { .. } => "skipped",
        };
        rows.push(format!(
            "| {} | {} | {result} | {} |\n",
            md::cell(&md::code(&step.key)),
            step.action.as_str(),
            cell(&details(step))
        ));
    }
    let mut tail = String::new();
    if !report.warnings.is_empty() {
        tail.push_str("\n**Warnings**\n\n");
        for warning in &report.warnings {
            let lines = warning_lines(warning);
            let _ = writeln!(tail, "- {}", md::message(&lines.join("; ")));
        }
    }
    if !report.untouched.is_empty() {
        let keys: Vec<String> = report.untouched.iter().map(|k| md::code(k)).collect();
        let _ = writeln!(
            tail,
            "\n<details><summary>{} untouched (already in sync)</summary>\n\n{}\n\n</details>",
            report.untouched.len(),
            keys.join(", ")
        );
    }
    let table_head = "| flag | action | result | details |\n|---|---|---|---|\n";
    let reserve = 200;
    let mut out = head;
    if !rows.is_empty() {
        out.push_str(table_head);
    }
    let budget = limit.saturating_sub(reserve);
    let mut shown = 0;
    let mut length = out.chars().count();
    for row in &rows {
        let row_length = row.chars().count();
        if length + row_length > budget {
            break;
        }
        out.push_str(row);
        length += row_length;
        shown += 1;
    }
    if shown < rows.len() {
        let _ = writeln!(
            out,
            "\n_{} more steps are not shown (GitHub's size limit); the JSON report (`flagops apply --env {} --format json`) has them all._",
            rows.len() - shown,
            cell(environment)
        );
    } else if length + tail.chars().count() <= budget {
        out.push_str(&tail);
    } else {
        out.push_str("\n_Warnings and untouched flags are not shown (GitHub's size limit)._\n");
    }
    out
}

/// The report as markdown under GitHub's comment limit.
pub fn markdown<F: ChangeWords>(environment: &str, report: &Report<F>) -> String {
    markdown_within(environment, report, GITHUB_COMMENT_LIMIT)
}
