//! A vendor's rules about one flag on its own, and the problems they find (located by a
//! pointer into the resolved flag). PostHog's are in `model::rules`.

use std::collections::BTreeMap;

use crate::finding::Severity;
use crate::model::{Reference, VendorFlag};

/// A vendor's rules about one resolved flag on its own (and the flags it may reference).
pub trait FlagRules: VendorFlag {
    /// Every problem of the flag; `known` are the repository's flags by key (those whose
    /// fields the rules can trust), repeats of one rule over one list already collapsed.
    fn problems(&self, known: &BTreeMap<&str, &Self>) -> Vec<Problem>;

    /// The top-level fields the rule `code` reads besides the place it reports: when one of
    /// them was left out for a schema error, its problems are skipped for that flag.
    fn needs(code: &str) -> &'static [&'static str];

    /// The fields of a referenced flag that the rules of the flags referring to it read: a
    /// flag with one of them left out (schema error) is not offered to those rules.
    fn read_by_references() -> &'static [&'static str];

    /// The fields that decide whether a flag is enabled: with one of them left out (schema
    /// error), the rule about enabled flags depending on disabled ones says nothing.
    fn state_fields() -> &'static [&'static str];

    /// Why a disabled flag is off: the field that says so and the word for it.
    fn off(&self) -> (&'static str, &'static str);

    /// Whether the flag's evaluation needs `reference` (rather than it ordering steps only).
    fn evaluates(reference: &Reference) -> bool;
}

/// A problem in a resolved flag, located by a pointer into the resolved flag (not yet mapped
/// to the document through the override origins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub code: &'static str,
    pub pointer: String,
    pub message: String,
    pub help: Option<String>,
    /// Point at the mapping key at `pointer` rather than at its value.
    pub on_key: bool,
}

impl Problem {
    pub fn error(
        code: &'static str,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Error,
            code,
            pointer: pointer.into(),
            message: message.into(),
            help: None,
            on_key: false,
        }
    }

    pub fn warning(
        code: &'static str,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Warning,
            code,
            pointer: pointer.into(),
            message: message.into(),
            help: None,
            on_key: false,
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn on_key(mut self) -> Self {
        self.on_key = true;
        self
    }
}
