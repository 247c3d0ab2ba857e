//! Credentials an adapter reads from the environment: kept in [`Concealed`], whose `Debug`
//! prints only its kind and `***` and which has no `Display`; read by `read_variable`.
//!
//! Each adapter names its own kind (PostHog's `ApiKey`, Mixpanel's `Secret`); what a value
//! may reveal is scrubbed from error texts by `BackendError::scrubbed`.

use std::marker::PhantomData;

/// What a [`Concealed`] value is, as its `Debug` names it.
pub trait Kind {
    /// The name `Debug` prints before `(***)`, e.g. `ApiKey`.
    const NAME: &'static str;
}

/// A credential of kind `K`. It has no `Display`, and its `Debug` prints `K::NAME(***)`.
pub struct Concealed<K>(String, PhantomData<K>);

impl<K> Concealed<K> {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Concealed(value.into(), PhantomData)
    }

    /// The credential itself, for the `Authorization` header (and scrubbing) only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl<K> Clone for Concealed<K> {
    fn clone(&self) -> Self {
        Concealed(self.0.clone(), PhantomData)
    }
}

impl<K> PartialEq for Concealed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K> Eq for Concealed<K> {}

impl<K: Kind> std::fmt::Debug for Concealed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(***)", K::NAME)
    }
}

/// What `variable` holds (through `lookup`, which stands in for the process environment),
/// trimmed; `None` when it is unset or blank.
pub(crate) fn read_variable(
    lookup: impl Fn(&str) -> Option<String>,
    variable: &str,
) -> Option<String> {
    lookup(variable)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
