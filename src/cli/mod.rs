//! Command-line interface: clap arguments → library calls → output and exit code.
//!
//! This layer converts and prints; it does not decide. Each subcommand has its own file with
//! an `Args` struct (whose doc comments are the `--help` text) and a `run` function.

mod apply;
mod git;
mod github;
mod graph;
mod import;
mod init;
mod metadata;
mod output;
mod plan;
mod plan_file;
mod schema;
mod signals;
mod validate;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Service;
use crate::error::{Error, exit};
use crate::source::{self, Repository};
use crate::vendor::Model;
use crate::vendor::mixpanel::MixpanelFlag;
use crate::vendor::posthog::Flag;

/// Feature flags as code: validate flag definitions, plan and apply them to PostHog.
#[derive(Debug, Parser)]
#[command(name = "flagops", version, about, max_term_width = 100)]
pub struct Cli {
    /// Run as if started in DIR (where `flagops.yaml` is looked up).
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        global = true,
        default_value = "."
    )]
    directory: PathBuf,
    /// Use this config file instead of `DIR/flagops.yaml`.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a flag repository: config, an example flag, schemas (and CI workflows).
    Init(init::Args),
    /// Check every flag file against the schema and the semantic rules.
    Validate(validate::Args),
    /// Write the JSON Schemas under `schemas/`, or check that they are current.
    Schema(schema::Args),
    /// Show the dependency graph and the order flags would be applied in.
    Graph(graph::Args),
    /// Write the live flags of an environment as flag files (one per flag).
    Import(import::Args),
    /// Show what applying the repository to an environment would change.
    Plan(plan::Args),
    /// Make an environment match the repository, or apply a saved plan.
    Apply(apply::Args),
}

/// Global options every command receives.
#[derive(Debug, Clone)]
struct Context {
    directory: PathBuf,
    config: Option<PathBuf>,
}

impl Context {
    fn load<F: Model>(&self) -> Result<Repository<F>, Error> {
        source::load(&self.directory, self.config.as_deref()).map_err(|e| Error::config(&e))
    }

    /// The service the config names. A config that cannot be read names PostHog here: the
    /// command then reads it again and reports why it cannot be read.
    fn service(&self) -> Service {
        source::load_config(&self.directory, self.config.as_deref())
            .map_or(Service::Posthog, |(_, _, config)| config.service())
    }
}

/// How to run flagops again as this run was: `flagops`, with `-C DIR` when the directory is
/// not the current one and `--config FILE` when one was given, each quoted for a POSIX shell
/// when it needs to be.
fn invocation(directory: &Path, config: Option<&Path>) -> String {
    let mut command = "flagops".to_owned();
    if directory != Path::new(".") {
        command.push_str(" -C ");
        command.push_str(&shell_word(directory));
    }
    if let Some(config) = config {
        command.push_str(" --config ");
        command.push_str(&shell_word(config));
    }
    command
}

/// `path` as one word of a POSIX shell: as it is when that is safe, else single-quoted.
fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@%:,=".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `error` with each command it shows (`` `flagops …` ``) written as this run was invoked, so
/// that following a hint runs on the same repository and config.
fn as_invoked(mut error: Error, invocation: &str) -> Error {
    if invocation != "flagops" {
        let invoked = format!("`{invocation} ");
        error.message = error.message.replace("`flagops ", &invoked);
        error.hint = error.hint.map(|hint| hint.replace("`flagops ", &invoked));
    }
    error
}

/// Leave `value` to the operating system: the process ends once the command returns, and
/// freeing a loaded repository and a live state of 10,000 flags one allocation at a time
/// would only cost time (a tenth of a plan's CPU, measured).
fn forget_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Run a command generic over the service's model with the model of the configured service:
/// the one place the command line chooses a vendor.
macro_rules! with_model {
    ($ctx:expr, $command:ident :: run ($($arg:expr),*)) => {
        match $ctx.service() {
            Service::Posthog => $command::run::<Flag>($($arg),*),
            Service::Mixpanel => $command::run::<MixpanelFlag>($($arg),*),
        }
    };
}

/// Parse `args`, run the command, print, and return the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    // Under `plan --detailed-exitcode`, 2 means "changes present": every error must be 1 so
    // that a pipeline never mistakes a usage or config error for a diff.
    let detailed = args.iter().any(|a| a == "--detailed-exitcode");
    let error_code = |code: u8| {
        if detailed && code == exit::USAGE {
            exit::FAILURE
        } else {
            code
        }
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                error_code(exit::USAGE)
            } else {
                exit::OK
            });
        }
    };
    let ctx = Context {
        directory: cli.directory,
        config: cli.config,
    };
    // `init` makes the repository that `-C` names: its hints say where themselves.
    let invoked = if matches!(cli.command, Command::Init(_)) {
        "flagops".to_owned()
    } else {
        invocation(&ctx.directory, ctx.config.as_deref())
    };
    let result = match cli.command {
        Command::Validate(args) => with_model!(ctx, validate::run(&args, &ctx)),
        Command::Schema(args) => schema::run(&args, &ctx),
        Command::Graph(args) => with_model!(ctx, graph::run(&args, &ctx)),
        Command::Init(args) => init::run(&args, &ctx),
        Command::Import(args) => with_model!(ctx, import::run(&args, &ctx)),
        Command::Plan(args) => with_model!(ctx, plan::run(&args, &ctx)),
        Command::Apply(args) => with_model!(ctx, apply::run(&args, &ctx)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let error = as_invoked(error, &invoked);
            output::error(&error);
            ExitCode::from(error_code(error.code))
        }
    }
}
