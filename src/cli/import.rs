//! `flagops import`: write the live flags of an environment as flag files.
//!
//! Reads the live state through the environment's backend, decides one file per flag
//! (`<flag directory>/<key>.yaml`, or the file that already holds only that flag), refuses to
//! overwrite anything without `--force`, and writes every file or none. An existing file is
//! left as it is when it already resolves to the live flag, merged (`import::merge`) when
//! other environments read it, and refused when rewriting it would drop a comment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use globset::Glob;

use super::Context;
use super::output::{stderr, stdout};
use super::plan::setup_error;
use crate::backend::Backend;
use crate::backend::any::AnyBackend;
use crate::config::Config;
use crate::error::{Error, Result, exit};
use crate::import;
use crate::model::FlagFile;
use crate::model::Needs;
use crate::render::escape::terminal;
use crate::schema;
use crate::source;
use crate::vendor::Model;

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment to read the live flags of (a key of `environments` in the config).
    #[arg(long, value_name = "NAME")]
    env: String,
    /// Import only the flags whose key matches GLOB (e.g. `checkout-*`).
    #[arg(long, value_name = "GLOB")]
    key: Option<String>,
    /// Overwrite flag files that already exist.
    #[arg(long)]
    force: bool,
}

/// One file to write.
struct Planned {
    /// Absolute (or `-C`-relative) path.
    path: PathBuf,
    /// Path shown to the user, relative to the repository.
    shown: PathBuf,
    text: String,
    /// The file's current content when it exists.
    existing: Option<Vec<u8>>,
    /// The flag it holds (`None` for the schema).
    key: Option<String>,
}

/// The directory new flag files go to: the first `flags` entry that is not a glob or a file.
fn flag_directory(config: &Config, root: &Path) -> Result<String> {
    config
        .flags
        .entries()
        .into_iter()
        .find(|entry| {
            let is_glob = entry.contains(['*', '?', '[', '{']);
            let path = root.join(entry);
            let names_file = path.is_file()
                || (!path.exists()
                    && Path::new(entry)
                        .extension()
                        .is_some_and(|x| x == "yaml" || x == "yml"));
            !is_glob && !names_file
        })
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::usage("`flags` in the config names no directory to import into")
                .hint("add a directory (e.g. `flags/`) as the first entry of `flags`")
        })
}

/// Where each key is already defined: its file, the number of flags in that file and the
/// flag as written, when the repository loads (it may not: the flag directory may not exist
/// yet). Also the keys of flags in files that do not load (schema errors): those are defined
/// too.
fn existing_definitions<F: Model>(
    ctx: &Context,
) -> (BTreeMap<String, Definition<F>>, BTreeSet<String>) {
    let Ok(repo) = ctx.load::<F>() else {
        return (BTreeMap::new(), BTreeSet::new());
    };
    let mut per_file: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for flag in &repo.flags {
        *per_file.entry(flag.file.clone()).or_default() += 1;
    }
    let defined = repo
        .flags
        .into_iter()
        .map(|f| {
            let flags = per_file[&f.file];
            (
                f.key().to_owned(),
                Definition {
                    file: f.file,
                    flags,
                    spec: f.spec,
                },
            )
        })
        .collect();
    (defined, repo.invalid_keys)
}

/// Where a flag is defined in the repository.
struct Definition<F: FlagFile> {
    /// The file, relative to the repository.
    file: PathBuf,
    /// How many flags that file holds.
    flags: usize,
    /// The flag as written.
    spec: F::Spec,
}

