//! Which files the config's `flags` entries name: directories walked in a stable order,
//! globs matched below their literal base, and every `*.yaml` path that is not a readable
//! file (a broken symlink, a FIFO, a device) reported without ever being opened.

use std::fs;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSetBuilder};

use super::yaml::Locations;
use crate::config::{CONFIG_FILE, Config, FlagSources};
use crate::finding::Finding;

/// The flag files the config points at, and what is wrong with its `flags` entries.
#[derive(Debug, Default)]
pub(super) struct Discovered {
    /// Files to read, sorted, without duplicates; each with whether it was listed as a file
    /// (or a link to one) by walking a directory outside the system's: `read_text` then
    /// opens it straight away, without looking at it or resolving its real path first.
    pub(super) files: Vec<(PathBuf, bool)>,
    /// Problems with the `flags` entries (they belong to the config file).
    pub(super) config: Vec<Finding>,
    /// Files matched but not read (broken symlinks, FIFOs, devices), each in its own file.
    pub(super) skipped: Vec<Finding>,
}

/// List the flag files the config points at.
pub(super) fn discover(root: &Path, config: &Config, locations: &Locations) -> Discovered {
    let mut found = Discovered::default();
    if config.flags.entries().is_empty() {
        found.config.push(
            Finding::warning(
                "no-files",
                "`flags` lists no entry, so no flag file is read",
            )
            .at(locations.value("/flags"))
            .field("flags")
            .help("write `flags: flags/` (the default) or list the directories and globs"),
        );
    }
    for (i, entry) in config.flags.entries().into_iter().enumerate() {
        // Where the entry is written, for its findings.
        let pointer = match config.flags {
            FlagSources::One(_) => "/flags".to_owned(),
            FlagSources::Many(_) => format!("/flags/{i}"),
        };
        let mut config_finding = |f: Finding| {
            found.config.push(
                f.at(locations.value(&pointer))
                    .field(crate::schema::field_path(&pointer)),
            );
        };
        let is_glob = entry.contains(GLOB_CHARS);
        let (base, pattern) = if is_glob {
            // The components before the first one with a wildcard name the directory to walk
            // (`../shared`, `./flags`, or the config's own); the rest is matched below it.
            split_glob(entry)
        } else {
            (entry, "")
        };
        if escapes(base) {
            config_finding(
                Finding::warning(
                    "outside-repository",
                    format!("`flags` entry `{entry}` reaches outside the config's directory"),
                )
                .help("its files are read too; move them below the config's directory unless that is intended"),
            );
        }
        if is_glob {
            let dir = root.join(base);
            let matcher = match Glob::new(pattern) {
                Ok(g) => GlobSetBuilder::new().add(g).build(),
                Err(e) => {
                    config_finding(Finding::error(
                        "config",
                        format!("invalid glob `{entry}` in `flags`: {}", e.kind()),
                    ));
                    continue;
                }
            };
            let Ok(matcher) = matcher else { continue };
            let mut hits = 0;
            for walked in walk_yaml(root, &dir) {
                let (Ok((path, _)) | Err((path, _))) = &walked;
                if !matcher.is_match(path.strip_prefix(&dir).unwrap_or(path)) {
                    continue;
                }
                hits += 1;
                match walked {
                    Ok(p) => found.files.push(p),
                    Err((_, f)) => found.skipped.push(*f),
                }
            }
            if hits == 0 {
                config_finding(Finding::warning(
                    "no-files",
                    format!("`flags` entry `{entry}` matches no file"),
                ));
            }
        } else {
            let path = root.join(entry);
            if path.is_dir() {
                let walked = walk_yaml(root, &path);
                if walked.is_empty() {
                    config_finding(Finding::warning(
                        "no-files",
                        format!("`flags` entry `{entry}` holds no `*.yaml` or `*.yml` file"),
                    ));
                }
                for w in walked {
                    match w {
                        Ok(p) => found.files.push(p),
                        Err((_, f)) => found.skipped.push(*f),
                    }
                }
            } else if let Ok(meta) = fs::symlink_metadata(&path) {
                // A file (or a link to one, read when it stays inside), or no file at all: a
                // FIFO, a device or a broken symlink.
                let parent = path.parent().unwrap_or(root);
                match classify(
                    &path,
                    meta.file_type(),
                    &shown_path(root, &path),
                    &[root, parent],
                ) {
                    Ok(true) => found.files.push((path, false)),
                    Ok(false) => {}
                    Err(f) => found.skipped.push(*f),
                }
            } else {
                config_finding(Finding::error(
                    "config",
                    format!("`flags` entry `{entry}` does not exist"),
                ));
            }
        }
    }
    // A file listed twice keeps `false` (sorted first): its real path is checked.
    found.files.sort();
    found.files.dedup_by(|a, b| a.0 == b.0);
    found.skipped.sort();
    found.skipped.dedup();
    found
}

