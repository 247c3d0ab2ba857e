//! Importing one environment into a file that other environments read too.
//!
//! A flag file's base is what every environment starts from and `environments.<name>`
//! replaces top-level fields for one environment (`FlagSpec::resolve`). Rewriting the file
//! from environment E's live flag would change what every other environment resolves to, so
//! [`merge`] keeps the base as written and puts into E's override exactly the top-level
//! fields where E's resolution differs from live (compared as a plan compares them,
//! `plan::differences`), replacing the override's existing value of those fields:
//!
//! - `conditions`, `aggregation_group_type_index` and `is_remote_configuration` are read
//!   together (the flag-level aggregation and remote configuration change what conditions
//!   mean), so when one of them differs, E's override gets both `conditions` and the
//!   aggregation;
//! - an override cannot remove a base value (`field: null` is ignored), so when E has no
//!   `holdout`, no flag-level aggregation or no variants but the base has one, the base
//!   value moves into the override of every other environment that does not already
//!   override the field, and leaves the base; so do the base fields that would not be valid
//!   without it (`payloads` and `conditions`, which may name variants, without `variants`;
//!   `conditions`, which may hold group properties, without the aggregation), and E's
//!   override gets live's value of each;
//! - an override field equal to the base value is dropped (it resolves the same), and an
//!   override left empty is removed;
//! - fields an environment `ignore`s are left as written.
//!
//! The result is checked, never assumed: E must resolve to live with no difference, and every
//! other environment (of the config or of the file) must resolve to exactly the flag it
//! resolved to before; otherwise the file is refused with the reason.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::canonical;
use crate::config::Config;
use crate::model::normalize::normalize;
use crate::model::{Flag, FlagSpec};

/// Fields read together: when one differs, `conditions` and the aggregation are both written.
const COUPLED: [&str; 3] = [
    "conditions",
    "aggregation_group_type_index",
    "is_remote_configuration",
];

/// Fields whose absence an override cannot express (no value, or an empty list the schema
/// refuses).
const ABSENCE_NEEDS_BASE: [&str; 3] = ["aggregation_group_type_index", "holdout", "variants"];

/// The top-level fields where `file` resolved for `env` differs from `live`, compared as a
/// plan compares them, without the fields in `ignored`. Empty when they are in sync.
pub fn differing_fields(
    file: &FlagSpec,
    env: &str,
    live: &Flag,
    ignored: &[&str],
) -> BTreeSet<&'static str> {
    let (resolved, _) = file.resolve(Some(env));
    crate::plan::differences(&resolved, live)
        .into_iter()
        .map(|change| change.field.as_str())
        .filter(|field| !ignored.contains(field))
        .collect()
}

