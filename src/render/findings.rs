//! Findings in three formats: human (source line with a caret), JSON (a stable, versioned
//! document) and GitHub workflow commands (`::error file=…,line=…,col=…::`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Element, Group, Level, Renderer, Snippet};
use serde::Serialize;

use super::escape::{github as gh, terminal};
use crate::finding::{self, Finding, Severity, Span};

/// Version of the JSON document; bumped on incompatible changes.
pub const JSON_VERSION: u32 = 1;

/// Totals shown with the findings.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Flag files read.
    pub files: usize,
    /// Flags loaded.
    pub flags: usize,
    /// Error findings.
    pub errors: usize,
    /// Warning findings.
    pub warnings: usize,
}

impl Summary {
    /// Totals for `findings` over `files` files and `flags` flags.
    pub fn new(files: usize, flags: usize, findings: &[Finding]) -> Self {
        let (errors, warnings) = finding::count(findings);
        Summary {
            files,
            flags,
            errors,
            warnings,
        }
    }
}

/// Reads each source file once, for drawing snippets, and indexes its lines once, so that
/// drawing a finding costs the length of its line, not of its file.
pub struct Sources {
    root: PathBuf,
    cache: HashMap<PathBuf, Option<Lines>>,
}

/// A file's text and where each of its lines starts.
struct Lines {
    text: String,
    /// Byte ranges of the lines, without their line break. `\r\n`, `\r` and `\n` end a
    /// line, as in YAML (which is how the loader counts lines).
    lines: Vec<Range<usize>>,
}

impl Lines {
    fn new(text: String) -> Self {
        let mut lines = Vec::new();
        let bytes = text.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    lines.push(start..i);
                    start = i + 1;
                }
                b'\r' => {
                    lines.push(start..i);
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        lines.push(start..bytes.len());
        Lines { text, lines }
    }

    /// The 1-based line `n`, without its line break.
    fn line(&self, n: usize) -> Option<&str> {
        let range = self.lines.get(n.checked_sub(1)?)?;
        self.text.get(range.clone())
    }
}

impl Sources {
    /// Files are resolved against `root`.
    pub fn new(root: &Path) -> Self {
        Sources {
            root: root.to_path_buf(),
            cache: HashMap::new(),
        }
    }

    /// Use `text` as the contents of `file` instead of reading it (text already read).
    pub fn insert(&mut self, file: &Path, text: String) {
        self.cache
            .insert(file.to_path_buf(), Some(Lines::new(text)));
    }

    /// Line `n` (1-based) of `file`, if the file can be read and has that line.
    fn line(&mut self, file: &Path, n: usize) -> Option<&str> {
        let root = &self.root;
        self.cache
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                // Columns are counted after the byte-order mark, which the loader drops.
                std::fs::read_to_string(root.join(file)).ok().map(|t| {
                    Lines::new(match t.strip_prefix('\u{feff}') {
                        Some(rest) => rest.to_owned(),
                        None => t,
                    })
                })
            })
            .as_ref()?
            .line(n)
    }
}

/// Byte range of `span` in `line` (the span's first line), at least one character wide; a
/// span over several lines is clipped to the end of the first.
fn byte_range(line: &str, span: Span) -> Range<usize> {
    let offset = |column: usize| {
        line.char_indices()
            .nth(column.saturating_sub(1))
            .map_or(line.len(), |(i, _)| i)
    };
    let start = offset(span.start.column);
    let mut end = if span.end.line == span.start.line {
        offset(span.end.column)
    } else {
        line.trim_end().len()
    };
    if end <= start {
        end = line[start..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8());
    }
    start..end
}

fn location(file: Option<&Path>, span: Option<Span>) -> String {
    match (file, span) {
        (Some(f), Some(s)) => format!("{}:{}:{}", f.display(), s.start.line, s.start.column),
        (Some(f), None) => f.display().to_string(),
        (None, _) => String::new(),
    }
}

/// Human output: each finding with its source line and a caret, then a summary line. Text
/// from the files (messages, flag keys, field paths, paths, the source line) is escaped for
/// the terminal and messages are capped (`render::escape`).
pub fn human(findings: &[Finding], summary: Summary, sources: &mut Sources) -> String {
    let renderer = Renderer::styled();
    let mut out = String::new();
    for f in findings {
        let level = match f.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut title = terminal::detail(&f.message);
        if let Some(flag) = &f.flag {
            // Capped like the GitHub output's: an invalid key may be megabytes long.
            title = format!("{title} [flag `{}`]", terminal::detail(flag));
        }
        let title = level.primary_title(title).id(f.code);
        let mut elements: Vec<Element<'_>> = Vec::new();
        let label = terminal::text(f.field.as_deref().unwrap_or_default()).into_owned();
        let mut drew = false;
        if let (Some(file), Some(span), false) = (f.file.as_deref(), f.span, f.conceal_source)
            && let Some(line) = sources.line(file, span.start.line)
        {
            let line = &*terminal::without_credentials(line);
            // Escaped in three pieces so the caret still points at the same characters.
            let range = byte_range(line, span);
            let before = terminal::source_line(&line[..range.start]);
            let marked = terminal::source_line(&line[range.clone()]);
            let after = terminal::source_line(&line[range.end..]);
            let range = before.len()..before.len() + marked.len();
            let line = format!("{before}{marked}{after}");
            elements.push(
                Snippet::source(line)
                    .line_start(span.start.line)
                    .path(terminal::text(&file.display().to_string()).into_owned())
                    .annotation(AnnotationKind::Primary.span(range).label(label))
                    .into(),
            );
            drew = true;
        }
        if !drew {
            let loc = location(f.file.as_deref(), f.span);
            if !loc.is_empty() {
                elements.push(
                    Level::NOTE
                        .message(format!("in {}", terminal::text(&loc)))
                        .into(),
                );
            }
        }
        for related in &f.related {
            let note = format!(
                "{}: {}",
                terminal::text(&location(Some(&related.file), related.span)),
                terminal::detail(&related.message)
            );
            elements.push(Level::NOTE.message(note).into());
        }
        if let Some(help) = &f.help {
            elements.push(Level::HELP.message(terminal::detail(help)).into());
        }
        let report = [Group::with_title(title).elements(elements)];
        out.push_str(&renderer.render(&report));
        out.push_str("\n\n");
    }
    out.push_str(&summary_line(summary));
    out.push('\n');
    out
}

