//! Mixpanel's flag behind the core's seams: `model::VendorFlag` (identity, on/off,
//! dependencies, canonical form, diff, ignorable fields) and `backend::local::LocalModel` (the
//! local backend in Mixpanel mode).
//!
//! Mixpanel flags hold no secret values (no encrypted payloads), so the secret hooks keep
//! their defaults: nothing is masked.

use std::collections::BTreeSet;

use super::diff::{MixpanelField, diff};
use super::flag::MixpanelFlag;
use super::normalize::{adopt_display_fields, normalize};
use super::spec::{MixpanelSpec, Status};
use crate::backend::local::LocalModel;
use crate::model::{Reference, VendorFlag};
use crate::plan::Change;

/// The longest key, name and context Mixpanel accepts, in characters.
pub const MAX_TEXT_LEN: usize = 255;

/// The length of a `hash_salt`, in characters.
pub const HASH_SALT_LEN: usize = 32;

/// The most variants Mixpanel's request schema accepts (its documentation says 10, which the
/// rules enforce).
pub const SCHEMA_MAX_VARIANTS: usize = 11;

impl VendorFlag for MixpanelFlag {
    /// Text of 1 to 255 characters, none of them a control character (which no one types;
    /// a key holding one came from somewhere hostile).
    fn is_valid_key(key: &str) -> bool {
        (1..=MAX_TEXT_LEN).contains(&key.chars().count()) && !key.chars().any(char::is_control)
    }

    fn key_rule() -> &'static str {
        "1 to 255 characters, no control characters"
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn is_enabled(&self) -> bool {
        MixpanelFlag::is_enabled(self)
    }

    /// `depends_on` only: no Mixpanel field names another flag.
    fn references(&self) -> Vec<Reference> {
        self.depends_on
            .iter()
            .enumerate()
            .map(|(i, target)| Reference {
                target: target.clone(),
                pointer: format!("/depends_on/{i}"),
                field: "depends_on",
            })
            .collect()
    }

    /// None: Mixpanel evaluates no flag from another, so disabling one guards nothing.
    fn evaluation_dependencies(&self) -> BTreeSet<String> {
        BTreeSet::new()
    }

    fn normalized(&self) -> Self {
        normalize(self)
    }

    type Field = MixpanelField;

    fn diff(before: &Self, after: &Self) -> Vec<Change<MixpanelField>> {
        diff(before, after)
    }

    fn adopt_display_fields(&mut self, live: &Self) {
        adopt_display_fields(self, live);
    }

    /// Display fields, and the experiment link Mixpanel's experiment lifecycle changes on its
    /// own.
    fn ignorable_fields() -> &'static [&'static str] {
        &[
            "name",
            "description",
            "tags",
            "experiment_id",
            "is_experiment_active",
        ]
    }

    fn adopt_ignored(&mut self, live: &Self, field: &str) {
        match field {
            "name" => self.name.clone_from(&live.name),
            "description" => self.description.clone_from(&live.description),
            "tags" => self.tags.clone_from(&live.tags),
            "experiment_id" => self.experiment_id.clone_from(&live.experiment_id),
            "is_experiment_active" => self.is_experiment_active = live.is_experiment_active,
            _ => {}
        }
    }

    /// Archiving is how Mixpanel deletes by default (`DELETE` only with `hard_delete`).
    fn is_archived(&self) -> bool {
        self.status == Status::Archived
    }

    /// Mixpanel refuses to change `context` once the flag has been enabled.
    ///
    /// Nor is an archived flag brought back by a plan: its key is taken by the archive, and
    /// bringing it back is a decision made in Mixpanel.
    fn refused_update(live: &Self, desired: &Self) -> Option<(String, String)> {
        if live.status == Status::Archived && desired.status != Status::Archived {
            return Some((
                format!(
                    "`{}` is the key of an archived flag in this project (Mixpanel keeps the \
                     keys of archived flags)",
                    live.key
                ),
                "restore the flag in Mixpanel and plan again, write `status: archived` to keep \
                 it archived, or give this flag another key"
                    .to_owned(),
            ));
        }
        let enabled_once = live.enabled_at.is_some() || live.status == Status::Enabled;
        (enabled_once && live.context != desired.context).then(|| {
            (
                format!(
                    "`{}` has been enabled, and Mixpanel then refuses to change its `context` \
                     (`{}` → `{}`)",
                    live.key, live.context, desired.context
                ),
                format!(
                    "keep `context: {}`, or give the flag for the new context a new key",
                    live.context
                ),
            )
        })
    }
}