/// Write every planned file or none: temporary files first, then renames; on a failure the
/// files already renamed are restored. A file whose content would not change is not touched.
fn write_all(files: &[Planned]) -> std::result::Result<(), String> {
    let files: Vec<&Planned> = files
        .iter()
        .filter(|f| f.existing.as_deref() != Some(f.text.as_bytes()))
        .collect();
    let mut staged = Vec::new();
    let mut made: BTreeSet<&Path> = BTreeSet::new();
    for file in &files {
        let dir = file.path.parent().unwrap_or(Path::new("."));
        // Each directory is made once, not once per file in it.
        let made_dir = if made.contains(dir) {
            Ok(())
        } else {
            fs::create_dir_all(dir).map(|()| {
                made.insert(dir);
            })
        };
        // Closed once written (a `TempPath`, removed if never persisted): thousands of files
        // must not hold thousands of descriptors (macOS allows 256 by default).
        let staged_file = made_dir
            .and_then(|()| staging_file(&file.path, file.existing.is_some(), dir))
            .and_then(|mut tmp| tmp.write_all(file.text.as_bytes()).map(|()| tmp))
            .map(tempfile::NamedTempFile::into_temp_path)
            .map_err(|e| format!("cannot write `{}`: {e}", file.shown.display()))?;
        staged.push(staged_file);
    }
    let mut done: Vec<&Planned> = Vec::new();
    for (file, tmp) in files.into_iter().zip(staged) {
        if let Err(e) = tmp.persist(&file.path) {
            for undo in done {
                let _ = match &undo.existing {
                    Some(old) => fs::write(&undo.path, old),
                    None => fs::remove_file(&undo.path),
                };
            }
            return Err(format!(
                "cannot write `{}`: {}",
                file.shown.display(),
                e.error
            ));
        }
        done.push(file);
    }
    Ok(())
}

