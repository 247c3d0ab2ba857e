//! Vendor flag models: each flag service's own typed flag object behind `model::VendorFlag`.
//!
//! One module per service. A model holds its file format (and schema), its resolved flag,
//! normalisation, field-level diff and the words for it, and its per-flag rules. Adapters
//! (the HTTP side) are in `backend`.

pub mod mixpanel;
