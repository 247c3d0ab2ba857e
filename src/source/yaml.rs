//! YAML text → JSON values with a location for every node.
//!
//! `saphyr-parser` gives the events and their positions; this module builds `serde_json::Value`s
//! from them and records where every value (and every mapping key) came from, keyed by JSON
//! pointer. That map is what lets the schema check and the semantic rules point at a line and a
//! column. Merge keys (`<<`, from YAML 1.1) are applied, as most YAML tools do. The builder is
//! iterative and bounded: nesting depth, alias expansion and document size have hard limits, so
//! hostile input yields a finding, never a panic, a hang or unbounded memory.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};
use serde_json::{Map, Value};

use scalar::resolve_scalar;

use crate::finding::{Position, Span};
use crate::util::escape_pointer;

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
    for (document, doc) in parsed.documents.iter_mut().enumerate() {
        doc.locations.source = Some(Source {
            text: Arc::clone(text),
            budget,
            document,
        });
    }
    parsed
}

/// Parse `text`, recording every node's location when `locate`.
fn parse_with(text: &str, budget: usize, locate: bool) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let widths = line_widths(text);
    let mut builder = Builder {
        widths,
        locate,
        budget,
        ..Builder::default()
    };
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
    clamp_errors(&builder.widths, &mut parsed.errors);
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
    let mut widths = vec![0];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                widths.push(0);
            }
            '\n' => widths.push(0),
            _ => {
                if let Some(w) = widths.last_mut() {
                    *w += 1;
                }
            }
        }
    }
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

enum Frame {
    Mapping {
        map: Map<String, Value>,
        pointer: String,
        anchor: usize,
        span: Span,
        first_node: usize,
        /// The key waiting for its value: (key, its span).
        pending: Option<(String, Span)>,
        /// Where each key of this mapping was first seen.
        seen: HashMap<String, Span>,
        /// The pending key is a merge key (`<<`).
        merging: bool,
        /// Mappings merged in through `<<`, in order, with where each was written.
        merges: Vec<(Map<String, Value>, Span)>,
    },
    Sequence {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
        span: Span,
        first_node: usize,
    },
}

#[derive(Default)]
struct Builder {
    parsed: Parsed,
    /// Width of each line of the text, to keep spans inside it.
    widths: Vec<usize>,
    stack: Vec<Frame>,
    /// Whether to record where each node is (in `index`), and each frame's pointer.
    locate: bool,
    index: Index,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    /// Nodes of every document so far, and how many may be built in all.
    total: usize,
    budget: usize,
    /// The current document had an error; drop it when it ends.
    poisoned: bool,
    in_document: bool,
}

