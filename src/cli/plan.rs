//! `flagops plan`: what applying the repository to one environment would change.

use std::path::PathBuf;

use clap::ValueEnum;

use super::Context;
use super::output::{stderr, stdout};
use crate::backend::any::{AnyBackend, SetupError};
use crate::backend::{Backend, LiveState};
use crate::config::Environment;
use crate::error::{Error, Result, exit};
use crate::model::Flag;
use crate::plan::{self, ConfigRef, GitRef, Metadata, Plan, PlanError};
use crate::render::findings::{Sources, Summary, human};
use crate::render::plan as render;
use crate::rules;
use crate::source::Repository;

/// Output format of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Per flag and per field, in words (stdout).
    Human,
    /// The versioned plan document, the same as `--out` saves (stdout).
    Json,
    /// A pull-request comment or job summary, under GitHub's size limit (stdout).
    Markdown,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment to plan for (a key of `environments` in the config).
    #[arg(long, value_name = "NAME")]
    env: String,
    /// Save the plan (JSON) to FILE (relative to `-C DIR`), for `flagops apply FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
}

/// The loaded, checked inputs of a plan for one environment.
pub(crate) struct Inputs {
    pub(crate) repo: Repository,
    pub(crate) policy: Environment,
    pub(crate) desired: Vec<Flag>,
    pub(crate) backend: AnyBackend,
}

/// Load the repository, refuse if it has errors, and build the environment's backend.
pub(crate) fn prepare(ctx: &Context, env: &str) -> Result<Inputs> {
    let repo = ctx.load()?;
    let backend =
        AnyBackend::for_environment(&repo.root, &repo.config, env).map_err(|e| setup_error(&e))?;
    let findings = rules::validate(&repo);
    let summary = Summary::new(repo.files, repo.flags.len(), &findings);
    if summary.errors > 0 {
        stderr(&human(&findings, summary, &mut Sources::new(&repo.root)));
        return Err(
            Error::failure("the repository has errors; nothing was planned")
                .hint("fix the errors above (`flagops validate` lists them)"),
        );
    }
    let policy = repo
        .config
        .environments
        .get(env)
        .cloned()
        .unwrap_or_default();
    let desired = repo
        .flags
        .iter()
        .map(|f| f.spec.resolve(Some(env)).0)
        .collect();
    Ok(Inputs {
        repo,
        policy,
        desired,
        backend,
    })
}

/// A runtime for the backend's async calls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))
}

/// Read the live state of the environment.
pub(crate) fn list(
    inputs: &Inputs,
    runtime: &tokio::runtime::Runtime,
    env: &str,
) -> Result<LiveState> {
    runtime
        .block_on(inputs.backend.list())
        .map_err(|e| Error::failure(format!("cannot read the live flags of `{env}`: {e}")))
}

/// Where and when: the metadata a saved plan carries.
pub(crate) fn metadata(repo: &Repository, env: &str) -> Result<Metadata> {
    let config_path = repo.root.join(&repo.config_file);
    let bytes = std::fs::read(&config_path)
        .map_err(|e| Error::failure(format!("cannot read `{}`: {e}", config_path.display())))?;
    Ok(Metadata {
        flagops_version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: env.to_owned(),
        backend: repo.config.backend.as_str().to_owned(),
        config: ConfigRef {
            path: repo.config_file.to_string_lossy().replace('\\', "/"),
            sha256: crate::util::sha256(&bytes),
        },
        git: git_ref(repo),
        created_at: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
    })
}

/// The commit checked out at the repository's directory, if it is inside a git repository.
fn git_ref(repo: &Repository) -> Option<GitRef> {
    let git = git2::Repository::discover(&repo.root).ok()?;
    let commit = git.head().ok()?.peel_to_commit().ok()?.id().to_string();
    let dirty = inputs_changed(&git, repo).unwrap_or(true);
    Some(GitRef { commit, dirty })
}

/// Whether what the plan reads differs from `HEAD`: the config file, or a YAML file (modified,
/// deleted or untracked, not ignored) under the repository directory or a `flags` directory.
/// Changes elsewhere in the git repository (the rest of a monorepo, the local state file, a
/// saved plan) do not make the plan irreproducible from the commit. `None` when unknown.
fn inputs_changed(git: &git2::Repository, repo: &Repository) -> Option<bool> {
    let workdir = git.workdir()?.canonicalize().ok()?;
    let config = repo.root.join(&repo.config_file).canonicalize().ok()?;
    let mut bases = vec![repo.root.canonicalize().ok()?];
    for entry in repo.config.flags.entries() {
        if !entry.contains(['*', '?', '[', '{'])
            && let Ok(path) = repo.root.join(entry).canonicalize()
        {
            bases.push(path);
        }
    }
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = git.statuses(Some(&mut options)).ok()?;
    Some(statuses.iter().any(|entry| {
        let Ok(path) = entry.path() else {
            return true;
        };
        let path = workdir.join(path);
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        path == config || (yaml && bases.iter().any(|b| path.starts_with(b)))
    }))
}

/// Print a refused plan in `format`.
pub(crate) fn print_refusal(format: Format, env: &str, error: &PlanError) {
    match format {
        Format::Human => stderr(&render::human::render_error(env, error)),
        Format::Json => stdout(&render::json::render_error(env, error)),
        Format::Markdown => stdout(&render::markdown::render_error(env, error)),
    }
}

/// Print a plan in `format`.
pub(crate) fn print(format: Format, plan: &Plan) {
    match format {
        Format::Human => stdout(&render::human::render(plan)),
        Format::Json => stdout(&render::json::render(plan)),
        Format::Markdown => stdout(&render::markdown::render(plan)),
    }
}

/// Exit 0 (or 2 with `--detailed-exitcode` when there are changes), 1 on error or refusal.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    crate::backend::pacing::Pacer::announce_waits_to(stderr); // long waits: `waiting: …`
    let inputs = prepare(ctx, &args.env)?;
    let runtime = runtime()?;
    let live = list(&inputs, &runtime, &args.env)?;
    let mut plan = match plan::build(&inputs.desired, &live, &inputs.policy) {
        Ok(plan) => plan,
        Err(error) => {
            print_refusal(args.format, &args.env, &error);
            return Ok(exit::FAILURE);
        }
    };
    plan.metadata = metadata(&inputs.repo, &args.env)?;
    print(args.format, &plan);
    if let Some(out) = &args.out {
        let path = ctx.directory.join(out);
        std::fs::write(&path, render::json::render(&plan)).map_err(|e| {
            Error::failure(format!(
                "cannot write the plan to `{}`: {e}",
                path.display()
            ))
        })?;
        stderr(&format!("saved the plan to `{}`\n", out.display()));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        exit::OK
    })
}

/// A backend that cannot be set up is a usage or config error (exit 2).
pub(crate) fn setup_error(e: &SetupError) -> Error {
    match e {
        SetupError::UnknownEnvironment { known, .. } => {
            let hint = if known.is_empty() {
                "the config defines no environments; add one under `environments`".to_owned()
            } else {
                format!("defined environments: {}", known.join(", "))
            };
            Error::usage(e.to_string()).hint(hint)
        }
        SetupError::Posthog(_) => Error::usage(e.to_string()),
    }
}
