//! The JSON Mixpanel's Feature Flags management API sends and receives.
//!
//! - Every answer is an envelope: `{status: "ok", results: …}`, or `{status: "error", type,
//!   error}` where `error` is a string or an object of field → message(s).
//! - [`FeatureFlagRequest`] is the body of a create (POST) and of a full update (PUT): the
//!   writable fields only, as the service's closed request schema has them. Read-only fields
//!   and `reset_hash_salt` (which reshuffles every user's assignment) have no place in it, so
//!   they can never be sent.
//! - [`FeatureFlagResponse`] is a flag as the service shows it: the request's fields plus the
//!   read-only ones this adapter uses (`id`, `modified`, …); other fields are ignored.
//!
//! Percentages (`split`, `rollout_percentage`, `variant_splits`) are [`Fraction`]s 0–1 here;
//! `translate` converts them to the file's 0–100 exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fraction::Fraction;

/// A success: `{status: "ok", results: T}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    /// The payload (`status` is checked before).
    pub(crate) results: T,
}

/// An error answer: `{status: "error", type, error}` (some answers have only `error`, some
/// add `details`; `type` has no published values and is not shown).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiError {
    /// The message: a string, or an object of field → message(s).
    #[serde(default)]
    pub(crate) error: Option<Value>,
    /// More about the error, when given.
    #[serde(default)]
    pub(crate) details: Option<Value>,
}

/// One workspace (data view) of `GET /projects/{id}/workspaces/`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Workspace {
    /// The workspace id.
    pub(crate) id: u64,
    /// "All Project Data": the view flags are normally kept in.
    #[serde(default)]
    pub(crate) is_global: bool,
    /// The project's default view.
    #[serde(default)]
    pub(crate) is_default: bool,
}

/// `enabled`, `disabled` or `archived`.
pub(crate) type WireStatus = String;

/// The body of a create or a full update: the writable fields of a flag, nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeatureFlagRequest {
    /// Display name, 1–255 characters.
    pub(crate) name: String,
    /// The key SDKs look the flag up by.
    pub(crate) key: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Tags (may be empty, never absent).
    pub(crate) tags: Vec<String>,
    /// `enabled`, `disabled` or `archived`.
    pub(crate) status: WireStatus,
    /// The variant assignment key (`distinct_id`, `device_id` or a group key).
    pub(crate) context: String,
    /// The data group, when `context` is a group key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data_group_id: Option<Value>,
    /// `client`, `server`, `remote_or_local` or `remote_only`.
    pub(crate) serving_method: String,
    /// Variants, rollout groups and test users.
    pub(crate) ruleset: Ruleset,
    /// The linked experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) experiment_id: Option<String>,
    /// Whether the linked experiment is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) is_experiment_active: Option<bool>,
    /// The bucketing salt (32 characters); absent on a create lets the service make one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hash_salt: Option<String>,
}

/// A flag as the service shows it: the writable fields and the read-only ones used here.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FeatureFlagResponse {
    /// The flag's id (a UUID).
    pub(crate) id: String,
    /// Last modification time: the concurrency token (`Token::Text`).
    #[serde(default)]
    pub(crate) modified: Option<String>,
    /// Creation time.
    #[serde(default)]
    #[expect(dead_code, reason = "part of the response; no model field holds it")]
    pub(crate) created: Option<String>,
    /// Set once the flag is deleted (such a flag is not live).
    #[serde(default)]
    pub(crate) deleted: Option<Value>,
    /// When the flag was last enabled (`context` is frozen from then on).
    #[serde(default)]
    pub(crate) enabled_at: Option<String>,
    /// Display name.
    pub(crate) name: String,
    /// Key.
    pub(crate) key: String,
    /// Description.
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Tags.
    #[serde(default)]
    pub(crate) tags: Option<Vec<String>>,
    /// Status.
    #[serde(default)]
    pub(crate) status: Option<WireStatus>,
    /// Variant assignment key.
    #[serde(default)]
    pub(crate) context: Option<String>,
    /// Data group.
    #[serde(default)]
    pub(crate) data_group_id: Option<Value>,
    /// Serving method.
    #[serde(default)]
    pub(crate) serving_method: Option<String>,
    /// Ruleset.
    pub(crate) ruleset: Ruleset,
    /// Linked experiment.
    #[serde(default)]
    pub(crate) experiment_id: Option<String>,
    /// Whether the linked experiment is running.
    #[serde(default)]
    pub(crate) is_experiment_active: Option<bool>,
    /// Bucketing salt.
    #[serde(default)]
    pub(crate) hash_salt: Option<String>,
}

impl FeatureFlagResponse {
    /// Whether the flag is deleted: a non-null `deleted` on a flag that is not archived (an
    /// archived flag has its archiving time there, and is still a live flag).
    pub(crate) fn is_deleted(&self) -> bool {
        is_deleted(self.deleted.as_ref(), self.status.as_deref())
    }
}

