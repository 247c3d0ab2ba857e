//! The resolved Mixpanel flag: a `MixpanelSpec` with every default filled in.
//!
//! This is the shape the rules check, the plan diffs, the local backend stores and the
//! adapter translates. Every field has its effective value, so "absent" and "the default"
//! compare equal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::spec::{DataGroupId, MixpanelSpec, RolloutGroup, ServingMethod, Status, Variant};
use crate::model::Percent;

/// The default `context`: users are bucketed by their distinct id.
pub const DEFAULT_CONTEXT: &str = "distinct_id";

/// A Mixpanel flag with every field resolved.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MixpanelFlag {
    /// Identity (Mixpanel's SDK lookup key).
    pub key: String,
    /// Display name (the key when the file gives none).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Enabled, disabled or archived.
    pub status: Status,
    /// Tags, as written.
    pub tags: Vec<String>,
    /// The variant assignment key.
    pub context: String,
    /// Where the flag is evaluated.
    pub serving_method: ServingMethod,
    /// The data group `context` names.
    pub data_group_id: Option<DataGroupId>,
    /// The linked experiment.
    pub experiment_id: Option<String>,
    /// Whether the linked experiment is running.
    pub is_experiment_active: Option<bool>,
    /// The bucketing salt; `None` when the repository leaves it to Mixpanel.
    pub hash_salt: Option<String>,
    /// Variants, in file order.
    pub variants: Vec<Variant>,
    /// Rollout groups, in evaluation order, each with its `variant_splits` written out.
    pub rollout: Vec<RolloutGroup>,
    /// QA testers: distinct id → variant key.
    pub test_users: BTreeMap<String, String>,
    /// Explicit ordering edges (repository-only).
    pub depends_on: Vec<String>,
    /// When Mixpanel last enabled the flag (service-owned, read from the live flag, never
    /// written or compared): once set, Mixpanel refuses to change `context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<String>,
}

impl MixpanelFlag {
    /// The flag a spec describes, defaults filled in; `environments` is not looked at (the
    /// overrides are applied to the document before).
    pub fn from_spec(spec: &MixpanelSpec) -> MixpanelFlag {
        let variants = spec.variants.clone().unwrap_or_default();
        let defaults = default_splits(&variants);
        let rollout = spec
            .rollout
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|mut group| {
                if group.variant_splits.is_empty() {
                    group.variant_splits.clone_from(&defaults);
                } else {
                    // A variant the group leaves out gets none of it: written as 0, since
                    // Mixpanel's evaluator would give a missing variant its own split.
                    for variant in &variants {
                        group
                            .variant_splits
                            .entry(variant.key.clone())
                            .or_insert(Percent(0.0));
                    }
                }
                group
            })
            .collect();
        MixpanelFlag {
            key: spec.key.clone(),
            name: spec.name.clone().unwrap_or_else(|| spec.key.clone()),
            description: spec.description.clone(),
            status: spec.status.unwrap_or_default(),
            tags: spec.tags.clone().unwrap_or_default(),
            context: spec
                .context
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTEXT.to_owned()),
            serving_method: spec.serving_method.unwrap_or_default(),
            data_group_id: spec.data_group_id.clone(),
            experiment_id: spec.experiment_id.clone(),
            is_experiment_active: spec.is_experiment_active,
            hash_salt: spec.hash_salt.clone(),
            variants,
            rollout,
            test_users: spec.test_users.clone().unwrap_or_default(),
            depends_on: spec.depends_on.clone().unwrap_or_default(),
            enabled_at: None,
        }
    }

    /// The canonical file form of this flag, as `import` writes it: fields at their default
    /// left out (a name equal to the key, a group's `variant_splits` equal to the variants'
    /// splits), no `environments`.
    pub fn to_spec(&self) -> MixpanelSpec {
        let defaults = default_splits(&self.variants);
        let rollout = self
            .rollout
            .iter()
            .cloned()
            .map(|mut group| {
                if same_splits(&group.variant_splits, &defaults) {
                    group.variant_splits.clear();
                }
                group
            })
            .collect::<Vec<_>>();
        MixpanelSpec {
            key: self.key.clone(),
            name: (self.name != self.key).then(|| self.name.clone()),
            description: self.description.clone(),
            status: (self.status != Status::default()).then_some(self.status),
            tags: (!self.tags.is_empty()).then(|| self.tags.clone()),
            context: (self.context != DEFAULT_CONTEXT).then(|| self.context.clone()),
            serving_method: (self.serving_method != ServingMethod::default())
                .then_some(self.serving_method),
            data_group_id: self.data_group_id.clone(),
            experiment_id: self.experiment_id.clone(),
            is_experiment_active: self.is_experiment_active,
            hash_salt: self.hash_salt.clone(),
            variants: (!self.variants.is_empty()).then(|| self.variants.clone()),
            rollout: (!rollout.is_empty()).then_some(rollout),
            test_users: (!self.test_users.is_empty()).then(|| self.test_users.clone()),
            depends_on: (!self.depends_on.is_empty()).then(|| self.depends_on.clone()),
            environments: BTreeMap::new(),
        }
    }

    /// Whether the flag is effectively on: `status: enabled`.
    pub fn is_enabled(&self) -> bool {
        self.status == Status::Enabled
    }
}

/// The variants' own splits, by key: what a rollout group without `variant_splits` uses.
pub fn default_splits(variants: &[Variant]) -> BTreeMap<String, Percent> {
    variants.iter().map(|v| (v.key.clone(), v.split)).collect()
}

fn same_splits(a: &BTreeMap<String, Percent>, b: &BTreeMap<String, Percent>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && va.same(*vb))
}
