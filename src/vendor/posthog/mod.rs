//! PostHog's flag model behind the seam: the file format (`FlagSpec`, field names as in
//! PostHog's API), the resolved flag (`Flag`) and its parts, normalisation, the field-level
//! diff (`Field`) and its words, the rules about one flag, and how the local backend stores
//! it. Its adapter is `backend::posthog`.

mod diff;
mod flag;
mod names;
pub mod normalize;
mod property;
mod risk;
mod rules;
mod spec;
mod words;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde_json::Value;

pub use diff::Field;
pub use flag::{Flag, Grouping};
pub use property::{Condition, OPERATORS, Operator, Property, PropertyType, SortKey};
pub use spec::{BucketingIdentifier, EvaluationRuntime, FlagOverride, FlagSpec, Holdout, Variant};

use super::Model;
use crate::backend::any::SetupError;
use crate::backend::local::LocalModel;
use crate::backend::posthog::PosthogBackend;
use crate::config::Environment;
use crate::model::{Catalogue, FlagFile, Needs, Percent, Reference, Unresolved, VendorFlag};
use crate::plan::Change;
use crate::schema::Compiled;
use diff::diff;
use normalize::{adopt_display_fields, normalize, tag};

/// What PostHog returns for an encrypted payload to callers that may not read it.
pub const ENCRYPTED_SENTINEL: &str = "********* (encrypted)";

impl VendorFlag for Flag {
    fn key(&self) -> &str {
        &self.key
    }

    fn is_enabled(&self) -> bool {
        Flag::is_enabled(self)
    }

    fn references(&self) -> Vec<Reference> {
        Flag::references(self)
    }

    fn evaluation_dependencies(&self) -> BTreeSet<String> {
        Flag::evaluation_dependencies(self)
    }

    fn normalized(&self) -> Self {
        normalize(self)
    }

    type Field = Field;

    fn diff(before: &Self, after: &Self) -> Vec<Change<Field>> {
        diff(before, after)
    }

    fn adopt_display_fields(&mut self, live: &Self) {
        adopt_display_fields(self, live);
    }

    fn ignorable_fields() -> &'static [&'static str] {
        &[
            "name",
            "tags",
            "evaluation_contexts",
            "holdout",
            "early_exit",
            "feature_enrollment",
            "ensure_experience_continuity",
            "evaluation_runtime",
            "bucketing_identifier",
        ]
    }

    fn adopt_ignored(&mut self, live: &Self, field: &str) {
        match field {
            "name" => self.name.clone_from(&live.name),
            "tags" => self.tags.clone_from(&live.tags),
            "evaluation_contexts" => self
                .evaluation_contexts
                .clone_from(&live.evaluation_contexts),
            "holdout" => self.holdout.clone_from(&live.holdout),
            "early_exit" => self.early_exit = live.early_exit,
            "feature_enrollment" => self.feature_enrollment = live.feature_enrollment,
            "ensure_experience_continuity" => {
                self.ensure_experience_continuity = live.ensure_experience_continuity;
            }
            "evaluation_runtime" => self.evaluation_runtime.clone_from(&live.evaluation_runtime),
            "bucketing_identifier" => self
                .bucketing_identifier
                .clone_from(&live.bucketing_identifier),
            _ => {}
        }
    }

    fn has_secrets(&self) -> bool {
        self.has_encrypted_payloads
    }

    fn secret_values(&self) -> Option<&BTreeMap<String, Value>> {
        Some(&self.payloads)
    }

    fn secret_values_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        Some(&mut self.payloads)
    }

    fn is_secret_field(field: Field) -> bool {
        field == Field::Payloads
    }

    fn catalogue_needs(&self) -> Needs {
        names::needs(self)
    }

    fn resolve_names(&mut self, catalogue: &Catalogue) -> Vec<Unresolved> {
        names::resolve(self, catalogue)
    }

    fn naming_needs(&self) -> Needs {
        names::naming_needs(self)
    }

    fn name_ids(&mut self, catalogue: &Catalogue) -> Vec<String> {
        names::name_ids(self, catalogue)
    }

    fn reveal_unknown(&self, desired: &Self) -> Cow<'_, Self> {
        if !self.has_encrypted_payloads {
            return Cow::Borrowed(self);
        }
        let mut out = self.clone();
        for (key, value) in &mut out.payloads {
            if value.as_str() == Some(ENCRYPTED_SENTINEL)
                && let Some(wanted) = desired.payloads.get(key)
            {
                value.clone_from(wanted);
            }
        }
        Cow::Owned(out)
    }
}

