//! `flagops apply`: make the environment match the repository (or a saved plan).
//!
//! Without a plan file it plans, shows the plan and asks for `yes` on a terminal (or takes
//! `--auto-approve`); with one it checks that the plan was made for this environment, config
//! and commit, and applies exactly that. Progress goes to stderr (a bar on a terminal, one line
//! per step otherwise), the report to stdout in the chosen format.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Context;
use super::output::{stderr, stdout};
use super::plan::{self as plan_cli, list, metadata, prepare, print_refusal, runtime};
use crate::apply::{self, Options, Progress, Report, StepReport};
use crate::backend::pacing::Pacer;
use crate::config::Environment;
use crate::error::{Error, Result, exit};
use crate::plan::{self, Action, FORMAT_VERSION, Plan};
use crate::render::apply as render;
use crate::render::plan as render_plan;

/// Format of the apply report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The plan, then one line per flag and a summary, in words (stdout).
    Human,
    /// The report as a versioned JSON document (`format_version` 1; stdout).
    Json,
    /// A pull-request comment or job summary, under GitHub's size limit (stdout).
    Markdown,
}

impl From<Format> for plan_cli::Format {
    fn from(format: Format) -> Self {
        match format {
            Format::Human => Self::Human,
            Format::Json => Self::Json,
            Format::Markdown => Self::Markdown,
        }
    }
}

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment to change.
    #[arg(long, value_name = "NAME")]
    env: String,
    /// A plan saved with `flagops plan --out FILE` (relative to `-C DIR`): apply exactly that plan.
    #[arg(value_name = "PLAN_FILE")]
    plan: Option<PathBuf>,
    /// Apply without asking for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    auto_approve: bool,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Most steps in flight at once within a level (1 to 64).
    #[arg(long, value_name = "N", default_value_t = Options::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read the plan `{}`: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "`{}` is not a flagops plan: it is not valid JSON ({e})",
            path.display()
        ))
        .hint("save a plan with `flagops plan --out FILE`")
    })?;
    match value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) if v > u64::from(FORMAT_VERSION) => {
            return Err(Error::usage(format!(
                "`{}` is a plan of format version {v}, made by a newer flagops; this one reads version {FORMAT_VERSION}",
                path.display()
            ))
            .hint("apply it with the flagops version that made it, or make a new plan"));
        }
        _ => {
            return Err(Error::usage(format!(
                "`{}` is not a flagops plan of format version {FORMAT_VERSION}",
                path.display()
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        Error::usage(format!(
            "`{}` is not a valid flagops plan: {e}",
            path.display()
        ))
    })
}

/// Refuse a saved plan that breaks what `plan` guarantees (edited by hand): deletes the
/// environment's policy does not allow, or a step ordered before one it waits for.
fn check_consistent(saved: &Plan, policy: &Environment) -> Result<()> {
    let edited = |what: String| {
        Error::failure(format!("the plan {what}; was it edited?"))
            .hint("make a new plan with `flagops plan --out FILE`")
    };
    let mut protect = globset::GlobSetBuilder::new();
    for pattern in &policy.protect {
        if let Ok(glob) = globset::Glob::new(pattern) {
            protect.add(glob);
        }
    }
    let protect = protect
        .build()
        .map_err(|e| Error::failure(format!("invalid `protect` patterns: {e}")))?;
    let deletes: Vec<&str> = saved
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .map(|s| s.key.as_str())
        .collect();
    if let Some(key) = deletes.first()
        && !policy.prune
    {
        return Err(edited(format!(
            "deletes `{key}` but `prune` is off for `{}`",
            saved.metadata.environment
        )));
    }
    if let Some(key) = deletes.iter().find(|k| protect.is_match(k)) {
        return Err(edited(format!("deletes `{key}`, which is protected")));
    }
    if let Some(max) = policy.max_deletes
        && deletes.len() > max as usize
    {
        return Err(edited(format!(
            "deletes {} flags; `max_deletes` is {max}",
            deletes.len()
        )));
    }
    for step in &saved.steps {
        let complete = match step.action {
            Action::Create => step.desired.is_some(),
            Action::Update => step.desired.is_some() && step.live.is_some(),
            Action::Delete => step.live.is_some(),
        };
        if !complete {
            return Err(edited(format!(
                "has an incomplete {} step for `{}`",
                step.action.as_str(),
                step.key
            )));
        }
    }
    // Levels count up from 0, at most one per step: a larger one was written by hand.
    let steps = saved.steps.len();
    if let Some(step) = saved.steps.iter().find(|s| s.level >= steps) {
        return Err(edited(format!(
            "puts `{}` at level {}, but a plan of {steps} steps has levels 0 to {}",
            step.key,
            step.level,
            steps - 1
        )));
    }
    let level: std::collections::BTreeMap<&str, usize> = saved
        .steps
        .iter()
        .map(|s| (s.key.as_str(), s.level))
        .collect();
    for (key, before) in saved.prerequisites() {
        for first in before {
            if level.get(first.as_str()) >= level.get(key.as_str()) {
                return Err(edited(format!(
                    "runs `{key}` no later than `{first}`, which must come first"
                )));
            }
        }
    }
    Ok(())
}

/// Refuse a saved plan made for another environment, backend, config or commit.
fn check_saved(saved: &Plan, now: &plan::Metadata) -> Result<()> {
    let was = &saved.metadata;
    let mismatch = |what: &str, a: &str, b: &str| {
        Error::failure(format!("the plan was made for {what} `{a}`, not `{b}`"))
            .hint("make a new plan with `flagops plan --out FILE`")
    };
    if was.environment != now.environment {
        return Err(mismatch("environment", &was.environment, &now.environment));
    }
    if was.backend != now.backend {
        return Err(mismatch("backend", &was.backend, &now.backend));
    }
    if was.config.sha256 != now.config.sha256 {
        return Err(Error::failure(format!(
            "`{}` changed since the plan was made",
            now.config.path
        ))
        .hint("make a new plan with `flagops plan --out FILE`"));
    }
    if let (Some(a), Some(b)) = (&was.git, &now.git)
        && a.commit != b.commit
    {
        return Err(mismatch("commit", &a.commit, &b.commit));
    }
    Ok(())
}

/// Ask for `yes` on the terminal.
fn confirm(env: &str) -> Result<bool> {
    stderr(&format!(
        "\nApply these changes to `{env}`? Only `yes` is accepted.\n  Enter a value: "
    ));
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::failure(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim() == "yes")
}

/// A bar on a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn started(&self, total: usize) {
        self.0.set_length(total as u64);
    }

    fn finished(&self, step: &StepReport) {
        if !matches!(step.outcome, apply::Outcome::Applied { .. }) {
            self.0.println(render::step_line(step));
        }
        self.0.set_message(format!("`{}`", step.key));
        self.0.inc(1);
    }
}

