//! The builder of `yaml`: saphyr's events → `serde_json::Value`s, with every node's place
//! recorded when asked, merge keys applied, and the limits (depth, alias expansion, nodes)
//! kept as it goes.

use std::collections::HashMap;
use std::sync::OnceLock;

use saphyr_parser::{Event, ScalarStyle, Span as YamlSpan};
use serde_json::{Map, Value};

use super::locations::{Index, Locations};
use super::scalar::resolve_scalar;
use super::{
    BUDGET_SPENT, Document, MAX_DEPTH, MAX_NODES, MAX_REPOSITORY_NODES, Parsed, YamlError, clamp,
    to_span,
};
use crate::finding::Span;
use crate::util::escape_pointer;

enum Frame {
    Mapping {
        /// Every key written, in order (a duplicate too), with where.
        keys: Keys,
        /// The value of each key of `keys` placed so far (`None` for a merge key's): the
        /// mapping is built from both when it ends, each key moved, not copied.
        values: Vec<Option<Value>>,
        pointer: String,
        anchor: usize,
        span: Span,
        first_node: usize,
        /// The last key of `keys` waits for its value.
        pending: bool,
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
pub(super) struct Builder {
    pub(super) parsed: Parsed,
    /// Width of each line of the text, to keep the recorded places inside it (when
    /// locating; errors are kept inside it when parsing ends).
    pub(super) widths: Vec<usize>,
    stack: Vec<Frame>,
    /// Whether to record where each node is (in `index`), and each frame's pointer.
    locate: bool,
    index: Index,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    /// Nodes of every document so far, and how many may be built in all.
    pub(super) total: usize,
    budget: usize,
    /// The current document had an error; drop it when it ends.
    poisoned: bool,
    in_document: bool,
}

type Flow = std::ops::ControlFlow<()>;

/// The keys of one mapping, in order, and where each was written: a short list searched in
/// order (most mappings have a few keys, and hashing each was a visible share of loading),
/// indexed by a hash map (of each key's first place) once it holds more than [`Keys::LINEAR`].
#[derive(Default)]
struct Keys {
    list: Vec<(String, Span)>,
    index: HashMap<String, usize>,
}

impl Keys {
    /// The most keys searched one by one.
    const LINEAR: usize = 16;

    /// Where `key` was first written, if it was.
    fn first(&self, key: &str) -> Option<Span> {
        if self.list.len() <= Self::LINEAR {
            self.list
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, span)| *span)
        } else {
            self.index.get(key).map(|&i| self.list[i].1)
        }
    }

    /// Record `key`, written at `span` (again, when it is a duplicate).
    fn push(&mut self, key: String, span: Span) {
        self.list.push((key, span));
        let len = self.list.len();
        if len == Self::LINEAR + 1 {
            for (i, (k, _)) in self.list.iter().enumerate() {
                self.index.entry(k.clone()).or_insert(i);
            }
        } else if len > Self::LINEAR + 1 {
            self.index
                .entry(self.list[len - 1].0.clone())
                .or_insert(len - 1);
        }
    }

    /// The key written last.
    fn last(&self) -> Option<&str> {
        self.list.last().map(|(k, _)| k.as_str())
    }
}

impl Builder {
    /// A builder recording where each node is when `locate` (in a text whose lines are
    /// `widths` wide), building at most `budget` nodes in all.
    pub(super) fn new(widths: Vec<usize>, locate: bool, budget: usize) -> Self {
        Builder {
            widths,
            locate,
            budget,
            ..Builder::default()
        }
    }

    pub(super) fn on_event(&mut self, event: Event<'_>, span: YamlSpan) -> Flow {
        let span = if self.locate {
            clamp(&self.widths, to_span(span))
        } else {
            to_span(span)
        };
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
                match resolve_scalar(text, style, tag.as_deref()) {
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
                        keys: Keys::default(),
                        values: Vec::new(),
                        pointer,
                        anchor,
                        span,
                        first_node,
                        pending: false,
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
                        keys,
                        values,
                        anchor,
                        span,
                        first_node,
                        pointer,
                        merges,
                        ..
                    } => {
                        // A duplicate key's last value stays (its document is dropped anyway).
                        let mut map: Map<String, Value> = keys
                            .list
                            .into_iter()
                            .zip(values)
                            .filter_map(|((key, _), value)| Some((key, value?)))
                            .collect();
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
            Some(Frame::Mapping { pending: false, .. })
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
                pointer,
                pending,
                keys,
                ..
            }) => {
                let key = if *pending { keys.last() } else { None };
                format!("{pointer}/{}", escape_pointer(key.unwrap_or("")))
            }
            Some(Frame::Sequence { pointer, items, .. }) => format!("{pointer}/{}", items.len()),
        }
    }

    fn push_key(&mut self, key: String, merge: bool, span: Span) -> Flow {
        let Some(Frame::Mapping {
            pending,
            keys,
            pointer,
            merging,
            ..
        }) = self.stack.last_mut()
        else {
            return Flow::Continue(());
        };
        *merging = merge;
        if let Some(first) = keys.first(&key) {
            let err = YamlError {
                code: "duplicate-key",
                message: format!("duplicate mapping key `{key}`"),
                span: Some(span),
                related: Some((first, format!("`{key}` first defined here"))),
                help: None,
            };
            self.parsed.errors.push(err);
            self.poisoned = true;
        }
        if self.locate {
            let child = format!("{pointer}/{}", escape_pointer(&key));
            self.index.keys.insert(child, span);
        }
        keys.push(key, span);
        *pending = true;
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
                values,
                pending,
                merging,
                merges,
                ..
            }) => {
                if !std::mem::take(pending) {
                    return Flow::Continue(());
                }
                if !std::mem::take(merging) {
                    values.push(Some(value));
                    return Flow::Continue(());
                }
                values.push(None);
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
    pub(super) fn record_failure(&mut self, error: YamlError) {
        self.parsed.errors.push(error);
        if let Some(Frame::Mapping { keys, values, .. }) = self.stack.first()
            // The last `key` placed, as the mapping would hold it.
            && let Some(Value::String(key)) = keys
                .list
                .iter()
                .zip(values)
                .rev()
                .find(|((k, _), _)| k == "key")
                .and_then(|(_, value)| value.as_ref())
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