/// Mixpanel's model in the local backend: stored in its canonical file form.
impl LocalModel for MixpanelFlag {
    type Stored = MixpanelSpec;

    fn to_stored(&self) -> MixpanelSpec {
        self.to_spec()
    }

    fn from_stored(stored: &MixpanelSpec) -> Self {
        MixpanelFlag::from_spec(stored)
    }

    /// No `depends_on` (a repository-only field), the control not sticky (Mixpanel forces
    /// it). A missing `hash_salt` stays missing: the local backend does not invent one.
    fn as_stored(&self) -> Self {
        let mut out = self.clone();
        out.depends_on.clear();
        for variant in &mut out.variants {
            if variant.is_control {
                variant.is_sticky = false;
            }
        }
        out
    }

    /// What Mixpanel's request schema refuses: texts out of their lengths, a salt that is not
    /// 32 characters, percentages above 100% (fractions above 1), too many variants.
    fn refusal(&self) -> Option<&'static str> {
        let within = |text: &str| (1..=MAX_TEXT_LEN).contains(&text.chars().count());
        let over = |p: crate::model::Percent| !(0.0..=100.0).contains(&p.get());
        if !within(&self.key) {
            Some("a key must be 1 to 255 characters")
        } else if !within(&self.name) {
            Some("a name must be 1 to 255 characters")
        } else if !within(&self.context) {
            Some("a context must be 1 to 255 characters")
        } else if self
            .hash_salt
            .as_ref()
            .is_some_and(|s| s.chars().count() != HASH_SALT_LEN)
        {
            Some("a hash_salt must be exactly 32 characters")
        } else if self.variants.len() > SCHEMA_MAX_VARIANTS {
            Some("a flag has at most 11 variants")
        } else if self.variants.iter().any(|v| over(v.split))
            || self
                .rollout
                .iter()
                .any(|g| over(g.rollout_percentage) || g.variant_splits.values().copied().any(over))
        {
            Some("a percentage must be between 0 and 100")
        } else {
            None
        }
    }
}

static MIXPANEL_SCHEMA: std::sync::LazyLock<crate::schema::Compiled> =
    std::sync::LazyLock::new(|| {
        crate::schema::Compiled::new(crate::schema::flag_schema::<MixpanelFlag>())
    });

/// Mixpanel's flag files: `MixpanelSpec`, the flag object's field names with the ruleset's
/// parts at the top level and percentages written 0–100.
impl crate::model::FlagFile for MixpanelFlag {
    type Spec = MixpanelSpec;

    const NAME: &'static str = "Mixpanel";

    const SCHEMA_FILE: &'static str = "mixpanel-flag.schema.json";

    fn schema() -> &'static crate::schema::Compiled {
        &MIXPANEL_SCHEMA
    }

    fn spec_key(spec: &MixpanelSpec) -> &str {
        &spec.key
    }

    fn from_spec(spec: &MixpanelSpec) -> Self {
        MixpanelFlag::from_spec(spec)
    }

    fn file_form(&self) -> MixpanelSpec {
        super::normalize::file_form(self)
    }
}

impl crate::vendor::Model for MixpanelFlag {
    type Remote = crate::backend::mixpanel::MixpanelBackend;

    fn remote(
        name: &str,
        environment: &crate::config::Environment,
    ) -> Result<Self::Remote, crate::backend::any::SetupError> {
        let rate = environment.rate_limit.unwrap_or_default();
        let config = crate::backend::mixpanel::MixpanelConfig {
            region: environment.region,
            host: environment.host.clone(),
            project_id: environment.project_id,
            workspace_id: environment.workspace_id,
            username_env: environment.username_env.clone(),
            secret_env: environment.secret_env.clone(),
            hard_delete: environment.hard_delete,
            per_minute: rate.per_minute,
            per_hour: rate.per_hour,
        };
        crate::backend::mixpanel::MixpanelBackend::from_config(name, &config)
            .map_err(|e| crate::backend::any::SetupError::Settings(e.to_string()))
    }

