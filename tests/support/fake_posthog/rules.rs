//! The fake's write rules that need no state: the key pattern, the always-on `filters`
//! guards, dependency extraction, the cycle search and the §6 comparison form of a field.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::{Map, Value, json};

use super::normalize::{as_id, canonical, store_filters};
use super::store::ApiErr;

const KEY_PATTERN: &str = r"^[a-zA-Z0-9_-]+$";
const PROPERTY_TYPES: [&str; 5] = ["person", "cohort", "group", "flag", "person_metadata"];
const OPERATORS: [&str; 31] = [
    "exact",
    "is_not",
    "icontains",
    "not_icontains",
    "icontains_multi",
    "not_icontains_multi",
    "regex",
    "not_regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "semver_gt",
    "semver_gte",
    "semver_lt",
    "semver_lte",
    "semver_eq",
    "semver_neq",
    "semver_tilde",
    "semver_caret",
    "semver_wildcard",
    "is_set",
    "is_not_set",
    "is_date_exact",
    "is_date_after",
    "is_date_before",
    "in",
    "not_in",
    "flag_evaluates_to",
    "min",
    "max",
];

pub(super) fn check_key(key: &str) -> Result<(), ApiErr> {
    let pattern = Regex::new(KEY_PATTERN).expect("valid pattern");
    if key.len() > 400 || !pattern.is_match(key) {
        return Err(ApiErr::invalid(
            "invalid_key",
            "Only letters, numbers, hyphens (\"-\") & underscores (\"_\") are allowed.",
            Some("key"),
        ));
    }
    Ok(())
}

pub(super) fn properties(filters: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    filters
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("properties").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_object)
        .collect()
}

/// Target ids of flag properties in person-aggregated conditions.
pub(super) fn person_dependencies(filters: &Map<String, Value>) -> Result<Vec<i64>, ApiErr> {
    let flag_level = filters
        .get("aggregation_group_type_index")
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = Vec::new();
    for group in filters
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let aggregation = group
            .get("aggregation_group_type_index")
            .cloned()
            .unwrap_or_else(|| flag_level.clone());
        if !aggregation.is_null() {
            continue;
        }
        for prop in group
            .get("properties")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if prop.get("type").and_then(Value::as_str) != Some("flag") {
                continue;
            }
            let id = as_id(prop.get("key")).ok_or_else(|| {
                ApiErr::filters(
                    "Flag dependencies must reference flag IDs (integers), not flag keys",
                )
            })?;
            out.push(id);
        }
    }
    Ok(out)
}

pub(super) fn find_cycle(
    node: i64,
    edges: &BTreeMap<i64, Vec<i64>>,
    path: &mut Vec<i64>,
    done: &mut BTreeSet<i64>,
) -> Option<Vec<i64>> {
    for next in edges.get(&node).into_iter().flatten() {
        if let Some(pos) = path.iter().position(|n| n == next) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(*next);
            return Some(cycle);
        }
        if done.contains(next) {
            continue;
        }
        path.push(*next);
        if let Some(cycle) = find_cycle(*next, edges, path, done) {
            return Some(cycle);
        }
        path.pop();
        done.insert(*next);
    }
    None
}

