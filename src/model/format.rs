//! A vendor's flag file format, and environment overrides applied at the document level.
//!
//! `source` reads each flag document into the vendor's `FlagFile::Spec` (checked against that
//! vendor's schema); `rules`, `plan` and `graph` resolve it for one environment with
//! [`resolve`]: the override's keys replace the base document's keys before the flag is
//! built, for every vendor alike, and [`Origins`] remembers which keys came from the override
//! so that findings point at the line a person wrote. `import` writes `FlagFile::to_spec`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::VendorFlag;
use crate::schema::Compiled;
use crate::util::escape_pointer;

/// The key of the overrides in a flag document.
pub const ENVIRONMENTS: &str = "environments";

/// What a vendor's model brings to read and write flag files.
pub trait FlagFile: VendorFlag + PartialEq {
    /// One flag document as written: the flag's fields, `depends_on` and the
    /// `environments` overrides (a mapping of environment name to a partial document).
    type Spec: Clone + Debug + PartialEq + Serialize + DeserializeOwned + JsonSchema + Send + Sync;

    /// The service's name in messages (`PostHog`).
    const NAME: &'static str;

    /// The file name of the flag schema under `schemas/`.
    const SCHEMA_FILE: &'static str;

    /// The flag schema, compiled once.
    fn schema() -> &'static Compiled;

    /// The key a document defines.
    fn spec_key(spec: &Self::Spec) -> &str;

    /// The flag a document describes, its overrides ignored, defaults filled in.
    fn from_spec(spec: &Self::Spec) -> Self;

    /// The document `import` writes for this (live) flag: its canonical form, only what
    /// differs from the defaults, no overrides. Reading it back and normalizing gives the
    /// canonical form again.
    fn file_form(&self) -> Self::Spec;

    /// What the file form holds in the clear that the service keeps secret, in words
    /// (PostHog: its encrypted values), for import's warning. By default nothing.
    fn clear_secrets(&self) -> Option<&'static str> {
        None
    }

    /// Import's merge: the top-level fields read together with those in `fields` (when one
    /// differs, all of them are written into the override). By default none.
    fn read_together(_fields: &mut BTreeSet<String>) {}

    /// Import's merge: the top-level fields whose absence an override cannot express (no
    /// value, or an empty list the schema refuses). By default none.
    fn absence_needs_base() -> &'static [&'static str] {
        &[]
    }

    /// Import's merge: the base fields that are not valid without `field` (moved out of the
    /// base with it). By default none.
    fn needs_in_base(_field: &str) -> &'static [&'static str] {
        &[]
    }

    /// The top-level lists whose items a schema error leaves out one by one (replaced by an
    /// empty item that no rule reports on) rather than the whole list (PostHog: its release
    /// rules). Their items must accept `{}`. By default none.
    fn item_lists() -> &'static [&'static str] {
        &[]
    }

    /// The environments a document overrides, with their partial documents.
    fn overrides(spec: &Self::Spec) -> BTreeMap<String, Value> {
        match serde_json::to_value(spec) {
            Ok(Value::Object(mut doc)) => match doc.remove(ENVIRONMENTS) {
                Some(Value::Object(envs)) => envs.into_iter().collect(),
                _ => BTreeMap::new(),
            },
            _ => BTreeMap::new(),
        }
    }
}

/// For each top-level field of a resolved flag, the JSON pointer prefix of the mapping it was
/// written in: `""` for the base document, `/environments/<name>` for an override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    overridden: BTreeMap<String, String>,
}

impl Origins {
    /// The pointer of `field` plus `rest` (which starts with `/` or is empty).
    pub fn pointer(&self, field: &str, rest: &str) -> String {
        let prefix = self.overridden.get(field).map_or("", String::as_str);
        format!("{prefix}/{field}{rest}")
    }

    /// The pointer of a pointer that starts with `/<field>`.
    pub fn resolve(&self, pointer: &str) -> String {
        let field = pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        match self.overridden.get(field) {
            Some(prefix) => format!("{prefix}{pointer}"),
            None => pointer.to_owned(),
        }
    }

    /// Whether any field came from an override.
    pub fn is_overridden(&self) -> bool {
        !self.overridden.is_empty()
    }
}

/// The document `spec` describes for `environment` (`None`: the base alone): see
/// [`apply_override`]. Without an override for `environment` the document is the base,
/// unchanged.
pub fn overlay<S: Serialize + DeserializeOwned + Clone>(
    spec: &S,
    environment: Option<&str>,
) -> (S, Origins) {
    let over = environment.and_then(|env| {
        let Ok(Value::Object(mut doc)) = serde_json::to_value(spec) else {
            return None;
        };
        match doc.remove(ENVIRONMENTS) {
            Some(Value::Object(mut envs)) => envs.remove(env).map(|over| (env, over)),
            _ => None,
        }
    });
    match over {
        Some((env, over)) => apply_override(spec, env, &over),
        None => (spec.clone(), Origins::default()),
    }
}

/// `spec` with the override `over` of `environment` laid over it: each key the override gives
/// replaces the base key as a whole (a list is not merged item by item); a key given as `null`
/// replaces nothing (`rules` warns about it). An override that is not a mapping changes
/// nothing.
pub fn apply_override<S: Serialize + DeserializeOwned + Clone>(
    spec: &S,
    environment: &str,
    over: &Value,
) -> (S, Origins) {
    let mut origins = Origins::default();
    let (Value::Object(over), Ok(Value::Object(mut doc))) = (over, serde_json::to_value(spec))
    else {
        return (spec.clone(), origins);
    };
    doc.remove(ENVIRONMENTS);
    let prefix = format!("/{ENVIRONMENTS}/{}", escape_pointer(environment));
    for (field, value) in over {
        if value.is_null() || field == ENVIRONMENTS {
            continue;
        }
        origins.overridden.insert(field.clone(), prefix.clone());
        doc.insert(field.clone(), value.clone());
    }
    // Both halves passed the same schema, and an override cannot hold a field the base
    // cannot: the merged document is a valid one.
    match serde_json::from_value(Value::Object(doc)) {
        Ok(merged) => (merged, origins),
        Err(_) => (spec.clone(), Origins::default()),
    }
}

/// The flag `spec` describes for `environment`, and where each of its fields was written.
pub fn resolve<F: FlagFile>(spec: &F::Spec, environment: Option<&str>) -> (F, Origins) {
    let (doc, origins) = overlay(spec, environment);
    (F::from_spec(&doc), origins)
}
