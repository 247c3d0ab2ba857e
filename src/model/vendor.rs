//! The seam between the vendor-neutral core and a vendor's flag model.
//!
//! Each flag service has its own flag object (`crate::vendor`); the parts of the core
//! that only need a flag's identity, whether it is on, what it depends on, its canonical
//! form, its field-level diff, the fields an environment may `ignore` and its secret values
//! (plan building, order and policy, revisions, masking, live state) are written against
//! [`VendorFlag`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Catalogue, Needs, Unresolved};
use crate::plan::Change;

/// Where one flag dependency is written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The flag depended on.
    pub target: String,
    /// JSON pointer (below the field's origin) of the reference.
    pub pointer: String,
    /// The top-level field holding it (e.g. `depends_on`).
    pub field: &'static str,
}

/// What the vendor-neutral core needs from a vendor's flag model.
pub trait VendorFlag: Clone + PartialEq + Serialize {
    /// The flag's key: unique per environment, the name everything refers to it by.
    fn key(&self) -> &str;

    /// Whether the flag is effectively on (serves its rules).
    fn is_enabled(&self) -> bool;

    /// Every flag this one depends on, with where the dependency is written (in the
    /// resolved flag's form).
    fn references(&self) -> Vec<Reference>;

    /// The keys of the flags this one depends on, sorted.
    fn dependencies(&self) -> BTreeSet<String> {
        self.references().into_iter().map(|r| r.target).collect()
    }

    /// Whether the service has put the flag away the way it soft-deletes: kept (with its key)
    /// but no longer live, so a plan never deletes it again and an apply that put it away
    /// finds it gone (Mixpanel's archive). By default never: PostHog's archive flag is
    /// a state of a live flag.
    fn is_archived(&self) -> bool {
        false
    }

    /// The subset of [`dependencies`](VendorFlag::dependencies) the flag's evaluation needs,
    /// which the service guards when a flag is disabled; the rest orders steps only
    /// (`depends_on`). By default every dependency.
    fn evaluation_dependencies(&self) -> BTreeSet<String> {
        self.dependencies()
    }

    /// Whether the service accepts `key` as a flag key. By default flagops' own rule
    /// (`model::is_valid_key`: letters, digits, `_` and `-`, at most 400 characters).
    fn is_valid_key(key: &str) -> bool {
        super::is_valid_key(key)
    }

    /// [`is_valid_key`](VendorFlag::is_valid_key) in words, for messages.
    fn key_rule() -> &'static str {
        "letters, digits, `_` and `-`, at most 400 characters"
    }

    /// The canonical form that plans compare and fingerprint: two flags that mean the same
    /// to the service have equal canonical forms.
    #[must_use]
    fn normalized(&self) -> Self;

    /// The model's top-level fields, as named in flag files: what a [`Change`] names.
    type Field: Copy + Ord + Debug + Serialize + DeserializeOwned;

    /// Every change that turns `before` into `after` (both normalized); empty when they are
    /// the same flag.
    fn diff(before: &Self, after: &Self) -> Vec<Change<Self::Field>>;

    /// Take from `live` (normalized) the display-only values the repository leaves out, so
    /// they are not differences. By default none.
    fn adopt_display_fields(&mut self, _live: &Self) {}

    /// The fields an environment may `ignore`: their live value is kept on updates.
    fn ignorable_fields() -> &'static [&'static str] {
        &[]
    }

    /// Take the value of the ignorable `field` (one of
    /// [`ignorable_fields`](VendorFlag::ignorable_fields)) from `live`.
    fn adopt_ignored(&mut self, _live: &Self, _field: &str) {}

    /// Whether the flag holds values no output may show (PostHog: encrypted ones). A step
    /// whose desired or live flag has them masks [`secret_values`](VendorFlag::secret_values)
    /// on both sides.
    fn has_secrets(&self) -> bool {
        false
    }

    /// The values masked when a step has secrets, by name. By default none.
    fn secret_values(&self) -> Option<&BTreeMap<String, Value>> {
        None
    }

    /// [`secret_values`](VendorFlag::secret_values), to mask or restore them.
    fn secret_values_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        None
    }

    /// Whether changes of `field` carry secret values (masked when the step has secrets).
    fn is_secret_field(_field: Self::Field) -> bool {
        false
    }

    /// Why the service would refuse to turn `live` into `desired` (a field it no longer lets
    /// change), with what to do instead: the plan is refused rather than failing halfway
    /// through an apply. By default never.
    fn refused_update(_live: &Self, _desired: &Self) -> Option<(String, String)> {
        None
    }

    /// This live flag with the values the service would not reveal to flagops taken from
    /// `desired` (they cannot be compared, so they count as equal): a copy only when there is
    /// one to take. By default itself.
    #[must_use]
    fn reveal_unknown(&self, _desired: &Self) -> Cow<'_, Self> {
        Cow::Borrowed(self)
    }

    /// What of the project's catalogue (cohorts, group types) the flag names or references:
    /// the plan reads only that, and nothing when no flag needs it. By default nothing.
    fn catalogue_needs(&self) -> Needs {
        Needs::default()
    }

    /// Replace the names the flag uses by the ids `catalogue` (one project's) gives them,
    /// and check that what it references exists there and may be used; every problem, with
    /// where it is written. By default nothing to do.
    fn resolve_names(&mut self, _catalogue: &Catalogue) -> Vec<Unresolved> {
        Vec::new()
    }

    /// Import: what of the project's catalogue the flag's ids need to be written as names
    /// (every cohort and group type it uses). By default nothing.
    fn naming_needs(&self) -> Needs {
        Needs::default()
    }

    /// Import: replace ids by the names `catalogue` gives them when a name is unique in the
    /// project; a note for each id kept. By default nothing to do.
    fn name_ids(&mut self, _catalogue: &Catalogue) -> Vec<String> {
        Vec::new()
    }
}
