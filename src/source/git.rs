//! The repository as it was at a git revision, and the files changed since one: read from
//! git objects (no checkout; a shallow clone works once the revision is fetched).
//!
//! `load_at` writes the revision's config and the YAML files its `flags` entries can reach
//! into a temporary directory (blob reads only, within the size limits of a config file and of a repository) and
//! loads that with the same loader as the working tree, so both sides are read by one set of
//! rules. The directory is removed when the `Base` is dropped.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::discover::{GLOB_CHARS, split_glob};
use crate::model::FlagFile;
use crate::vendor::posthog::Flag;

use super::{ConfigError, MAX_FILE_BYTES, MAX_REPOSITORY_BYTES, Repository, load, load_config};

/// Why a revision could not be read. Always a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository directory is not inside a git working tree.
    #[error("`{}` is not inside a git repository; `{option}` reads the definitions from git", .dir.display())]
    NotARepository {
        /// The repository directory.
        dir: PathBuf,
        /// The option that needed git (`--base`, `--changed-since`).
        option: &'static str,
    },
    /// The revision names no commit here.
    #[error("base `{0}` is not a commit of this repository")]
    UnknownRevision(String),
    /// The config file is outside the git working tree.
    #[error("the config `{}` is not inside the git working tree", .0.display())]
    OutsideWorkTree(PathBuf),
    /// The revision's config is not valid.
    #[error("the config at base `{rev}` is not valid: {error}")]
    Config {
        /// The revision as given.
        rev: String,
        /// What is wrong.
        error: ConfigError,
    },
    /// The revision's flag files are over the repository size limit.
    #[error(
        "the files flagops reads at base `{0}` are over its size limits (8 MiB for the config, \
         32 MiB for the YAML files the `flags` entries reach)"
    )]
    TooLarge(String),
    /// Reading git objects or writing the temporary copy failed.
    #[error("cannot read base `{rev}`: {message}")]
    Read {
        /// The revision as given.
        rev: String,
        /// The underlying error.
        message: String,
    },
}

/// The repository at a revision.
#[derive(Debug)]
pub struct Base<F: FlagFile = Flag> {
    /// The revision as given.
    pub rev: String,
    /// The commit it names (40 hex digits).
    pub commit: String,
    /// Its definitions; `None` when the config file did not exist at that commit (everything
    /// in the working tree is then new).
    pub repository: Option<Repository<F>>,
    /// The temporary copy `repository` was loaded from (removed on drop).
    _copy: Option<tempfile::TempDir>,
}

/// The git working tree holding `root`, the commit `rev` names, and where `root` and the
/// config are inside the working tree.
struct Located {
    git: git2::Repository,
    commit: git2::Oid,
    root: PathBuf,
    config: PathBuf,
}

fn locate<F: FlagFile>(
    repo: &Repository<F>,
    rev: &str,
    option: &'static str,
) -> Result<Located, GitError> {
    let not_a_repository = || GitError::NotARepository {
        dir: repo.root.clone(),
        option,
    };
    let git = git2::Repository::discover(&repo.root).map_err(|_| not_a_repository())?;
    let workdir = git
        .workdir()
        .and_then(|w| w.canonicalize().ok())
        .ok_or_else(not_a_repository)?;
    let inside = |path: &Path| -> Result<PathBuf, GitError> {
        path.canonicalize()
            .ok()
            .and_then(|c| c.strip_prefix(&workdir).ok().map(Path::to_path_buf))
            .ok_or_else(|| GitError::OutsideWorkTree(path.to_path_buf()))
    };
    let root = inside(&repo.root)?;
    let config = inside(&repo.root.join(&repo.config_file))?;
    let commit = git
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| GitError::UnknownRevision(rev.to_owned()))?
        .id();
    Ok(Located {
        git,
        commit,
        root,
        config,
    })
}