/// Exit 0 when written, 1 when refused or failed, 2 on usage or config errors.
pub(crate) fn run<F: Model>(args: &Args, ctx: &Context) -> Result<u8> {
    crate::backend::pacing::Pacer::announce_waits_to(stderr); // long waits: `waiting: …`
    let (root, _, config) = source::load_config(&ctx.directory, ctx.config.as_deref())
        .map_err(|e| Error::config(&e))?;
    let filter = match &args.key {
        Some(glob) => Some(
            Glob::new(glob)
                .map_err(|e| {
                    Error::usage(format!("invalid `--key` pattern `{glob}`: {}", e.kind()))
                })?
                .compile_matcher(),
        ),
        None => None,
    };
    let directory = flag_directory(&config, &root)?;
    let backend =
        AnyBackend::<F>::for_environment(&root, &config, &args.env).map_err(|e| setup_error(&e))?;
    let runtime = super::plan::runtime()?;
    let live = runtime.block_on(backend.list()).map_err(|e| {
        Error::failure(format!("cannot read the live flags of `{}`: {e}", args.env))
    })?;
    let mut selection = import::select(&live, filter.as_ref());
    // Cohorts and group types are written by name where the project has a unique one, so
    // that the file serves every project (read only when some flag uses one).
    let mut needs = Needs::default();
    for flag in &selection.flags {
        needs.add(flag.naming_needs());
    }
    if needs.any() {
        let catalogue = runtime.block_on(backend.catalogue(&needs)).map_err(|e| {
            Error::failure(format!(
                "cannot read the cohorts and group types of `{}`: {e}",
                args.env
            ))
        })?;
        for flag in &mut selection.flags {
            for note in flag.name_ids(&catalogue) {
                stderr(&format!("note: {}\n", terminal::detail(&note)));
            }
        }
    }
    for skipped in &selection.skipped {
        stderr(&format!(
            "skipped `{}`: {}\n",
            terminal::detail(&skipped.key),
            terminal::detail(&skipped.reason)
        ));
    }
    if selection.flags.is_empty() {
        return match &args.key {
            Some(glob) if selection.skipped.is_empty() => Err(Error::failure(format!(
                "no live flag of `{}` matches `{glob}`; nothing was written",
                args.env
            ))),
            _ if selection.skipped.is_empty() => {
                stdout(&format!(
                    "`{}` has no live flags; nothing was written\n",
                    terminal::text(&args.env)
                ));
                Ok(exit::OK)
            }
            _ => Err(Error::failure(
                "no flag could be imported; nothing was written",
            )),
        };
    }

    let absolute_root = import::lexical_normal(
        &std::path::absolute(&root)
            .map_err(|e| Error::failure(format!("cannot resolve `{}`: {e}", root.display())))?,
    );
    let schema_file = absolute_root.join("schemas").join(F::SCHEMA_FILE);
    let (existing, broken) = existing_definitions::<F>(ctx);
    let mut broken_found = 0;
    let mut planned = Vec::new();
    let mut conflicts = Vec::new();
    let mut shared_files = Vec::new();
    // Existing files that cannot be rewritten, with the reason.
    let mut refused: Vec<String> = Vec::new();
    let mut skipped = selection.skipped.len();
    let mut taken = names_in(&absolute_root.join(&directory));
    for flag in &selection.flags {
        let key = flag.key();
        let (shown, written) = match existing.get(key) {
            Some(definition) if definition.flags == 1 => {
                (definition.file.clone(), Some(&definition.spec))
            }
            Some(definition) => {
                shared_files.push(format!(
                    "`{key}` is defined in `{}` with {}",
                    display(&definition.file),
                    plural(definition.flags - 1, "other flag", "other flags")
                ));
                continue;
            }
            // Defined in a file that does not load, unless that is the flag's own file
            // (which the conflict check below handles).
            None if broken.contains(key)
                && !absolute_root
                    .join(&directory)
                    .join(format!("{key}.yaml"))
                    .exists() =>
            {
                shared_files.push(format!(
                    "`{key}` is defined in a file that does not load (see `flagops validate`)"
                ));
                broken_found += 1;
                continue;
            }
            None => (
                Path::new(&directory).join(import::file_name(key, &mut taken)),
                None,
            ),
        };
        let shown = import::lexical_normal(&shown);
        let path = absolute_root.join(&shown);
        // Never opened unless a regular file: reading a FIFO would wait forever. A file that
        // is not there is not opened either.
        let current = match fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                refused.push(format!(
                    "{}: is not a regular file; remove it",
                    display(&shown)
                ));
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => fs::read(&path).ok(),
        };
        let spec = match written {
            None => Some(import::canonical(flag)),
            Some(written) => {
                match import::merge::existing_file(written, flag, &args.env, &config) {
                    Ok(spec) => spec,
                    Err(reason) => {
                        refused.push(format!(
                            "{}: {}; edit it by hand",
                            display(&shown),
                            terminal::detail(&reason)
                        ));
                        continue;
                    }
                }
            }
        };
        // Already in sync: the file stays as it is, comments and all.
        let as_it_is = spec
            .is_none()
            .then(|| current.as_deref().and_then(|b| std::str::from_utf8(b).ok()))
            .flatten();
        let text = if let Some(text) = as_it_is {
            text.to_owned()
        } else {
            let spec = spec.unwrap_or_else(|| import::canonical(flag));
            let dir = path.parent().unwrap_or(&absolute_root);
            let text = import::render::<F>(&spec, &import::relative_path(dir, &schema_file))
                .map_err(Error::failure)?;
            if let Err(problem) = import::check_round_trip::<F>(&text, &spec, &shown) {
                stderr(&format!(
                    "skipped `{}`: {}\n",
                    terminal::text(key),
                    terminal::detail(&problem)
                ));
                skipped += 1;
                continue;
            }
            text
        };
        if let Some(old) = current.as_deref().filter(|old| *old != text.as_bytes()) {
            conflicts.push(shown.clone());
            if let Some(line) = import::comments::first_comment_line(&String::from_utf8_lossy(old))
            {
                refused.push(format!(
                    "{}: has comments (line {line}) that a rewrite would drop; edit it by hand, or remove the comments and import again",
                    display(&shown)
                ));
            }
        }
        planned.push(Planned {
            path,
            shown,
            text,
            existing: current,
            key: Some(key.to_owned()),
        });
    }
    if !shared_files.is_empty() {
        let mut text = String::new();
        for line in &shared_files {
            let _ = writeln!(text, "  {line}");
        }
        stderr(&text);
        let (files, hint) = if broken_found == 0 {
            (
                "files holding several flags",
                "move those flags to files of their own, or leave them out with `--key`",
            )
        } else if broken_found == shared_files.len() {
            (
                "files that do not load",
                "fix those files, or leave those flags out with `--key`",
            )
        } else {
            (
                "files holding several flags or files that do not load",
                "fix or move those files, or leave those flags out with `--key`",
            )
        };
        return Err(Error::failure(format!(
            "{} already defined in {files}; nothing was written",
            plural(shared_files.len(), "flag is", "flags are")
        ))
        .hint(hint));
    }
    if !conflicts.is_empty() && !args.force {
        let mut text = String::new();
        for path in &conflicts {
            let _ = writeln!(text, "  {}", display(path));
        }
        stderr(&text);
        return Err(Error::failure(format!(
            "{} already {}; nothing was written",
            plural(conflicts.len(), "file", "files"),
            if conflicts.len() == 1 {
                "exists"
            } else {
                "exist"
            }
        ))
        .hint("pass `--force` to overwrite them, or choose flags with `--key`"));
    }

    if !refused.is_empty() {
        let mut text = String::new();
        for line in &refused {
            let _ = writeln!(text, "  {line}");
        }
        stderr(&text);
        return Err(Error::failure(format!(
            "{} cannot be rewritten; nothing was written",
            plural(refused.len(), "file", "files")
        )));
    }

    let mut schema_written = None;
    if !schema_file.exists() {
        let file = schema::flag_file::<F>();
        planned.push(Planned {
            path: schema_file.clone(),
            shown: Path::new("schemas").join(F::SCHEMA_FILE),
            text: file.content,
            existing: None,
            key: None,
        });
        schema_written = Some(Path::new("schemas").join(F::SCHEMA_FILE));
    }
    write_all(&planned).map_err(|e| Error::failure(format!("{e}; nothing was written")))?;

    let mut out = String::new();
    let mut unchanged = 0;
    for file in &planned {
        let verb = match &file.existing {
            None => "wrote",
            Some(old) if old == file.text.as_bytes() => {
                unchanged += 1;
                "unchanged"
            }
            Some(_) => "overwrote",
        };
        let _ = writeln!(out, "{verb} {}", display(&file.shown));
    }
    let flags = planned.len() - usize::from(schema_written.is_some());
    let _ = write!(
        out,
        "imported {} from `{}` into `{}`",
        plural(flags, "flag", "flags"),
        terminal::text(&args.env),
        terminal::text(&directory)
    );
    let mut notes = Vec::new();
    if unchanged > 0 {
        notes.push(format!("{unchanged} unchanged"));
    }
    if skipped > 0 {
        notes.push(format!("{skipped} skipped"));
    }
    if !notes.is_empty() {
        let _ = write!(out, " ({})", notes.join(", "));
    }
    out.push('\n');
    stdout(&out);
    stderr(&notes_after(&selection.flags, &planned, &existing));
    super::plan::say_requests(&backend);
    Ok(exit::OK)
}

