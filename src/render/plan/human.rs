//! The plan for people: what needs attention first (deletes, disables, widened rollouts, …),
//! then the rest grouped by action, per flag and per field, in words, with a summary line.
//!
//! Styled with ANSI codes; `anstream` strips them when stdout is not a terminal or
//! `NO_COLOR` is set. Keys, names and values are escaped for the terminal and reasons and
//! messages capped (`render::escape`) before the styling is added.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::risk::{self, Risk};
use super::{ChangeWords, Described, FlagWords, Target};
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
pub fn summary_line<F: FlagWords>(plan: &Plan<F>) -> String {
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
pub(crate) fn ignored<F: FlagWords>(plan: &Plan<F>) -> Option<String> {
    (!plan.ignore.is_empty()).then(|| {
        plan.ignore
            .iter()
            .map(|f| format!("`{}`", f.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The lines under a step's headline: a new flag's fields, or an update's changes.
pub(crate) fn described<F: FlagWords>(step: &Step<F>, out: Inline) -> Vec<Described> {
    match step.action {
        Action::Create => step
            .desired
            .as_ref()
            .map(|flag| flag.created(out))
            .unwrap_or_default(),
        Action::Update => step
            .changes
            .iter()
            .map(|c| ChangeWords::describe(c, out))
            .collect(),
        Action::Delete => Vec::new(),
    }
}

/// One step: its headline, its risks (`!`) and its changes.
pub(crate) fn step<F: FlagWords>(out: &mut String, step: &Step<F>, risks: &[Risk]) {
    let (sign, style) = sign(step.action);
    let _ = write!(
        out,
        "  {style}{sign} {}{style:#} {BOLD}`{}`{BOLD:#}",
        step.action.as_str(),
        terminal::text(&step.key)
    );
    if let Some(reason) = &step.reason
        && risks.is_empty()
    {
        let _ = write!(out, " {DIM}({}){DIM:#}", terminal::detail(reason));
    }
    out.push('\n');
    for risk in risks {
        let _ = writeln!(out, "      {RED}!{RED:#} {}", risk.words);
    }
    push_described(out, &described(step, Inline::Terminal));
}

fn group_title(action: Action, n: usize) -> String {
    let flags = if n == 1 { "flag" } else { "flags" };
    format!("to {} ({n} {flags}):", action.as_str())
}

/// The header: environment, backend, which service or file, and the commit.
fn header<F: FlagWords>(out: &mut String, plan: &Plan<F>, target: Option<&Target>) {
    let env = terminal::text(&plan.metadata.environment);
    let backend = terminal::text(&plan.metadata.backend);
    let _ = write!(
        out,
        "{BOLD}plan for environment `{env}`{BOLD:#} (backend `{backend}`"
    );
    if let Some(target) = target {
        let _ = write!(out, ", {}", target.words(Inline::Terminal));
    }
    out.push(')');
    out.push('\n');
    if let Some(git) = &plan.metadata.git {
        let short: String = git.commit.chars().take(12).collect();
        let _ = writeln!(
            out,
            "{DIM}made at commit {}{}{DIM:#}",
            terminal::text(&short),
            if git.dirty {
                " (with uncommitted changes)"
            } else {
                ""
            }
        );
    }
}

/// The whole plan (no target in the header).
pub fn render<F: FlagWords>(plan: &Plan<F>) -> String {
    render_for(plan, None)
}

/// The whole plan: what needs attention first, then the rest grouped by action.
pub fn render_for<F: FlagWords>(plan: &Plan<F>, target: Option<&Target>) -> String {
    let mut out = String::new();
    let env = terminal::text(&plan.metadata.environment);
    header(&mut out, plan, target);
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
    let (risky, rest) = risk::split(plan, Inline::Terminal);
    if !risky.is_empty() {
        let _ = writeln!(
            out,
            "{RED}{BOLD}needs attention ({}):{BOLD:#}{RED:#}",
            risky.len()
        );
        for (s, risks) in &risky {
            step(&mut out, s, risks);
        }
        out.push('\n');
    }
    for action in [Action::Create, Action::Update, Action::Delete] {
        let group: Vec<&&Step<F>> = rest.iter().filter(|s| s.action == action).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}", group_title(action, group.len()));
        for s in group {
            step(&mut out, s, &[]);
        }
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
