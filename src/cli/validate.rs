//! `flagops validate`.

use std::fmt::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::Context;
use super::output::{stderr, stdout};
use crate::error::{Result, exit};
use crate::finding::Finding;
use crate::render::append::append_keys;
use crate::render::escape::{github as gh, terminal};
use crate::render::findings::{Sources, Summary, github, human, json};
use crate::rules::{self, changed, changed::Narrowed};
use crate::source::{Repository, git};
use crate::vendor::Model;

/// Output format of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Source lines with carets, for people (stderr).
    Human,
    /// A versioned JSON document (stdout).
    Json,
    /// GitHub workflow annotations (stdout).
    Github,
}

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// For `--format github`: prefix for file paths, when the flags repository is a
    /// subdirectory of the git checkout.
    #[arg(long, value_name = "DIR")]
    path_prefix: Option<PathBuf>,
    /// Show only the findings of the change since REV: in the files changed since REV and
    /// about flags depending on flags defined there. The summary says how many were left
    /// out; the exit code still counts every error.
    #[arg(long, value_name = "REV")]
    changed_since: Option<String>,
}

/// Exit 0 when there is no error finding, 1 otherwise; 2 for a config error.
pub(crate) fn run<F: Model>(args: &Args, ctx: &Context) -> Result<u8> {
    let outcome = ctx.load::<F>();
    let (findings, summary, root, code) = match outcome {
        Ok(repo) => {
            let report = rules::report(&repo);
            let findings = report.findings;
            // The totals count the findings left out by the limits too.
            let summary = Summary {
                errors: report.errors,
                warnings: report.warnings,
                ..Summary::new(repo.files, repo.flag_count(), &[])
            };
            let code = if summary.errors > 0 {
                exit::FAILURE
            } else {
                exit::OK
            };
            if args.format == Format::Human {
                let names = names_in(&repo);
                if names > 0 {
                    // Printed first: the summary line stays last.
                    stderr(&format!(
                        "note: {names} cohort or group-type {} resolved only by `flagops plan`, which reads each environment's project (whether it has {}, and the ids)\n",
                        if names == 1 { "name is" } else { "names are" },
                        if names == 1 { "it" } else { "them" },
                    ));
                }
            }
            if let Some(rev) = &args.changed_since {
                let (narrowed, note) = narrow(&repo, rev, findings)?;
                print(args, &narrowed.findings, summary, &repo.root, Some(&note));
                return Ok(code);
            }
            let root = repo.root.clone();
            super::forget_at_exit(repo);
            (findings, summary, root, code)
        }
        Err(mut error) if args.format != Format::Human && !error.findings.is_empty() => {
            let summary = Summary::new(0, 0, &error.findings);
            let root = error.root.clone().unwrap_or_default();
            print(args, &error.findings, summary, &root, None);
            // Printed above in the requested format; stderr keeps only the error line.
            error.findings.clear();
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    print(args, &findings, summary, &root, None);
    Ok(code)
}

/// How many cohort and group-type names the flags use, in their base definitions and in
/// each environment's overrides (what `validate` cannot check without the project).
fn names_in<F: Model>(repo: &Repository<F>) -> usize {
    let environments = repo.config.environments.keys().map(|e| Some(e.as_str()));
    let mut names = 0;
    for flag in &repo.flags {
        for env in std::iter::once(None).chain(environments.clone()) {
            let (resolved, origins) = flag.resolve(env);
            // An environment that overrides nothing repeats the base's names.
            if env.is_some() && !origins.is_overridden() {
                continue;
            }
            names += resolved.catalogue_needs().names;
        }
    }
    names
}

/// What `--changed-since` left out, for the output.
struct Note {
    rev: String,
    commit: String,
    errors: usize,
    warnings: usize,
}

impl Note {
    /// `findings of the change since `main` (commit `abc…`); left out elsewhere: 1 error, 0 warnings`.
    fn words(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let short: String = self.commit.chars().take(12).collect();
        format!(
            "showing the findings of the change since `{}` (commit `{short}`); left out elsewhere: {}, {}",
            terminal::text(&self.rev),
            plural(self.errors, "error"),
            plural(self.warnings, "warning")
        )
    }
}

/// The findings of the change since `rev`, and what was left out.
fn narrow<F: Model>(
    repo: &Repository<F>,
    rev: &str,
    findings: Vec<Finding>,
) -> Result<(Narrowed, Note)> {
    let changed = git::changed_since(repo, rev).map_err(|e| super::git::error(&e))?;
    // The base's flags name the keys of files the change deleted; a base whose config
    // cannot be read has none.
    let base = git::load_at(repo, rev).ok();
    let touched = changed::touched(
        repo,
        base.as_ref().and_then(|b| b.repository.as_ref()),
        &changed.files,
    );
    let narrowed = changed::narrow(findings, &changed.files, &touched);
    let note = Note {
        rev: rev.to_owned(),
        commit: changed.commit,
        errors: narrowed.left_out_errors,
        warnings: narrowed.left_out_warnings,
    };
    Ok((narrowed, note))
}

fn print(
    args: &Args,
    findings: &[Finding],
    summary: Summary,
    root: &std::path::Path,
    note: Option<&Note>,
) {
    match args.format {
        Format::Human => {
            let mut text = human(findings, summary, &mut Sources::new(root));
            if let Some(note) = note {
                text.push_str(&note.words());
                text.push('\n');
            }
            stderr(&text);
        }
        Format::Json => {
            let text = json(findings, summary);
            stdout(&match note {
                None => text,
                Some(note) => append_keys(
                    &text,
                    &[(
                        "changed_since",
                        serde_json::json!({
                            "rev": note.rev,
                            "commit": note.commit,
                            "left_out": { "errors": note.errors, "warnings": note.warnings },
                        }),
                    )],
                ),
            });
        }
        Format::Github => {
            let mut text = github(
                findings,
                args.path_prefix
                    .as_deref()
                    .unwrap_or(std::path::Path::new("")),
            );
            if let Some(note) = note {
                let _ = writeln!(text, "::notice title=flagops::{}", gh::data(&note.words()));
            }
            stdout(&text);
        }
    }
}
