//! A saved plan's metadata: where and when it was made (flagops' version, the environment,
//! the config file's digest, the git commit and whether what the plan reads differs from it).

use crate::config::Service;
use crate::error::{Error, Result};
use crate::plan::{ConfigRef, GitRef, Metadata};
use crate::source::Repository;
use crate::vendor::Model;

/// Where and when: the metadata a saved plan carries.
pub(crate) fn metadata<F: Model>(repo: &Repository<F>, env: &str) -> Result<Metadata> {
    let config_path = repo.root.join(&repo.config_file);
    let bytes = std::fs::read(&config_path)
        .map_err(|e| Error::failure(format!("cannot read `{}`: {e}", config_path.display())))?;
    Ok(Metadata {
        flagops_version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: env.to_owned(),
        backend: repo.config.backend.as_str().to_owned(),
        service: match F::SERVICE {
            Service::Posthog => None,
            other @ Service::Mixpanel => Some(other.as_str().to_owned()),
        },
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
fn git_ref<F: Model>(repo: &Repository<F>) -> Option<GitRef> {
    let git = git2::Repository::discover(&repo.root).ok()?;
    let commit = git.head().ok()?.peel_to_commit().ok()?.id().to_string();
    let dirty = inputs_changed(&git, repo).unwrap_or(true);
    Some(GitRef { commit, dirty })
}

/// Whether what the plan reads differs from `HEAD`: the config file, or a YAML file (modified,
/// deleted or untracked, not ignored) under the repository directory or a `flags` directory.
/// Changes elsewhere in the git repository (the rest of a monorepo, the local state file, a
/// saved plan) do not make the plan irreproducible from the commit. `None` when unknown.
fn inputs_changed<F: Model>(git: &git2::Repository, repo: &Repository<F>) -> Option<bool> {
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
