//! `flagops schema`.

use std::fs;

use super::Context;
use super::output::stderr;
use crate::error::{Error, Result, exit};
use crate::schema::generate;
use crate::source::{self, ConfigError};

/// Arguments of `schema`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Do not write; exit 1 if a file under `schemas/` is missing or out of date.
    #[arg(long)]
    check: bool,
}

/// Write (or check) `DIR/schemas/*.json`: the config schema and the flag schema of the
/// configured service (of every service where there is no config). A config that cannot be
/// read is an error, as for every command: its schemas would be guessed.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    let service = match source::load_config(&ctx.directory, ctx.config.as_deref()) {
        Ok((_, _, config)) => Some(config.service()),
        Err(ConfigError::NotFound(_)) => None,
        Err(error) => return Err(Error::config(&error)),
    };
    let dir = ctx.directory.join("schemas");
    let mut stale = Vec::new();
    for file in generate(service) {
        let path = dir.join(file.name);
        // Only a regular file is opened: reading or writing a FIFO would wait forever.
        let special = fs::metadata(&path).is_ok_and(|m| !m.is_file());
        let current = if special {
            None
        } else {
            fs::read_to_string(&path).ok()
        };
        if current.as_deref() == Some(file.content.as_str()) {
            continue;
        }
        if args.check {
            let why = if special {
                " (not a regular file)"
            } else if current.is_none() {
                " (missing)"
            } else {
                ""
            };
            stale.push(format!("schemas/{}{why}", file.name));
            continue;
        }
        if special {
            return Err(Error::failure(format!(
                "cannot write `{}`: it is not a regular file",
                path.display()
            )));
        }
        if let Some(blocker) = [ctx.directory.as_path(), dir.as_path()]
            .into_iter()
            .find(|d| fs::metadata(d).is_ok_and(|m| !m.is_dir()))
        {
            return Err(Error::failure(format!(
                "cannot write `{}`: `{}` is not a directory",
                path.display(),
                blocker.display()
            )));
        }
        fs::create_dir_all(&dir)
            .and_then(|()| fs::write(&path, &file.content))
            .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", path.display())))?;
        stderr(&format!("wrote schemas/{}\n", file.name));
    }
    if stale.is_empty() {
        if args.check {
            stderr("schemas are up to date\n");
        }
        return Ok(exit::OK);
    }
    Err(Error::failure(format!("out of date: {}", stale.join(", ")))
        .hint("run `flagops schema` and commit the result"))
}