/// The entries of `dir` (lower-cased name → name); empty when it does not exist.
fn names_in(dir: &Path) -> BTreeMap<String, String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .map(|name| (name.to_lowercase(), name))
        .collect()
}

/// Warnings about what was written: secret values in the clear, dependencies on flags
/// the repository does not define.
fn notes_after<F: Model>(
    flags: &[F],
    planned: &[Planned],
    existing: &BTreeMap<String, Definition<F>>,
) -> String {
    let mut text = String::new();
    for flag in flags {
        let Some(file) = planned
            .iter()
            .find(|p| p.key.as_deref() == Some(flag.key()))
        else {
            continue;
        };
        if let Some(secrets) = flag.clear_secrets() {
            let _ = writeln!(
                text,
                "warning: `{}` has {secrets}; `{}` holds them in the clear",
                flag.key(),
                display(&file.shown)
            );
        }
        for target in flag.dependencies() {
            let known = flags.iter().any(|f| f.key() == target) || existing.contains_key(&target);
            if !known {
                let _ = writeln!(
                    text,
                    "note: `{}` depends on `{target}`, which the repository does not define; import it too",
                    flag.key()
                );
            }
        }
    }
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A path for the terminal: `/` separators, control characters escaped (a file name may
/// hold anything).
fn display(path: &Path) -> String {
    terminal::text(&path.to_string_lossy().replace('\\', "/")).into_owned()
}

/// A temporary file in `dir` to be renamed to `path`, with the permissions `path` has when it
/// `exists` (an import keeps a file's mode), else those of a new file (`0666` less the umask,
/// as an editor makes it; a temporary file's own `0600` would stay after the rename). A new
/// file costs no look at `path`.
fn staging_file(path: &Path, exists: bool, dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(dir)?;
    if exists {
        fs::set_permissions(tmp.path(), fs::metadata(path)?.permissions())?;
    }
    Ok(tmp)
}
