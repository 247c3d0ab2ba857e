//! The vendor-neutral model: the seam every vendor's flag model implements, and the few
//! values all of them share.
//!
//! Nothing here does I/O. [`VendorFlag`] is what the core needs of a vendor's flag (identity,
//! dependencies, canonical form, field-level diff, ignorable and secret fields); [`FlagFile`]
//! is its file format (a document type with its schema) with environment overrides applied
//! at the document level ([`format::resolve`], [`Origins`]). The vendors' models are in
//! `crate::vendor`.

pub mod catalogue;
pub mod format;
mod json;
mod percent;
#[cfg(test)]
pub(crate) mod test_vendor;
mod vendor;

pub use catalogue::{Catalogue, Needs, Unresolved};
pub use format::{FlagFile, Origins};
pub use json::Json;
pub use percent::Percent;
pub use vendor::{Reference, VendorFlag};

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
