//! What a reviewer must see first in a Mixpanel plan (`FlagWords::risks` of `MixpanelFlag`):
//! the steps that switch a flag off or away, or give it to more people than before, or
//! re-assign users.
//!
//! Pure and computed from the plan value alone: a delete, a flag disabled or archived, a flag
//! enabled, a rollout that widens, a rollout group added, targeting changed or removed, a
//! variant split changed, the `hash_salt` or `context` changed (users re-bucketed), and a
//! create that is live for everyone. Changes of a flag that is and stays off reach nobody and
//! are not risks.

use serde_json::Value;

use super::diff::MixpanelField;
use super::flag::MixpanelFlag;
use super::spec::{RolloutGroup, Status};
use super::words;
use crate::model::Percent;
use crate::plan::{Action, Change, ChangeOp, Step};
use crate::render::escape::Inline;

/// Every risk of `step`, ranked and in words for `to`.
pub(super) fn risks(step: &Step<MixpanelFlag>, to: Inline) -> Vec<crate::render::plan::Risk> {
    assess(step)
        .iter()
        .map(|r| crate::render::plan::Risk {
            rank: r.rank(),
            words: r.words(to),
        })
        .collect()
}

/// One reason a step is risky.
#[derive(Debug, Clone, PartialEq)]
enum Risk {
    /// Deleted; `serving` holds the live groups of a flag that is on (none when it is off).
    Deleted { serving: Option<Vec<RolloutGroup>> },
    /// `enabled` → `disabled`: off for `serving`.
    Disabled { serving: Vec<RolloutGroup> },
    /// → `archived`: off for `serving` (none when it was off).
    Archived { serving: Option<Vec<RolloutGroup>> },
    /// → `enabled`: on for `audience`.
    Enabled { audience: Vec<RolloutGroup> },
    /// A group's rollout grows.
    Widened {
        group: usize,
        before: Percent,
        after: Percent,
        audience: Option<RolloutGroup>,
    },
    /// A rollout group is added.
    AudienceAdded {
        group: usize,
        audience: RolloutGroup,
    },
    /// A group's filter is changed or removed.
    TargetingChanged { group: usize },
    /// Variants or splits change: users are re-assigned.
    VariantsChanged,
    /// The bucketing salt changes: every user is re-bucketed.
    Rebucketed,
    /// The assignment key changes.
    ContextChanged,
    /// A new enabled flag with a group at 100% and no filter.
    LiveForEveryone,
}

fn everyone(group: &RolloutGroup) -> bool {
    group.runtime_evaluation_rule.is_none()
        && group.runtime_evaluation_definition.is_none()
        && group.runtime_event_rule.is_none()
        && group.cohort_definition.is_none()
        && group.rollout_percentage.get() >= 100.0 - 1e-9
}

fn groups(flag: Option<&MixpanelFlag>) -> Vec<RolloutGroup> {
    flag.map(|f| f.rollout.clone()).unwrap_or_default()
}

fn group_at(flag: Option<&MixpanelFlag>, number: usize) -> Option<RolloutGroup> {
    flag.and_then(|f| f.rollout.get(number.checked_sub(1)?).cloned())
}

fn percent(value: Option<&Value>) -> Percent {
    value.and_then(Value::as_f64).map_or(Percent(0.0), Percent)
}

fn change_risk(step: &Step<MixpanelFlag>, change: &Change<MixpanelField>) -> Option<Risk> {
    let desired = step.desired.as_ref();
    let live = step.live.as_ref().map(|l| &l.flag);
    let was_on = live.is_some_and(MixpanelFlag::is_enabled);
    let n = change.condition.unwrap_or(0);
    let attribute = change.attribute.as_deref().unwrap_or("");
    match (change.field, change.op) {
        (MixpanelField::Status, _) => match desired.map(|f| f.status) {
            Some(Status::Enabled) => Some(Risk::Enabled {
                audience: groups(desired),
            }),
            Some(Status::Archived) => Some(Risk::Archived {
                serving: was_on.then(|| groups(live)),
            }),
            Some(Status::Disabled) if was_on => Some(Risk::Disabled {
                serving: groups(live),
            }),
            _ => None,
        },
        (MixpanelField::Rollout, ChangeOp::Changed) if attribute == "rollout_percentage" => {
            let before = percent(change.before.as_ref());
            let after = percent(change.after.as_ref());
            (after.get() > before.get() + 1e-9).then(|| Risk::Widened {
                group: n,
                before,
                after,
                audience: group_at(desired, n),
            })
        }
        (MixpanelField::Rollout, ChangeOp::Added) => {
            group_at(desired, n).map(|audience| Risk::AudienceAdded { group: n, audience })
        }
        (MixpanelField::Rollout, ChangeOp::Changed)
            if matches!(
                attribute,
                "runtime_evaluation_rule"
                    | "runtime_event_rule"
                    | "cohort_definition"
                    | "runtime_evaluation_definition"
            ) =>
        {
            Some(Risk::TargetingChanged { group: n })
        }
        (MixpanelField::Rollout, ChangeOp::Changed)
            if matches!(attribute, "variant_splits" | "variant_override") =>
        {
            Some(Risk::VariantsChanged)
        }
        // Users are assigned by the hash and the splits alone: a new value or description
        // moves no one (the plan shows the value change itself).
        (MixpanelField::Variants, _) if !matches!(attribute, "description" | "value") => {
            Some(Risk::VariantsChanged)
        }
        (MixpanelField::HashSalt, _) => Some(Risk::Rebucketed),
        (MixpanelField::Context, _) => Some(Risk::ContextChanged),
        _ => None,
    }
}