/// `path` relative to `root` when below it.
fn shown_path(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Whether a relative path written in the config leaves the config's directory (`../x`,
/// `a/../../x`, or an absolute path).
fn escapes(written: &str) -> bool {
    let mut depth: usize = 0;
    for component in Path::new(written).components() {
        match component {
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            std::path::Component::RootDir | std::path::Component::Prefix(_) => return true,
        }
    }
    false
}

/// Characters that make a `flags` entry a glob.
pub(super) const GLOB_CHARS: [char; 4] = ['*', '?', '[', '{'];

/// Split a glob into its literal leading directory and the pattern below it:
/// `../shared/**/*.yaml` → (`../shared`, `**/*.yaml`); `*.yaml` → (``, `*.yaml`).
pub(super) fn split_glob(entry: &str) -> (&str, &str) {
    let mut literal = 0;
    for (i, _) in entry.match_indices('/') {
        if entry[..i].contains(GLOB_CHARS) {
            break;
        }
        literal = i + 1;
    }
    (&entry[..literal], &entry[literal..])
}

/// What a path that is not a regular file is, in words.
pub(super) fn kind_words(kind: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_char_device() {
            return "a character device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

pub(super) fn not_a_file(kind: fs::FileType, shown: &Path) -> Finding {
    Finding::error(
        "not-a-file",
        format!("{} named like a flag file; not read", kind_words(kind)),
    )
    .in_file(shown)
    .help("flag files must be regular files (or symbolic links to them); remove it or rename it")
}

/// Whether a walked `*.yaml` entry is a flag file to read (`Ok(true)`), something to pass
/// over (`Ok(false)`: a directory, or a symlink to one, which is not followed), or a file that
/// cannot be read as one (a finding). Nothing is opened: a FIFO would block forever.
fn classify(
    path: &Path,
    kind: fs::FileType,
    shown: &Path,
    inside: &[&Path],
) -> Result<bool, Box<Finding>> {
    if kind.is_file() {
        return Ok(true);
    }
    if kind.is_dir() {
        return Ok(false);
    }
    if !kind.is_symlink() {
        return Err(Box::new(not_a_file(kind, shown)));
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => link_inside(path, shown, inside).map(|()| true),
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(meta) => Err(Box::new(not_a_file(meta.file_type(), shown))),
        Err(e) => {
            let target = fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("symbolic link to `{target}`, which does not exist; not read")
            } else if is_loop(&e) {
                format!("symbolic link to `{target}` that loops back on itself; not read")
            } else {
                format!("symbolic link to `{target}` cannot be followed: {e}; not read")
            };
            Err(Box::new(
                Finding::error("broken-symlink", message)
                    .in_file(shown)
                    .help("point the link at an existing flag file, or remove it"),
            ))
        }
    }
}

/// A symbolic link to a file is read only when the file is inside one of the directories
/// `inside` (the config's, and the one a `flags` entry names; for the config, its own): a link to `/proc/self/environ`
/// or a file in the home directory, added in a pull request, would otherwise have
/// `validate` quote another file's lines (secrets included) in its output.
pub(super) fn link_inside(path: &Path, shown: &Path, inside: &[&Path]) -> Result<(), Box<Finding>> {
    let target = fs::canonicalize(path).ok();
    let allowed = target.as_ref().is_some_and(|target| {
        inside
            .iter()
            .filter_map(|dir| fs::canonicalize(dir).ok())
            .any(|dir| target.starts_with(dir))
    });
    if allowed {
        return Ok(());
    }
    let written = fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    Err(Box::new(
        Finding::error(
            "symlink-outside",
            format!("symbolic link to `{written}`, which is outside the repository; not read"),
        )
        .in_file(shown)
        .help("copy the file into the repository, or point the link at a file inside it"),
    ))
}

/// Whether an error is "too many levels of symbolic links".
fn is_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        // ELOOP is 40 on Linux and 62 on the BSDs and macOS.
        let eloop = if cfg!(target_os = "linux") { 40 } else { 62 };
        if e.raw_os_error() == Some(eloop) {
            return true;
        }
    }
    e.to_string().contains("symbolic links")
}

/// A walked `*.yaml` path: to read (with whether its real path is known to be outside the
/// system's directories), or not readable as a flag file (with why).
type Walked = Result<(PathBuf, bool), (PathBuf, Box<Finding>)>;

fn walk_yaml(root: &Path, dir: &Path) -> Vec<Walked> {
    let mut out = Vec::new();
    // Below a directory outside the system's, a regular file is too (symlinked directories
    // are not followed), and a symlink is read only inside it or the root: resolved once here,
    // not once per file.
    let checked = fs::canonicalize(dir).is_ok_and(|real| !super::read::is_system(&real));
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with('.'))
        });
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                // An unreadable directory below a flag directory (the top one is checked
                // by the caller); its files cannot be listed.
                if let Some(path) = e.path().map(Path::to_path_buf) {
                    let shown = shown_path(root, &path);
                    let f =
                        Finding::error("io", format!("cannot list directory: {e}")).in_file(&shown);
                    out.push(Err((path, Box::new(f))));
                }
                continue;
            }
        };
        let path = entry.path();
        let is_yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml")
            && path
                .file_name()
                .is_some_and(|n| n != CONFIG_FILE || path.parent() != Some(root));
        if !is_yaml || entry.file_type().is_dir() {
            continue;
        }
        // A symlink to a file is read; symlinked directories are not followed (no loops).
        match classify(
            path,
            entry.file_type(),
            &shown_path(root, path),
            &[root, dir],
        ) {
            Ok(true) => out.push(Ok((entry.into_path(), checked))),
            Ok(false) => {}
            Err(f) => out.push(Err((entry.into_path(), f))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_when_a_path_leaves_the_directory() {
        assert!(escapes("../common/"));
        assert!(escapes("a/../../x"));
        assert!(escapes("/etc/"));
        assert!(!escapes("flags/"));
        assert!(!escapes("./flags/../other/"));
        assert!(!escapes(""));
    }
}
