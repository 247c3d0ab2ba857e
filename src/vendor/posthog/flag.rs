//! The resolved flag: one environment's view of a `FlagSpec`, defaults filled in.
//!
//! This is the shape the rules check, the plan diffs and the backends translate. Every field
//! has its effective value, so "absent" and "the default" compare equal.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::property::{Condition, PropertyType};
use super::spec::{BucketingIdentifier, EvaluationRuntime, FlagSpec, Holdout, Variant};
use crate::model::{Origins, Percent, Reference};

/// A flag with every field resolved for one environment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Flag {
    /// Identity.
    pub key: String,
    /// Name / description.
    pub name: String,
    /// Enabled.
    pub active: bool,
    /// Archived.
    pub archived: bool,
    /// Tags, as written.
    pub tags: Vec<String>,
    /// Evaluation contexts.
    pub evaluation_contexts: Vec<String>,
    /// Release conditions.
    pub conditions: Vec<Condition>,
    /// Flag-level aggregation (group type index), `None` for persons.
    pub aggregation_group_type_index: Option<u32>,
    /// Flag-level aggregation by group type name, until the plan resolves it to an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<String>,
    /// Variants; empty for a boolean flag.
    pub variants: Vec<Variant>,
    /// Payloads by variant key (or `true`).
    pub payloads: BTreeMap<String, Value>,
    /// Holdout.
    pub holdout: Option<Holdout>,
    /// Stop at first matching condition.
    pub early_exit: bool,
    /// Early-access gate.
    pub feature_enrollment: bool,
    /// Persist across authentication.
    pub ensure_experience_continuity: bool,
    /// Runtime.
    pub evaluation_runtime: EvaluationRuntime,
    /// Bucketing.
    pub bucketing_identifier: BucketingIdentifier,
    /// Remote configuration.
    pub is_remote_configuration: bool,
    /// Encrypted payloads.
    pub has_encrypted_payloads: bool,
    /// Explicit ordering edges.
    pub depends_on: Vec<String>,
}

impl Flag {
    /// Whether the flag is effectively on: active and not archived. The one definition used
    /// by plan checks, apply order and the local backend's dependency rules.
    pub fn is_enabled(&self) -> bool {
        self.active && !self.archived
    }

    /// Whether the flag is multivariate.
    pub fn is_multivariate(&self) -> bool {
        !self.variants.is_empty()
    }

    /// The aggregation a condition really uses.
    pub fn condition_aggregation(&self, condition: &Condition) -> Option<u32> {
        condition
            .aggregation_group_type_index
            .or(self.aggregation_group_type_index)
    }

    /// The group type a condition aggregates by as written (by index or by name; the
    /// condition's own, else the flag's), `None` for persons.
    pub fn condition_grouping<'a>(&'a self, condition: &'a Condition) -> Option<Grouping<'a>> {
        Grouping::of(
            condition.aggregation.as_deref(),
            condition.aggregation_group_type_index,
        )
        .or_else(|| {
            Grouping::of(
                self.aggregation.as_deref(),
                self.aggregation_group_type_index,
            )
        })
    }

    /// Every flag this one depends on, with where the dependency is written.
    pub fn references(&self) -> Vec<Reference> {
        let mut refs = Vec::new();
        for (ci, condition) in self.conditions.iter().enumerate() {
            for (pi, property) in condition.properties.iter().enumerate() {
                if property.kind == PropertyType::Flag
                    && let Some(target) = &property.flag
                {
                    refs.push(Reference {
                        target: target.clone(),
                        pointer: format!("/conditions/{ci}/properties/{pi}/flag"),
                        field: "conditions",
                    });
                }
            }
        }
        for (i, target) in self.depends_on.iter().enumerate() {
            refs.push(Reference {
                target: target.clone(),
                pointer: format!("/depends_on/{i}"),
                field: "depends_on",
            });
        }
        refs
    }

    /// The keys this flag's evaluation depends on (`type: flag` properties only, not the
    /// ordering-only `depends_on`), deduplicated and sorted: what PostHog guards when a flag
    /// is disabled.
    pub fn evaluation_dependencies(&self) -> BTreeSet<String> {
        self.references()
            .into_iter()
            .filter(|r| r.field == "conditions")
            .map(|r| r.target)
            .collect()
    }

    /// Write each condition's aggregation out (folding in the flag-level value) and recompute
    /// the flag-level value as PostHog does: the value all conditions share, else none. A flag
    /// without conditions keeps its flag-level value.
    pub fn make_aggregation_explicit(&mut self) {
        let flag_level = self.aggregation_group_type_index;
        for condition in &mut self.conditions {
            condition.aggregation_group_type_index =
                condition.aggregation_group_type_index.or(flag_level);
        }
        if let Some(first) = self.conditions.first() {
            let shared = first.aggregation_group_type_index;
            self.aggregation_group_type_index = self
                .conditions
                .iter()
                .all(|c| c.aggregation_group_type_index == shared)
                .then_some(shared)
                .flatten();
        }
    }

    /// The effective rollout of a condition (absent means 100%).
    pub fn rollout(condition: &Condition) -> Percent {
        condition.rollout_percentage.unwrap_or(Percent::FULL)
    }
}

/// A group type as a flag file names it: by index, or by name (resolved when planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping<'a> {
    /// `aggregation_group_type_index` / `group_type_index`.
    Index(u32),
    /// `aggregation` / `group_type`.
    Name(&'a str),
}