    const PROJECT: &'static str = "Mixpanel project";

    const SERVICE: crate::config::Service = crate::config::Service::Mixpanel;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::vendor::mixpanel::tests::flag;

    #[test]
    fn identity_status_and_dependencies() {
        let f = flag(json!({"key": "a", "status": "enabled", "depends_on": ["c", "b", "c"]}));
        assert_eq!(VendorFlag::key(&f), "a");
        assert!(VendorFlag::is_enabled(&f));
        assert_eq!(
            f.dependencies().into_iter().collect::<Vec<_>>(),
            vec!["b", "c"]
        );
        assert!(f.evaluation_dependencies().is_empty());
        assert!(!VendorFlag::is_enabled(&flag(json!({"key": "a"}))));
        assert!(!VendorFlag::is_enabled(&flag(
            json!({"key": "a", "status": "archived"})
        )));
        assert!(!f.has_secrets());
        assert!(f.secret_values().is_none());
    }

    #[test]
    fn every_ignorable_field_is_adopted_from_live() {
        let live = flag(
            json!({"key": "a", "name": "Live", "description": "d", "tags": ["t"],
            "experiment_id": "e", "is_experiment_active": true}),
        );
        let mut desired = flag(json!({"key": "a"}));
        for field in MixpanelFlag::ignorable_fields() {
            desired.adopt_ignored(&live, field);
        }
        assert_eq!(desired, live);
        desired.adopt_ignored(&flag(json!({"key": "a", "status": "enabled"})), "status");
        assert!(!MixpanelFlag::is_enabled(&desired));
    }

    #[test]
    fn the_local_backend_stores_the_canonical_file_form() {
        let f = flag(json!({"key": "a", "status": "enabled", "depends_on": ["b"],
            "variants": [{"key": "c", "value": 1, "split": 100, "is_control": true, "is_sticky": true}],
            "rollout": [{"rollout_percentage": 10}]}));
        let stored = f.as_stored();
        assert!(stored.depends_on.is_empty());
        assert!(!stored.variants[0].is_sticky);
        assert_eq!(stored.hash_salt, None);
        let spec = stored.to_stored();
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"key": "a", "status": "enabled",
                "variants": [{"key": "c", "value": 1, "split": 100, "is_control": true}],
                "rollout": [{"rollout_percentage": 10}]})
        );
        assert_eq!(MixpanelFlag::from_stored(&spec), stored);
    }

    #[test]
    fn what_mixpanel_refuses() {
        let refusal = |v| flag(v).refusal();
        assert_eq!(refusal(json!({"key": "a"})), None);
        assert_eq!(
            refusal(json!({"key": ""})),
            Some("a key must be 1 to 255 characters")
        );
        assert_eq!(refusal(json!({"key": "é".repeat(255)})), None);
        assert_eq!(
            refusal(json!({"key": "a".repeat(256)})),
            Some("a key must be 1 to 255 characters")
        );
        assert_eq!(
            refusal(json!({"key": "a", "name": ""})),
            Some("a name must be 1 to 255 characters")
        );
        assert_eq!(
            refusal(json!({"key": "a", "context": ""})),
            Some("a context must be 1 to 255 characters")
        );
        assert_eq!(
            refusal(json!({"key": "a", "hash_salt": "short"})),
            Some("a hash_salt must be exactly 32 characters")
        );
        let variants: Vec<_> = (0..12)
            .map(|i| json!({"key": format!("v{i}"), "value": i, "split": 0}))
            .collect();
        assert_eq!(
            refusal(json!({"key": "a", "variants": variants})),
            Some("a flag has at most 11 variants")
        );
        assert_eq!(
            refusal(json!({"key": "a", "rollout": [{"rollout_percentage": 101}]})),
            Some("a percentage must be between 0 and 100")
        );
        assert_eq!(
            refusal(json!({"key": "a", "variants": [{"key": "c", "value": 1, "split": -1}]})),
            Some("a percentage must be between 0 and 100")
        );
    }
}
