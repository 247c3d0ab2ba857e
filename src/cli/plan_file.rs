//! A saved plan's file (`plan --out FILE`, `apply PLAN_FILE`): read only when it is a regular
//! file within the size limit, and written whole (a temporary file renamed over it), never
//! over a file that is not a saved plan nor through a symbolic link.

use std::fs;
use std::io::Read as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::util::{Unread, read_bounded};

/// The largest plan file read: a plan of 10,000 flags is a few MiB.
pub(crate) const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// How many bytes at its start say whether a file is a saved plan.
const HEAD: u64 = 4096;

/// The text of the plan file at `path`.
pub(crate) fn read(path: &Path) -> Result<String> {
    read_bounded(path, MAX_PLAN_BYTES).map_err(|why| {
        let why = match why {
            // Only a regular file is opened: a FIFO (or `/dev/stdin` left open) would wait
            // forever.
            Unread::NotAFile => "it is not a regular file".to_owned(),
            Unread::TooLarge => format!("it is larger than {MAX_PLAN_BYTES} bytes"),
            Unread::Io(e) => e.to_string(),
        };
        Error::usage(format!("cannot read the plan `{}`: {why}", path.display()))
    })
}

/// Write `text` as the plan file at `path`, shown as `shown`. What is there already is
/// replaced only when it is an empty file or a saved plan: `--out flagops.yaml` must not
/// replace the config. The file is written next to it and renamed over it, so a failure
/// leaves the old one, and a symbolic link is refused rather than followed.
pub(crate) fn save(path: &Path, shown: &Path, text: &str) -> Result<()> {
    let refuse = |why: &str| {
        Error::failure(format!(
            "cannot write the plan to `{}`: {why}; nothing was written",
            shown.display()
        ))
        .hint("give `--out` a new file, or the file of an earlier plan")
    };
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(refuse("it is a symbolic link"));
        }
        Ok(meta) if !meta.is_file() => return Err(refuse("it is not a regular file")),
        Ok(meta) if meta.len() > 0 && !is_plan(path) => {
            return Err(refuse("it exists and is not a saved plan"));
        }
        _ => {}
    }
    let failed = |e: &dyn std::fmt::Display| {
        Error::failure(format!(
            "cannot write the plan to `{}`: {e}",
            shown.display()
        ))
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".flagops-plan-")
        .tempfile_in(dir)
        .map_err(|e| failed(&e))?;
    std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(|e| failed(&e))?;
    temp.persist(path).map_err(|e| failed(&e.error))?;
    Ok(())
}

/// Whether the file at `path` starts as flagops writes a plan: a JSON object whose first
/// bytes name its `format_version`.
fn is_plan(path: &Path) -> bool {
    let mut head = Vec::new();
    let read = fs::File::open(path).and_then(|file| file.take(HEAD).read_to_end(&mut head));
    read.is_ok() && {
        let head = String::from_utf8_lossy(&head);
        head.trim_start().starts_with('{') && head.contains("\"format_version\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save_to(path: &Path) -> std::result::Result<(), String> {
        save(path, Path::new("p.json"), "{\"format_version\": 1}\n").map_err(|e| e.message)
    }

    #[test]
    fn a_plan_replaces_only_nothing_an_empty_file_or_a_plan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        assert_eq!(save_to(&path), Ok(()));
        assert_eq!(save_to(&path), Ok(()), "an earlier plan");
        fs::write(&path, "").unwrap();
        assert_eq!(save_to(&path), Ok(()), "an empty file");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"format_version\": 1}\n"
        );
        fs::write(&path, "backend: local\n").unwrap();
        assert_eq!(
            save_to(&path),
            Err(
                "cannot write the plan to `p.json`: it exists and is not a saved plan; nothing \
                 was written"
                    .to_owned()
            )
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "backend: local\n");
    }

    #[test]
    fn a_plan_file_past_the_size_limit_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        // Sparse: nothing is written.
        let file = fs::File::create(&path).unwrap();
        file.set_len(MAX_PLAN_BYTES + 1).unwrap();
        assert_eq!(
            read(&path).map_err(|e| e.message),
            Err(format!(
                "cannot read the plan `{}`: it is larger than 268435456 bytes",
                path.display()
            ))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_or_a_fifo_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim.txt");
        fs::write(&target, "mine\n").unwrap();
        let link = dir.path().join("p.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            save_to(&link),
            Err(
                "cannot write the plan to `p.json`: it is a symbolic link; nothing was written"
                    .to_owned()
            )
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "mine\n");
        let fifo = dir.path().join("f.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert_eq!(
            save(&fifo, Path::new("f.json"), "{}").map_err(|e| e.message),
            Err(
                "cannot write the plan to `f.json`: it is not a regular file; nothing was written"
                    .to_owned()
            )
        );
    }
}
