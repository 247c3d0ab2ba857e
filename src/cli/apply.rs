//! `flagops apply`: make the environment match the repository (or a saved plan).
//!
//! Without a plan file it plans, shows the plan and asks for `yes` on a terminal (or takes
//! `--auto-approve`); with one it checks that the plan was made for this environment, config
//! and commit, and applies exactly that. Progress goes to stderr (a bar on a terminal; without
//! one, a start line and a count now and then, since the report lists every step), the report
//! to stdout in the chosen format. SIGINT, SIGTERM and SIGHUP stop it with a report.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Context;
use super::metadata::metadata;
use super::output::{stderr, stdout};
use super::plan::{self as plan_cli, list, prepare, print_refusal, runtime};
use super::signals::{self, Signals, stop_on_signal};
use crate::apply::{self, Options, Progress, Report, StepReport};
use crate::backend::pacing::Pacer;
use crate::config::{Environment, Service};
use crate::error::{Error, Result, exit};
use crate::plan::{self, Action, FORMAT_VERSION, Plan, Violation};
use crate::render::apply as render;
use crate::render::escape::terminal;
use crate::render::plan as render_plan;
use crate::render::plan::ChangeWords;
use crate::vendor::Model;

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
    /// Apply only the plan shown on the pull request (the digest in the comment of `plan
    /// --github-comment`): PLAN_FILE, or the plan made now; reads the same `GITHUB_*` variables.
    #[arg(long)]
    require_reviewed_plan: bool,
    /// The pull request of `--require-reviewed-plan` (default: the one of `GITHUB_EVENT_PATH`,
    /// else the one `GITHUB_SHA` was merged from).
    #[arg(long, value_name = "N", requires = "require_reviewed_plan")]
    pr: Option<u64>,
    /// The login whose plan comment is trusted (default: `FLAGOPS_GITHUB_COMMENT_AUTHOR`, else
    /// `github-actions[bot]`, the `GITHUB_TOKEN`'s).
    #[arg(long, value_name = "LOGIN", requires = "require_reviewed_plan")]
    github_comment_author: Option<String>,
}

fn read_plan<F: Model>(path: &std::path::Path, env: &str) -> Result<Plan<F>> {
    let text = super::plan_file::read(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "`{}` is not a flagops plan: it is not valid JSON ({e})",
            path.display()
        ))
        .hint(format!(
            "save a plan with `flagops plan --env {env} --out FILE`"
        ))
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
            .hint(format!(
                "apply it with the flagops version that made it, or {}",
                new_plan(env)
            )));
        }
        _ => {
            return Err(Error::usage(format!(
                "`{}` is not a flagops plan of format version {FORMAT_VERSION}",
                path.display()
            ))
            .hint(new_plan(env)));
        }
    }
    // Whose flags the plan holds decides how they read: said before they are read.
    let service = value
        .pointer("/metadata/service")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(Service::Posthog.as_str());
    if service != F::SERVICE.as_str() {
        return Err(Error::usage(format!(
            "`{}` is a plan of {service} flags; this repository's flags are {}'s",
            path.display(),
            F::SERVICE.as_str()
        ))
        .hint(new_plan(env)));
    }
    // The plain way first, as `source` reads a flag: tracking the path costs time on every
    // step of a large plan, and is needed only to say where one is wrong.
    if let Ok(plan) = <Plan<F> as serde::Deserialize>::deserialize(&value) {
        return Ok(plan);
    }
    // Where in the plan, when it is not at its top (`steps[2].desired`).
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!("at `{}`: ", terminal::text(&at))
        };
        Error::usage(format!(
            "`{}` is not a valid flagops plan: {at}{}",
            path.display(),
            crate::util::without_type_names(&e.inner().to_string())
        ))
        .hint(new_plan(env))
    })
}

