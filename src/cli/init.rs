//! `flagops init`: write a new flag repository's files (`crate::init`) into `-C DIR`.
//!
//! Refuses, writing nothing, when any of the files already exists; otherwise writes every file
//! (creating directories) and lists them, then the next steps.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Context;
use super::output::stdout;
use crate::config::{BackendKind, Service};
use crate::error::{Error, Result, exit};
use crate::init::{self, InitFile, Options};
use crate::render::escape::terminal;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The flag service: `posthog`, `mixpanel` or `local` (a JSON file standing in for a
    /// service, no account).
    #[arg(long, value_name = "BACKEND", default_value = "posthog", value_parser = parse_backend)]
    backend: BackendKind,
    /// With `--backend local`: whose flags and rules the local state follows, `posthog`
    /// (the default) or `mixpanel`.
    #[arg(long, value_name = "SERVICE", value_parser = parse_service)]
    emulate: Option<Service>,
    /// Also write GitHub Actions workflows under `.github/workflows/` (pull request: validate
    /// and plan; push to main: apply).
    #[arg(long)]
    github: bool,
}

fn parse_backend(name: &str) -> std::result::Result<BackendKind, String> {
    match name {
        "posthog" => Ok(BackendKind::Posthog),
        "mixpanel" => Ok(BackendKind::Mixpanel),
        "local" => Ok(BackendKind::Local),
        _ => Err("expected posthog, mixpanel or local".into()),
    }
}

fn parse_service(name: &str) -> std::result::Result<Service, String> {
    match name {
        "posthog" => Ok(Service::Posthog),
        "mixpanel" => Ok(Service::Mixpanel),
        _ => Err("expected posthog or mixpanel".into()),
    }
}

/// Write the files, or refuse (exit 1) when any of them exists.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    if ctx.config.is_some() {
        return Err(
            Error::usage("`init` writes `flagops.yaml` in DIR; `--config` does not apply")
                .hint("use `flagops -C DIR init` to initialise another directory"),
        );
    }
    if args.emulate.is_some() && args.backend != BackendKind::Local {
        return Err(Error::usage(format!(
            "`--emulate` is for `--backend local`; the {} backend is the service itself",
            args.backend.as_str()
        ))
        .hint("leave `--emulate` out, or use `--backend local --emulate …` to try flags without an account"));
    }
    let options = Options {
        backend: args.backend,
        emulate: args.emulate,
        github: args.github,
    };
    let files = init::files(options);
    let root = &ctx.directory;
    // `afile/flagops.yaml`: "File exists" would name a file that does not exist.
    if let Some(file) = root
        .ancestors()
        .filter(|dir| !dir.as_os_str().is_empty())
        .find(|dir| fs::metadata(dir).is_ok_and(|m| !m.is_dir()))
    {
        return Err(Error::failure(format!(
            "`{}` is not a directory; nothing was written",
            file.display()
        ))
        .hint("pass a directory (or a path to create) with `-C DIR`"));
    }
    // `symlink_metadata`: a dangling symlink is a file too, and is never written through.
    let existing: Vec<&str> = files
        .iter()
        .filter(|f| fs::symlink_metadata(root.join(&f.path)).is_ok())
        .map(|f| f.path.as_str())
        .collect();
    if !existing.is_empty() {
        let mut message = String::from("these files already exist; nothing was written:");
        for path in &existing {
            let _ = write!(message, "\n  {path}");
        }
        return Err(Error::failure(message)
            .hint("move them away, or run `flagops init` in an empty directory (`-C DIR`)"));
    }
    write_all(root, &files)?;
    let mut text = String::new();
    for file in &files {
        let _ = writeln!(text, "wrote {}", file.path);
    }
    text.push_str("\nnext:\n");
    // A directory name may hold control characters: shown escaped, never sent to the terminal.
    let command = terminal::text(&super::invocation(root, None)).into_owned();
    for (i, step) in init::next_steps(options, &command).iter().enumerate() {
        let _ = writeln!(text, "  {}. {step}", i + 1);
    }
    stdout(&text);
    Ok(exit::OK)
}

/// Write every file, never replacing one (`create_new`); on a failure, remove the files and
/// directories made so far, so a failed init leaves nothing behind.
fn write_all(root: &Path, files: &[InitFile]) -> Result<()> {
    let mut made: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in files {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            // The directories this file needs that do not exist yet, outermost first.
            let mut missing: Vec<PathBuf> = parent
                .ancestors()
                .take_while(|dir| !dir.as_os_str().is_empty() && fs::symlink_metadata(dir).is_err())
                .map(Path::to_path_buf)
                .collect();
            missing.reverse();
            dirs.extend(missing);
        }
        let result = path
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
            })
            .and_then(|mut out| {
                made.push(path.clone());
                out.write_all(file.content.as_bytes())
            });
        if let Err(e) = result {
            for done in &made {
                let _ = fs::remove_file(done);
            }
            // Innermost first; `remove_dir` only removes an empty directory.
            for dir in dirs.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            let shown = if root == Path::new(".") {
                PathBuf::from(&file.path)
            } else {
                path
            };
            return Err(Error::failure(format!(
                "cannot write `{}`: {e}",
                shown.display()
            )));
        }
    }
    Ok(())
}
