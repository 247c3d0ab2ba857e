//! Conditions and their property filters: the targeting part of a flag.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Percent;

/// One release condition (PostHog `filters.groups[]`). Conditions are OR-ed in order; the
/// properties of one condition are AND-ed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Property filters that must all match. Empty or absent: everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
    /// Share of matching users (or groups) that get the flag, 0–100. Absent means 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_percentage: Option<Percent>,
    /// Force this variant for users matching this condition (multivariate flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Aggregate this condition by a group type index instead of persons. Absent: the
    /// flag-level `aggregation_group_type_index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub aggregation_group_type_index: Option<u32>,
    /// Aggregate this condition by the group type with this name (`company`) instead of its
    /// index: resolved in each environment's project when planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400))]
    pub aggregation: Option<String>,
    /// Free text shown in PostHog's UI next to the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Ordering hint kept by PostHog's UI (string or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<SortKey>,
    /// Experiment stamp: exposure of this condition is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure_frozen: Option<bool>,
    /// Experiment stamp: the cohort exposure was frozen into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure_frozen_cohort: Option<i64>,
}

/// PostHog's UI ordering hint: a string or a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SortKey {
    /// A numeric hint.
    Number(serde_json::Number),
    /// A textual hint.
    Text(String),
}

/// What a property filter looks at.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    /// A person property (`email`, `$browser`, …).
    Person,
    /// Membership of a cohort, named by `cohort` (its name) or `value` (its id).
    Cohort,
    /// A property of a group (company, team, …); needs `group_type_index`.
    Group,
    /// Another flag's value: a dependency. Name the other flag with `flag:` (its key).
    Flag,
    /// Person metadata (accepted by PostHog's evaluator).
    PersonMetadata,
}

impl PropertyType {
    /// The name used in files and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::Person => "person",
            PropertyType::Cohort => "cohort",
            PropertyType::Group => "group",
            PropertyType::Flag => "flag",
            PropertyType::PersonMetadata => "person_metadata",
        }
    }
}

/// Declares `Operator`, `OPERATORS` and `Operator::as_str` from one list, so the three
/// cannot drift apart. Serde and the schema use the same names (`rename_all = "snake_case"`,
/// checked by a test).
macro_rules! operators {
    ($($variant:ident => $name:literal,)*) => {
        /// How a property filter compares (PostHog operators; `min`/`max` are written `gte`/`lte`).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            JsonSchema,
        )]
        #[serde(rename_all = "snake_case")]
        #[allow(missing_docs)]
        pub enum Operator {
            $($variant,)*
        }

        /// Every operator, in declaration order.
        pub const OPERATORS: &[Operator] = &[$(Operator::$variant,)*];

        impl Operator {
            /// The name used in files and in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Operator::$variant => $name,)*
                }
            }
        }
    };
}

operators! {
    Exact => "exact",
    IsNot => "is_not",
    Icontains => "icontains",
    NotIcontains => "not_icontains",
    IcontainsMulti => "icontains_multi",
    NotIcontainsMulti => "not_icontains_multi",
    Regex => "regex",
    NotRegex => "not_regex",
    Gt => "gt",
    Gte => "gte",
    Lt => "lt",
    Lte => "lte",
    SemverGt => "semver_gt",
    SemverGte => "semver_gte",
    SemverLt => "semver_lt",
    SemverLte => "semver_lte",
    SemverEq => "semver_eq",
    SemverNeq => "semver_neq",
    SemverTilde => "semver_tilde",
    SemverCaret => "semver_caret",
    SemverWildcard => "semver_wildcard",
    IsSet => "is_set",
    IsNotSet => "is_not_set",
    IsDateExact => "is_date_exact",
    IsDateAfter => "is_date_after",
    IsDateBefore => "is_date_before",
    In => "in",
    NotIn => "not_in",
    FlagEvaluatesTo => "flag_evaluates_to",
}

impl Operator {
    /// Parse an operator name, accepting PostHog's `min`/`max` aliases.
    pub fn parse(name: &str) -> Option<Operator> {
        match name {
            "min" => Some(Operator::Gte),
            "max" => Some(Operator::Lte),
            _ => OPERATORS.iter().copied().find(|op| op.as_str() == name),
        }
    }

    /// Operators that compare semantic versions.
    pub fn is_semver(self) -> bool {
        self.as_str().starts_with("semver_")
    }

    /// Operators that compare dates.
    pub fn is_date(self) -> bool {
        self.as_str().starts_with("is_date_")
    }
}

/// One property filter of a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Property {
    /// What the filter looks at.
    #[serde(rename = "type")]
    pub kind: PropertyType,
    /// The property name (`email`), or `id` for a cohort. Not used for `type: flag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For `type: flag`: the key of the flag this one depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Comparison. Absent means `exact` (and `flag_evaluates_to` for flag properties).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    /// What to compare with: a scalar, a list (any-of), a cohort id, or for a flag
    /// dependency `true`/`false` or a variant key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// For `type: cohort`: the cohort's name, instead of its id in `value`; resolved to the
    /// id in each environment's project when planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400))]
    pub cohort: Option<String>,
    /// Invert the match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negation: Option<bool>,
    /// For `type: group`: which group type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub group_type_index: Option<u32>,
    /// For `type: group`: the group type's name (`company`), instead of `group_type_index`;
    /// resolved in each environment's project when planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400))]
    pub group_type: Option<String>,
    /// Display label kept by PostHog's UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Property {
    /// The operator this filter really uses (`exact` or `flag_evaluates_to` when absent).
    pub fn effective_operator(&self) -> Operator {
        match (self.operator, self.kind) {
            (Some(op), _) => op,
            (None, PropertyType::Flag) => Operator::FlagEvaluatesTo,
            (None, _) => Operator::Exact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OPERATORS, Operator};

    #[test]
    fn operator_names_match_their_serde_names() {
        assert_eq!(OPERATORS.len(), 29);
        for op in OPERATORS {
            let json = serde_json::to_value(op).unwrap();
            assert_eq!(json, op.as_str());
            assert_eq!(Operator::parse(op.as_str()), Some(*op));
        }
        assert_eq!(Operator::parse("min"), Some(Operator::Gte));
        assert_eq!(Operator::parse("max"), Some(Operator::Lte));
    }
}
