//! posthog-go SDK fixtures (local-evaluation payloads) → management-API flags.
//!
//! The conversion: dependency properties name their target by key → rewritten to the target's
//! id (a target missing from the file gets a stub flag, listed in `stubs`);
//! `dependency_chain`, `is_simple_flag` and the top-level `rollout_percentage` are dropped;
//! `deleted: null` becomes `false`; an id already used in the file gets a fresh one; every
//! cohort referenced is registered (named from the file's `cohorts` map when present).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::normalize::as_id;

/// The management form of one fixture file.
#[derive(Debug, Clone, Default)]
pub struct FixtureSet {
    /// Flags with ids, dependencies by id.
    pub flags: Vec<Value>,
    /// Cohort id → name.
    pub cohorts: BTreeMap<i64, String>,
    /// Group type index → name (the payload's `group_type_mapping`).
    pub group_types: BTreeMap<u32, String>,
    /// Keys of stub flags added for dependency targets the file does not contain.
    pub stubs: Vec<String>,
}

/// Convert the fixture at `path`; `fresh_id` hands out unused ids.
pub fn load(path: &Path, mut fresh_id: impl FnMut() -> i64) -> FixtureSet {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    let raw_flags: Vec<Map<String, Value>> = match doc.get("flags") {
        Some(Value::Array(flags)) => flags
            .iter()
            .filter_map(|f| f.as_object().cloned())
            .collect(),
        _ => doc.as_object().cloned().into_iter().collect(),
    };
    let max_file_id = raw_flags
        .iter()
        .filter_map(|f| f.get("id").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    let mut next_fresh = || {
        let mut id = fresh_id();
        while id <= max_file_id {
            id = fresh_id();
        }
        id
    };
    let mut used = BTreeSet::new();
    let mut flags = Vec::new();
    for mut flag in raw_flags {
        let id = match flag.get("id").and_then(Value::as_i64) {
            Some(id) if used.insert(id) => id,
            _ => {
                let id = next_fresh();
                used.insert(id);
                id
            }
        };
        flag.insert("id".into(), json!(id));
        flag.remove("is_simple_flag");
        flag.remove("rollout_percentage");
        if flag.get("deleted").is_none_or(Value::is_null) {
            flag.insert("deleted".into(), json!(false));
        }
        flags.push(flag);
    }
    let mut ids: BTreeMap<String, i64> = flags
        .iter()
        .filter_map(|f| Some((f.get("key")?.as_str()?.to_owned(), f.get("id")?.as_i64()?)))
        .collect();
    let mut cohorts: BTreeMap<i64, String> = BTreeMap::new();
    if let Some(Value::Object(defs)) = doc.get("cohorts") {
        for id in defs.keys().filter_map(|k| k.parse::<i64>().ok()) {
            cohorts.insert(id, format!("Cohort {id}"));
        }
    }
    let group_types: BTreeMap<u32, String> = match doc.get("group_type_mapping") {
        Some(Value::Object(mapping)) => mapping
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut stubs = Vec::new();
    for flag in &mut flags {
        let Some(Value::Array(groups)) = flag.get_mut("filters").and_then(|f| f.get_mut("groups"))
        else {
            continue;
        };
        for group in groups {
            let Some(Value::Array(props)) = group.get_mut("properties") else {
                continue;
            };
            for prop in props.iter_mut().filter_map(Value::as_object_mut) {
                prop.remove("dependency_chain");
                match prop.get("type").and_then(Value::as_str) {
                    Some("flag") => {
                        let target = prop
                            .get("key")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let id = *ids.entry(target.clone()).or_insert_with(|| {
                            stubs.push(target.clone());
                            next_fresh()
                        });
                        prop.insert("key".into(), json!(id.to_string()));
                    }
                    Some("cohort") => {
                        if let Some(id) = as_id(prop.get("value")) {
                            cohorts.entry(id).or_insert_with(|| format!("Cohort {id}"));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut out: Vec<Value> = flags.into_iter().map(Value::Object).collect();
    for key in &stubs {
        out.push(json!({
            "id": ids[key], "key": key, "name": "stub dependency target", "active": true,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}
        }));
    }
    FixtureSet {
        flags: out,
        cohorts,
        group_types,
        stubs,
    }
}