static POSTHOG_SCHEMA: LazyLock<Compiled> =
    LazyLock::new(|| Compiled::new(crate::schema::flag_schema::<Flag>()));

/// PostHog's flag files: `FlagSpec`, field names as in PostHog's API.
impl FlagFile for Flag {
    type Spec = FlagSpec;

    const NAME: &'static str = "PostHog";

    const SCHEMA_FILE: &'static str = "posthog-flag.schema.json";

    fn schema() -> &'static Compiled {
        &POSTHOG_SCHEMA
    }

    fn spec_key(spec: &FlagSpec) -> &str {
        &spec.key
    }

    fn from_spec(spec: &FlagSpec) -> Self {
        spec.to_flag()
    }

    fn item_lists() -> &'static [&'static str] {
        &["conditions"]
    }

    fn file_form(&self) -> FlagSpec {
        normalize::file_form(self)
    }

    fn clear_secrets(&self) -> Option<&'static str> {
        (self.has_encrypted_payloads
            && self
                .payloads
                .values()
                .any(|v| v.as_str() != Some(ENCRYPTED_SENTINEL)))
        .then_some("encrypted payloads")
    }

    /// The flag-level aggregation and remote configuration change what conditions mean.
    fn read_together(fields: &mut BTreeSet<String>) {
        const COUPLED: [&str; 3] = [
            "conditions",
            "aggregation_group_type_index",
            "is_remote_configuration",
        ];
        if fields.iter().any(|f| COUPLED.contains(&f.as_str())) {
            fields.insert("conditions".to_owned());
            fields.insert("aggregation_group_type_index".to_owned());
        }
    }

    fn absence_needs_base() -> &'static [&'static str] {
        &["aggregation_group_type_index", "holdout", "variants"]
    }

    /// Payloads and conditions may name variants; conditions may hold group properties that
    /// need the aggregation.
    fn needs_in_base(field: &str) -> &'static [&'static str] {
        match field {
            "variants" => &["payloads", "conditions", "aggregation_group_type_index"],
            "aggregation_group_type_index" => &["conditions"],
            _ => &[],
        }
    }
}

/// PostHog's model in the local backend: stored in its file form, as PostHog stores it.
impl LocalModel for Flag {
    type Stored = FlagSpec;

    fn to_stored(&self) -> FlagSpec {
        self.to_spec()
    }

    fn from_stored(stored: &FlagSpec) -> Self {
        stored.resolve(None).0
    }

    /// Tags trimmed, lower-cased and deduplicated, every condition's aggregation written
    /// out, no `depends_on` (a repository-only field).
    fn as_stored(&self) -> Self {
        let mut out = self.clone();
        let mut seen = BTreeSet::new();
        out.tags = self
            .tags
            .iter()
            .map(|t| tag(t))
            .filter(|t| !t.is_empty() && seen.insert(t.clone()))
            .collect();
        out.make_aggregation_explicit();
        out.depends_on.clear();
        out
    }

    /// As PostHog: every cohort must exist, not be deleted and have no behavioural filters;
    /// a name is never stored.
    fn catalogue_refusal(&self, catalogue: &Catalogue) -> Option<String> {
        let mut resolved = self.clone();
        names::resolve(&mut resolved, catalogue)
            .into_iter()
            .next()
            .map(|u| u.message)
    }

    fn refusal(&self) -> Option<&'static str> {
        let outside = |p: Percent| !(0.0..=100.0).contains(&p.get());
        if !crate::model::is_valid_key(&self.key) {
            Some("a key may only contain letters, numbers, hyphens and underscores")
        } else if self.archived && self.active {
            Some("an archived flag must be disabled")
        } else if self
            .conditions
            .iter()
            .filter_map(|c| c.rollout_percentage)
            .chain(self.variants.iter().map(|v| v.rollout_percentage))
            .any(outside)
        {
            Some("a rollout must be a number from 0 to 100")
        } else if !self.variants.is_empty()
            && !Percent(
                self.variants
                    .iter()
                    .map(|v| v.rollout_percentage.get())
                    .sum(),
            )
            .same(Percent::FULL)
        {
            Some("the variants' rollouts must add up to 100")
        } else {
            None
        }
    }
}