/// The always-on guard tier of `filters` (posthog-api.md §5, tier 1) and reserved `version`.
pub(super) fn check_filters(filters: &Map<String, Value>) -> Result<(), ApiErr> {
    if let Some(v) = filters.get("version").filter(|v| !v.is_null())
        && v.as_i64() != Some(1)
    {
        return Err(ApiErr::invalid(
            "reserved_config_version",
            "filters.version is reserved; only version 1 can be written here.",
            Some("filters"),
        ));
    }
    match filters.get("groups") {
        None | Some(Value::Null) => {}
        Some(Value::Array(groups)) => {
            for group in groups {
                let Value::Object(group) = group else {
                    return Err(ApiErr::filters("Each group must be an object"));
                };
                match group.get("rollout_percentage") {
                    None | Some(Value::Null) => {}
                    Some(v) if v.as_f64().is_some_and(|p| (0.0..=100.0).contains(&p)) => {}
                    Some(_) => {
                        return Err(ApiErr::filters(
                            "Rollout percentage must be a number between 0 and 100",
                        ));
                    }
                }
                if group
                    .get("variant")
                    .is_some_and(|v| !v.is_null() && !v.is_string())
                {
                    return Err(ApiErr::filters("Variant must be a string"));
                }
                if group
                    .get("aggregation_group_type_index")
                    .is_some_and(|v| !v.is_null() && !v.is_i64())
                {
                    return Err(ApiErr::filters(
                        "aggregation_group_type_index must be an integer",
                    ));
                }
                match group.get("properties") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(props)) => {
                        for prop in props {
                            check_property(prop)?;
                        }
                    }
                    Some(_) => return Err(ApiErr::filters("Properties must be a list")),
                }
            }
        }
        Some(_) => return Err(ApiErr::filters("Groups must be a list")),
    }
    match filters.get("multivariate") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mv)) => {
            let Some(Value::Array(variants)) = mv.get("variants") else {
                return Err(ApiErr::filters("Variants must be a list"));
            };
            for v in variants {
                if !v.get("key").is_some_and(Value::is_string) {
                    return Err(ApiErr::filters("Each variant needs a string key"));
                }
                if !v
                    .get("rollout_percentage")
                    .and_then(Value::as_f64)
                    .is_some_and(|p| (0.0..=100.0).contains(&p))
                {
                    return Err(ApiErr::filters(
                        "Variant rollout percentage must be a number between 0 and 100",
                    ));
                }
            }
        }
        Some(_) => return Err(ApiErr::filters("Multivariate must be an object")),
    }
    match filters.get("payloads") {
        None | Some(Value::Null) => {}
        Some(Value::Object(payloads)) => {
            for (k, v) in payloads {
                if let Value::String(text) = v
                    && serde_json::from_str::<Value>(text).is_err()
                {
                    return Err(ApiErr::filters(format!(
                        "Payload for '{k}' must be valid JSON"
                    )));
                }
            }
        }
        Some(_) => return Err(ApiErr::filters("Payloads must be an object")),
    }
    Ok(())
}

pub(super) fn check_property(prop: &Value) -> Result<(), ApiErr> {
    let Value::Object(prop) = prop else {
        return Err(ApiErr::filters("Each property must be an object"));
    };
    if !prop
        .get("key")
        .is_some_and(|k| k.is_string() || k.is_number())
    {
        return Err(ApiErr::filters("Property filter is missing 'key'"));
    }
    if !prop
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| PROPERTY_TYPES.contains(&t))
    {
        return Err(ApiErr::filters(format!(
            "Invalid property type: {}",
            prop.get("type").unwrap_or(&Value::Null)
        )));
    }
    match prop.get("operator") {
        None | Some(Value::Null) => {}
        Some(Value::String(op)) if OPERATORS.contains(&op.as_str()) => {}
        Some(other) => return Err(ApiErr::filters(format!("Invalid operator: {other}"))),
    }
    if prop
        .get("negation")
        .is_some_and(|n| !n.is_null() && !n.is_boolean())
    {
        return Err(ApiErr::filters("negation must be a boolean"));
    }
    Ok(())
}

/// A field's value for the §6 comparison: `filters` without read-injected fields and in
/// stored form; tags as a sorted lower-case set; the rest as is.
pub(super) fn comparable(field: &str, value: &Value) -> Value {
    match field {
        "filters" => match value {
            Value::Object(f) => {
                let mut stored = store_filters(f);
                if let Some(Value::Array(groups)) = stored.get_mut("groups") {
                    for g in groups {
                        if let Some(Value::Array(props)) = g.get_mut("properties") {
                            for p in props.iter_mut().filter_map(Value::as_object_mut) {
                                p.remove("cohort_name");
                                p.remove("group_key_names");
                            }
                        }
                    }
                }
                canonical(&Value::Object(stored))
            }
            other => other.clone(),
        },
        "tags" => {
            let mut tags: Vec<String> = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|t| t.trim().to_lowercase())
                .collect();
            tags.sort();
            tags.dedup();
            json!(tags)
        }
        _ => value.clone(),
    }
}
