//! `flagops plan`: what applying the repository to one environment would change.

use std::path::PathBuf;

use clap::ValueEnum;

use super::Context;
use super::github::{self, Outcome, Posting};
use super::metadata::metadata;
use super::output::{stderr, stdout};
use crate::backend::any::{AnyBackend, SetupError};
use crate::backend::local::DEFAULT_STATE_FILE;
use crate::backend::{Backend, LiveState};
use crate::config::{BackendKind, Environment};
use crate::error::{Error, Result, exit};
use crate::finding::Finding;
use crate::model::{Catalogue, Needs};
use crate::plan::{self, Plan, PlanError};
use crate::render::findings::{Sources, Summary, human};
use crate::render::plan::{self as render, Target};
use crate::rules;
use crate::source::Repository;
use crate::vendor::Model;

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
    /// The most bytes `--format markdown` may print: GitHub's comment limit by default; a job
    /// summary allows 1048576. Low-risk details are left out first, never a risky change.
    #[arg(long, value_name = "BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(1_000..=1_048_576))]
    markdown_budget: u32,
    /// Split the plan into this change (what the commits since REV do) and drift (live flags
    /// that already differed from the definitions at REV). REV is read from git objects (no
    /// checkout); in a shallow clone, fetch it first.
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    /// Post the plan (Markdown) as one comment on the pull request, updated in place on
    /// later runs (found by a hidden marker naming the environment and `-C DIR`). Reads
    /// `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_API_URL` and `GITHUB_EVENT_PATH`.
    #[arg(long)]
    github_comment: bool,
    /// The pull request to comment on (default: the one of `GITHUB_EVENT_PATH`).
    #[arg(long, value_name = "N", requires = "github_comment")]
    pr: Option<u64>,
    /// Keep one open issue (label `flagops-drift`) for the environment while its live flags
    /// differ from the definitions: opened, updated, closed when they match again.
    #[arg(long)]
    github_issue: bool,
    /// The login whose marked comment or issue is flagops' own (default:
    /// `FLAGOPS_GITHUB_COMMENT_AUTHOR`, else `github-actions[bot]`, the `GITHUB_TOKEN`'s).
    #[arg(long, value_name = "LOGIN")]
    github_comment_author: Option<String>,
}

/// The loaded, checked inputs of a plan for one environment.
pub(crate) struct Inputs<F: Model> {
    pub(crate) repo: Repository<F>,
    pub(crate) policy: Environment,
    pub(crate) desired: Vec<F>,
    pub(crate) backend: AnyBackend<F>,
    /// What was read of the environment's cohorts and group types (nothing when no flag
    /// names or references one).
    pub(crate) catalogue: Catalogue,
}

/// The repository loaded for one environment: ready to plan, or with errors.
pub(crate) enum Loaded<F: Model> {
    /// No errors: the inputs of a plan.
    Ready(Box<Inputs<F>>),
    /// The repository has errors (`validate` findings), or names what the environment's
    /// project lacks (`offline: false`); nothing can be planned.
    Invalid {
        /// The repository as loaded.
        repo: Box<Repository<F>>,
        /// Every finding (errors and warnings).
        findings: Vec<Finding>,
        /// Whether `validate` finds them too (else only the project's catalogue shows them).
        offline: bool,
    },
}

/// Load the repository, check it, build the environment's backend, and resolve the names
/// the flags use in the environment's project.
pub(crate) fn load<F: Model>(ctx: &Context, env: &str) -> Result<Loaded<F>> {
    load_with(ctx, env, true, |_| Ok(())).map(|(loaded, ())| loaded)
}

/// [`load`]; without `resolve`, names stay unresolved and nothing is read from the project
/// (a saved plan already holds the ids it was planned with). `first` runs on the repository
/// as soon as it is loaded, before the backend is built (before any credential is read): what
/// it finds wrong (a saved plan made for another backend or config) is said first.
fn load_with<F: Model, T>(
    ctx: &Context,
    env: &str,
    resolve: bool,
    first: impl FnOnce(&Repository<F>) -> Result<T>,
) -> Result<(Loaded<F>, T)> {
    let repo = ctx.load::<F>()?;
    let first = first(&repo)?;
    let backend =
        AnyBackend::for_environment(&repo.root, &repo.config, env).map_err(|e| setup_error(&e))?;
    let (findings, mut desired) = rules::validate_for(&repo, env);
    let summary = Summary::new(repo.files, repo.flags.len(), &findings);
    if summary.errors > 0 {
        let invalid = Loaded::Invalid {
            repo: Box::new(repo),
            findings,
            offline: true,
        };
        return Ok((invalid, first));
    }
    let policy = repo
        .config
        .environments
        .get(env)
        .cloned()
        .unwrap_or_default();
    let (findings, catalogue) = if resolve {
        resolve_names(&repo, &backend, env, &mut desired)?
    } else {
        (Vec::new(), Catalogue::default())
    };
    if !findings.is_empty() {
        let invalid = Loaded::Invalid {
            repo: Box::new(repo),
            findings,
            offline: false,
        };
        return Ok((invalid, first));
    }
    let inputs = Inputs {
        repo,
        policy,
        desired,
        backend,
        catalogue,
    };
    Ok((Loaded::Ready(Box::new(inputs)), first))
}

