//! Pure data: the flag file format (`FlagSpec`), the resolved flag (`Flag`) and its parts.
//!
//! Nothing here does I/O. `source` produces these values from YAML; `rules` checks them;
//! `plan` compares them; `backend` translates them to and from vendor JSON.
//!
//! `VendorFlag` (in `vendor`) is the seam between the vendor-neutral core and a vendor's flag
//! model; `Flag` is PostHog's model and implements it: its field-level diff (`diff`, with
//! [`Field`]), its display fields, the fields an environment may `ignore`, and its encrypted
//! payloads as secret values.

mod diff;
mod flag;
pub mod normalize;
mod percent;
mod property;
mod risk;
mod rules;
mod spec;
#[cfg(test)]
pub(crate) mod test_vendor;
mod vendor;
mod words;

pub use diff::Field;
pub use flag::{Flag, Origins, Reference};
pub use percent::Percent;
pub use property::{Condition, OPERATORS, Operator, Property, PropertyType, SortKey};
pub use vendor::{ENCRYPTED_SENTINEL, VendorFlag};
/// The longest flag key (PostHog's limit).
pub const MAX_KEY_LEN: usize = 400;

/// Whether `key` is a valid flag key: `^[a-zA-Z0-9_-]+$`, at most [`MAX_KEY_LEN`] characters
/// (PostHog's rule, which also makes `<key>.yaml` a safe file name).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub use spec::{
    BucketingIdentifier, EvaluationRuntime, FlagOverride, FlagSpec, Holdout, OVERRIDABLE_FIELDS,
    Variant,
};
