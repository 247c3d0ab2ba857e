//! YAML text → JSON values with a location for every node.
//!
//! `saphyr-parser` gives the events and their positions; the builder (`builder.rs`) makes
//! `serde_json::Value`s of them and records where every value (and every mapping key) came
//! from, keyed by JSON pointer (built lazily, `locations.rs`). That map is what lets the
//! schema check and the semantic rules point at a line and a column. Merge keys (`<<`, from
//! YAML 1.1) are applied, as most YAML tools do. The builder is
//! iterative and bounded: nesting depth, alias expansion and document size have hard limits, so
//! hostile input yields a finding, never a panic, a hang or unbounded memory.

use std::sync::{Arc, OnceLock};

use saphyr_parser::{Parser, Span as YamlSpan};
use serde_json::Value;

use crate::finding::{Position, Span};

/// Deepest nesting accepted (a flag needs about 6 levels).
pub const MAX_DEPTH: usize = 64;
/// Most nodes one document may expand to, aliases included.
pub const MAX_NODES: usize = 250_000;
/// Most nodes (aliases expanded) all flag files of one repository may hold: what bounds its
/// memory (a realistic flag is 10 to 100 nodes).
pub const MAX_REPOSITORY_NODES: usize = 1_000_000;

/// One parsed YAML document.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    /// Where each node is.
    pub locations: Locations,
}

/// Why a file could not be read as YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Stable rule code.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// Where.
    pub span: Option<Span>,
    /// A second place (the first occurrence of a duplicate key).
    pub related: Option<(Span, String)>,
    /// What to do about it, when the parser's words do not say.
    pub help: Option<&'static str>,
}

impl YamlError {
    fn at(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        YamlError {
            code,
            message: message.into(),
            span: Some(span),
            related: None,
            help: None,
        }
    }
}

/// The result of parsing one file: the documents that could be built, and every problem.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Documents, in file order. A document with an error is left out.
    pub documents: Vec<Document>,
    /// Problems. A syntax error ends the file; duplicate keys do not.
    pub errors: Vec<YamlError>,
    /// The top-level `key` of each document left out because of an error, when it was read:
    /// that flag exists, so references to it are not reported as missing.
    pub dropped_keys: Vec<String>,
    /// Nodes built, over every document, aliases expanded.
    pub nodes: usize,
}

/// The code of the error that ends a file when the repository's node budget is spent.
pub const BUDGET_SPENT: &str = "repository-too-large";

/// Parse every document of `text`.
pub fn parse(text: &str) -> Parsed {
    parse_within(text, usize::MAX)
}

/// Parse every document of `text`, building at most `budget` nodes in all: past it, the file
/// ends with a `BUDGET_SPENT` error (what bounds a whole repository's memory).
pub fn parse_within(text: &str, budget: usize) -> Parsed {
    parse_with(text, budget, true)
}

/// As [`parse_within`], but each document's locations are built from `text` only when first
/// asked for (see [`Locations`]); errors are located as always.
pub fn parse_lazily(text: &Arc<str>, budget: usize) -> Parsed {
    let mut parsed = parse_with(text, budget, false);
    let file = Arc::new(FileText {
        text: Arc::clone(text),
        budget,
        indexes: OnceLock::new(),
    });
    for (document, doc) in parsed.documents.iter_mut().enumerate() {
        doc.locations.source = Some(Source {
            file: Arc::clone(&file),
            document,
        });
    }
    parsed
}

/// Parse `text`, recording every node's location when `locate`.
fn parse_with(text: &str, budget: usize, locate: bool) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The lines' widths keep spans inside the text: every recorded place's when locating;
    // else only the errors', measured when there is one.
    let widths = if locate {
        line_widths(text)
    } else {
        Vec::new()
    };
    let mut builder = Builder::new(widths, locate, budget);
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Err(e)) => {
                let m = e.marker();
                // The scanner has its own nesting limit, which it can reach before the
                // builder sees a single event.
                let code = if e.info().contains("recursion limit") {
                    "yaml-too-deep"
                } else {
                    "yaml-syntax"
                };
                let mut error = YamlError::at(
                    code,
                    Span::point(m.line(), m.col() + 1),
                    format!("invalid YAML: {}", e.info()),
                );
                // "tab" as a word: "unprintable" contains it too.
                let words = || e.info().split(|c: char| !c.is_alphanumeric());
                if words().any(|w| w == "tab" || w == "tabs") {
                    // The scanner may report the end of the previous token; point at the tab.
                    if let Some(at) = nearby_tab(text, m.line()) {
                        error.span = Some(at);
                    }
                    error.help = Some("YAML indents with spaces only; replace the tab");
                } else if words().any(|w| w == "unprintable") {
                    error.help = Some(
                        "remove the control character, or write it as an escape in a \
                         double-quoted string (`\"\\u0000\"`)",
                    );
                }
                builder.record_failure(error);
                break;
            }
            Some(Ok((event, span))) => {
                if builder.on_event(event, span).is_break() {
                    break;
                }
            }
        }
    }
    let mut parsed = builder.parsed;
    parsed.nodes = builder.total;
    if !parsed.errors.is_empty() {
        let widths = if locate {
            builder.widths
        } else {
            line_widths(text)
        };
        clamp_errors(&widths, &mut parsed.errors);
    }
    parsed
}

/// The first tab on `line` (1-based) or the line after it.
fn nearby_tab(text: &str, line: usize) -> Option<Span> {
    text.lines()
        .enumerate()
        .skip(line.saturating_sub(1))
        .take(2)
        .find_map(|(i, l)| {
            l.chars()
                .position(|c| c == '\t')
                .map(|c| Span::point(i + 1, c + 1))
        })
}

/// Keep error positions inside the text: at the end of input the parser reports a position
/// one line past the last one.
fn clamp_errors(widths: &[usize], errors: &mut [YamlError]) {
    for error in errors {
        let spans = error
            .span
            .iter_mut()
            .chain(error.related.iter_mut().map(|(span, _)| span));
        for span in spans {
            *span = clamp(widths, *span);
        }
    }
}

fn clamp_position(widths: &[usize], mut p: Position) -> Position {
    if p.line > widths.len() {
        p.line = widths.len();
        p.column = usize::MAX;
    }
    p.line = p.line.max(1);
    p.column = p
        .column
        .clamp(1, widths.get(p.line - 1).map_or(1, |w| w + 1));
    p
}

/// `span` with both ends inside the text whose line widths are `widths`.
fn clamp(widths: &[usize], span: Span) -> Span {
    Span {
        start: clamp_position(widths, span.start),
        end: clamp_position(widths, span.end),
    }
}

/// The width in characters of each line, where `\r\n`, `\r` and `\n` end a line (as in YAML).
fn line_widths(text: &str) -> Vec<usize> {
    let mut widths = Vec::new();
    let mut rest = text;
    // Line ends found byte by byte (they are ASCII), each line's characters counted at once.
    while let Some(end) = rest.bytes().position(|b| b == b'\n' || b == b'\r') {
        widths.push(rest[..end].chars().count());
        let width = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + width..];
    }
    widths.push(rest.chars().count());
    widths
}

fn to_span(span: YamlSpan) -> Span {
    Span {
        start: Position {
            line: span.start.line(),
            column: span.start.col() + 1,
        },
        end: Position {
            line: span.end.line(),
            column: span.end.col() + 1,
        },
    }
}

mod builder;
mod locations;
mod scalar;

use builder::Builder;

pub use locations::Locations;
use locations::{FileText, Source};

#[cfg(test)]
mod tests;