/// Read the parts of the environment's catalogue (cohorts, group types) that the `desired`
/// flags name or reference (nothing when none does), resolve their names to the project's
/// ids, and check what they reference exists there and may be used. Each problem is a
/// finding at the place it is written, naming the environment.
fn resolve_names<F: Model>(
    repo: &Repository<F>,
    backend: &AnyBackend<F>,
    env: &str,
    desired: &mut [F],
) -> Result<(Vec<Finding>, Catalogue)> {
    let mut needs = Needs::default();
    for flag in desired.iter() {
        needs.add(flag.catalogue_needs());
    }
    if !needs.any() {
        return Ok((Vec::new(), Catalogue::default()));
    }
    let catalogue = runtime()?
        .block_on(backend.catalogue(&needs))
        .map_err(|e| {
            Error::failure(format!(
                "cannot read the cohorts and group types of `{env}`: {e}"
            ))
        })?;
    let mut findings = Vec::new();
    for (flag, loaded) in desired.iter_mut().zip(&repo.flags) {
        let unresolved = flag.resolve_names(&catalogue);
        if unresolved.is_empty() {
            continue;
        }
        // Where each field was written: resolved again only for a flag with a finding.
        let (_, origins) = loaded.resolve(Some(env));
        for unresolved in unresolved {
            let pointer = origins.resolve(&unresolved.pointer);
            findings.push(
                Finding::error(
                    unresolved.code,
                    format!("in `{env}`, {}", unresolved.message),
                )
                .in_file(&loaded.file)
                .at(loaded.span(&pointer))
                .for_flag(flag.key())
                .field(crate::schema::field_path(&pointer))
                .help(unresolved.help),
            );
        }
    }
    findings.sort();
    Ok((findings, catalogue))
}

/// The findings on stderr, and the error that nothing was planned.
fn refuse_invalid<F: Model>(repo: &Repository<F>, findings: &[Finding], offline: bool) -> Error {
    let summary = Summary::new(repo.files, repo.flags.len(), findings);
    stderr(&human(findings, summary, &mut Sources::new(&repo.root)));
    if offline {
        Error::failure("the repository has errors; nothing was planned")
            .hint("fix the errors above (`flagops validate` lists them)")
    } else {
        Error::failure("the environment lacks what the flags name; nothing was planned")
            .hint("create what is missing in the environment's project, or change the flags")
    }
}

/// Load the repository, refuse if it has errors, and build the environment's backend. With
/// `resolve`, the names the flags use are resolved in the environment's project (refused
/// when it lacks one); without, nothing is read (for a saved plan, which holds the ids).
/// `first` runs on the repository before the backend is built (see `load_with`); what it
/// gives is returned beside the inputs.
pub(crate) fn prepare<F: Model, T>(
    ctx: &Context,
    env: &str,
    resolve: bool,
    first: impl FnOnce(&Repository<F>) -> Result<T>,
) -> Result<(Inputs<F>, T)> {
    match load_with(ctx, env, resolve, first)? {
        (Loaded::Ready(inputs), first) => Ok((*inputs, first)),
        (
            Loaded::Invalid {
                repo,
                findings,
                offline,
            },
            _,
        ) => Err(refuse_invalid(&repo, &findings, offline)),
    }
}