impl Model for Flag {
    type Remote = PosthogBackend;

    fn remote(name: &str, environment: &Environment) -> Result<PosthogBackend, SetupError> {
        Ok(PosthogBackend::from_environment(name, environment)?)
    }

    const PROJECT: &'static str = "PostHog project";

    const SERVICE: crate::config::Service = crate::config::Service::Posthog;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// PostHog's field names, which only its model (`src/vendor/posthog/`) and adapter
    /// (`src/backend/posthog/`) may name: the top-level fields of its file format (from its
    /// schema) but the generic `key`, `name`, `depends_on` and `environments`, and a
    /// condition's `rollout_percentage`.
    fn posthog_field_names() -> Vec<String> {
        let schema = crate::schema::flag_schema::<super::Flag>();
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|f| !["key", "name", "depends_on", "environments"].contains(&f.as_str()))
            .cloned()
            .collect();
        names.push("rollout_percentage".to_owned());
        assert!(names.len() > 10, "{names:?}");
        names
    }

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The PostHog field names `text` uses as whole words.
    fn posthog_fields(text: &str) -> Vec<String> {
        let words: BTreeSet<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        posthog_field_names()
            .into_iter()
            .filter(|f| words.contains(f.as_str()))
            .collect()
    }

    /// The core (everything outside the vendors' models and adapters, tests of PostHog
    /// behaviour aside) names no PostHog field.
    #[test]
    fn the_core_names_no_posthog_field() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut leaks = Vec::new();
        let mut checked = 0;
        for path in files {
            let name = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let vendor = name.starts_with("vendor/")
                || name.starts_with("backend/posthog/")
                || name.starts_with("backend/mixpanel/");
            let tests = name.ends_with("tests.rs");
            if vendor || tests {
                continue;
            }
            checked += 1;
            let found = posthog_fields(&std::fs::read_to_string(&path).unwrap());
            if !found.is_empty() {
                leaks.push(format!("{name}: {found:?}"));
            }
        }
        assert!(checked > 50, "only {checked} files checked");
        assert_eq!(
            leaks,
            Vec::<String>::new(),
            "PostHog fields named in the core"
        );
        assert_eq!(posthog_fields("if flag.active {"), vec!["active"]);
        assert_eq!(
            posthog_fields("an inactive flag, `is_active`"),
            Vec::<String>::new()
        );
    }

    /// What the local backend refuses as PostHog does, whatever the file or a hand-edited
    /// plan says: a rollout outside 0–100, variants that do not add up to 100.
    #[test]
    fn what_posthog_refuses() {
        use crate::backend::local::LocalModel as _;
        let refusal = |doc: serde_json::Value| {
            serde_json::from_value::<super::FlagSpec>(doc)
                .unwrap()
                .to_flag()
                .refusal()
        };
        let variants = |a: f64, b: f64| {
            serde_json::json!({"key": "f", "variants": [
                {"key": "a", "rollout_percentage": a}, {"key": "b", "rollout_percentage": b}]})
        };
        assert_eq!(refusal(variants(40.0, 60.0)), None);
        assert_eq!(
            refusal(variants(90.0, 50.0)),
            Some("the variants' rollouts must add up to 100")
        );
        assert_eq!(
            refusal(variants(120.0, -20.0)),
            Some("a rollout must be a number from 0 to 100")
        );
        for rollout in [-5.0, 100.5, 1e308] {
            assert_eq!(
                refusal(
                    serde_json::json!({"key": "f", "conditions": [{"rollout_percentage": rollout}]})
                ),
                Some("a rollout must be a number from 0 to 100"),
                "{rollout}"
            );
        }
        assert_eq!(
            refusal(serde_json::json!({"key": "f", "conditions": [{"rollout_percentage": 0}, {}]})),
            None
        );
    }
}
