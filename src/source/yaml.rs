//! YAML text → JSON values with a location for every node.
//!
//! `saphyr-parser` gives the events and their positions; this module builds `serde_json::Value`s
//! from them and records where every value (and every mapping key) came from, keyed by JSON
//! pointer. That map is what lets the schema check and the semantic rules point at a line and a
//! column. The builder is iterative and bounded: nesting depth, alias expansion and document
//! size have hard limits, so hostile input yields a finding, never a panic, a hang or unbounded
//! memory.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan, Tag};
use serde_json::{Map, Number, Value};

use crate::finding::{Position, Span};

/// Deepest nesting accepted (a flag needs about 6 levels).
pub const MAX_DEPTH: usize = 64;
/// Most nodes one document may expand to, aliases included.
pub const MAX_NODES: usize = 250_000;

/// One parsed YAML document.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    /// Where each node is.
    pub locations: Locations,
}

/// Locations of the nodes of one document, keyed by JSON pointer (`""` is the root).
#[derive(Debug, Clone, Default)]
pub struct Locations {
    values: HashMap<String, Span>,
    keys: HashMap<String, Span>,
}

impl Locations {
    /// The span of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn value(&self, pointer: &str) -> Option<Span> {
        let mut p = pointer;
        loop {
            if let Some(span) = self.values.get(p) {
                return Some(*span);
            }
            p = &p[..p.rfind('/')?];
        }
    }

    /// The span of the mapping key whose value is at `pointer`; falls back to the value.
    pub fn key(&self, pointer: &str) -> Option<Span> {
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.value(pointer))
    }
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
}

impl YamlError {
    fn at(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        YamlError {
            code,
            message: message.into(),
            span: Some(span),
            related: None,
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
}

/// Parse every document of `text`.
pub fn parse(text: &str) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let widths = line_widths(text);
    let mut builder = Builder {
        widths,
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
                builder.record_failure(YamlError::at(
                    code,
                    Span::point(m.line(), m.col() + 1),
                    format!("invalid YAML: {}", e.info()),
                ));
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
    clamp_errors(&builder.widths, &mut parsed.errors);
    parsed
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
    locations: Locations,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
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
                self.locations = Locations::default();
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
                    return self.push_key(text.into_owned(), span);
                }
                match resolve_scalar(&text, style, tag.as_deref()) {
                    Ok(value) => self.complete(value, anchor, span, 1),
                    Err(message) => self.fail(YamlError::at("yaml-value", span, message)),
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
                        map,
                        anchor,
                        span,
                        first_node,
                        ..
                    } => (Value::Object(map), anchor, span, first_node),
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
                let size = self.nodes - first_node;
                self.place(value, anchor, whole, size)
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Flow::Continue(()),
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Mapping { pending: None, .. })
        )
    }

    fn child_pointer(&self) -> String {
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

    fn push_key(&mut self, key: String, span: Span) -> Flow {
        let Some(Frame::Mapping {
            pending,
            seen,
            pointer,
            ..
        }) = self.stack.last_mut()
        else {
            return Flow::Continue(());
        };
        if let Some(first) = seen.get(&key) {
            let first = *first;
            let err = YamlError {
                code: "duplicate-key",
                message: format!("duplicate mapping key `{key}`"),
                span: Some(span),
                related: Some((first, format!("`{key}` first defined here"))),
            };
            self.parsed.errors.push(err);
            self.poisoned = true;
        } else {
            seen.insert(key.clone(), span);
        }
        let child = format!("{pointer}/{}", escape_pointer(&key));
        self.locations.keys.insert(child, span);
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
        self.nodes += size;
        self.place(value, anchor, span, size)
    }

    fn place(&mut self, value: Value, anchor: usize, span: Span, size: usize) -> Flow {
        let pointer = self.child_pointer();
        self.locations.values.insert(pointer, span);
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.in_document && self.poisoned {
                    self.salvage_key(&value);
                } else if self.in_document {
                    self.parsed.documents.push(Document {
                        value,
                        locations: std::mem::take(&mut self.locations),
                    });
                }
            }
            Some(Frame::Mapping { map, pending, .. }) => {
                if let Some((key, _)) = pending.take() {
                    map.insert(key, value);
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

/// Escape a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// Resolve a scalar with the YAML 1.2 core schema.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if !tag.is_yaml_core_schema() {
            return Err(format!("unsupported tag `{}{}`", tag.handle, tag.suffix));
        }
        return match tag.suffix.as_str() {
            "str" => Ok(Value::String(text.to_owned())),
            "null" => Ok(Value::Null),
            "bool" => resolve_bool(text).ok_or_else(|| format!("`{text}` is not a boolean")),
            "int" => resolve_int(text).ok_or_else(|| format!("`{text}` is not an integer")),
            "float" => resolve_float(text)
                .or_else(|| resolve_int(text).map(Ok))
                .unwrap_or_else(|| Err(format!("`{text}` is not a number"))),
            other => Err(format!("unsupported tag `!!{other}`")),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = resolve_bool(text) {
        return Ok(b);
    }
    if let Some(i) = resolve_int(text) {
        return Ok(i);
    }
    match resolve_float(text) {
        Some(result) => result,
        None => Ok(Value::String(text.to_owned())),
    }
}

fn resolve_bool(text: &str) -> Option<Value> {
    match text {
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => None,
    }
}

fn resolve_int(text: &str) -> Option<Value> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let n = i64::try_from(magnitude).ok()?;
        Some(Value::Number(Number::from(-n)))
    } else {
        Some(Value::Number(Number::from(magnitude)))
    }
}

/// `None`: not a float; `Some(Err)`: a float JSON cannot hold.
fn resolve_float(text: &str) -> Option<Result<Value, String>> {
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['-', '+']);
    if matches!(unsigned, ".inf" | ".nan") {
        return Some(Err(format!(
            "`{text}` is not a finite number; JSON cannot hold it"
        )));
    }
    let looks_numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).map(|n| Ok(Value::Number(n)))
}

#[cfg(test)]
mod tests;