type Flow = std::ops::ControlFlow<()>;

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: YamlSpan) -> Flow {
        let span = clamp(&self.widths, to_span(span));
        match event {
            Event::DocumentStart(_) => {
                self.stack.clear();
                self.index = Index::default();
                self.anchors.clear();
                self.nodes = 0;
                self.poisoned = false;
                self.in_document = true;
                Flow::Continue(())
            }
            Event::DocumentEnd => {
                self.in_document = false;
                Flow::Continue(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    let merge = style == ScalarStyle::Plain && text == "<<";
                    return self.push_key(text.into_owned(), merge, span);
                }
                match resolve_scalar(&text, style, tag.as_deref()) {
                    Ok(value) => self.complete(value, anchor, span, 1),
                    Err(message) => {
                        // The document is lost, but the rest of the file is still read, so
                        // every bad value is reported in one run.
                        self.parsed
                            .errors
                            .push(YamlError::at("yaml-value", span, message));
                        self.poisoned = true;
                        self.complete(Value::Null, anchor, span, 1)
                    }
                }
            }
            Event::Alias(id) => {
                let Some((value, size)) = self.anchors.get(&id) else {
                    return self.fail(YamlError::at(
                        "yaml-syntax",
                        span,
                        "alias to unknown anchor",
                    ));
                };
                if self.nodes + size > MAX_NODES {
                    return self.fail(YamlError::at(
                        "yaml-too-large",
                        span,
                        format!(
                            "document expands to more than {MAX_NODES} nodes through aliases; \
                             refusing to expand it (an alias bomb?)"
                        ),
                    ));
                }
                if self.expecting_key() {
                    return self.fail(YamlError::at(
                        "yaml-key",
                        span,
                        "an alias cannot be used as a mapping key here",
                    ));
                }
                let (value, size) = (value.clone(), *size);
                self.complete(value, 0, span, size)
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if self.expecting_key() {
                    return self.fail(YamlError::at(
                        "yaml-key",
                        span,
                        "mapping keys must be plain scalars, not collections",
                    ));
                }
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(YamlError::at(
                        "yaml-too-deep",
                        span,
                        format!("nesting is deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let pointer = self.child_pointer();
                let first_node = self.nodes;
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Mapping {
                        map: Map::new(),
                        pointer,
                        anchor,
                        span,
                        first_node,
                        pending: None,
                        seen: HashMap::new(),
                        merging: false,
                        merges: Vec::new(),
                    }
                } else {
                    Frame::Sequence {
                        items: Vec::new(),
                        pointer,
                        anchor,
                        span,
                        first_node,
                    }
                };
                self.stack.push(frame);
                Flow::Continue(())
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Flow::Continue(());
                };
                let (value, anchor, start, first_node) = match frame {
                    Frame::Mapping {
                        mut map,
                        anchor,
                        span,
                        first_node,
                        pointer,
                        merges,
                        ..
                    } => {
                        self.merge(&mut map, &pointer, merges);
                        (Value::Object(map), anchor, span, first_node)
                    }
                    Frame::Sequence {
                        items,
                        anchor,
                        span,
                        first_node,
                        ..
                    } => (Value::Array(items), anchor, span, first_node),
                };
                let whole = Span {
                    start: start.start,
                    end: span.end,
                };
                // Children were already counted; count this node only, but remember the
                // whole subtree's size for aliases to it.
                self.nodes += 1;
                self.total += 1;
                let size = self.nodes - first_node;
                self.place(value, anchor, whole, size)
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Flow::Continue(()),
        }
    }

    /// Apply merge keys: a key written in the mapping wins over a merged one, and an earlier
    /// merged mapping over a later one. A merged value is located at the `<<` value it came
    /// from.
    fn merge(
        &mut self,
        map: &mut Map<String, Value>,
        pointer: &str,
        merges: Vec<(Map<String, Value>, Span)>,
    ) {
        for (source, span) in merges {
            for (key, value) in source {
                if map.contains_key(&key) {
                    continue;
                }
                if self.locate {
                    let child = format!("{pointer}/{}", escape_pointer(&key));
                    self.index.values.insert(child.clone(), span);
                    self.index.keys.insert(child, span);
                }
                map.insert(key, value);
            }
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Mapping { pending: None, .. })
        )
    }

    /// The JSON pointer of the node about to be placed (empty when not locating).
    fn child_pointer(&self) -> String {
        if !self.locate {
            return String::new();
        }
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Mapping {
                pointer, pending, ..
            }) => {
                let key = pending.as_ref().map_or("", |(k, _)| k.as_str());
                format!("{pointer}/{}", escape_pointer(key))
            }
            Some(Frame::Sequence { pointer, items, .. }) => format!("{pointer}/{}", items.len()),
        }
    }

    fn push_key(&mut self, key: String, merge: bool, span: Span) -> Flow {
        let Some(Frame::Mapping {
            pending,
            seen,
            pointer,
            merging,
            ..
        }) = self.stack.last_mut()
        else {
            return Flow::Continue(());
        };
        *merging = merge;
        if let Some(first) = seen.get(&key) {
            let first = *first;
            let err = YamlError {
                code: "duplicate-key",
                message: format!("duplicate mapping key `{key}`"),
                span: Some(span),
                related: Some((first, format!("`{key}` first defined here"))),
                help: None,
            };
            self.parsed.errors.push(err);
            self.poisoned = true;
        } else {
            seen.insert(key.clone(), span);
        }
        if self.locate {
            let child = format!("{pointer}/{}", escape_pointer(&key));
            self.index.keys.insert(child, span);
        }
        *pending = Some((key, span));
        Flow::Continue(())
    }

    fn complete(&mut self, value: Value, anchor: usize, span: Span, size: usize) -> Flow {
        if self.nodes + size > MAX_NODES {
            return self.fail(YamlError::at(
                "yaml-too-large",
                span,
                format!("document has more than {MAX_NODES} nodes"),
            ));
        }
        if self.total + size > self.budget {
            return self.fail(YamlError::at(
                BUDGET_SPENT,
                span,
                format!(
                    "the repository's flag files hold more than {} YAML nodes (the limit); the \
                     rest of this file and the later files were not read",
                    crate::finding::thousands(MAX_REPOSITORY_NODES)
                ),
            ));
        }
        self.nodes += size;
        self.total += size;
        self.place(value, anchor, span, size)
    }

    fn place(&mut self, value: Value, anchor: usize, span: Span, size: usize) -> Flow {
        if self.locate {
            let pointer = self.child_pointer();
            self.index.values.insert(pointer, span);
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.in_document && self.poisoned {
                    self.salvage_key(&value);
                } else if self.in_document {
                    let index = std::mem::take(&mut self.index);
                    self.parsed.documents.push(Document {
                        value,
                        locations: Locations {
                            index: if self.locate {
                                OnceLock::from(index)
                            } else {
                                OnceLock::new()
                            },
                            source: None,
                        },
                    });
                }
            }
            Some(Frame::Mapping {
                map,
                pending,
                merging,
                merges,
                ..
            }) => {
                let Some((key, _)) = pending.take() else {
                    return Flow::Continue(());
                };
                if !std::mem::take(merging) {
                    map.insert(key, value);
                    return Flow::Continue(());
                }
                let sources = match value {
                    Value::Object(m) => Some(vec![m]),
                    Value::Array(items) => items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(m) => Some(m),
                            _ => None,
                        })
                        .collect(),
                    _ => None,
                };
                if let Some(sources) = sources {
                    merges.extend(sources.into_iter().map(|m| (m, span)));
                } else {
                    self.parsed.errors.push(YamlError::at(
                        "yaml-value",
                        span,
                        "a merge key `<<` takes a mapping, an alias of one, or a list of them",
                    ));
                    self.poisoned = true;
                }
            }
            Some(Frame::Sequence { items, .. }) => items.push(value),
        }
        Flow::Continue(())
    }

    /// Record an error that ends the file (see `record_failure`).
    fn fail(&mut self, error: YamlError) -> Flow {
        self.record_failure(error);
        Flow::Break(())
    }

    /// Record an error that ends the file. The document being built is lost; its `key`, if
    /// already read, is kept.
    fn record_failure(&mut self, error: YamlError) {
        self.parsed.errors.push(error);
        if let Some(Frame::Mapping { map, .. }) = self.stack.first()
            && let Some(Value::String(key)) = map.get("key")
        {
            self.parsed.dropped_keys.push(key.clone());
        }
    }

    fn salvage_key(&mut self, document: &Value) {
        if let Some(key) = document.get("key").and_then(Value::as_str) {
            self.parsed.dropped_keys.push(key.to_owned());
        }
    }
}

mod locations;
mod scalar;

pub use locations::Locations;
use locations::{Index, Source};

#[cfg(test)]
mod tests;
