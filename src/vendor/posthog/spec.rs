//! The flag file format: one `FlagSpec` per YAML document, with per-environment overrides.
//!
//! Field names follow PostHog's API so its documentation applies, with three deliberate
//! differences: dependencies name flags by key, payloads are YAML values rather than JSON
//! strings, and `environments` layers partial flags over the base.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::property::Condition;
use crate::model::Percent;

/// Which SDKs may evaluate the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationRuntime {
    /// Server-side SDKs only.
    Server,
    /// Client-side SDKs only.
    Client,
    /// Both (PostHog's default).
    #[default]
    All,
}

/// What the rollout hash is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketingIdentifier {
    /// The person's distinct id (PostHog's default).
    #[default]
    DistinctId,
    /// The device id.
    DeviceId,
}

/// One variant of a multivariate flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The value the flag evaluates to for this variant.
    #[schemars(length(min = 1, max = 400), regex(pattern = r"^[a-zA-Z0-9_./-]+$"))]
    pub key: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Share of users getting this variant; all variants sum to 100.
    pub rollout_percentage: Percent,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A holdout group excluded from the flag (experiments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// The holdout's id in PostHog.
    pub id: i64,
    /// Share of users held out.
    pub exclusion_percentage: Percent,
}

macro_rules! flag_fields {
    (
        $(#[$outer:meta])*
        pub struct $name:ident { $($head:tt)* }
        $($tail:tt)*
    ) => {
        $(#[$outer])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($head)*
            /// Human-readable name (PostHog also uses it as the description).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            /// Whether the flag is enabled. Default `true`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub active: Option<bool>,
            /// Archived flags are hidden in PostHog's list and must be inactive.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub archived: Option<bool>,
            /// Tags (PostHog stores them lower-cased).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tags: Option<Vec<String>>,
            /// Evaluation contexts (PostHog `evaluation_contexts`), at most 50.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 50))]
            pub evaluation_contexts: Option<Vec<String>>,
            /// Release conditions (PostHog `filters.groups`), OR-ed in order.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            /// Aggregate every condition by this group type index (absent: persons).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 0, max = 1000))]
            pub aggregation_group_type_index: Option<u32>,
            /// Aggregate every condition by the group type with this name (`company`) instead
            /// of its index: resolved in each environment's project when planning.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 400))]
            pub aggregation: Option<String>,
            /// Variants of a multivariate flag (PostHog `filters.multivariate.variants`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1))]
            pub variants: Option<Vec<Variant>>,
            /// Payload per variant key (or `true` for a boolean flag), as YAML values.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub payloads: Option<BTreeMap<String, Value>>,
            /// Holdout group.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub holdout: Option<Holdout>,
            /// Stop at the first matching condition.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub early_exit: Option<bool>,
            /// Early-access gate on `$feature_enrollment/<key>`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub feature_enrollment: Option<bool>,
            /// Keep a user's value across authentication steps.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ensure_experience_continuity: Option<bool>,
            /// Which SDKs may evaluate the flag. Default `all`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub evaluation_runtime: Option<EvaluationRuntime>,
            /// What the rollout hash uses. Default `distinct_id`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bucketing_identifier: Option<BucketingIdentifier>,
            /// A remote-configuration flag (serves a payload, conditions forced to 100%).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub is_remote_configuration: Option<bool>,
            /// Payloads are stored encrypted (remote-configuration flags only).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub has_encrypted_payloads: Option<bool>,
            /// Extra ordering edges: flags that must exist (and be enabled) before this one.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depends_on: Option<Vec<String>>,
            $($tail)*
        }
    };
}

flag_fields! {
    /// One flag, as written in a YAML document under the flag directories.
    pub struct FlagSpec {
        /// The flag's identity: unique per project, `^[a-zA-Z0-9_-]+$`, at most 400 characters.
        #[schemars(length(min = 1, max = 400), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
        pub key: String,
    }
    /// Per-environment overrides: each field given here replaces the base field wholesale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, FlagOverride>,
}

flag_fields! {
    /// A partial flag layered over the base for one environment. Each field present replaces
    /// the base field as a whole (a list is not merged item by item).
    pub struct FlagOverride {}
}
