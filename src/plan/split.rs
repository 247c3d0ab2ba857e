//! A plan split by where each step comes from: *this change* (what the commits since a base
//! revision do to the definitions) or *drift* (a live flag that already differed from the
//! definitions at the base: changed in the service's UI or by another process), or both.
//!
//! A step is `drift` when its flag's definition is the same at the base and now, `change` when
//! the live flag matched the base's definition, and `both` otherwise. Definitions are
//! compared normalized (a flag moved to another file or reformatted did not change); a live
//! flag is compared with the base as the plan compares it, fields the environment ignores
//! left out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Action, Plan, Step, differences};
use crate::model::VendorFlag;

/// Where a step comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The definitions changed since the base; the live flag matched the base.
    Change,
    /// The definition did not change since the base; the live flag differs from it.
    Drift,
    /// The definition changed and the live flag did not match the base either.
    Both,
}

impl Origin {
    /// `change`, `drift` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Change => "change",
            Origin::Drift => "drift",
            Origin::Both => "both",
        }
    }

    /// Whether the live flag differed from the base's definition.
    pub fn drifted(self) -> bool {
        self != Origin::Change
    }
}

/// What happened to a step's definition between the base and now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Definition {
    /// Defined at the base and now, the same.
    Unchanged,
    /// Defined at the base and now, differently.
    Edited,
    /// Not defined at the base; defined now.
    Added,
    /// Defined at the base; not now (its file or document was removed).
    Removed,
    /// Defined neither at the base nor now (a live flag never in the repository).
    Never,
}

/// Where one step comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOrigin {
    /// Change, drift or both.
    pub origin: Origin,
    /// What the definition did since the base.
    pub definition: Definition,
}

/// The origin of every step of a plan, against a base revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The base revision as given (`main`, `HEAD~3`, a sha).
    pub rev: String,
    /// The commit it names (40 hex digits).
    pub commit: String,
    /// Each step's origin, by flag key.
    pub steps: BTreeMap<String, StepOrigin>,
}

impl Split {
    /// The origin of the step for `key`.
    pub fn of(&self, key: &str) -> Option<StepOrigin> {
        self.steps.get(key).copied()
    }

    /// The keys of the steps whose live flag differed from the base (origin `drift` or
    /// `both`), sorted.
    pub fn drifted(&self) -> impl Iterator<Item = (&str, StepOrigin)> {
        self.steps
            .iter()
            .filter(|(_, s)| s.origin.drifted())
            .map(|(k, s)| (k.as_str(), *s))
    }
}

/// Split `plan` (made from `head`, the definitions now) against `base` (the definitions at
/// the base revision, resolved for the same environment); `ignore` is the environment's
/// ignored fields.
pub fn split<F: VendorFlag>(
    plan: &Plan<F>,
    head: &[F],
    base: &[F],
    ignore: &[String],
    rev: &str,
    commit: &str,
) -> Split {
    let head: BTreeMap<&str, &F> = head.iter().map(|f| (f.key(), f)).collect();
    let base: BTreeMap<&str, &F> = base.iter().map(|f| (f.key(), f)).collect();
    let steps = plan
        .steps
        .iter()
        .map(|step| {
            let key = step.key.as_str();
            let now = head.get(key).copied();
            let then = base.get(key).copied();
            let definition = match (then, now) {
                (None, None) => Definition::Never,
                (None, Some(_)) => Definition::Added,
                (Some(_), None) => Definition::Removed,
                (Some(then), Some(now))
                    if super::diff::diff(&then.normalized(), &now.normalized()).is_empty() =>
                {
                    Definition::Unchanged
                }
                (Some(_), Some(_)) => Definition::Edited,
            };
            let origin = if matches!(definition, Definition::Unchanged | Definition::Never) {
                Origin::Drift
            } else if live_matched(step, then, ignore) {
                Origin::Change
            } else {
                Origin::Both
            };
            (key.to_owned(), StepOrigin { origin, definition })
        })
        .collect();
    Split {
        rev: rev.to_owned(),
        commit: commit.to_owned(),
        steps,
    }
}

/// Whether the live flag the step saw is what the base defined (absent when the base did not
/// define it), compared as the plan compares, ignored fields left out.
fn live_matched<F: VendorFlag>(step: &Step<F>, base: Option<&F>, ignore: &[String]) -> bool {
    match (&step.live, base) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(live), Some(base)) => differences(base, &live.flag).iter().all(|c| {
            let field = super::to_value(&c.field);
            ignore.iter().any(|i| field.as_str() == Some(i.as_str()))
        }),
    }
}

/// Whether a delete step's flag was removed from the repository since the base (rather than
/// a live flag never in it).
pub fn removed_since_base<F: VendorFlag>(step: &Step<F>, split: &Split) -> bool {
    step.action == Action::Delete
        && split
            .of(&step.key)
            .is_some_and(|s| s.definition == Definition::Removed)
}

#[cfg(test)]
mod tests;
