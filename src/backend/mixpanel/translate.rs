//! Mixpanel's flag JSON ↔ `MixpanelFlag`, faithfully.
//!
//! The file's top-level `variants`, `rollout` and `test_users` are the wire's `ruleset`;
//! percentages (0–100) are the wire's fractions (0–1), converted exactly by
//! `fraction`; `depends_on` is repository-only and never on the wire (a flag read back has
//! none). A live flag this model cannot hold (an unknown status or serving method, a split
//! that is not a number) is refused with the reason, and then reported as unsupported rather
//! than overwritten.

use std::collections::BTreeMap;
use std::fmt::{self, Display};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::fraction::Fraction;
use super::wire::{
    FeatureFlagRequest, FeatureFlagResponse, Ruleset, TestUsers, WireRollout, WireVariant,
};
use crate::model::{Json, Percent};
use crate::vendor::mixpanel::{
    DEFAULT_CONTEXT, DataGroupId, MixpanelFlag, RolloutGroup, Status, Variant,
};

/// The flag a live object describes, or why it cannot be managed.
pub(crate) fn from_wire(wire: &FeatureFlagResponse) -> Result<MixpanelFlag, String> {
    let variants = wire
        .ruleset
        .variants
        .iter()
        .map(|v| {
            Ok(Variant {
                key: v.key.clone(),
                value: Json::new(&v.value),
                is_control: v.is_control,
                split: percent(v.split, format_args!("the split of variant `{}`", v.key))?,
                description: v.description.clone(),
                is_sticky: v.is_sticky.unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let rollout = wire
        .ruleset
        .rollout
        .iter()
        .enumerate()
        .map(|(i, group)| rollout_from_wire(i, group))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(MixpanelFlag {
        key: wire.key.clone(),
        name: wire.name.clone(),
        description: wire.description.clone(),
        status: match &wire.status {
            Some(status) => convert(status, "`status`")?,
            None => Status::default(),
        },
        tags: wire.tags.clone().unwrap_or_default(),
        context: wire
            .context
            .clone()
            .unwrap_or_else(|| DEFAULT_CONTEXT.to_owned()),
        serving_method: match &wire.serving_method {
            Some(method) => convert(method, "`serving_method`")?,
            None => crate::vendor::mixpanel::ServingMethod::default(),
        },
        data_group_id: match &wire.data_group_id {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(DataGroupId::Text(s.clone())),
            Some(Value::Number(n)) => {
                Some(DataGroupId::Number(n.as_i64().ok_or_else(|| {
                    format!("`data_group_id` {n} is not a whole number")
                })?))
            }
            Some(other) => {
                return Err(format!(
                    "`data_group_id` is {}, not a number or a string",
                    crate::backend::http::json_kind(other)
                ));
            }
        },
        experiment_id: wire.experiment_id.clone(),
        is_experiment_active: wire.is_experiment_active,
        hash_salt: wire.hash_salt.clone(),
        variants,
        rollout,
        test_users: wire
            .ruleset
            .test
            .as_ref()
            .map(|t| t.users.clone())
            .unwrap_or_default(),
        depends_on: Vec::new(),
        enabled_at: wire.enabled_at.clone(),
    })
}

fn rollout_from_wire(index: usize, group: &WireRollout) -> Result<RolloutGroup, String> {
    let at = Group(index + 1);
    Ok(RolloutGroup {
        name: group.name.clone(),
        rollout_percentage: percent(
            group.rollout_percentage,
            format_args!("the `rollout_percentage` of {at}"),
        )?,
        variant_splits: group
            .variant_splits
            .iter()
            .map(|(key, split)| {
                Ok((
                    key.clone(),
                    percent(*split, format_args!("the split of `{key}` in {at}"))?,
                ))
            })
            .collect::<Result<BTreeMap<_, _>, String>>()?,
        runtime_evaluation_rule: not_null(group.runtime_evaluation_rule.as_ref()).map(Json::new),
        runtime_event_rule: group
            .runtime_event_rule
            .as_ref()
            .map(|r| convert(r, format_args!("the `runtime_event_rule` of {at}")))
            .transpose()?,
        cohort_definition: not_null(group.cohort_definition.as_ref()).map(Json::new),
        runtime_evaluation_definition: not_null(group.runtime_evaluation_definition.as_ref())
            .map(|d| {
                convert(
                    d,
                    format_args!("the `runtime_evaluation_definition` of {at}"),
                )
            })
            .transpose()?,
        variant_override: not_null(group.variant_override.as_ref())
            .map(|o| convert(o, format_args!("the `variant_override` of {at}")))
            .transpose()?,
    })
}

/// The body that creates `flag`, or replaces a live flag with it (a full PUT): with
/// `live_salt`, the live flag's `hash_salt` when the repository leaves it out (Mixpanel owns
/// it; a PUT without it would clear it and reshuffle every user).
pub(crate) fn to_request(
    flag: &MixpanelFlag,
    live_salt: Option<&str>,
) -> Result<FeatureFlagRequest, String> {
    let variants = flag
        .variants
        .iter()
        .map(|v| {
            Ok(WireVariant {
                key: v.key.clone(),
                value: v.value.value(),
                is_control: v.is_control,
                split: fraction(v.split, format_args!("the split of variant `{}`", v.key))?,
                description: v.description.clone(),
                is_sticky: v.is_sticky.then_some(true),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let rollout = flag
        .rollout
        .iter()
        .enumerate()
        .map(|(i, group)| rollout_to_wire(i, group))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(FeatureFlagRequest {
        name: flag.name.clone(),
        key: flag.key.clone(),
        description: flag.description.clone(),
        tags: flag.tags.clone(),
        status: text(&flag.status)?,
        context: flag.context.clone(),
        data_group_id: flag.data_group_id.as_ref().map(|id| match id {
            DataGroupId::Number(n) => Value::from(*n),
            DataGroupId::Text(s) => Value::String(s.clone()),
        }),
        serving_method: text(&flag.serving_method)?,
        ruleset: Ruleset {
            variants,
            rollout,
            test: (!flag.test_users.is_empty()).then(|| TestUsers {
                users: flag.test_users.clone(),
            }),
        },
        experiment_id: flag.experiment_id.clone(),
        is_experiment_active: flag.is_experiment_active,
        hash_salt: flag
            .hash_salt
            .clone()
            .or_else(|| live_salt.map(str::to_owned)),
    })
}

fn rollout_to_wire(index: usize, group: &RolloutGroup) -> Result<WireRollout, String> {
    let at = Group(index + 1);
    Ok(WireRollout {
        name: group.name.clone(),
        rollout_percentage: fraction(
            group.rollout_percentage,
            format_args!("the `rollout_percentage` of {at}"),
        )?,
        variant_splits: group
            .variant_splits
            .iter()
            .map(|(key, split)| {
                Ok((
                    key.clone(),
                    fraction(*split, format_args!("the split of `{key}` in {at}"))?,
                ))
            })
            .collect::<Result<BTreeMap<_, _>, String>>()?,
        cohort_definition: group.cohort_definition.as_ref().map(Json::value),
        runtime_evaluation_rule: group.runtime_evaluation_rule.as_ref().map(Json::value),
        runtime_evaluation_definition: group
            .runtime_evaluation_definition
            .as_ref()
            .map(|d| Value::Object(d.iter().map(|(k, v)| (k.clone(), v.value())).collect())),
        runtime_event_rule: group
            .runtime_event_rule
            .as_ref()
            .map(|r| convert(r, format_args!("the `runtime_event_rule` of {at}")))
            .transpose()?,
        variant_override: group
            .variant_override
            .as_ref()
            .map(|o| serde_json::json!({ "key": o.key })),
    })
}

fn percent(fraction: Fraction, what: impl Display) -> Result<Percent, String> {
    fraction
        .percent()
        .ok_or_else(|| format!("{what} is not a finite number"))
}

fn fraction(percent: Percent, what: impl Display) -> Result<Fraction, String> {
    Fraction::of_percent(percent).ok_or_else(|| format!("{what} is not a finite number"))
}

/// The n-th rollout group (1-based), as messages name it; formatted only when one is written.
#[derive(Clone, Copy)]
struct Group(usize);

impl Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rollout group {}", self.0)
    }
}

fn not_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// `value` as another type with the same JSON form (the model's enums and rules ↔ the
/// wire's strings and objects); the error names `what` and quotes the value.
fn convert<A: Serialize, B: DeserializeOwned>(value: &A, what: impl Display) -> Result<B, String> {
    let json = serde_json::to_value(value).map_err(|e| format!("{what}: {e}"))?;
    B::deserialize(&json).map_err(|e| {
        format!(
            "{what} {} is not one flagops knows ({})",
            crate::backend::http::quote(&json.to_string()),
            crate::backend::http::quote(&e.to_string())
        )
    })
}

/// A model enum as its wire string.
fn text<A: Serialize>(value: &A) -> Result<String, String> {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => Ok(s),
        Ok(other) => Err(format!("{other} is not a string")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({
            "id": "6a1f5b3e-0000-4000-8000-000000000001",
            "modified": "2026-11-29T12:00:00Z",
            "created": "2026-11-01T09:00:00Z",
            "name": "New checkout", "key": "new-checkout", "description": null,
            "tags": ["web"], "status": "enabled", "context": "distinct_id",
            "serving_method": "server", "data_group_id": null,
            "experiment_id": null, "is_experiment_active": null,
            "hash_salt": "0123456789abcdef0123456789abcdef",
            "can_update_basic": true,
            "ruleset": {
                "variants": [
                    {"key": "control", "value": "blue", "is_control": true, "split": 0.6667},
                    {"key": "test", "value": "green", "is_control": false, "split": 0.3333,
                     "is_sticky": true, "screenshot": null}
                ],
                "rollout": [{
                    "name": "Premium", "rollout_percentage": 0.25,
                    "variant_splits": {"control": 0.5, "test": 0.5},
                    "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]},
                    "runtime_event_rule": {"event_name": "Signed up", "time_window": "while_flag_enabled", "duration": "end_of_session"},
                    "cohort_definition": null, "cohort_hash": null, "variant_override": null
                }],
                "test": {"users": {"alice": "test"}}
            }
        })
    }

    fn read(value: Value) -> Result<MixpanelFlag, String> {
        from_wire(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn a_live_flag_reads_with_percentages_and_test_users() {
        let flag = read(live()).unwrap();
        assert_eq!(flag.key, "new-checkout");
        assert_eq!(flag.status, Status::Enabled);
        assert_eq!(flag.variants[0].split, Percent(66.67));
        assert_eq!(flag.variants[1].split, Percent(33.33));
        assert!(flag.variants[1].is_sticky);
        assert_eq!(flag.rollout[0].rollout_percentage, Percent(25.0));
        assert_eq!(flag.rollout[0].variant_splits["test"], Percent(50.0));
        assert_eq!(flag.test_users["alice"], "test");
        assert_eq!(
            flag.hash_salt.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert!(flag.depends_on.is_empty());
    }

    /// Read, write back: the request is the live object's writable fields, nothing else, and
    /// every fraction is the very number the service sent.
    #[test]
    fn a_flag_writes_back_as_the_writable_fields_it_was_read_from() {
        let flag = read(live()).unwrap();
        let body = serde_json::to_value(to_request(&flag, None).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "name": "New checkout", "key": "new-checkout",
                "tags": ["web"], "status": "enabled", "context": "distinct_id",
                "serving_method": "server",
                "hash_salt": "0123456789abcdef0123456789abcdef",
                "ruleset": {
                    "variants": [
                        {"key": "control", "value": "blue", "is_control": true, "split": 0.6667},
                        {"key": "test", "value": "green", "is_control": false, "split": 0.3333, "is_sticky": true}
                    ],
                    "rollout": [{
                        "name": "Premium", "rollout_percentage": 0.25,
                        "variant_splits": {"control": 0.5, "test": 0.5},
                        "runtime_evaluation_rule": {"==": [{"var": "plan"}, "premium"]},
                        "runtime_event_rule": {"event_name": "Signed up", "time_window": "while_flag_enabled", "duration": "end_of_session"}
                    }],
                    "test": {"users": {"alice": "test"}}
                }
            })
        );
    }

    #[test]
    fn the_live_salt_is_kept_when_the_file_leaves_it_out() {
        let mut flag = read(live()).unwrap();
        flag.hash_salt = None;
        let body = to_request(&flag, Some("ffffffffffffffffffffffffffffffff")).unwrap();
        assert_eq!(
            body.hash_salt.as_deref(),
            Some("ffffffffffffffffffffffffffffffff")
        );
        let body = to_request(&flag, None).unwrap();
        assert_eq!(body.hash_salt, None);
        flag.hash_salt = Some("0123456789abcdef0123456789abcdef".into());
        let body = to_request(&flag, Some("ffffffffffffffffffffffffffffffff")).unwrap();
        assert_eq!(
            body.hash_salt.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        let text = serde_json::to_string(&body).unwrap();
        assert!(!text.contains("reset_hash_salt"), "{text}");
        assert!(!text.contains("depends_on"), "{text}");
    }

    #[test]
    fn dependencies_never_reach_the_wire() {
        let mut flag = read(live()).unwrap();
        flag.depends_on = vec!["other".into()];
        let text = serde_json::to_string(&to_request(&flag, None).unwrap()).unwrap();
        assert!(!text.contains("other"), "{text}");
    }

    #[test]
    fn what_the_model_cannot_hold_is_refused_with_the_reason() {
        let mut value = live();
        value["status"] = json!("paused\n");
        assert_eq!(
            read(value).unwrap_err(),
            "`status` \"paused\\n\" is not one flagops knows (unknown variant `paused `, expected one of `enabled`, `disabled`, `archived`)"
        );
        let mut value = live();
        value["data_group_id"] = json!([1]);
        assert_eq!(
            read(value).unwrap_err(),
            "`data_group_id` is an array, not a number or a string"
        );
        let mut value = live();
        value["ruleset"]["rollout"][0]["runtime_event_rule"]["time_window"] = json!("forever");
        assert!(
            read(value)
                .unwrap_err()
                .starts_with("the `runtime_event_rule` of rollout group 1 {"),
        );
    }

    proptest::proptest! {
        /// Any fractions the service sends (up to 6 decimals) are read as percentages and
        /// written back as the very same numbers, bit for bit.
        #[test]
        fn fractions_survive_a_read_and_a_write(
            splits in proptest::collection::vec(0_u32..=1_000_000, 1..5),
            rollout in 0_u32..=1_000_000,
        ) {
            let fraction = |units: u32| format!("{units}e-6").parse::<f64>().unwrap();
            let mut value = live();
            value["ruleset"]["variants"] = splits
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"key": format!("v{i}"), "value": i, "is_control": i == 0, "split": fraction(*s)}))
                .collect();
            value["ruleset"]["rollout"][0]["rollout_percentage"] = json!(fraction(rollout));
            value["ruleset"]["rollout"][0]["variant_splits"] = splits
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("v{i}"), json!(fraction(*s))))
                .collect::<serde_json::Map<_, _>>()
                .into();
            value["ruleset"]["test"] = json!(null);
            let flag = read(value.clone()).unwrap();
            let body = serde_json::to_value(to_request(&flag, None).unwrap()).unwrap();
            proptest::prop_assert_eq!(&body["ruleset"]["variants"], &value["ruleset"]["variants"]);
            proptest::prop_assert_eq!(
                &body["ruleset"]["rollout"][0]["variant_splits"],
                &value["ruleset"]["rollout"][0]["variant_splits"]
            );
            proptest::prop_assert_eq!(
                &body["ruleset"]["rollout"][0]["rollout_percentage"],
                &value["ruleset"]["rollout"][0]["rollout_percentage"]
            );
        }
    }
}
