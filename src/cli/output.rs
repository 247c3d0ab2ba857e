//! Writing to stdout/stderr: colour handling (via `anstream`), broken pipes, errors.

use std::fmt::Write as _;
use std::io::Write;

use crate::error::Error;
use crate::render::escape::terminal;
use crate::render::findings::{Sources, Summary, human};

/// Print to stdout; a closed pipe is not an error.
pub(crate) fn stdout(text: &str) {
    let mut out = anstream::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Print to stderr.
pub(crate) fn stderr(text: &str) {
    let mut err = anstream::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Print an error with its findings and hint.
pub(crate) fn error(error: &Error) {
    let mut text = String::new();
    if !error.findings.is_empty() {
        let root = error.root.clone().unwrap_or_default();
        let mut sources = Sources::new(&root);
        let rendered = human(&error.findings, Summary::default(), &mut sources);
        // The summary line counts flags, which means nothing for a config error.
        let body = rendered
            .rsplit_once("validated")
            .map_or(rendered.as_str(), |(b, _)| b);
        text.push_str(body);
    }
    let red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    // flagops' own messages may list things a line each; what they quote is escaped line by
    // line, so no quoted text can start a line of its own.
    let message: Vec<String> = error.message.split('\n').map(terminal::detail).collect();
    let _ = writeln!(text, "{red}error{red:#}: {}", message.join("\n"));
    if let Some(hint) = &error.hint {
        let _ = writeln!(text, "hint: {hint}");
    }
    stderr(&text);
}
