//! Mixpanel's flag file format: one `MixpanelSpec` per YAML document, with per-environment
//! overrides.
//!
//! Field names are Mixpanel's own (the flag object of its Feature Flags API), with the
//! ruleset's parts (`variants`, `rollout`, `test.users` as `test_users`) at the top level,
//! variant values as YAML values, percentages written 0–100 (Mixpanel stores 0–1 fractions;
//! the adapter converts), dependencies by key (`depends_on`, repository-only) and
//! `environments` layering partial flags over the base.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Json, Percent};

/// A flag's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Serving its rules.
    Enabled,
    /// Serving nothing (Mixpanel's default).
    #[default]
    Disabled,
    /// Disabled and hidden from Mixpanel's list.
    Archived,
}

/// Where the flag is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServingMethod {
    /// Client-side SDKs (the default of Mixpanel's own tooling when it creates a flag).
    #[default]
    Client,
    /// Server-side SDKs.
    Server,
    /// Remote evaluation, or local evaluation from the flag definitions.
    RemoteOrLocal,
    /// Remote evaluation only.
    RemoteOnly,
}

/// A data group id: Mixpanel accepts a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DataGroupId {
    /// A numeric id.
    Number(i64),
    /// A textual id.
    Text(String),
}

/// One variant of a flag (Mixpanel `ruleset.variants[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The variant's key: what `variant_splits` and `test_users` name.
    #[schemars(length(min = 1, max = 255))]
    pub key: String,
    /// The value the flag serves for this variant: any YAML value (a boolean for a feature
    /// gate, a string for an experiment, an object for a dynamic config). All variants of a
    /// flag share one type; at most 32 KiB as JSON.
    pub value: Json,
    /// The control variant of an experiment: exactly one variant is the control. Default
    /// `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_control: bool,
    /// Share of users getting this variant by default, 0–100; the variants' splits sum to
    /// 100.
    pub split: Percent,
    /// Free text. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keep a user's variant once assigned (remote evaluation only; the control is never
    /// sticky). Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_sticky: bool,
}

/// The time window of a runtime event rule (Mixpanel has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeWindow {
    /// Events since the flag was (re-)enabled.
    #[default]
    WhileFlagEnabled,
}

/// How long a runtime event keeps a user in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    /// Until the session ends.
    EndOfSession,
    /// For good.
    Indefinitely,
}

/// Target users who performed an event (client-side SDKs only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeEventRule {
    /// The event's name.
    #[schemars(length(min = 1))]
    pub event_name: String,
    /// Which events count: `while_flag_enabled` (the only value, and the default).
    #[serde(default)]
    pub time_window: TimeWindow,
    /// How long the event keeps the user in the group. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// A JsonLogic rule over the event's properties. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_filters: Option<Json>,
}

/// The deprecated fixed variant of a rollout group (superseded by `variant_splits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantOverride {
    /// The variant served.
    pub key: String,
}

/// One rollout group (Mixpanel `ruleset.rollout[]`): groups are evaluated in order and the
/// first one a user qualifies for wins.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutGroup {
    /// Display name. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Share of the qualifying users who get the flag, 0–100.
    pub rollout_percentage: Percent,
    /// Share of each variant inside this group, 0–100, by variant key; they sum to 100.
    /// Default: the variants' own `split`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variant_splits: BTreeMap<String, Percent>,
    /// A JsonLogic rule over the user's custom properties (e.g. `{"==": [{"var": "plan"},
    /// "premium"]}`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_evaluation_rule: Option<Json>,
    /// Target users who performed an event. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_event_rule: Option<RuntimeEventRule>,
    /// A cohort filter, as Mixpanel writes it (opaque to flagops). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort_definition: Option<Json>,
    /// Deprecated: property name → value, all of which must match (use
    /// `runtime_evaluation_rule`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_evaluation_definition: Option<BTreeMap<String, Json>>,
    /// Deprecated: the one variant this group serves (use `variant_splits`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_override: Option<VariantOverride>,
}

macro_rules! mixpanel_fields {
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
            /// Display name, 1–255 characters. Default: the key.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 255))]
            pub name: Option<String>,
            /// Free text. Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// `enabled`, `disabled` or `archived`. Default `disabled`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<Status>,
            /// Tags (a set). Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tags: Option<Vec<String>>,
            /// What variants are assigned by: `distinct_id`, `device_id` or a data group's
            /// key (e.g. `account_id`); it cannot change once the flag has been enabled.
            /// Default `distinct_id`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 255))]
            pub context: Option<String>,
            /// Where the flag is evaluated: `client`, `server`, `remote_or_local` or
            /// `remote_only`. Default `client`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub serving_method: Option<ServingMethod>,
            /// The data group whose key `context` names. Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub data_group_id: Option<DataGroupId>,
            /// The experiment this flag belongs to (a UUID). Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub experiment_id: Option<String>,
            /// Whether that experiment is running. Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub is_experiment_active: Option<bool>,
            /// The bucketing salt, exactly 32 characters; changing it reshuffles every user.
            /// Default: the one Mixpanel generated (kept).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 32, max = 32))]
            pub hash_salt: Option<String>,
            /// The variants (Mixpanel `ruleset.variants`), at most 10. Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 10))]
            pub variants: Option<Vec<Variant>>,
            /// The rollout groups (Mixpanel `ruleset.rollout`), in evaluation order. Default
            /// none (the flag serves no one).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub rollout: Option<Vec<RolloutGroup>>,
            /// QA testers (Mixpanel `ruleset.test.users`): distinct id → the variant key they
            /// always get. Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub test_users: Option<BTreeMap<String, String>>,
            /// Extra ordering edges: flags (by key) that must exist before this one.
            /// Repository-only: Mixpanel does not store it. Default none.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depends_on: Option<Vec<String>>,
            $($tail)*
        }
    };
}

mixpanel_fields! {
    /// One Mixpanel flag, as written in a YAML document under the flag directories.
    pub struct MixpanelSpec {
        /// The flag's identity (Mixpanel's SDK lookup key): unique per project, 1–255
        /// characters.
        #[schemars(length(min = 1, max = 255))]
        pub key: String,
    }
    /// Per-environment overrides: each field given here replaces the base field wholesale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, MixpanelOverride>,
}

mixpanel_fields! {
    /// A partial flag layered over the base for one environment. Each field present replaces
    /// the base field as a whole (a list is not merged item by item).
    pub struct MixpanelOverride {}
}

/// The names of the fields an override can set, in file order (`key` and `environments`
/// cannot be overridden): what the tests hold the schema and the diff's fields to. Overrides
/// themselves are applied at the document level (`model::format`), with no list.
#[cfg(test)]
pub(crate) const OVERRIDABLE_FIELDS: [&str; 14] = [
    "name",
    "description",
    "status",
    "tags",
    "context",
    "serving_method",
    "data_group_id",
    "experiment_id",
    "is_experiment_active",
    "hash_salt",
    "variants",
    "rollout",
    "test_users",
    "depends_on",
];
