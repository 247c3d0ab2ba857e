//! Reading one file's text for the loader, safely: never a FIFO (it would block) nor a file
//! of the operating system (`/proc/self/environ` holds the API keys), within the size limit,
//! and UTF-8; each problem is one finding naming the file.

use std::fs;
use std::path::Path;

use super::{MAX_FILE_BYTES, not_a_file};
use crate::finding::{Finding, Span};

/// Read a file with the size limit and UTF-8 check; problems become one finding.
pub(super) fn read_text(path: &Path, shown: &Path) -> Result<String, Box<Finding>> {
    read_text_with(path, shown, None, false)
}

/// Whether a resolved path is in the operating system's directories (`/proc`, `/sys`, `/dev`).
pub(super) fn is_system(real: &Path) -> bool {
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|dir| real.starts_with(dir))
}

/// [`read_text`], with the file's metadata when already read, and `checked` when its real
/// path is known to be outside the system's directories (a file `discover` walked to).
pub(super) fn read_text_with(
    path: &Path,
    shown: &Path,
    meta: Option<fs::Metadata>,
    checked: bool,
) -> Result<String, Box<Finding>> {
    use std::io::Read as _;
    let unreadable = |e: std::io::Error| {
        Box::new(Finding::error("io", format!("cannot read file: {e}")).in_file(shown))
    };
    let meta = match meta {
        Some(meta) => meta,
        None => fs::metadata(path).map_err(unreadable)?,
    };
    if !meta.is_file() {
        // Never opened: a FIFO would block the read forever.
        return Err(Box::new(not_a_file(meta.file_type(), shown)));
    }
    if !checked
        && let Ok(real) = fs::canonicalize(path)
        && is_system(&real)
    {
        // The kernel's files (`/proc/self/environ` holds the API keys) are never read, so
        // never quoted in a finding.
        return Err(Box::new(
            Finding::error(
                "not-a-file",
                format!(
                    "`{}` is a file of the operating system; not read",
                    real.display()
                ),
            )
            .in_file(shown)
            .help("flag files and the config must be files of the repository"),
        ));
    }
    let too_large = |size: u64| {
        Box::new(
            Finding::error(
                "file-too-large",
                format!("file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes"),
            )
            .in_file(shown)
            .help("split it into one file per flag"),
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    // Sized from the metadata, and never past the limit should the file grow meanwhile.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Box::new(
            Finding::error("not-utf8", "file is not valid UTF-8")
                .in_file(shown)
                .at(Some(Span::point(line, column)))
                .help("save the file as UTF-8"),
        )
    })
}
