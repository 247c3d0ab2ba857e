//! Mixpanel's feature-flag model: the file format, the resolved flag, its diff and rules.
//!
//! `spec` is the file format (`MixpanelSpec`, whose schema is
//! `schemas/mixpanel-flag.schema.json`); `flag` the resolved flag (`MixpanelFlag`);
//! `normalize` its canonical form; `diff` its field-level changes (`MixpanelField`); `vendor`
//! its place behind the core's seams (`VendorFlag`, the local backend's `LocalModel`); `words`
//! and `risk` a plan of it in words; `rules` its per-flag rules (`FlagRules`).

mod diff;
mod flag;
pub mod normalize;
#[cfg(test)]
mod plan_tests;
mod risk;
mod rules;
mod spec;
#[cfg(test)]
mod tests;
mod vendor;
mod words;

pub use diff::MixpanelField;
pub use flag::{DEFAULT_CONTEXT, MixpanelFlag, default_splits};
pub use rules::{MAX_VALUE_BYTES, MAX_VARIANTS};
#[cfg(test)]
pub(crate) use spec::OVERRIDABLE_FIELDS;
pub use spec::{
    DataGroupId, Duration, MixpanelOverride, MixpanelSpec, RolloutGroup, RuntimeEventRule,
    ServingMethod, Status, TimeWindow, Variant, VariantOverride,
};
pub use vendor::{HASH_SALT_LEN, MAX_TEXT_LEN, SCHEMA_MAX_VARIANTS};