impl<'a> Grouping<'a> {
    /// The grouping written by a name field and an index field (the name first).
    pub fn of(name: Option<&'a str>, index: Option<u32>) -> Option<Self> {
        name.map(Grouping::Name).or(index.map(Grouping::Index))
    }

    /// Whether `self` and `other` are known to differ (both indexes or both names: an index
    /// and a name can only be compared in a project).
    pub fn differs_from(self, other: Grouping<'_>) -> bool {
        match (self, other) {
            (Grouping::Index(a), Grouping::Index(b)) => a != b,
            (Grouping::Name(a), Grouping::Name(b)) => a != b,
            _ => false,
        }
    }
}

impl std::fmt::Display for Grouping<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grouping::Index(i) => write!(f, "group type {i}"),
            Grouping::Name(name) => write!(f, "group type `{name}`"),
        }
    }
}

impl FlagSpec {
    /// Resolve the flag for `environment` (`None`: the base alone). Fields the override sets
    /// replace the base fields; defaults are then filled in.
    pub fn resolve(&self, environment: Option<&str>) -> (Flag, Origins) {
        crate::model::format::resolve(self, environment)
    }

    /// The flag this spec describes, defaults filled in (`environments` is not read: the
    /// overrides are applied to the spec before).
    pub(super) fn to_flag(&self) -> Flag {
        Flag {
            key: self.key.clone(),
            name: self.name.clone().unwrap_or_default(),
            active: self.active.unwrap_or(true),
            archived: self.archived.unwrap_or(false),
            tags: self.tags.clone().unwrap_or_default(),
            evaluation_contexts: self.evaluation_contexts.clone().unwrap_or_default(),
            conditions: self.conditions.clone().unwrap_or_default(),
            aggregation_group_type_index: self.aggregation_group_type_index,
            aggregation: self.aggregation.clone(),
            variants: self.variants.clone().unwrap_or_default(),
            payloads: self.payloads.clone().unwrap_or_default(),
            holdout: self.holdout.clone(),
            early_exit: self.early_exit.unwrap_or(false),
            feature_enrollment: self.feature_enrollment.unwrap_or(false),
            ensure_experience_continuity: self.ensure_experience_continuity.unwrap_or(false),
            evaluation_runtime: self.evaluation_runtime.unwrap_or_default(),
            bucketing_identifier: self.bucketing_identifier.unwrap_or_default(),
            is_remote_configuration: self.is_remote_configuration.unwrap_or(false),
            has_encrypted_payloads: self.has_encrypted_payloads.unwrap_or(false),
            depends_on: self.depends_on.clone().unwrap_or_default(),
        }
    }
}

impl Flag {
    /// The canonical file form of this flag: only fields that differ from the defaults.
    pub fn to_spec(&self) -> FlagSpec {
        let some_if = |b: bool| b.then_some(true);
        FlagSpec {
            key: self.key.clone(),
            name: (!self.name.is_empty()).then(|| self.name.clone()),
            active: (!self.active).then_some(false),
            archived: some_if(self.archived),
            tags: (!self.tags.is_empty()).then(|| self.tags.clone()),
            evaluation_contexts: (!self.evaluation_contexts.is_empty())
                .then(|| self.evaluation_contexts.clone()),
            conditions: Some(self.conditions.clone()),
            aggregation_group_type_index: self.aggregation_group_type_index,
            aggregation: self.aggregation.clone(),
            variants: (!self.variants.is_empty()).then(|| self.variants.clone()),
            payloads: (!self.payloads.is_empty()).then(|| self.payloads.clone()),
            holdout: self.holdout.clone(),
            early_exit: some_if(self.early_exit),
            feature_enrollment: some_if(self.feature_enrollment),
            ensure_experience_continuity: some_if(self.ensure_experience_continuity),
            evaluation_runtime: (self.evaluation_runtime != EvaluationRuntime::All)
                .then_some(self.evaluation_runtime),
            bucketing_identifier: (self.bucketing_identifier != BucketingIdentifier::DistinctId)
                .then_some(self.bucketing_identifier),
            is_remote_configuration: some_if(self.is_remote_configuration),
            has_encrypted_payloads: some_if(self.has_encrypted_payloads),
            depends_on: (!self.depends_on.is_empty()).then(|| self.depends_on.clone()),
            environments: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendor::posthog::FlagOverride;

    #[test]
    fn overrides_replace_fields_and_record_their_origin() {
        let mut spec = FlagSpec {
            key: "a".into(),
            name: Some("A".into()),
            ..FlagSpec::default()
        };
        spec.environments.insert(
            "staging".into(),
            FlagOverride {
                active: Some(false),
                ..FlagOverride::default()
            },
        );
        let (base, origins) = spec.resolve(None);
        assert!(base.active);
        assert!(!origins.is_overridden());
        let (staging, origins) = spec.resolve(Some("staging"));
        assert!(!staging.active);
        assert_eq!(staging.name, "A");
        assert_eq!(
            origins.pointer("active", ""),
            "/environments/staging/active"
        );
        assert_eq!(origins.pointer("name", ""), "/name");
        assert_eq!(origins.resolve("/active"), "/environments/staging/active");
    }

    #[test]
    fn to_spec_round_trips_through_resolve() {
        let flag = Flag {
            key: "k".into(),
            active: false,
            tags: vec!["x".into()],
            evaluation_runtime: EvaluationRuntime::Server,
            ..Flag::default()
        };
        let (back, _) = flag.to_spec().resolve(None);
        assert_eq!(back, flag);
    }
}