/// Every risk of `step`, each kind once (in the order found) except the per-group ones; the
/// changes of rules and splits only for a flag that stays on.
fn assess(step: &Step<MixpanelFlag>) -> Vec<Risk> {
    let mut risks: Vec<Risk> = Vec::new();
    match step.action {
        Action::Delete => {
            let live = step.live.as_ref().map(|l| &l.flag);
            let serving = live.filter(|f| f.is_enabled()).map(|f| f.rollout.clone());
            risks.push(Risk::Deleted { serving });
        }
        Action::Create => {
            if step
                .desired
                .as_ref()
                .is_some_and(|f| f.is_enabled() && f.rollout.iter().any(everyone))
            {
                risks.push(Risk::LiveForEveryone);
            }
        }
        Action::Update => {
            // A flag that comes on has one risk naming its whole audience.
            let stays_on = step.desired.as_ref().is_some_and(MixpanelFlag::is_enabled)
                && step.live.as_ref().is_some_and(|l| l.flag.is_enabled());
            for change in &step.changes {
                let Some(risk) = change_risk(step, change) else {
                    continue;
                };
                let switches = matches!(
                    risk,
                    Risk::Disabled { .. } | Risk::Archived { .. } | Risk::Enabled { .. }
                );
                if !(switches || stays_on) {
                    continue;
                }
                let same_kind = risks
                    .iter()
                    .any(|r| std::mem::discriminant(r) == std::mem::discriminant(&risk));
                let repeatable = matches!(
                    risk,
                    Risk::Widened { .. }
                        | Risk::AudienceAdded { .. }
                        | Risk::TargetingChanged { .. }
                );
                if repeatable || !same_kind {
                    risks.push(risk);
                }
            }
        }
    }
    risks
}

fn audience(groups: &[RolloutGroup], out: Inline) -> String {
    if groups.is_empty() {
        return "nobody (no rollout groups)".to_owned();
    }
    groups
        .iter()
        .map(|g| words::group(g, out))
        .collect::<Vec<_>>()
        .join("; or ")
}

impl Risk {
    /// Lower first: deletions, disables and archives, what reaches more people, enables,
    /// re-targeting, re-assignment.
    fn rank(&self) -> u8 {
        match self {
            Risk::Deleted { .. } => 0,
            Risk::Disabled { .. } => 1,
            Risk::Archived { .. } => 2,
            Risk::LiveForEveryone | Risk::Widened { .. } | Risk::AudienceAdded { .. } => 3,
            Risk::Enabled { .. } => 4,
            Risk::TargetingChanged { .. } => 5,
            Risk::VariantsChanged | Risk::Rebucketed | Risk::ContextChanged => 6,
        }
    }

