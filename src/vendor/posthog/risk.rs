//! What a reviewer must see first in a PostHog plan: the steps that switch something off or
//! away, or give a feature to more people than before (`FlagWords::risks` of its `Flag`).
//!
//! Pure and computed from the plan value alone (the saved document is not changed): a delete,
//! a disable, an archive, a rollout that widens (above all to 100% of everyone), a flag turned
//! on, targeting removed or loosened (a property or a condition's filter removed or changed),
//! a variant split changed (users are re-assigned), and a create that is live for everyone.
//! Each risk is worded per flag with the audience it concerns, reusing `words`.

use serde_json::Value;

use super::words;
use crate::model::Percent;
use crate::plan::{Action, Change, ChangeOp, Field, Step};
use crate::render::escape::Inline;
use crate::vendor::posthog::{Condition, Flag};

/// Every risk of `step`, ranked and in words for `to`.
pub(super) fn risks(step: &Step, to: Inline) -> Vec<crate::render::plan::Risk> {
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
pub(super) enum Risk {
    /// The flag is deleted: a live flag the repository does not have, removed by `prune`.
    /// `serving` lists the live conditions of a flag that is on (empty when it is off).
    Deleted { serving: Vec<Condition> },
    /// `active` true → false: the flag goes off for the live audience `serving`.
    Disabled { serving: Vec<Condition> },
    /// `archived` false → true.
    Archived,
    /// `active` false → true: the flag comes on for `audience`.
    Enabled { audience: Vec<Condition> },
    /// A condition's rollout grows (condition number, before, after, the condition after).
    Widened {
        condition: usize,
        before: Percent,
        after: Percent,
        audience: Option<Condition>,
    },
    /// A condition is added: a new audience (condition number, the condition).
    AudienceAdded {
        condition: usize,
        audience: Condition,
    },
    /// A property of a condition is removed or changed: targeting removed or loosened.
    TargetingLoosened { condition: usize },
    /// The variants or their split change: users are re-assigned.
    VariantsChanged,
    /// A new flag that is on for everyone (a condition without properties at 100%).
    LiveForEveryone,
}

fn everyone(c: &Condition) -> bool {
    c.properties.is_empty() && Flag::rollout(c).0 >= 100.0 - 1e-9
}

fn on(flag: &Flag) -> bool {
    flag.active && !flag.archived
}

fn percent(value: Option<&Value>) -> Percent {
    value.and_then(Value::as_f64).map_or(Percent::FULL, Percent)
}

fn condition_at(flag: Option<&Flag>, number: usize) -> Option<Condition> {
    flag.and_then(|f| f.conditions.get(number.checked_sub(1)?).cloned())
}

fn change_risk(step: &Step, change: &Change) -> Option<Risk> {
    let desired = step.desired.as_ref();
    let live = step.live.as_ref().map(|l| &l.flag);
    let n = change.condition.unwrap_or(0);
    let attribute = change.attribute.as_deref().unwrap_or("");
    match (change.field, change.op) {
        (Field::Active, _) => match change.after.as_ref().and_then(Value::as_bool) {
            Some(false) => Some(Risk::Disabled {
                serving: live.map(|f| f.conditions.clone()).unwrap_or_default(),
            }),
            Some(true) => Some(Risk::Enabled {
                audience: desired.map(|f| f.conditions.clone()).unwrap_or_default(),
            }),
            None => None,
        },
        (Field::Archived, _) => {
            (change.after.as_ref().and_then(Value::as_bool) == Some(true)).then_some(Risk::Archived)
        }
        (Field::Conditions, ChangeOp::Changed) if attribute == "rollout_percentage" => {
            let before = percent(change.before.as_ref());
            let after = percent(change.after.as_ref());
            (after.0 > before.0 + 1e-9).then(|| Risk::Widened {
                condition: n,
                before,
                after,
                audience: condition_at(desired, n),
            })
        }
        (Field::Conditions, ChangeOp::Added) if attribute.is_empty() => condition_at(desired, n)
            .map(|audience| Risk::AudienceAdded {
                condition: n,
                audience,
            }),
        (Field::Conditions, ChangeOp::Removed | ChangeOp::Changed) if attribute == "properties" => {
            Some(Risk::TargetingLoosened { condition: n })
        }
        (Field::Variants, _) if attribute != "name" && attribute != "description" => {
            Some(Risk::VariantsChanged)
        }
        _ => None,
    }
}

/// Every risk of `step`, each kind once (in the order found), for a flag that is or stays on
/// where it matters: a widened rollout of a disabled flag reaches nobody.
fn assess(step: &Step) -> Vec<Risk> {
    let mut risks: Vec<Risk> = Vec::new();
    match step.action {
        Action::Delete => {
            let live = step.live.as_ref().map(|l| &l.flag);
            let serving = live
                .filter(|f| on(f))
                .map(|f| f.conditions.clone())
                .unwrap_or_default();
            risks.push(Risk::Deleted { serving });
        }
        Action::Create => {
            if step
                .desired
                .as_ref()
                .is_some_and(|f| on(f) && f.conditions.iter().any(everyone))
            {
                risks.push(Risk::LiveForEveryone);
            }
        }
        Action::Update => {
            let stays_on = step.desired.as_ref().is_some_and(on);
            for change in &step.changes {
                let Some(risk) = change_risk(step, change) else {
                    continue;
                };
                let reaches_users = matches!(
                    risk,
                    Risk::Disabled { .. } | Risk::Archived | Risk::Enabled { .. }
                ) || stays_on;
                if !reaches_users {
                    continue;
                }
                let same_kind = risks
                    .iter()
                    .any(|r| std::mem::discriminant(r) == std::mem::discriminant(&risk));
                let repeatable = matches!(
                    risk,
                    Risk::Widened { .. }
                        | Risk::AudienceAdded { .. }
                        | Risk::TargetingLoosened { .. }
                );
                if repeatable || !same_kind {
                    risks.push(risk);
                }
            }
        }
    }
    risks
}

impl Risk {
    /// How much a reviewer must look: lower first (deletions, then disables and archives,
    /// then what reaches more people, then re-targeting).
    fn rank(&self) -> u8 {
        match self {
            Risk::Deleted { .. } => 0,
            Risk::Disabled { .. } => 1,
            Risk::Archived => 2,
            Risk::LiveForEveryone | Risk::Widened { .. } | Risk::AudienceAdded { .. } => 3,
            Risk::Enabled { .. } => 4,
            Risk::TargetingLoosened { .. } => 5,
            Risk::VariantsChanged => 6,
        }
    }
}

fn audience(conditions: &[Condition], out: Inline) -> String {
    if conditions.is_empty() {
        return "nobody (no conditions)".to_owned();
    }
    conditions
        .iter()
        .map(|c| words::condition(c, out))
        .collect::<Vec<_>>()
        .join("; or ")
}

/// Whom a condition targets, without its rollout: `everyone`, `users where …`.
fn whom(c: &Condition, out: Inline) -> String {
    let who = match c.aggregation_group_type_index {
        Some(i) => format!("groups of type {i}"),
        None => "users".to_owned(),
    };
    if c.properties.is_empty() {
        if c.aggregation_group_type_index.is_some() {
            format!("all {who}")
        } else {
            "everyone".to_owned()
        }
    } else {
        let props: Vec<String> = c
            .properties
            .iter()
            .map(|p| words::property(p, out))
            .collect();
        format!("{who} where {}", props.join(" and "))
    }
}

impl Risk {
    /// The risk in words, escaped for `out`.
    fn words(&self, out: Inline) -> String {
        match self {
            Risk::Deleted { serving } => {
                let what = "deleted: a live flag the repository does not have, removed because \
                            `prune` is on";
                if serving.is_empty() {
                    format!("{what} (it is off)")
                } else {
                    format!("{what}; it is on now for {}", audience(serving, out))
                }
            }
            Risk::Disabled { serving } => {
                format!("disabled: goes off for {}", audience(serving, out))
            }
            Risk::Archived => "archived: the flag goes off".to_owned(),
            Risk::Enabled { audience: a } => format!("enabled: comes on for {}", audience(a, out)),
            Risk::Widened {
                condition,
                before,
                after,
                audience: a,
            } => {
                let whom = a
                    .as_ref()
                    .map_or_else(|| "users".to_owned(), |c| whom(c, out));
                let full = if a.as_ref().is_some_and(everyone) {
                    " (on for everyone)"
                } else {
                    ""
                };
                format!(
                    "rollout widens {before} → {after} of {whom} in condition {condition}{full}"
                )
            }
            Risk::AudienceAdded {
                condition,
                audience: c,
            } => format!(
                "condition {condition} added: on for {} of {}",
                Flag::rollout(c),
                whom(c, out)
            ),
            Risk::TargetingLoosened { condition } => {
                format!("targeting removed or changed in condition {condition}")
            }
            Risk::VariantsChanged => "variant split changed: users are re-assigned".to_owned(),
            Risk::LiveForEveryone => "new flag, live for everyone (100% with no filter)".to_owned(),
        }
    }
}
