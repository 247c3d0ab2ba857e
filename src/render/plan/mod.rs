//! Plans as text: human (terminal), JSON (the saved-plan document) and markdown (a pull-request
//! comment or job summary that always fits GitHub's size limit).
//!
//! Pure: each renderer returns a `String`; the `cli` layer decides where it goes.

pub mod human;
pub mod json;
pub mod markdown;
pub(crate) mod words;
