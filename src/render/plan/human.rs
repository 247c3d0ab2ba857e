//! The plan for people: per flag and per field, in words, with a summary line.
//!
//! Styled with ANSI codes; `anstream` strips them when stdout is not a terminal or
//! `NO_COLOR` is set. Keys, names and values are escaped for the terminal and reasons and
//! messages capped (`render::escape`) before the styling is added.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::words::{self, Described};
use crate::plan::{Action, Plan, PlanError, Step, UnmanagedReason};
use crate::render::escape::{Inline, terminal};

const GREEN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const RED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn sign(action: Action) -> (char, Style) {
    match action {
        Action::Create => ('+', GREEN),
        Action::Update => ('~', YELLOW),
        Action::Delete => ('-', RED),
    }
}

/// The summary line: `Plan: 1 to create, 2 to update, 0 to delete.`
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary;
    format!(
        "{} to create, {} to update, {} to delete",
        s.create, s.update, s.delete
    )
}

fn push_described(out: &mut String, described: &[Described]) {
    for d in described {
        let _ = writeln!(out, "      {}", d.headline);
        for line in &d.lines {
            let style = match line.chars().next() {
                Some('+') => GREEN,
                Some('-') => RED,
                _ => Style::new(),
            };
            let _ = writeln!(out, "        {style}{line}{style:#}");
        }
    }
}

/// The environment's ignored fields as a list of names in backticks, if any.
pub(crate) fn ignored(plan: &Plan) -> Option<String> {
    (!plan.ignore.is_empty()).then(|| {
        plan.ignore
            .iter()
            .map(|f| format!("`{}`", f.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// One step: its headline and its changes.
pub(crate) fn step(out: &mut String, step: &Step) {
    let (sign, style) = sign(step.action);
    let _ = write!(
        out,
        "  {style}{sign} {}{style:#} {BOLD}`{}`{BOLD:#}",
        step.action.as_str(),
        terminal::text(&step.key)
    );
    if let Some(reason) = &step.reason {
        let _ = write!(out, " {DIM}({}){DIM:#}", terminal::detail(reason));
    }
    out.push('\n');
    let described: Vec<Described> = match step.action {
        Action::Create => step
            .desired
            .as_ref()
            .map(|flag| words::created(flag, Inline::Terminal))
            .unwrap_or_default(),
        Action::Update => step.changes.iter().map(words::describe).collect(),
        Action::Delete => Vec::new(),
    };
    push_described(out, &described);
}

/// The whole plan.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let env = terminal::text(&plan.metadata.environment);
    let backend = terminal::text(&plan.metadata.backend);
    let _ = writeln!(
        out,
        "{BOLD}plan for environment `{env}`{BOLD:#} (backend `{backend}`)"
    );
    if let Some(fields) = ignored(plan) {
        let _ = writeln!(
            out,
            "{DIM}not compared on updates (`ignore` in the config): {fields}{DIM:#}"
        );
    }
    out.push('\n');
    if plan.steps.is_empty() {
        let n = plan.summary.unchanged;
        let _ = writeln!(
            out,
            "no changes: `{env}` matches the repository ({n} {} in sync)",
            if n == 1 { "flag" } else { "flags" }
        );
        out.push('\n');
    }
    for s in &plan.steps {
        step(&mut out, s);
        out.push('\n');
    }
    let levels = plan.levels();
    if levels.len() > 1 {
        let _ = writeln!(out, "apply order (each level after the previous one):");
        for (i, level) in levels.iter().enumerate() {
            let keys: Vec<String> = level
                .iter()
                .map(|s| Inline::Terminal.name(&s.key))
                .collect();
            let _ = writeln!(out, "  level {i}: {}", keys.join(", "));
        }
        out.push('\n');
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(out, "left alone (live, not in the repository):");
        for u in &plan.unmanaged {
            let why = match u.reason {
                UnmanagedReason::PruneOff => "`prune` is off",
                UnmanagedReason::Protected => "protected",
            };
            let key = terminal::text(&u.key);
            let _ = writeln!(out, "  {DIM}?{DIM:#} `{key}` {DIM}({why}){DIM:#}");
        }
        out.push('\n');
    }
    if !plan.unsupported.is_empty() {
        let _ = writeln!(out, "cannot be managed (live, never touched):");
        for u in &plan.unsupported {
            let _ = writeln!(
                out,
                "  {YELLOW}!{YELLOW:#} `{}`: {}",
                terminal::text(&u.key),
                terminal::detail(&u.reason)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{BOLD}Plan:{BOLD:#} {}.", summary_line(plan));
    out
}

/// A refused plan.
pub fn render_error(environment: &str, error: &PlanError) -> String {
    let mut out = String::new();
    for p in &error.problems {
        let _ = writeln!(
            out,
            "{RED}{BOLD}error[{}]{BOLD:#}{RED:#}: {}",
            p.code,
            terminal::detail(&p.message)
        );
        if let Some(help) = &p.help {
            let _ = writeln!(out, "  help: {}", terminal::detail(help));
        }
    }
    let _ = writeln!(
        out,
        "{RED}{BOLD}error{BOLD:#}{RED:#}: the plan for `{}` was refused ({})",
        terminal::text(environment),
        count(error)
    );
    out
}

pub(crate) fn count(error: &PlanError) -> String {
    match error.problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    }
}