/// `a/./b/../c` → `a/c`; `None` when the path leaves the working tree.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Load the repository (config and flag files) as it was at commit `rev`, without a checkout.
///
/// # Errors
/// Not a git repository, an unknown revision, an invalid config at `rev`, flag files over
/// the size limit, or a failure to read objects or write the temporary copy.
pub fn load_at<F: FlagFile>(repo: &Repository<F>, rev: &str) -> Result<Base<F>, GitError> {
    let located = locate(repo, rev, "--base")?;
    let read_error = |e: &dyn std::fmt::Display| GitError::Read {
        rev: rev.to_owned(),
        message: e.to_string(),
    };
    let git = &located.git;
    let tree = git
        .find_commit(located.commit)
        .and_then(|c| c.tree())
        .map_err(|e| read_error(&e))?;
    let commit = located.commit.to_string();
    let Ok(config_entry) = tree.get_path(&located.config) else {
        return Ok(Base {
            rev: rev.to_owned(),
            commit,
            repository: None,
            _copy: None,
        });
    };
    let copy = tempfile::Builder::new()
        .prefix("flagops-base-")
        .tempdir()
        .map_err(|e| read_error(&e))?;
    let mut budget = MAX_FILE_BYTES;
    write_blob(
        git,
        config_entry.id(),
        &copy.path().join(&located.config),
        &mut budget,
    )
    .map_err(|e| read_error(&e))?
    .then_some(())
    .ok_or_else(|| GitError::TooLarge(rev.to_owned()))?;
    let root = copy.path().join(&located.root);
    let config_file = located
        .config
        .strip_prefix(&located.root)
        .map_or_else(|_| copy.path().join(&located.config), Path::to_path_buf);
    let (_, _, config) =
        load_config(&root, Some(&config_file)).map_err(|error| GitError::Config {
            rev: rev.to_owned(),
            error,
        })?;
    // The directories (or files) the `flags` entries can reach, inside the working tree.
    let reach: Vec<PathBuf> = config
        .flags
        .entries()
        .into_iter()
        .filter_map(|entry| {
            let base = if entry.contains(GLOB_CHARS) {
                split_glob(entry).0
            } else {
                entry
            };
            lexical(&located.root.join(base))
        })
        .collect();
    let mut blobs = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob)
            && entry.filemode() != i32::from(git2::FileMode::Link)
            && let Ok(name) = entry.name()
        {
            let path = Path::new(dir).join(name);
            if is_yaml(&path) && reach.iter().any(|r| path.starts_with(r)) {
                blobs.push((path, entry.id()));
            }
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(|e| read_error(&e))?;
    // Over this the loader would read none of them: say so rather than plan against an
    // empty base.
    let mut budget = MAX_REPOSITORY_BYTES;
    for (path, id) in blobs {
        if path == located.config {
            continue;
        }
        if !write_blob(git, id, &copy.path().join(&path), &mut budget)
            .map_err(|e| read_error(&e))?
        {
            return Err(GitError::TooLarge(rev.to_owned()));
        }
    }
    let repository = load(&root, Some(&config_file)).map_err(|error| GitError::Config {
        rev: rev.to_owned(),
        error,
    })?;
    Ok(Base {
        rev: rev.to_owned(),
        commit,
        repository: Some(repository),
        _copy: Some(copy),
    })
}

/// Write blob `id` to `path`, counting its size against `budget`; `false` (nothing written)
/// when it does not fit.
fn write_blob(
    git: &git2::Repository,
    id: git2::Oid,
    path: &Path,
    budget: &mut u64,
) -> Result<bool, Box<dyn std::error::Error>> {
    let (size, _) = git.odb()?.read_header(id)?;
    let size = u64::try_from(size).unwrap_or(u64::MAX);
    if size > *budget {
        return Ok(false);
    }
    *budget -= size;
    let blob = git.find_blob(id)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, blob.content())?;
    Ok(true)
}

/// The files changed since a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The commit the revision names (40 hex digits).
    pub commit: String,
    /// The files, relative to the repository directory.
    pub files: BTreeSet<PathBuf>,
}

/// The files (relative to the repository directory) that differ between commit `rev` and the
/// working tree: modified, added (tracked or not, unless ignored), deleted or renamed (both
/// names).
///
/// # Errors
/// Not a git repository, an unknown revision, or a failure to read objects.
pub fn changed_since<F: FlagFile>(repo: &Repository<F>, rev: &str) -> Result<Changed, GitError> {
    let located = locate(repo, rev, "--changed-since")?;
    let read_error = |e: &git2::Error| GitError::Read {
        rev: rev.to_owned(),
        message: e.message().to_owned(),
    };
    let git = &located.git;
    let tree = git
        .find_commit(located.commit)
        .and_then(|c| c.tree())
        .map_err(|e| read_error(&e))?;
    let mut options = git2::DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    if !located.root.as_os_str().is_empty() {
        // Only below the repository directory: the rest of a monorepo is not read.
        options.pathspec(located.root.as_os_str());
    }
    let diff = git
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
        .map_err(|e| read_error(&e))?;
    let mut changed = BTreeSet::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(path) = file.path()
                && let Ok(relative) = path.strip_prefix(&located.root)
            {
                changed.insert(relative.to_path_buf());
            }
        }
    }
    Ok(Changed {
        commit: located.commit.to_string(),
        files: changed,
    })
}
