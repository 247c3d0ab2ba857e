//! `flagops schema`.

use std::fs;

use super::Context;
use super::output::stderr;
use crate::error::{Error, Result, exit};
use crate::schema::generate;

/// Arguments of `schema`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Do not write; exit 1 if a file under `schemas/` is missing or out of date.
    #[arg(long)]
    check: bool,
}

/// Write (or check) `DIR/schemas/*.json`.
pub(crate) fn run(args: &Args, ctx: &Context) -> Result<u8> {
    let dir = ctx.directory.join("schemas");
    let mut stale = Vec::new();
    for file in generate() {
        let path = dir.join(file.name);
        let current = fs::read_to_string(&path).ok();
        if current.as_deref() == Some(file.content.as_str()) {
            continue;
        }
        if args.check {
            let missing = if current.is_none() { " (missing)" } else { "" };
            stale.push(format!("schemas/{}{missing}", file.name));
            continue;
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