/// Whether a flag with this `deleted` and `status` is deleted (see
/// [`FeatureFlagResponse::is_deleted`]).
pub(crate) fn is_deleted(deleted: Option<&Value>, status: Option<&str>) -> bool {
    !matches!(deleted, None | Some(Value::Null | Value::Bool(false))) && status != Some("archived")
}

/// Variants, ordered rollout groups and QA test users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ruleset {
    /// Variants.
    pub(crate) variants: Vec<WireVariant>,
    /// Rollout groups, in evaluation order.
    pub(crate) rollout: Vec<WireRollout>,
    /// QA testers: distinct id → variant key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) test: Option<TestUsers>,
}

/// One variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireVariant {
    /// Variant key.
    pub(crate) key: String,
    /// Any JSON value.
    pub(crate) value: Value,
    /// The control variant.
    pub(crate) is_control: bool,
    /// Default allocation, 0–1.
    pub(crate) split: Fraction,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Sticky assignment (remote evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) is_sticky: Option<bool>,
}

/// One rollout group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireRollout {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Share of the qualifying users, 0–1.
    pub(crate) rollout_percentage: Fraction,
    /// Variant key → allocation inside this group, 0–1.
    pub(crate) variant_splits: BTreeMap<String, Fraction>,
    /// Cohort filter (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cohort_definition: Option<Value>,
    /// JsonLogic over `custom_properties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) runtime_evaluation_rule: Option<Value>,
    /// Deprecated flat key == value map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) runtime_evaluation_definition: Option<Value>,
    /// Runtime event targeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) runtime_event_rule: Option<RuntimeEventRule>,
    /// Deprecated `{key}` override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) variant_override: Option<Value>,
}

/// A runtime event rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RuntimeEventRule {
    /// The event.
    pub(crate) event_name: String,
    /// `while_flag_enabled`.
    pub(crate) time_window: String,
    /// `end_of_session` or `indefinitely`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) duration: Option<String>,
    /// JsonLogic over the event's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) property_filters: Option<Value>,
}

/// QA test users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TestUsers {
    /// Distinct id → variant key.
    #[serde(default)]
    pub(crate) users: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({
            "name": "Checkout", "key": "checkout", "tags": [], "status": "disabled",
            "context": "distinct_id", "serving_method": "client",
            "ruleset": {
                "variants": [
                    {"key": "on", "value": true, "is_control": false, "split": 1},
                    {"key": "off", "value": false, "is_control": true, "split": 0}
                ],
                "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"on": 1, "off": 0}}]
            }
        })
    }

    #[test]
    fn a_request_round_trips_and_sends_no_absent_field() {
        let parsed: FeatureFlagRequest = serde_json::from_value(request()).unwrap();
        let sent = serde_json::to_value(&parsed).unwrap();
        assert_eq!(
            sent,
            json!({
                "name": "Checkout", "key": "checkout", "tags": [], "status": "disabled",
                "context": "distinct_id", "serving_method": "client",
                "ruleset": {
                    "variants": [
                        {"key": "on", "value": true, "is_control": false, "split": 1.0},
                        {"key": "off", "value": false, "is_control": true, "split": 0.0}
                    ],
                    "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"off": 0.0, "on": 1.0}}]
                }
            })
        );
    }

    /// The request type is closed: read-only fields and `reset_hash_salt` have no field.
    #[test]
    fn read_only_fields_and_reset_hash_salt_are_not_request_fields() {
        for field in [
            "id",
            "modified",
            "created",
            "reset_hash_salt",
            "workspace_id",
        ] {
            let mut body = request();
            body[field] = json!(true);
            assert!(
                serde_json::from_value::<FeatureFlagRequest>(body).is_err(),
                "{field}"
            );
        }
    }

    #[test]
    fn a_response_keeps_its_read_only_fields_and_ignores_unknown_ones() {
        let mut body = request();
        body["id"] = json!("0b8e7a7e-1f0c-4c52-9a7e-2f1d5c3b9a10");
        body["modified"] = json!("2026-11-29T12:00:00Z");
        body["can_update_basic"] = json!(true);
        body["ruleset"]["variants"][0]["screenshot"] = json!(null);
        body["ruleset"]["rollout"][0]["cohort_hash"] = json!("abc");
        let flag: FeatureFlagResponse = serde_json::from_value(body).unwrap();
        assert_eq!(flag.id, "0b8e7a7e-1f0c-4c52-9a7e-2f1d5c3b9a10");
        assert_eq!(flag.modified.as_deref(), Some("2026-11-29T12:00:00Z"));
        assert!(!flag.is_deleted());
        let mut archived = request();
        archived["id"] = json!("x");
        archived["status"] = json!("archived");
        archived["deleted"] = json!("2026-11-29T12:00:00Z");
        let flag: FeatureFlagResponse = serde_json::from_value(archived.clone()).unwrap();
        assert!(!flag.is_deleted());
        archived["status"] = json!("disabled");
        let flag: FeatureFlagResponse = serde_json::from_value(archived).unwrap();
        assert!(flag.is_deleted());
    }
}
