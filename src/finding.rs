//! Findings: what `validate` (and every later stage that checks input) reports.
//!
//! A finding is data, not an error: the loader, the schema check and the semantic rules all
//! produce `Finding`s, and `render` turns them into human, JSON or GitHub output.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a finding is. Errors fail `validate`; warnings are printed but exit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something PostHog would reject, or that evaluates wrongly.
    Error,
    /// Something PostHog accepts but evaluators ignore, or that will be normalised.
    Warning,
}

impl Severity {
    /// The lower-case word used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A position in a source file: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

/// A half-open range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Span {
    /// First character.
    pub start: Position,
    /// One past the last character (may equal `start` for an empty node).
    pub end: Position,
}

impl Span {
    /// A span covering a single point.
    pub fn point(line: usize, column: usize) -> Self {
        let p = Position { line, column };
        Span { start: p, end: p }
    }
}

/// A secondary place a finding refers to (the other file of a duplicate key, a cycle member).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Related {
    /// File, relative to the repository directory.
    pub file: PathBuf,
    /// Where in that file, when known.
    pub span: Option<Span>,
    /// What this place is.
    pub message: String,
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case identifier of the rule (`duplicate-key`, `variant-sum`, …).
    pub code: &'static str,
    /// The file the finding is about, relative to the repository directory.
    pub file: Option<PathBuf>,
    /// Where in that file.
    pub span: Option<Span>,
    /// The flag key, when the finding concerns one flag.
    pub flag: Option<String>,
    /// The field path inside the flag document (`conditions[1].rollout_percentage`).
    pub field: Option<String>,
    /// One sentence, lower-case start, names in backticks.
    pub message: String,
    /// Other places involved.
    pub related: Vec<Related>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Finding {
    /// A new error finding with only a code and message; use the builder methods for the rest.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A new warning finding.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code,
            file: None,
            span: None,
            flag: None,
            field: None,
            message: message.into(),
            related: Vec::new(),
            help: None,
        }
    }

    /// Attach the file.
    #[must_use]
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    /// Attach the location.
    #[must_use]
    pub fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    /// Attach the flag key.
    #[must_use]
    pub fn for_flag(mut self, key: impl Into<String>) -> Self {
        self.flag = Some(key.into());
        self
    }

    /// Attach the field path.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// Attach a help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attach a related place.
    #[must_use]
    pub fn related(mut self, related: Related) -> Self {
        self.related.push(related);
        self
    }
}

/// Sort findings by file, position, severity and message, and drop exact duplicates, so that
/// every output is stable and overlays that repeat a base problem report it once.
pub fn normalize(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (
            &a.file, &a.span, a.severity, a.code, &a.message, &a.flag, &a.field,
        )
            .cmp(&(
                &b.file, &b.span, b.severity, b.code, &b.message, &b.flag, &b.field,
            ))
    });
    findings.dedup();
}

/// Count errors and warnings.
pub fn count(findings: &[Finding]) -> (usize, usize) {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    (errors, findings.len() - errors)
}
