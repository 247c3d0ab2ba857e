//! Mixpanel's feature-flag model: the file format, the resolved flag, its diff and rules.
//!
//! `spec` is the file format (`MixpanelSpec`, whose schema is
//! `schemas/mixpanel-flag.schema.json`); `flag` the resolved flag (`MixpanelFlag`).

mod flag;
mod spec;
#[cfg(test)]
mod tests;

pub use flag::{DEFAULT_CONTEXT, MixpanelFlag, default_splits};
pub use spec::{
    DataGroupId, Duration, MixpanelOverride, MixpanelSpec, OVERRIDABLE_FIELDS, RolloutGroup,
    RuntimeEventRule, ServingMethod, Status, TimeWindow, Variant, VariantOverride,
};
