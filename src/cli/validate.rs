//! `flagops validate`.

use std::path::PathBuf;

use clap::ValueEnum;

use super::Context;
use super::output::{stderr, stdout};
use crate::error::{Result, exit};
use crate::finding::Finding;
use crate::render::findings::{Sources, Summary, github, human, json};
use crate::rules;

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
}

/// Exit 0 when there is no error finding, 1 otherwise; 2 for a config error.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    let outcome = ctx.load();
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
            (findings, summary, repo.root, code)
        }
        Err(mut error) if args.format != Format::Human && !error.findings.is_empty() => {
            let summary = Summary::new(0, 0, &error.findings);
            let root = error.root.clone().unwrap_or_default();
            print(args, &error.findings, summary, &root);
            // Printed above in the requested format; stderr keeps only the error line.
            error.findings.clear();
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    print(args, &findings, summary, &root);
    Ok(code)
}

fn print(args: &Args, findings: &[Finding], summary: Summary, root: &std::path::Path) {
    match args.format {
        Format::Human => stderr(&human(findings, summary, &mut Sources::new(root))),
        Format::Json => stdout(&json(findings, summary)),
        Format::Github => stdout(&github(
            findings,
            args.path_prefix
                .as_deref()
                .unwrap_or(std::path::Path::new("")),
        )),
    }
}
