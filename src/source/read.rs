//! Reading one file's text for the loader, safely: never blocked by a FIFO, never a file of
//! the operating system (`/proc/self/environ` holds the API keys), within the size limit, and
//! UTF-8; each problem is one finding naming the file.
//!
//! A flag file is read with four system calls: open (non-blocking, so a FIFO put in its
//! place after the directory was listed cannot hang the run), the open file's metadata (its
//! kind and size), one read of that size, close.

use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use super::{MAX_FILE_BYTES, not_a_file};
use crate::finding::{Finding, Span};

/// Whether a resolved path is in the operating system's directories (`/proc`, `/sys`, `/dev`).
pub(super) fn is_system(real: &Path) -> bool {
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|dir| real.starts_with(dir))
}

/// Read a file's text with the size limit and UTF-8 check; problems become one finding
/// naming `shown`.
///
/// `walked` says `path` was listed by `discover` as a file (or a link to one) below a
/// directory outside the system's: it is opened straight away. Any other path is looked at
/// first, and opened only when it is a file outside the system's directories. `buf` is scratch
/// space, reused from one file to the next. `counted` grows by what the file counts against
/// the repository's size limit, whether or not its text can be used: the bytes read, or its
/// size when it was not read whole (over the file limit, or a read that failed).
pub(super) fn read_text(
    path: &Path,
    shown: &Path,
    walked: bool,
    buf: &mut Vec<u8>,
    counted: &mut u64,
) -> Result<Arc<str>, Box<Finding>> {
    let unreadable = |e: std::io::Error| {
        Box::new(Finding::error("io", format!("cannot read file: {e}")).in_file(shown))
    };
    if !walked {
        let meta = fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            // Never opened: some devices act when opened.
            return Err(Box::new(not_a_file(meta.file_type(), shown)));
        }
        if let Ok(real) = fs::canonicalize(path)
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
    }
    let mut file = open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        // Replaced since it was listed; opened without blocking, and not read.
        return Err(Box::new(not_a_file(meta.file_type(), shown)));
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
        *counted += meta.len();
        return Err(too_large(meta.len()));
    }
    let size = usize::try_from(meta.len()).unwrap_or(0);
    let read = read_all(&mut file, size, buf);
    *counted += if read.is_ok() {
        buf.len() as u64
    } else {
        meta.len()
    };
    read.map_err(unreadable)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(buf.len() as u64));
    }
    match std::str::from_utf8(buf) {
        Ok(text) => Ok(Arc::from(text)),
        Err(e) => Err(Box::new(not_utf8(&buf[..e.valid_up_to()], shown))),
    }
}

/// Open `path` for reading; on Unix without blocking, so that a FIFO does not hang the run,
/// and without making a terminal put in a file's place the process's controlling terminal.
fn open(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Read `file`, which its metadata says holds `size` bytes, into `buf`: one read when it
/// does, and to its end (never past the size limit) when it has grown or shrunk since.
fn read_all(file: &mut fs::File, size: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    // One byte more than expected: a file that grew fills it, and is then read to its end.
    buf.resize(size + 1, 0);
    let n = loop {
        match file.read(buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    buf.truncate(n);
    if n != size {
        let left = (MAX_FILE_BYTES + 1).saturating_sub(n as u64);
        file.take(left).read_to_end(buf)?;
    }
    Ok(())
}

/// The finding for a file that is not UTF-8, at the first byte that is not: `valid` is the
/// text before it.
fn not_utf8(valid: &[u8], shown: &Path) -> Finding {
    let valid = std::str::from_utf8(valid).unwrap_or_default();
    let line = valid.matches('\n').count() + 1;
    let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Finding::error("not-utf8", "file is not valid UTF-8")
        .in_file(shown)
        .at(Some(Span::point(line, column)))
        .help("save the file as UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path, walked: bool) -> Result<String, String> {
        read_text(path, Path::new("f.yaml"), walked, &mut Vec::new(), &mut 0)
            .map(|t| t.to_string())
            .map_err(|f| format!("{}: {}", f.code, f.message))
    }

    #[test]
    fn a_file_is_read_whole_with_or_without_a_look_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        for text in ["", "key: a\n", &"x".repeat(100_000)] {
            fs::write(&path, text).unwrap();
            assert_eq!(read(&path, true).as_deref(), Ok(text));
            assert_eq!(read(&path, false).as_deref(), Ok(text));
        }
    }

    #[test]
    fn a_file_that_is_not_the_size_its_metadata_said_is_read_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        fs::write(&path, "key: a\nname: longer than expected\n").unwrap();
        let mut buf = Vec::new();
        for size in [0, 3, 10, 1000] {
            let mut file = fs::File::open(&path).unwrap();
            read_all(&mut file, size, &mut buf).unwrap();
            assert_eq!(buf, b"key: a\nname: longer than expected\n", "size {size}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        fs::write(&path, b"key: a\nname: \xff\n").unwrap();
        let mut counted = 0;
        let f = read_text(
            &path,
            Path::new("f.yaml"),
            true,
            &mut Vec::new(),
            &mut counted,
        )
        .unwrap_err();
        assert_eq!(f.code, "not-utf8");
        assert_eq!(f.span, Some(Span::point(2, 7)));
        // Read, so it counts against the repository's limit all the same.
        assert_eq!(counted, 15);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_a_listed_file_is_opened_without_blocking_and_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.unwrap().success());
        // Listed as a file (`walked`), then replaced: not read, and the run goes on.
        assert_eq!(
            read(&path, true),
            Err("not-a-file: a FIFO (named pipe) named like a flag file; not read".to_owned())
        );
        assert_eq!(read(&path, true), read(&path, false));
    }
}
