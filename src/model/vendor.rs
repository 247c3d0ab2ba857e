//! The seam between the vendor-neutral core and a vendor's flag model (issue 11).
//!
//! Each flag service has its own flag object (PostHog's is [`Flag`]); the parts of the core
//! that only need a flag's identity, whether it is on, what it depends on, its canonical
//! form, its field-level diff, the fields an environment may `ignore` and its secret values
//! (plan building, order and policy, revisions, masking, live state) are written against
//! [`VendorFlag`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::diff::{Field, diff};
use super::normalize::{adopt_display_fields, normalize, tag};
use super::{Flag, FlagSpec};
use crate::backend::local::LocalModel;
use crate::plan::Change;

/// What PostHog returns for an encrypted payload to callers that may not read it.
pub const ENCRYPTED_SENTINEL: &str = "********* (encrypted)";

/// What the vendor-neutral core needs from a vendor's flag model.
pub trait VendorFlag: Clone + Serialize {
    /// The flag's key: unique per environment, the name everything refers to it by.
    fn key(&self) -> &str;

    /// Whether the flag is effectively on (serves its rules).
    fn is_enabled(&self) -> bool;

    /// The keys of the flags this one depends on, sorted.
    fn dependencies(&self) -> BTreeSet<String>;

    /// The subset of [`dependencies`](VendorFlag::dependencies) the flag's evaluation needs,
    /// which the service guards when a flag is disabled; the rest orders steps only
    /// (`depends_on`). By default every dependency.
    fn evaluation_dependencies(&self) -> BTreeSet<String> {
        self.dependencies()
    }

    /// The canonical form that plans compare and fingerprint: two flags that mean the same
    /// to the service have equal canonical forms.
    #[must_use]
    fn normalized(&self) -> Self;

    /// The model's top-level fields, as named in flag files: what a [`Change`] names.
    type Field: Copy + Ord + Debug + Serialize + DeserializeOwned;

    /// Every change that turns `before` into `after` (both normalized); empty when they are
    /// the same flag.
    fn diff(before: &Self, after: &Self) -> Vec<Change<Self::Field>>;

    /// Take from `live` (normalized) the display-only values the repository leaves out, so
    /// they are not differences. By default none.
    fn adopt_display_fields(&mut self, _live: &Self) {}

    /// The fields an environment may `ignore`: their live value is kept on updates.
    fn ignorable_fields() -> &'static [&'static str] {
        &[]
    }

    /// Take the value of the ignorable `field` (one of
    /// [`ignorable_fields`](VendorFlag::ignorable_fields)) from `live`.
    fn adopt_ignored(&mut self, _live: &Self, _field: &str) {}

    /// Whether the flag holds values no output may show (PostHog: encrypted payloads). A step
    /// whose desired or live flag has them masks [`secret_values`](VendorFlag::secret_values)
    /// on both sides.
    fn has_secrets(&self) -> bool {
        false
    }

    /// The values masked when a step has secrets, by name. By default none.
    fn secret_values(&self) -> Option<&BTreeMap<String, Value>> {
        None
    }

    /// [`secret_values`](VendorFlag::secret_values), to mask or restore them.
    fn secret_values_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        None
    }

    /// Whether changes of `field` carry secret values (masked when the step has secrets).
    fn is_secret_field(_field: Self::Field) -> bool {
        false
    }

    /// This live flag with the values the service would not reveal to flagops taken from
    /// `desired` (they cannot be compared, so they count as equal). By default itself.
    #[must_use]
    fn reveal_unknown(&self, _desired: &Self) -> Self {
        self.clone()
    }
}

impl VendorFlag for Flag {
    fn key(&self) -> &str {
        &self.key
    }

    fn is_enabled(&self) -> bool {
        Flag::is_enabled(self)
    }

