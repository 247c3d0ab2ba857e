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
use crate::config::IgnoredField;
use crate::model::Flag;
use crate::model::normalize::normalize;

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
pub fn split(
    plan: &Plan,
    head: &[Flag],
    base: &[Flag],
    ignore: &[IgnoredField],
    rev: &str,
    commit: &str,
) -> Split {
    let head: BTreeMap<&str, &Flag> = head.iter().map(|f| (f.key.as_str(), f)).collect();
    let base: BTreeMap<&str, &Flag> = base.iter().map(|f| (f.key.as_str(), f)).collect();
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
                (Some(then), Some(now)) if normalize(then) == normalize(now) => {
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
fn live_matched(step: &Step, base: Option<&Flag>, ignore: &[IgnoredField]) -> bool {
    match (&step.live, base) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(live), Some(base)) => differences(base, &live.flag)
            .iter()
            .all(|c| ignore.iter().any(|i| i.as_str() == c.field.as_str())),
    }
}

/// Whether a delete step's flag was removed from the repository since the base (rather than
/// a live flag never in it).
pub fn removed_since_base(step: &Step, split: &Split) -> bool {
    step.action == Action::Delete
        && split
            .of(&step.key)
            .is_some_and(|s| s.definition == Definition::Removed)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::config::Environment;
    use crate::plan::build;
    use crate::plan::tests::{flag, live};

    fn origins(
        head: &[Value],
        base: &[Value],
        live_flags: &[Value],
        policy: &Environment,
    ) -> Vec<(String, Origin, Definition)> {
        let head: Vec<Flag> = head.iter().cloned().map(flag).collect();
        let base: Vec<Flag> = base.iter().cloned().map(flag).collect();
        let plan = build(&head, &live(live_flags), policy).unwrap();
        let split = split(&plan, &head, &base, &policy.ignore, "main", "0");
        split
            .steps
            .into_iter()
            .map(|(k, s)| (k, s.origin, s.definition))
            .collect()
    }

    fn rollout(key: &str, percent: u32) -> Value {
        json!({"key": key, "conditions": [{"rollout_percentage": percent}]})
    }

    #[test]
    fn each_step_is_change_drift_or_both() {
        let prune = Environment {
            prune: true,
            ..Environment::default()
        };
        let got = origins(
            &[
                rollout("edited", 50),
                rollout("drifted", 10),
                rollout("both", 50),
                rollout("added", 10),
                rollout("recreated", 10),
            ],
            &[
                rollout("edited", 10),
                rollout("drifted", 10),
                rollout("both", 10),
                rollout("removed", 10),
                rollout("recreated", 10),
            ],
            &[
                rollout("edited", 10),
                rollout("drifted", 30),
                rollout("both", 30),
                rollout("removed", 10),
                rollout("stray", 10),
            ],
            &prune,
        );
        let expected = [
            ("added", Origin::Change, Definition::Added),
            ("both", Origin::Both, Definition::Edited),
            ("drifted", Origin::Drift, Definition::Unchanged),
            ("edited", Origin::Change, Definition::Edited),
            // Defined at the base and now, deleted in the service.
            ("recreated", Origin::Drift, Definition::Unchanged),
            ("removed", Origin::Change, Definition::Removed),
            ("stray", Origin::Drift, Definition::Never),
        ];
        let expected: Vec<(String, Origin, Definition)> = expected
            .into_iter()
            .map(|(k, o, d)| (k.to_owned(), o, d))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_same_flag_written_differently_is_not_a_change() {
        // Tags are a case-insensitive set; an absent rollout is 100%.
        let got = origins(
            &[json!({"key": "a", "tags": ["X", "y"], "conditions": [{}]})],
            &[json!({"key": "a", "tags": ["y", "x"], "conditions": [{"rollout_percentage": 100}]})],
            &[json!({"key": "a", "conditions": [{}]})],
            &Environment::default(),
        );
        assert_eq!(
            got,
            vec![("a".to_owned(), Origin::Drift, Definition::Unchanged)]
        );
    }

    #[test]
    fn a_live_difference_in_an_ignored_field_is_not_drift() {
        let policy = Environment {
            ignore: vec![IgnoredField::Tags],
            ..Environment::default()
        };
        let got = origins(
            &[rollout("a", 50)],
            &[rollout("a", 10)],
            &[json!({"key": "a", "tags": ["from-ui"], "conditions": [{"rollout_percentage": 10}]})],
            &policy,
        );
        assert_eq!(
            got,
            vec![("a".to_owned(), Origin::Change, Definition::Edited)]
        );
    }
}