/// `file` changed so that it resolves for `env` to `live` while every environment in
/// `others` (and every other environment the file overrides) resolves exactly as before (see
/// the module documentation). `file` itself when it is already in sync. The error says why
/// no such file was found.
pub fn merge(
    file: &FlagSpec,
    env: &str,
    live: &Flag,
    others: &BTreeSet<String>,
    ignored: &[&str],
) -> Result<FlagSpec, String> {
    let mut fields = differing_fields(file, env, live, ignored);
    if fields.is_empty() {
        return Ok(file.clone());
    }
    couple(&mut fields);
    let target = object(&canonical(live));
    let explicit = object(&normalize(live));
    let mut doc = object(file);
    let mut environments = match doc.remove("environments") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut mine = match environments.remove(env) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut other_names: BTreeSet<String> = others.clone();
    other_names.extend(environments.keys().cloned());
    other_names.remove(env);

    let value_of = |field: &str| match target.get(field).filter(|v| !v.is_null()) {
        Some(value) => Some(value.clone()),
        None if ABSENCE_NEEDS_BASE.contains(&field) => None,
        None => explicit.get(field).filter(|v| !v.is_null()).cloned(),
    };
    // Base fields to move into the other environments' overrides: those `env` must not have,
    // and what would no longer be valid in the base without them (payloads and forced
    // variants without variants, group conditions without their aggregation).
    let mut move_out: BTreeSet<&'static str> = fields
        .iter()
        .copied()
        .filter(|f| ABSENCE_NEEDS_BASE.contains(f) && value_of(f).is_none() && doc.contains_key(*f))
        .collect();
    if move_out.contains("variants") {
        move_out.extend(["payloads", "conditions", "aggregation_group_type_index"]);
    }
    if move_out.contains("aggregation_group_type_index") {
        move_out.insert("conditions");
    }
    move_out.retain(|f| doc.contains_key(*f));
    fields.extend(move_out.iter().copied());
    couple(&mut fields);

    for &field in &fields {
        if move_out.contains(field)
            && let Some(old) = doc.remove(field)
        {
            for name in &other_names {
                let entry = environments
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(over) = entry
                    && !over.contains_key(field)
                {
                    over.insert(field.to_owned(), old.clone());
                }
            }
        }
        match value_of(field) {
            Some(value) => mine.insert(field.to_owned(), value),
            None => mine.remove(field),
        };
    }
    for &field in &fields {
        if mine.get(field).is_some() && mine.get(field) == doc.get(field) {
            mine.remove(field);
        }
    }
    if !mine.is_empty() {
        environments.insert(env.to_owned(), Value::Object(mine));
    }
    if !environments.is_empty() {
        doc.insert("environments".to_owned(), Value::Object(environments));
    }
    let merged: FlagSpec = serde_json::from_value(Value::Object(doc))
        .map_err(|e| format!("the merged flag is not a flag ({e})"))?;

    let left = differing_fields(&merged, env, live, ignored);
    if !left.is_empty() {
        return Err(format!(
            "its overrides cannot express `{env}`'s {}",
            left.into_iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut names = other_names;
    names.extend(merged.environments.keys().cloned());
    names.remove(env);
    for name in &names {
        if merged.resolve(Some(name)).0 != file.resolve(Some(name)).0 {
            return Err(format!(
                "importing `{env}` would change what `{name}` resolves to"
            ));
        }
    }
    Ok(merged)
}

/// What to write into the existing file of `live`, which holds `written`: `None` (the file
/// stays as it is) when it already resolves for `env` to the live flag; the canonical form
/// when no other environment reads it (the config has only `env` and the file no overrides;
/// its `depends_on` and the fields `env` ignores kept as written); else [`merge`]. `Err` says why the file cannot be written.
pub fn existing_file(
    written: &FlagSpec,
    live: &Flag,
    env: &str,
    config: &Config,
) -> Result<Option<FlagSpec>, String> {
    let ignored: Vec<&str> = config
        .environments
        .get(env)
        .map(|e| e.ignore.iter().map(|f| f.as_str()).collect())
        .unwrap_or_default();
    if differing_fields(written, env, live, &ignored).is_empty() {
        return Ok(None);
    }
    let others: BTreeSet<String> = config
        .environments
        .keys()
        .filter(|name| *name != env)
        .cloned()
        .collect();
    if others.is_empty() && written.environments.is_empty() {
        // `depends_on` (no service stores it) and the fields the environment ignores are the
        // repository's: kept as written.
        let mut spec = object(&canonical(live));
        let written_fields = object(written);
        for field in ignored.iter().copied().chain(["depends_on"]) {
            match written_fields.get(field) {
                Some(value) => spec.insert(field.to_owned(), value.clone()),
                None => spec.remove(field),
            };
        }
        return serde_json::from_value(Value::Object(spec))
            .map(Some)
            .map_err(|e| format!("the imported flag is not a flag ({e})"));
    }
    merge(written, env, live, &others, &ignored).map(Some)
}

/// Add `conditions` and the aggregation when `fields` holds one of [`COUPLED`].
fn couple(fields: &mut BTreeSet<&'static str>) {
    if fields.iter().any(|f| COUPLED.contains(f)) {
        fields.insert("conditions");
        fields.insert("aggregation_group_type_index");
    }
}

fn object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(value: Value) -> FlagSpec {
        serde_json::from_value(value).unwrap()
    }

    fn live(value: Value) -> Flag {
        spec(value).resolve(None).0
    }

    fn envs(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn differing_fields_land_in_the_environments_override() {
        let file = spec(json!({"key": "a", "name": "Search", "tags": ["x"],
            "conditions": [{"rollout_percentage": 10}],
            "environments": {"staging": {"conditions": [{"rollout_percentage": 100}]}}}));
        let prod = live(json!({"key": "a", "name": "Search", "tags": ["x", "y"],
            "conditions": [{"rollout_percentage": 50}]}));
        let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            json!({"key": "a", "name": "Search", "tags": ["x"],
                "conditions": [{"rollout_percentage": 10}],
                "environments": {
                    "production": {"tags": ["x", "y"], "conditions": [{"rollout_percentage": 50}]},
                    "staging": {"conditions": [{"rollout_percentage": 100}]}}})
        );
    }

    #[test]
    fn an_override_equal_to_the_base_is_dropped_and_a_synced_file_is_kept() {
        let file = spec(json!({"key": "a", "active": true,
            "environments": {"staging": {"active": false}, "production": {"active": false}}}));
        let prod = live(json!({"key": "a", "active": true}));
        let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            json!({"key": "a", "active": true, "environments": {"staging": {"active": false}}})
        );
        let in_sync = merge(&merged, "production", &prod, &envs(&["staging"]), &[]).unwrap();
        assert_eq!(in_sync, merged);
    }

    #[test]
    fn a_value_an_override_cannot_remove_moves_out_of_the_base() {
        let file = spec(
            json!({"key": "a", "holdout": {"id": 1, "exclusion_percentage": 10},
            "environments": {"dev": {"name": "d"}}}),
        );
        let prod = live(json!({"key": "a"}));
        let merged = merge(&file, "production", &prod, &envs(&["staging", "dev"]), &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            json!({"key": "a", "environments": {
                "dev": {"name": "d", "holdout": {"id": 1, "exclusion_percentage": 10}},
                "staging": {"holdout": {"id": 1, "exclusion_percentage": 10}}}})
        );
    }

    #[test]
    fn ignored_fields_stay_as_written() {
        let file = spec(
            json!({"key": "a", "tags": ["x"], "environments": {"staging": {"active": false}}}),
        );
        let prod = live(json!({"key": "a"}));
        let merged = merge(&file, "production", &prod, &envs(&["staging"]), &["tags"]).unwrap();
        assert_eq!(merged, file);
    }

    #[test]
    fn removing_the_variants_moves_what_names_them_out_of_the_base() {
        let file = spec(json!({"key": "a",
            "conditions": [{"variant": "control"}],
            "variants": [{"key": "control", "rollout_percentage": 100}],
            "payloads": {"control": 1}}));
        let prod = live(json!({"key": "a", "conditions": [{"rollout_percentage": 20}]}));
        let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            json!({"key": "a", "environments": {
                "production": {"conditions": [{"rollout_percentage": 20}], "payloads": {}},
                "staging": {"conditions": [{"variant": "control"}],
                    "variants": [{"key": "control", "rollout_percentage": 100}],
                    "payloads": {"control": 1}}}})
        );
    }

    /// Found by the property test: moving the conditions out of the base must bring the
    /// aggregation their live form leaves to the flag level.
    #[test]
    fn conditions_moved_out_of_the_base_keep_their_aggregation() {
        let file = spec(
            json!({"key": "a", "conditions": [{"aggregation_group_type_index": 0}],
            "variants": [{"key": "control", "rollout_percentage": 100}]}),
        );
        let prod = live(json!({"key": "a", "conditions": [{"aggregation_group_type_index": 0}]}));
        let merged = merge(&file, "production", &prod, &envs(&["staging"]), &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            json!({"key": "a", "environments": {
                "production": {"conditions": [{"rollout_percentage": 100}],
                    "aggregation_group_type_index": 0},
                "staging": {"conditions": [{"aggregation_group_type_index": 0}],
                    "variants": [{"key": "control", "rollout_percentage": 100}]}}})
        );
    }

    fn config(value: Value) -> Config {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_existing_file_is_kept_rewritten_or_merged() {
        let one = config(
            json!({"backend": "local", "environments": {"production": {"ignore": ["tags"]}}}),
        );
        let two =
            config(json!({"backend": "local", "environments": {"production": {}, "staging": {}}}));
        let file = spec(json!({"key": "a", "name": "A", "tags": ["mine"], "depends_on": ["b"]}));
        // In sync but for an ignored field: kept as it is.
        let prod = live(json!({"key": "a", "name": "A"}));
        assert_eq!(existing_file(&file, &prod, "production", &one), Ok(None));
        // Only one environment reads it: canonical, with its `depends_on` and ignored tags.
        let renamed = live(json!({"key": "a", "name": "B"}));
        assert_eq!(
            existing_file(&file, &renamed, "production", &one),
            Ok(Some(spec(
                json!({"key": "a", "name": "B", "tags": ["mine"], "conditions": [], "depends_on": ["b"]})
            )))
        );
        // Another environment reads it: merged.
        assert_eq!(
            existing_file(&file, &renamed, "production", &two),
            Ok(Some(spec(
                json!({"key": "a", "name": "A", "tags": ["mine"], "depends_on": ["b"],
                "environments": {"production": {"name": "B", "tags": []}}})
            )))
        );
    }
}