/// Which service or file the environment is, for the plan's header (never a key): the one
/// place that reads the backend's identity from the config.
pub(crate) fn target<F: Model>(repo: &Repository<F>, env: &str) -> Target {
    match repo.config.backend {
        BackendKind::Local => Target {
            kind: "local state file".to_owned(),
            name: repo
                .config
                .state
                .clone()
                .unwrap_or_else(|| DEFAULT_STATE_FILE.to_owned()),
            at: None,
        },
        BackendKind::Posthog | BackendKind::Mixpanel => {
            let policy = repo.config.environments.get(env);
            Target {
                kind: F::PROJECT.to_owned(),
                name: policy
                    .and_then(|p| p.project_id)
                    .map_or_else(|| "?".to_owned(), |id| id.to_string()),
                at: policy.and_then(|p| p.host.as_deref()).map(without_userinfo),
            }
        }
    }
}

/// `https://user:secret@host/` → `https://host/`: a URL's user information is never shown.
fn without_userinfo(host: &str) -> String {
    let (scheme, rest) = host.split_once("://").unwrap_or(("", host));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if scheme.is_empty() => rest[at + 1..].to_owned(),
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => host.to_owned(),
    }
}

/// A runtime for the backend's async calls.
/// The command's one runtime for the backend's async calls, kept for the whole process: the
/// request budget returns each slot a window after its request on this runtime, so a runtime
/// dropped after a first read (the catalogue) would hand its slots back at once and let a
/// later burst past the budget.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Read the live state of the environment.
pub(crate) fn list<F: Model>(
    inputs: &Inputs<F>,
    runtime: &tokio::runtime::Runtime,
    env: &str,
) -> Result<LiveState<F>> {
    runtime
        .block_on(inputs.backend.list())
        .map_err(|e| Error::failure(format!("cannot read the live flags of `{env}`: {e}")))
}

/// Print a refused plan in `format`.
pub(crate) fn print_refusal(format: Format, env: &str, error: &PlanError) {
    match format {
        Format::Human => stderr(&render::human::render_error(env, error)),
        Format::Json => stdout(&render::json::render_error(env, error)),
        Format::Markdown => stdout(&render::markdown::render_error(env, error)),
    }
}

/// Print a plan in `format`, naming `target` in the header.
pub(crate) fn print<F: Model>(format: Format, plan: &Plan<F>, target: &Target, budget: usize) {
    match format {
        Format::Human => stdout(&render::human::render_for(plan, Some(target))),
        Format::Json => stdout(&render::json::render(plan)),
        Format::Markdown => stdout(&render::markdown::render_with(
            plan,
            &render::markdown::Options {
                target: Some(target),
                budget,
            },
        )),
    }
}

/// Print a plan split against a base revision in `format`.
fn print_split<F: Model>(
    format: Format,
    plan: &Plan<F>,
    split: &plan::split::Split,
    target: &Target,
    budget: usize,
) {
    match format {
        Format::Human => {
            let text = render::human::render_for(plan, Some(target));
            stdout(&render::drift::into_human(
                &text,
                &render::drift::human(plan, split),
            ));
        }
        Format::Json => stdout(&render::drift::into_json(
            &render::json::render(plan),
            split,
        )),
        Format::Markdown => stdout(&markdown(plan, Some(split), target, budget)),
    }
}

/// The plan in Markdown (split against a base revision when `split` is given).
fn markdown<F: Model>(
    plan: &Plan<F>,
    split: Option<&plan::split::Split>,
    target: &Target,
    budget: usize,
) -> String {
    let Some(split) = split else {
        return render::markdown::render_with(
            plan,
            &render::markdown::Options {
                target: Some(target),
                budget,
            },
        );
    };
    let section = render::drift::markdown(plan, split, budget / 4);
    let text = render::markdown::render_with(
        plan,
        &render::markdown::Options {
            target: Some(target),
            budget: budget.saturating_sub(section.len()),
        },
    );
    render::drift::into_markdown(&text, &section)
}

