//! Pure data: the flag file format (`FlagSpec`), the resolved flag (`Flag`) and its parts.
//!
//! Nothing here does I/O. `source` produces these values from YAML; `rules` checks them;
//! `plan` compares them; `backend` translates them to and from vendor JSON.

mod flag;
pub mod normalize;
mod percent;
mod property;
mod spec;

pub use flag::{Flag, Origins, Reference};
pub use percent::Percent;
pub use property::{Condition, OPERATORS, Operator, Property, PropertyType, SortKey};
pub use spec::{
    BucketingIdentifier, EvaluationRuntime, FlagOverride, FlagSpec, Holdout, OVERRIDABLE_FIELDS,
    Variant,
};
