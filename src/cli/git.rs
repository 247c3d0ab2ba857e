//! `--base REV` and `--changed-since REV`: git revisions as command-line errors and inputs.

use crate::error::{Error, Result};
use crate::model::FlagFile;
use crate::source::Repository;
use crate::source::git::{self, GitError};

/// A git problem as a usage error (exit 2), with what to do about it.
pub(crate) fn error(e: &GitError) -> Error {
    let error = Error::usage(e.to_string());
    match e {
        GitError::UnknownRevision(_) => {
            error.hint("fetch it first (e.g. `git fetch --depth=1 origin <sha>`)")
        }
        GitError::NotARepository { .. } => {
            error.hint("run flagops inside a git checkout, or leave the option out")
        }
        GitError::Config { .. } => error.hint(
            "the definitions at the base cannot be read; pick a base whose config is valid, or leave the option out",
        ),
        _ => error,
    }
}

/// The definitions at `rev`, resolved for `env`: the revision, its commit and its flags.
pub(crate) fn base<F: FlagFile>(
    repo: &Repository<F>,
    rev: &str,
    env: &str,
) -> Result<(String, String, Vec<F>)> {
    let base = git::load_at(repo, rev).map_err(|e| error(&e))?;
    let flags = base
        .repository
        .as_ref()
        .map(|r| r.flags.iter().map(|f| f.resolve(Some(env)).0).collect())
        .unwrap_or_default();
    Ok((base.rev, base.commit, flags))
}