/// Exit 0 (or 2 with `--detailed-exitcode` when there are changes), 1 on error or refusal.
pub(crate) fn run<F: Model>(args: &Args, ctx: &Context) -> Result<u8> {
    crate::backend::pacing::Pacer::announce_waits_to(stderr); // long waits: `waiting: …`
    let posting = Posting::from_args(
        args.github_comment,
        args.github_issue,
        args.pr,
        args.github_comment_author.as_deref(),
        &args.env,
        &ctx.directory,
    )?;
    let inputs = match load::<F>(ctx, &args.env)? {
        Loaded::Ready(mut inputs) => {
            // A plan only reads; `apply` builds its own backend.
            inputs.backend.read_only();
            // The flags are resolved into `desired`; what follows reads only the repository's
            // place and config: the loaded flags are freed before the live list is read.
            inputs.repo.flags = Vec::new();
            inputs.repo.partial = Vec::new();
            *inputs
        }
        Loaded::Invalid {
            repo,
            findings,
            offline,
        } => {
            let refusal = refuse_invalid(&repo, &findings, offline);
            if let Some(posting) = &posting {
                let markdown = refused_markdown(&args.env, &findings, offline);
                posting.post(runtime()?, &Outcome::Refused { markdown })?;
            }
            // A pull-request comment explains the failure instead of being empty.
            match args.format {
                Format::Human => {}
                Format::Json => stdout(&render::json::render_findings(&args.env, &findings)),
                Format::Markdown => {
                    stdout(&refused_markdown(&args.env, &findings, offline));
                }
            }
            return Err(refusal);
        }
    };
    let base = match &args.base {
        Some(rev) => {
            let (rev, commit, mut flags) = super::git::base(&inputs.repo, rev, &args.env)?;
            // The base's names read as the head's do (a name the head does not use stays).
            for flag in &mut flags {
                flag.resolve_names(&inputs.catalogue);
            }
            Some((rev, commit, flags))
        }
        None => None,
    };
    let runtime = runtime()?;
    let live = list(&inputs, runtime, &args.env)?;
    let mut plan = match plan::build(&inputs.desired, &live, &inputs.policy) {
        Ok(plan) => plan,
        Err(error) => {
            print_refusal(args.format, &args.env, &error);
            if let Some(posting) = &posting {
                let markdown = render::markdown::render_error(&args.env, &error);
                posting.post(runtime, &Outcome::Refused { markdown })?;
            }
            return Ok(exit::FAILURE);
        }
    };
    plan.metadata = metadata(&inputs.repo, &args.env)?;
    let target = target(&inputs.repo, &args.env);
    let budget =
        usize::try_from(args.markdown_budget).unwrap_or(render::markdown::GITHUB_COMMENT_LIMIT);
    let split = base.as_ref().map(|(rev, commit, flags)| {
        plan::split::split(
            &plan,
            &inputs.desired,
            flags,
            &inputs.policy.ignore,
            rev,
            commit,
        )
    });
    match &split {
        None => print(args.format, &plan, &target, budget),
        Some(split) => print_split(args.format, &plan, split, &target, budget),
    }
    if let Some(out) = &args.out {
        super::plan_file::save(&ctx.directory.join(out), out, &render::json::render(&plan))?;
        stderr(&format!("saved the plan to `{}`\n", out.display()));
    }
    if let Some(posting) = &posting {
        // What GitHub shows does not change with the time of the run: an unchanged plan
        // leaves the comment as it is.
        let outcome = Outcome::Plan {
            markdown: markdown(
                &github::timeless(&plan),
                split.as_ref(),
                &target,
                posting.budget(),
            ),
            digest: github::digest(&plan),
            changes: plan.has_changes(),
        };
        posting.post(runtime, &outcome)?;
    }
    say_requests(&inputs.backend);
    let code = if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        exit::OK
    };
    super::forget_at_exit((inputs, live, plan, split));
    Ok(code)
}

/// `sent 2 requests to Mixpanel` on stderr, for a backend that counts its requests (a
/// service with a small request budget).
pub(crate) fn say_requests<F: Model>(backend: &AnyBackend<F>) {
    if let Some(sent) = backend.requests_sent() {
        stderr(&format!(
            "sent {sent} request{} to {}\n",
            if sent == 1 { "" } else { "s" },
            F::NAME
        ));
    }
}

/// The Markdown of a refusal for `findings`: `validate`'s errors (`offline`) or what the
/// environment's project lacks.
fn refused_markdown(env: &str, findings: &[Finding], offline: bool) -> String {
    if offline {
        render::markdown::render_findings(env, findings)
    } else {
        render::markdown::render_unresolved(env, findings)
    }
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
        SetupError::Settings(_) => Error::usage(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::without_userinfo;

    #[test]
    fn a_hosts_user_information_is_never_shown() {
        assert_eq!(
            without_userinfo("https://user:secret@eu.posthog.com/x"),
            "https://eu.posthog.com/x"
        );
        assert_eq!(without_userinfo("user@host"), "host");
        assert_eq!(
            without_userinfo("https://us.posthog.com"),
            "https://us.posthog.com"
        );
        // An `@` in the path is not user information.
        assert_eq!(
            without_userinfo("https://h.example/a@b"),
            "https://h.example/a@b"
        );
    }
}