/// Refuse a saved plan that breaks what `plan` guarantees (edited by hand): deletes the
/// environment's policy does not allow, or a step ordered before one it waits for.
fn check_consistent<F: Model>(saved: &Plan<F>, policy: &Environment) -> Result<()> {
    let env = &saved.metadata.environment;
    let edited = |what: String| {
        Error::failure(format!("the plan {what}; was it edited?")).hint(new_plan(env))
    };
    let policy = plan::Policy::new(policy).map_err(|p| Error::failure(p.message))?;
    if let Some(violation) = policy.violations(&saved.steps).first() {
        return Err(edited(match violation {
            Violation::DeleteWithoutPrune { key } => {
                format!("deletes `{key}` but `prune` is off for `{env}`")
            }
            Violation::DeleteProtected { key } => format!("deletes `{key}`, which is protected"),
            Violation::DisableProtected { key } => {
                format!("disables `{key}`, which is protected")
            }
            Violation::TooManyDeletes { keys, max } => {
                format!("deletes {} flags; `max_deletes` is {max}", keys.len())
            }
        }));
    }
    let mut seen = std::collections::BTreeSet::new();
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
        // The flag a step writes or deletes is the one it names: the report says that key.
        let flags = [step.desired.as_ref(), step.live.as_ref().map(|l| &l.flag)];
        if let Some(other) = flags.into_iter().flatten().find(|f| f.key() != step.key) {
            return Err(edited(format!(
                "has a step for `{}` that holds the flag `{}`",
                step.key,
                other.key()
            )));
        }
        if !seen.insert(step.key.as_str()) {
            return Err(edited(format!("has two steps for `{}`", step.key)));
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
    // Every flag a written flag depends on must be written first by the plan, or be in sync.
    let written: std::collections::BTreeSet<&str> = saved
        .steps
        .iter()
        .filter(|s| s.action != Action::Delete)
        .map(|s| s.key.as_str())
        .chain(saved.unchanged.iter().map(String::as_str))
        .collect();
    for step in &saved.steps {
        let Some(desired) = &step.desired else {
            continue;
        };
        if let Some(missing) = desired
            .dependencies()
            .into_iter()
            .find(|d| !written.contains(d.as_str()))
        {
            return Err(edited(format!(
                "has no step for `{missing}`, which `{}` depends on, and does not list it as in sync",
                step.key
            )));
        }
    }
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

/// The hint to make a new plan for `env`.
fn new_plan(env: &str) -> String {
    format!("make a new plan with `flagops plan --env {env} --out FILE`")
}

/// Refuse a saved plan made for another environment, backend, config or commit.
fn check_saved<F: Model>(saved: &Plan<F>, now: &plan::Metadata) -> Result<()> {
    let was = &saved.metadata;
    let mismatch = |what: &str, a: &str, b: &str| {
        Error::failure(format!("the plan was made for {what} `{a}`, not `{b}`"))
            .hint(new_plan(&now.environment))
    };
    // Made with another config file: applying it with that one may be what was meant.
    let other_config = || {
        let new = new_plan(&now.environment);
        if was.config.path == now.config.path {
            return new;
        }
        format!(
            "apply it with `--config {}`, the config it was made with, or {new}",
            terminal::text(&was.config.path)
        )
    };
    if was.environment != now.environment {
        return Err(mismatch("environment", &was.environment, &now.environment));
    }
    if was.backend != now.backend {
        return Err(mismatch("backend", &was.backend, &now.backend).hint(other_config()));
    }
    if was.config.sha256 != now.config.sha256 {
        return Err(Error::failure(format!(
            "`{}` changed since the plan was made",
            now.config.path
        ))
        .hint(other_config()));
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

impl<K: ChangeWords> Progress<K> for Bar {
    fn started(&self, total: usize) {
        self.0.set_length(total as u64);
    }

    fn finished(&self, step: &StepReport<K>) {
        if !matches!(step.outcome, apply::Outcome::Applied { .. }) {
            self.0.println(render::step_line(step));
        }
        self.0.set_message(format!("`{}`", step.key));
        self.0.inc(1);
    }
}

/// Without a terminal (a CI log): the report that follows lists every step, so progress is
/// one line at the start and a count at most every `every` (10 s), never the steps again.
struct Counter {
    every: Duration,
    say: fn(&str),
    total: AtomicUsize,
    done: AtomicUsize,
    last: Mutex<Instant>,
}

impl Counter {
    fn new(every: Duration, say: fn(&str)) -> Self {
        Counter {
            every,
            say,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }
}

impl<K> Progress<K> for Counter {
    fn started(&self, total: usize) {
        self.total.store(total, Ordering::SeqCst);
        (self.say)(&format!(
            "applying {total} step{}…\n",
            if total == 1 { "" } else { "s" }
        ));
    }

    fn finished(&self, _step: &StepReport<K>) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= self.every {
            *last = Instant::now();
            (self.say)(&format!(
                "{done} of {} steps done\n",
                self.total.load(Ordering::SeqCst)
            ));
        }
    }
}

fn print_report<K: ChangeWords>(format: Format, env: &str, report: &Report<K>) {
    stdout(&match format {
        Format::Human => render::human(env, report),
        Format::Json => render::json(env, report),
        Format::Markdown => render::markdown(env, report),
    });
}

/// Exit 0 when every step was applied (or there was nothing to do), 1 otherwise; 130, 143 or
/// 129 when stopped by SIGINT, SIGTERM or SIGHUP.
pub(crate) fn run<F: Model>(args: &Args, ctx: &Context) -> Result<u8> {
    let interactive = std::io::stdin().is_terminal();
    let must_confirm = args.plan.is_none() && !args.auto_approve;
    // Long waits for the request budget or a 429 are said, so that the apply never looks hung.
    Pacer::on_wait(Some(Arc::new(|m: &str| stderr(&format!("waiting: {m}\n")))));
    // A saved plan is checked against the repository before anything else (a credential
    // missing for the wrong backend would hide that the plan is for another one).
    let (inputs, (now, saved)) = prepare::<F, _>(ctx, &args.env, args.plan.is_none(), |repo| {
        let now = metadata(repo, &args.env)?;
        let saved = match &args.plan {
            Some(file) => {
                let saved = read_plan::<F>(&ctx.directory.join(file), &args.env)?;
                check_saved(&saved, &now)?;
                Some(saved)
            }
            None => None,
        };
        Ok((now, saved))
    })?;
    let runtime = runtime()?;
    let mut fresh = None;
    let mut plan = if let Some(saved) = saved {
        check_consistent(&saved, &inputs.policy)?;
        saved
    } else {
        let live = list(&inputs, runtime, &args.env)?;
        match plan::build(&inputs.desired, &live, &inputs.policy) {
            Ok(mut plan) => {
                plan.metadata = now;
                // Applied at once (nobody is asked first): what the plan read is current.
                if !must_confirm {
                    fresh = Some(live);
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
        let report: Report<F::Field> = Report {
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
    if args.require_reviewed_plan {
        let review = super::github::Review {
            pr: args.pr,
            author: args.github_comment_author.as_deref(),
            plan_file: args.plan.as_deref(),
        };
        super::github::require_reviewed(runtime, &review, &args.env, &ctx.directory, &plan)?;
    }
    // There are changes: without a terminal they cannot be confirmed (nothing was written).
    if must_confirm && !interactive {
        return Err(Error::usage(
            "`apply` cannot ask for confirmation (stdin is not a terminal); pass `--auto-approve`, or apply a saved plan",
        )
        .hint(format!(
            "review `flagops plan --env {0} --out plan.json`, then run `flagops apply --env {0} plan.json`",
            args.env
        )));
    }
    if args.plan.is_none() {
        let shown =
            render_plan::human::render_for(&plan, Some(&plan_cli::target(&inputs.repo, &args.env)));
        if args.format == Format::Human {
            stdout(&shown);
        } else if !args.auto_approve {
            stderr(&shown);
        }
    }
    if must_confirm && !confirm(&args.env)? {
        stderr("apply cancelled; nothing was changed\n");
        return Ok(exit::FAILURE);
    }
    plan::unmask(&mut plan, &inputs.desired)
        .map_err(|e| Error::failure(e).hint(new_plan(&args.env)))?;
    let (stop, stopped) = watch::channel(false);
    let options = Options {
        concurrency: usize::from(args.concurrency),
        stop: Some(stopped),
        ..Options::default()
    };
    {
        // Registered before the first step, so that no signal ends the apply unreported.
        let _entered = runtime.enter();
        let signals = Signals::new()
            .map_err(|e| Error::failure(format!("cannot listen for signals: {e}")))?;
        runtime.spawn(stop_on_signal(signals, stop, args.env.clone()));
    }
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
        let report = runtime.block_on(apply::run_from(
            &plan,
            fresh,
            &inputs.backend,
            &options,
            &bar,
        ));
        bar.0.finish_and_clear();
        report
    } else {
        runtime.block_on(apply::run_from(
            &plan,
            fresh,
            &inputs.backend,
            &options,
            &Counter::new(Duration::from_secs(10), stderr),
        ))
    }
    .map_err(|e| {
        Error::failure(format!(
            "cannot read the live flags of `{}`; nothing was applied: {e}",
            args.env
        ))
    })?;
    print_report(args.format, &args.env, &report);
    super::plan::say_requests(&inputs.backend);
    Ok(match signals::stopped_by() {
        0 if report.succeeded() => exit::OK,
        0 => exit::FAILURE,
        code => code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static SAID: Mutex<String> = Mutex::new(String::new());

    fn say(text: &str) {
        SAID.lock().unwrap().push_str(text);
    }

    #[test]
    fn without_a_terminal_progress_is_a_start_line_and_a_count_now_and_then() {
        let step: StepReport = StepReport {
            key: "a".to_owned(),
            action: Action::Create,
            level: 0,
            outcome: apply::Outcome::Skipped {
                after: "b".to_owned(),
                failed: "b".to_owned(),
            },
            changes: Vec::new(),
        };
        let quiet = Counter::new(Duration::from_secs(3600), say);
        Progress::<crate::vendor::posthog::Field>::started(&quiet, 2);
        quiet.finished(&step);
        quiet.finished(&step);
        let every = Counter::new(Duration::ZERO, say);
        Progress::<crate::vendor::posthog::Field>::started(&every, 1);
        every.finished(&step);
        assert_eq!(
            *SAID.lock().unwrap(),
            "applying 2 steps…\napplying 1 step…\n1 of 1 steps done\n"
        );
    }
}
