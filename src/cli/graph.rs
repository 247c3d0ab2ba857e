//! `flagops graph`.

use clap::ValueEnum;

use super::Context;
use super::output::{stderr, stdout};
use crate::backend::any::SetupError;
use crate::error::{Result, exit};
use crate::finding::{self, Severity};
use crate::graph::DependencyGraph;
use crate::render::findings::{Sources, Summary, human};
use crate::render::graph::{dot, mermaid, text};
use crate::rules;
use crate::vendor::Model;

/// Graph output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Apply levels with each flag's dependencies.
    Text,
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Arguments of `graph`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Resolve per-environment overrides for this environment first.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
}

/// Print the graph; exit 1 (with the findings) when a flag file could not be read or the
/// graph has cycles or missing flags.
pub(crate) fn run<F: Model>(args: &Args, ctx: &Context) -> Result<u8> {
    let repo = ctx.load::<F>()?;
    if let Some(env) = &args.env
        && !repo.config.environments.contains_key(env)
    {
        return Err(super::plan::setup_error(&SetupError::UnknownEnvironment {
            name: env.clone(),
            known: repo.config.environments.keys().cloned().collect(),
        }));
    }
    let graph = DependencyGraph::new(repo.flags.iter().map(|f| {
        let (flag, _) = f.resolve(args.env.as_deref());
        (flag.key().to_owned(), flag.dependencies())
    }));
    // A flag file that could not be read leaves flags (and edges) out of the graph, so any
    // loading error stops it, like a cycle or a missing flag in the resolution drawn.
    let mut problems: Vec<_> = repo
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .cloned()
        .collect();
    problems.extend(rules::check_dependencies(&repo, args.env.as_deref()));
    finding::normalize(&mut problems);
    let levels = graph.levels().filter(|_| problems.is_empty());
    let Some(levels) = levels else {
        let summary = Summary::new(repo.files, repo.flag_count(), &problems);
        stderr(&human(&problems, summary, &mut Sources::new(&repo.root)));
        return Ok(exit::FAILURE);
    };
    let out = match args.format {
        Format::Text => text(&graph, &levels),
        Format::Dot => dot(&graph),
        Format::Mermaid => mermaid(&graph),
    };
    stdout(&out);
    Ok(exit::OK)
}