/// `validated 14 flags in 13 files: 2 errors, 1 warning`.
pub fn summary_line(s: Summary) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "validated {} in {}: {}, {}",
        plural(s.flags, "flag"),
        plural(s.files, "file"),
        plural(s.errors, "error"),
        plural(s.warnings, "warning")
    )
}

#[derive(Serialize)]
struct JsonDocument<'a> {
    version: u32,
    summary: Summary,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    severity: Severity,
    code: &'a str,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    flag: Option<&'a str>,
    field: Option<&'a str>,
    message: &'a str,
    help: Option<&'a str>,
    related: Vec<JsonRelated<'a>>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    message: &'a str,
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// JSON output: `{version, summary, findings: [...]}` (documented in the README).
pub fn json(findings: &[Finding], summary: Summary) -> String {
    let doc = JsonDocument {
        version: JSON_VERSION,
        summary,
        findings: findings
            .iter()
            .map(|f| JsonFinding {
                severity: f.severity,
                code: f.code,
                file: f.file.as_deref().map(path_string),
                line: f.span.map(|s| s.start.line),
                column: f.span.map(|s| s.start.column),
                end_line: f.span.map(|s| s.end.line),
                end_column: f.span.map(|s| s.end.column),
                flag: f.flag.as_deref(),
                field: f.field.as_deref(),
                message: &f.message,
                help: f.help.as_deref(),
                related: f
                    .related
                    .iter()
                    .map(|r| JsonRelated {
                        file: path_string(&r.file),
                        line: r.span.map(|s| s.start.line),
                        column: r.span.map(|s| s.start.column),
                        message: &r.message,
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// GitHub workflow commands, one line per finding; `prefix` is prepended to file paths so
/// annotations land on the right file when the repository is in a subdirectory. Text from
/// the files is capped and kept to one line before the whole message is encoded, so only the
/// renderer's own `note:` and `help:` lines become line breaks in the annotation.
pub fn github(findings: &[Finding], prefix: &Path) -> String {
    let mut out = String::new();
    for f in findings {
        let mut props = Vec::new();
        let under_prefix = |file: &Path| {
            // `./flags/a.yaml` is not the workspace path GitHub matches annotations against.
            let joined: PathBuf = prefix
                .join(file)
                .components()
                .filter(|c| *c != std::path::Component::CurDir)
                .collect();
            path_string(&joined)
        };
        if let Some(file) = &f.file {
            props.push(format!("file={}", gh::property(&under_prefix(file))));
        }
        if let Some(span) = f.span {
            props.push(format!("line={}", span.start.line));
            props.push(format!("col={}", span.start.column));
            if span.end.line == span.start.line && span.end.column > span.start.column {
                props.push(format!("endColumn={}", span.end.column));
            }
        }
        props.push(format!(
            "title={}",
            gh::property(&format!("flagops {}", f.code))
        ));
        let mut message = gh::detail(&f.message);
        if let Some(flag) = &f.flag {
            let _ = write!(message, " [flag `{}`]", gh::detail(flag));
        }
        // An annotation has one place; the others (a cycle's files, the first definition of
        // a duplicate) are named in its text.
        for related in &f.related {
            let place = location(Some(Path::new(&under_prefix(&related.file))), related.span);
            let _ = write!(
                message,
                "\nnote: {}: {}",
                gh::detail(&place),
                gh::detail(&related.message)
            );
        }
        if let Some(help) = &f.help {
            let _ = write!(message, "\nhelp: {}", gh::detail(help));
        }
        let _ = writeln!(
            out,
            "::{} {}::{}",
            f.severity.as_str(),
            props.join(","),
            gh::data(&message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_follow_characters() {
        let text = "kéy: [x, y]";
        let span = Span::point(2, 6);
        assert_eq!(&text[byte_range(text, span)], "[");
        let wide = Span {
            start: crate::finding::Position { line: 2, column: 1 },
            end: crate::finding::Position { line: 2, column: 4 },
        };
        assert_eq!(&text[byte_range(text, wide)], "kéy");
    }

    #[test]
    fn github_commands_escape_their_parts() {
        let f = Finding::error("schema", "bad: 100%\nnext")
            .in_file(Path::new("flags/a,b.yaml"))
            .at(Some(Span::point(3, 5)));
        let out = github(&[f], Path::new(""));
        assert_eq!(
            out,
            "::error file=flags/a%2Cb.yaml,line=3,col=5,title=flagops schema::bad: 100%25\\nnext\n"
        );
    }

    #[test]
    fn lines_end_as_in_yaml() {
        let lines = Lines::new("a\r\nb\rc\nd".to_owned());
        let all: Vec<_> = (1..=5).map(|n| lines.line(n)).collect();
        assert_eq!(all, [Some("a"), Some("b"), Some("c"), Some("d"), None]);
        assert_eq!(lines.line(0), None);
    }
}