    fn words(&self, out: Inline) -> String {
        match self {
            Risk::Deleted { serving } => {
                let what = "deleted: a live flag the repository does not have, removed because \
                            `prune` is on";
                match serving {
                    None => format!("{what} (it is off)"),
                    Some(s) => format!("{what}; it is on now for {}", audience(s, out)),
                }
            }
            Risk::Disabled { serving } => {
                format!("disabled: goes off for {}", audience(serving, out))
            }
            Risk::Archived { serving: None } => {
                "archived: the flag is hidden (it is off)".to_owned()
            }
            Risk::Archived { serving: Some(s) } => {
                format!("archived: goes off for {}", audience(s, out))
            }
            Risk::Enabled { audience: a } => format!("enabled: comes on for {}", audience(a, out)),
            Risk::Widened {
                group,
                before,
                after,
                audience: a,
            } => {
                let whom = a
                    .as_ref()
                    .map_or_else(|| "users".to_owned(), |g| words::whom(g, out));
                let full = if a.as_ref().is_some_and(everyone) {
                    " (on for everyone)"
                } else {
                    ""
                };
                format!("rollout widens {before} → {after} of {whom} in group {group}{full}")
            }
            Risk::AudienceAdded { group, audience: g } => format!(
                "rollout group {group} added: on for {} of {}",
                g.rollout_percentage,
                words::whom(g, out)
            ),
            Risk::TargetingChanged { group } => {
                format!("targeting removed or changed in group {group}")
            }
            Risk::VariantsChanged => "variant split changed: users are re-assigned".to_owned(),
            Risk::Rebucketed => "hash_salt changed: every user is re-bucketed".to_owned(),
            Risk::ContextChanged => {
                "context changed: users are assigned by another id (Mixpanel refuses this once \
                 the flag has been enabled)"
                    .to_owned()
            }
            Risk::LiveForEveryone => {
                "new flag, live for everyone (a group at 100% with no filter)".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::vendor::mixpanel::words::tests::step;

    fn risks_of(action: Action, live: Option<Value>, desired: Option<Value>) -> Vec<(u8, String)> {
        risks(&step(action, live, desired), Inline::Terminal)
            .into_iter()
            .map(|r| (r.rank, r.words))
            .collect()
    }

    fn on(rollout: Value) -> Value {
        let mut flag = json!({"key": "a", "status": "enabled"});
        flag["rollout"] = rollout;
        flag
    }

    #[test]
    fn deletes_and_switches() {
        let everyone = json!([{"rollout_percentage": 100}]);
        assert_eq!(
            risks_of(Action::Delete, Some(on(everyone.clone())), None),
            vec![(0, "deleted: a live flag the repository does not have, removed because `prune` is on; it is on now for 100% of everyone".to_owned())]
        );
        assert_eq!(
            risks_of(Action::Delete, Some(json!({"key": "a"})), None),
            vec![(0, "deleted: a live flag the repository does not have, removed because `prune` is on (it is off)".to_owned())]
        );
        assert_eq!(
            risks_of(
                Action::Update,
                Some(on(everyone.clone())),
                Some(json!({"key": "a", "rollout": everyone}))
            ),
            vec![(1, "disabled: goes off for 100% of everyone".to_owned())]
        );
        assert_eq!(
            risks_of(
                Action::Update,
                Some(on(json!([]))),
                Some(json!({"key": "a", "status": "archived"}))
            ),
            vec![(
                2,
                "archived: goes off for nobody (no rollout groups)".to_owned()
            )]
        );
        assert_eq!(
            risks_of(
                Action::Update,
                Some(json!({"key": "a"})),
                Some(json!({"key": "a", "status": "archived"}))
            ),
            vec![(2, "archived: the flag is hidden (it is off)".to_owned())]
        );
        assert_eq!(
            risks_of(
                Action::Update,
                Some(json!({"key": "a"})),
                Some(on(
                    json!([{"rollout_percentage": 5, "cohort_definition": {"id": 9}}])
                ))
            ),
            vec![(
                4,
                "enabled: comes on for 5% of users where cohort {\"id\":9}".to_owned()
            )]
        );
        assert_eq!(
            risks_of(
                Action::Create,
                None,
                Some(on(json!([{"rollout_percentage": 100}])))
            ),
            vec![(
                3,
                "new flag, live for everyone (a group at 100% with no filter)".to_owned()
            )]
        );
        assert_eq!(
            risks_of(
                Action::Create,
                None,
                Some(on(json!([{"rollout_percentage": 50}])))
            ),
            vec![]
        );
    }

    #[test]
    fn widening_retargeting_and_reassignment_of_a_flag_that_stays_on() {
        let rule = json!({"==": [{"var": "plan"}, "pro"]});
        let live = json!({"key": "a", "status": "enabled", "hash_salt": "s".repeat(32), "context": "distinct_id",
            "variants": [{"key": "c", "value": 1, "split": 50, "is_control": true}, {"key": "t", "value": 2, "split": 50}],
            "rollout": [{"rollout_percentage": 10}, {"rollout_percentage": 5, "runtime_evaluation_rule": rule}]});
        let desired = json!({"key": "a", "status": "enabled", "hash_salt": "t".repeat(32), "context": "device_id",
            "variants": [{"key": "c", "value": 1, "split": 40, "is_control": true}, {"key": "t", "value": 2, "split": 60}],
            "rollout": [{"rollout_percentage": 100}, {"rollout_percentage": 5, "runtime_evaluation_rule": {"==": [1, 1]}},
                        {"rollout_percentage": 20}]});
        assert_eq!(
            risks_of(Action::Update, Some(live.clone()), Some(desired.clone())),
            vec![
                (6, "context changed: users are assigned by another id (Mixpanel refuses this once the flag has been enabled)".to_owned()),
                (6, "hash_salt changed: every user is re-bucketed".to_owned()),
                (6, "variant split changed: users are re-assigned".to_owned()),
                (3, "rollout widens 10% → 100% of everyone in group 1 (on for everyone)".to_owned()),
                (5, "targeting removed or changed in group 2".to_owned()),
                (3, "rollout group 3 added: on for 20% of everyone".to_owned()),
            ]
        );
        // The same edits to a flag that is and stays off reach nobody.
        let off = |mut v: Value| {
            v["status"] = json!("disabled");
            v
        };
        assert_eq!(
            risks_of(Action::Update, Some(off(live)), Some(off(desired))),
            vec![]
        );
        // A narrower rollout and a description are not risks.
        assert_eq!(
            risks_of(
                Action::Update,
                Some(on(json!([{"rollout_percentage": 50}]))),
                Some(on(json!([{"rollout_percentage": 10}])))
            ),
            vec![]
        );
    }
}