    fn dependencies(&self) -> BTreeSet<String> {
        Flag::dependencies(self)
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

    fn reveal_unknown(&self, desired: &Self) -> Self {
        let mut out = self.clone();
        if self.has_encrypted_payloads {
            for (key, value) in &mut out.payloads {
                if value.as_str() == Some(ENCRYPTED_SENTINEL)
                    && let Some(wanted) = desired.payloads.get(key)
                {
                    value.clone_from(wanted);
                }
            }
        }
        out
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

    fn refusal(&self) -> Option<&'static str> {
        if !super::is_valid_key(&self.key) {
            Some("a key may only contain letters, numbers, hyphens and underscores")
        } else if self.archived && self.active {
            Some("an archived flag must be disabled")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::VendorFlag;
    use crate::config::IgnoredField;
    use crate::model::Flag;

    /// Every field the config's `ignore` accepts is one PostHog's model can keep.
    #[test]
    fn every_ignorable_config_field_is_adopted() {
        // The match makes a new `IgnoredField` a compile error here until it is listed.
        let listed = |f: IgnoredField| match f {
            IgnoredField::Name
            | IgnoredField::Tags
            | IgnoredField::EvaluationContexts
            | IgnoredField::Holdout
            | IgnoredField::EarlyExit
            | IgnoredField::FeatureEnrollment
            | IgnoredField::EnsureExperienceContinuity
            | IgnoredField::EvaluationRuntime
            | IgnoredField::BucketingIdentifier => f.as_str(),
        };
        let all = [
            IgnoredField::Name,
            IgnoredField::Tags,
            IgnoredField::EvaluationContexts,
            IgnoredField::Holdout,
            IgnoredField::EarlyExit,
            IgnoredField::FeatureEnrollment,
            IgnoredField::EnsureExperienceContinuity,
            IgnoredField::EvaluationRuntime,
            IgnoredField::BucketingIdentifier,
        ];
        let names: Vec<&str> = all.into_iter().map(listed).collect();
        assert_eq!(names, Flag::ignorable_fields());
    }

    /// PostHog's field names, which only its model (`src/model/`) and adapter
    /// (`src/backend/posthog/`) may name: the fields of its file format but the generic
    /// `name` and `depends_on`, and a condition's `rollout_percentage`.
    fn posthog_field_names() -> impl Iterator<Item = &'static str> {
        crate::model::spec::OVERRIDABLE_FIELDS
            .into_iter()
            .filter(|f| !["name", "depends_on"].contains(f))
            .chain(["rollout_percentage"])
    }

    /// Files outside the vendor modules that still name PostHog's fields (issue 11 goes on):
    /// each must still do so, so that the list only shrinks.
    const NOT_YET_GENERIC: [&str; 5] = [
        "cli/import.rs",
        "config.rs",
        "import/merge.rs",
        "plan/split.rs",
        "source/broken.rs",
    ];

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
    fn posthog_fields(text: &str) -> Vec<&'static str> {
        let words: BTreeSet<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        posthog_field_names()
            .filter(|f| words.contains(f))
            .collect()
    }

    /// The core (outside the vendor models and PostHog's adapter, tests of PostHog behaviour
    /// aside) names no PostHog field, except in the files listed as not yet generic.
    #[test]
    fn the_core_names_no_posthog_field() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut leaks = Vec::new();
        let mut converted = Vec::new();
        for path in files {
            let name = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let vendor = name.starts_with("model/")
                || name.starts_with("vendor/")
                || name.starts_with("backend/posthog/");
            let tests = name.ends_with("tests.rs");
            if vendor || tests {
                continue;
            }
            let found = posthog_fields(&std::fs::read_to_string(&path).unwrap());
            match (NOT_YET_GENERIC.contains(&name.as_str()), found.is_empty()) {
                (false, false) => leaks.push(format!("{name}: {found:?}")),
                (true, true) => converted.push(name),
                _ => {}
            }
        }
        for name in NOT_YET_GENERIC {
            assert!(
                src.join(name).is_file(),
                "{name} is gone: take it off NOT_YET_GENERIC"
            );
        }
        assert_eq!(
            leaks,
            Vec::<String>::new(),
            "PostHog fields named in the core"
        );
        assert_eq!(
            converted,
            Vec::<String>::new(),
            "no longer names PostHog fields: take it off NOT_YET_GENERIC"
        );
        assert_eq!(posthog_fields("if flag.active {"), vec!["active"]);
        assert_eq!(
            posthog_fields("an inactive flag, `is_active`"),
            Vec::<&str>::new()
        );
    }
}
