//! Where each node of a parsed YAML document is: spans by JSON pointer, built from the
//! document's file text the first time a finding asks (see [`Locations`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::parse_with;
use crate::finding::Span;

/// Locations of the nodes of one document, keyed by JSON pointer (`""` is the root).
///
/// A flag file's documents are parsed without them ([`parse_lazily`](super::parse_lazily)):
/// each shares its file's text instead, and the first time any of them is asked for a
/// location, which only a finding does, the file is parsed again once for the locations of
/// all its documents. A repository that validates never builds them: they were the larger
/// part of a loaded repository's memory (two maps of JSON pointers per document).
#[derive(Clone, Default)]
pub struct Locations {
    /// A document parsed with its locations (`parse`).
    pub(super) index: OnceLock<Index>,
    /// A document parsed without them (`parse_lazily`): where they are built from.
    pub(super) source: Option<Source>,
}

/// One document of a file parsed without locations.
#[derive(Clone)]
pub(super) struct Source {
    /// The file, shared by its documents.
    pub(super) file: Arc<FileText>,
    /// Which of the file's parsed documents.
    pub(super) document: usize,
}

/// A file's text, and the locations of all its documents once one is asked for.
pub(super) struct FileText {
    /// The whole file.
    pub(super) text: Arc<str>,
    /// The node budget the file was parsed with (the same documents come out again).
    pub(super) budget: usize,
    /// Each document's locations, built by one parse of `text`.
    pub(super) indexes: OnceLock<Vec<Index>>,
}

impl FileText {
    fn indexes(&self) -> &[Index] {
        self.indexes.get_or_init(|| {
            parse_with(&self.text, self.budget, true)
                .documents
                .into_iter()
                .map(|doc| doc.locations.index.into_inner().unwrap_or_default())
                .collect()
        })
    }
}

/// Spans by JSON pointer: of each value, and of each mapping key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Index {
    pub(super) values: HashMap<String, Span>,
    pub(super) keys: HashMap<String, Span>,
}

impl std::fmt::Debug for Locations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Locations");
        if let Some(source) = &self.source {
            d.field("document", &source.document);
        }
        d.field("index", &self.index.get()).finish()
    }
}

impl Locations {
    pub(super) fn index(&self) -> &Index {
        static NONE: OnceLock<Index> = OnceLock::new();
        if let Some(index) = self.index.get() {
            return index;
        }
        self.source
            .as_ref()
            .and_then(|source| source.file.indexes().get(source.document))
            .unwrap_or_else(|| NONE.get_or_init(Index::default))
    }

    /// Which document of its file this is, for a document of [`parse_lazily`](super::parse_lazily).
    pub fn document(&self) -> Option<usize> {
        self.source.as_ref().map(|s| s.document)
    }

    /// The span of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn value(&self, pointer: &str) -> Option<Span> {
        let values = &self.index().values;
        let mut p = pointer;
        loop {
            if let Some(span) = values.get(p) {
                return Some(*span);
            }
            p = &p[..p.rfind('/')?];
        }
    }

    /// The span of the mapping key whose value is at `pointer`; falls back to the value.
    pub fn key(&self, pointer: &str) -> Option<Span> {
        self.index()
            .keys
            .get(pointer)
            .copied()
            .or_else(|| self.value(pointer))
    }
}