/// One line per step.
struct Lines;

impl Progress for Lines {
    fn finished(&self, step: &StepReport) {
        stderr(&format!("{}\n", render::step_line(step)));
    }
}

fn print_report(format: Format, env: &str, report: &Report) {
    stdout(&match format {
        Format::Human => render::human(env, report),
        Format::Json => render::json(env, report),
        Format::Markdown => render::markdown(env, report),
    });
}

/// Exit 0 when every step was applied (or there was nothing to do), 1 otherwise.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    let interactive = std::io::stdin().is_terminal();
    if args.plan.is_none() && !args.auto_approve && !interactive {
        return Err(Error::usage(
            "`apply` cannot ask for confirmation (stdin is not a terminal); pass `--auto-approve`, or apply a saved plan",
        )
        .hint(format!(
            "review `flagops plan --env {0} --out plan.json`, then run `flagops apply --env {0} plan.json`",
            args.env
        )));
    }
    // Long waits for the request budget or a 429 are said, so that the apply never looks hung.
    Pacer::on_wait(Some(Arc::new(|m: &str| stderr(&format!("waiting: {m}\n")))));
    let inputs = prepare(ctx, &args.env)?;
    let now = metadata(&inputs.repo, &args.env)?;
    let runtime = runtime()?;
    let mut plan = if let Some(file) = &args.plan {
        let saved = read_plan(&ctx.directory.join(file))?;
        check_saved(&saved, &now)?;
        check_consistent(&saved, &inputs.policy)?;
        saved
    } else {
        let live = list(&inputs, &runtime, &args.env)?;
        match plan::build(&inputs.desired, &live, &inputs.policy) {
            Ok(mut plan) => {
                plan.metadata = now;
                if plan.has_changes() {
                    let shown = render_plan::human::render(&plan);
                    if args.format == Format::Human {
                        stdout(&shown);
                    } else if !args.auto_approve {
                        stderr(&shown);
                    }
                }
                plan
            }
            Err(error) => {
                print_refusal(args.format.into(), &args.env, &error);
                return Ok(exit::FAILURE);
            }
        }
    };
    if !plan.has_changes() {
        let report = Report {
            steps: Vec::new(),
            untouched: plan.unchanged.clone(),
            warnings: Vec::new(),
        };
        if args.format == Format::Human {
            stdout(&format!(
                "No changes: `{}` already matches the repository.\n",
                args.env
            ));
        } else {
            print_report(args.format, &args.env, &report);
        }
        return Ok(exit::OK);
    }
    if args.plan.is_none() && !args.auto_approve && !confirm(&args.env)? {
        stderr("apply cancelled; nothing was changed\n");
        return Ok(exit::FAILURE);
    }
    plan::unmask(&mut plan, &inputs.desired)
        .map_err(|e| Error::failure(e).hint("make a new plan with `flagops plan --out FILE`"))?;
    let options = Options {
        concurrency: usize::from(args.concurrency),
        stop: Some(&INTERRUPTED),
        ..Options::default()
    };
    runtime.spawn(stop_on_interrupt());
    let report = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(
            Some(plan.steps.len() as u64),
            ProgressDrawTarget::stderr(),
        )
        .with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let above = bar.clone();
        Pacer::on_wait(Some(Arc::new(move |m: &str| {
            above.println(format!("waiting: {m}"));
        })));
        let bar = Bar(bar);
        let report = runtime.block_on(apply::run(&plan, &inputs.backend, &options, &bar));
        bar.0.finish_and_clear();
        report
    } else {
        runtime.block_on(apply::run(&plan, &inputs.backend, &options, &Lines))
    }
    .map_err(|e| {
        Error::failure(format!(
            "cannot read the live flags of `{}`; nothing was applied: {e}",
            args.env
        ))
    })?;
    print_report(args.format, &args.env, &report);
    Ok(if INTERRUPTED.load(Ordering::SeqCst) {
        exit::INTERRUPTED
    } else if report.succeeded() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Set by the first Ctrl-C of an apply.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The first Ctrl-C lets the requests in flight finish, starts no further step and still
/// prints the report (so the user knows exactly what was applied); a second one stops at once.
async fn stop_on_interrupt() {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    INTERRUPTED.store(true, Ordering::SeqCst);
    stderr(
        "interrupted: finishing the requests in flight and starting no new step; \
         press Ctrl-C again to stop at once (without a report)\n",
    );
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(i32::from(exit::INTERRUPTED));
    }
}
