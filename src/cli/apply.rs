//! `flagops apply`: make the environment match the repository (or a saved plan).
//!
//! The simplest form: sequential steps, stop at the first failure, `--auto-approve` required.
//! Issue 5 adds confirmation on a TTY, pacing, concurrency, retries and progress in `apply`.

use std::fmt::Write;
use std::path::PathBuf;

use super::Context;
use super::output::{stderr, stdout};
use super::plan::{Format, list, metadata, prepare, print, print_refusal, runtime};
use crate::apply::{self, StepOutcome};
use crate::error::{Error, Result, exit};
use crate::plan::{self, Action, FORMAT_VERSION, Plan};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment to change.
    #[arg(long, value_name = "NAME")]
    env: String,
    /// A plan saved with `flagops plan --out FILE` (relative to `-C DIR`): apply exactly that plan.
    #[arg(value_name = "PLAN_FILE")]
    plan: Option<PathBuf>,
    /// Apply without asking (required: interactive confirmation is not available yet).
    #[arg(long)]
    auto_approve: bool,
}

fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read the plan `{}`: {e}", path.display())))?;
    let version: Option<u64> = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("format_version").and_then(serde_json::Value::as_u64));
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(Error::usage(format!(
            "`{}` is not a flagops plan of format version {FORMAT_VERSION}",
            path.display()
        )));
    }
    serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "`{}` is not a valid flagops plan: {e}",
            path.display()
        ))
    })
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

/// Exit 0 when every step was applied, 1 otherwise.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    let inputs = prepare(ctx, &args.env)?;
    let now = metadata(&inputs.repo, &args.env)?;
    let runtime = runtime()?;
    let mut plan = if let Some(file) = &args.plan {
        let saved = read_plan(&ctx.directory.join(file))?;
        check_saved(&saved, &now)?;
        saved
    } else {
        {
            let live = list(&inputs, &runtime, &args.env)?;
            match plan::build(&inputs.desired, &live, &inputs.policy) {
                Ok(mut plan) => {
                    plan.metadata = now;
                    print(Format::Human, &plan);
                    plan
                }
                Err(error) => {
                    print_refusal(Format::Human, &args.env, &error);
                    return Ok(exit::FAILURE);
                }
            }
        }
    };
    if !plan.has_changes() {
        stderr("nothing to apply\n");
        return Ok(exit::OK);
    }
    if !args.auto_approve {
        return Err(Error::usage("`apply` needs `--auto-approve`")
            .hint("review the plan above, then run again with `--auto-approve`"));
    }
    plan::unmask(&mut plan, &inputs.desired)
        .map_err(|e| Error::failure(e).hint("make a new plan with `flagops plan --out FILE`"))?;
    let report = runtime.block_on(apply::run(&plan, &inputs.backend));
    let mut out = String::new();
    for (key, action, outcome) in &report.steps {
        let verb = match action {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Delete => "deleted",
        };
        match outcome {
            StepOutcome::Applied => {
                let _ = writeln!(out, "{verb} `{key}`");
            }
            StepOutcome::Failed(e) => {
                let _ = writeln!(out, "failed to {} `{key}`: {e}", action.as_str());
            }
            StepOutcome::NotRun => {
                let _ = writeln!(out, "skipped `{key}` (an earlier step failed)");
            }
        }
    }
    let _ = writeln!(
        out,
        "\napply {}: {} created, {} updated, {} deleted.",
        if report.succeeded() {
            "complete"
        } else {
            "failed"
        },
        report.applied(Action::Create),
        report.applied(Action::Update),
        report.applied(Action::Delete),
    );
    stdout(&out);
    Ok(if report.succeeded() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
