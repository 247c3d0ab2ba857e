//! The seam between the vendor-neutral core and a vendor's flag model (issue 11).
//!
//! Each flag service has its own flag object (PostHog's is [`Flag`]); the parts of the core
//! that only need a flag's identity, whether it is on, what it depends on and its canonical
//! form (plan order and policy, revisions, live state) are written against [`VendorFlag`].

use std::collections::BTreeSet;

use serde::Serialize;

use super::Flag;
use super::normalize::normalize;

/// What the vendor-neutral core needs from a vendor's flag model.
pub trait VendorFlag: Clone + Serialize {
    /// The flag's key: unique per environment, the name everything refers to it by.
    fn key(&self) -> &str;

    /// Whether the flag is effectively on (serves its rules).
    fn is_enabled(&self) -> bool;

    /// The keys of the flags this one depends on, sorted.
    fn dependencies(&self) -> BTreeSet<String>;

    /// The subset of [`dependencies`](VendorFlag::dependencies) the flag's evaluation needs,
    /// which the service guards when a flag is disabled; the rest orders steps only
    /// (`depends_on`). By default every dependency.
    fn evaluation_dependencies(&self) -> BTreeSet<String> {
        self.dependencies()
    }

    /// The canonical form that plans compare and fingerprint: two flags that mean the same
    /// to the service have equal canonical forms.
    #[must_use]
    fn normalized(&self) -> Self;
}

impl VendorFlag for Flag {
    fn key(&self) -> &str {
        &self.key
    }

    fn is_enabled(&self) -> bool {
        Flag::is_enabled(self)
    }

    fn dependencies(&self) -> BTreeSet<String> {
        Flag::dependencies(self)
    }

    fn evaluation_dependencies(&self) -> BTreeSet<String> {
        Flag::evaluation_dependencies(self)
    }

    fn normalized(&self) -> Self {
        normalize(self)
    }
}
