//! What PostHog does to `filters` on write (stored form) and on read (injected fields), and
//! the comparison form tests use to say "equal after normalisation".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value, json};

/// The stored form of `filters`, as PostHog's serializer saves it:
/// `min`/`max` → `gte`/`lte`; numeric property keys → strings; non-string payloads → JSON
/// strings (Python `json.dumps` spacing); every group gets an explicit
/// `aggregation_group_type_index` (the flag-level value when absent) and the flag-level value
/// becomes the groups' shared value, else null; whole percentages become integers; legacy
/// `super_groups`/`holdout_groups` are dropped.
pub fn store_filters(filters: &Map<String, Value>) -> Map<String, Value> {
    let mut out = filters.clone();
    out.remove("super_groups");
    out.remove("holdout_groups");
    let flag_level = out
        .get("aggregation_group_type_index")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(Value::Array(groups)) = out.get_mut("groups") {
        for group in groups.iter_mut() {
            let Value::Object(group) = group else {
                continue;
            };
            if !group.contains_key("aggregation_group_type_index") {
                group.insert("aggregation_group_type_index".into(), flag_level.clone());
            }
            whole_percent(group.get_mut("rollout_percentage"));
            if let Some(Value::Array(props)) = group.get_mut("properties") {
                for prop in props.iter_mut() {
                    let Value::Object(prop) = prop else { continue };
                    if let Some(Value::Number(n)) = prop.get("key") {
                        let text = n.to_string();
                        prop.insert("key".into(), Value::String(text));
                    }
                    match prop.get("operator").and_then(Value::as_str) {
                        Some("min") => {
                            prop.insert("operator".into(), json!("gte"));
                        }
                        Some("max") => {
                            prop.insert("operator".into(), json!("lte"));
                        }
                        _ => {}
                    }
                }
            }
        }
        let indexes: Vec<&Value> = groups
            .iter()
            .map(|g| {
                g.get("aggregation_group_type_index")
                    .unwrap_or(&Value::Null)
            })
            .collect();
        if let Some(first) = indexes.first() {
            let shared = if indexes.iter().all(|i| i == first) {
                (*first).clone()
            } else {
                Value::Null
            };
            out.insert("aggregation_group_type_index".into(), shared);
        }
    }
    if let Some(Value::Object(mv)) = out.get_mut("multivariate")
        && let Some(Value::Array(variants)) = mv.get_mut("variants")
    {
        for v in variants.iter_mut() {
            whole_percent(v.get_mut("rollout_percentage"));
        }
    }
    if let Some(Value::Object(payloads)) = out.get_mut("payloads") {
        for value in payloads.values_mut() {
            if !value.is_string() && !value.is_null() {
                *value = Value::String(python_dumps(value));
            }
        }
    }
    if let Some(Value::Object(holdout)) = out.get_mut("holdout") {
        whole_percent(holdout.get_mut("exclusion_percentage"));
    }
    out
}

fn whole_percent(value: Option<&mut Value>) {
    if let Some(v) = value
        && let Some(f) = v.as_f64()
        && f.fract() == 0.0
        && f.abs() < 1e15
    {
        #[allow(clippy::cast_possible_truncation)]
        let whole = f as i64;
        *v = Value::Number(Number::from(whole));
    }
}

/// Add the fields PostHog injects when serializing: `cohort_name` on cohort properties and
/// `group_key_names` on `$group_key` group properties.
pub fn inject_read_fields(filters: &mut Map<String, Value>, cohorts: &BTreeMap<i64, String>) {
    let Some(Value::Array(groups)) = filters.get_mut("groups") else {
        return;
    };
    for group in groups {
        let Some(Value::Array(props)) = group.get_mut("properties") else {
            continue;
        };
        for prop in props {
            let Value::Object(prop) = prop else { continue };
            match prop.get("type").and_then(Value::as_str) {
                Some("cohort") => {
                    let name = as_id(prop.get("value"))
                        .and_then(|id| cohorts.get(&id))
                        .cloned();
                    prop.insert("cohort_name".into(), json!(name));
                }
                Some("group") if prop.get("key").and_then(Value::as_str) == Some("$group_key") => {
                    let values = match prop.get("value") {
                        Some(Value::Array(v)) => v.clone(),
                        Some(other) => vec![other.clone()],
                        None => Vec::new(),
                    };
                    let names: Map<String, Value> = values
                        .iter()
                        .map(|v| {
                            let key = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            (key.clone(), Value::String(key))
                        })
                        .collect();
                    prop.insert("group_key_names".into(), Value::Object(names));
                }
                _ => {}
            }
        }
    }
}

/// An id given as a number or a string of digits.
pub fn as_id(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The comparison form of `filters`: the stored form, without the injected fields, with
/// null-valued members dropped, payload strings parsed, numbers as f64 and flag-dependency
/// ids replaced by `key_of(id)`, an untyped (legacy) property typed `person`. Two `filters` documents "are equal after normalisation"
/// when their comparison forms are equal.
pub fn comparable_filters(filters: &Value, key_of: &dyn Fn(i64) -> Option<String>) -> Value {
    let Value::Object(map) = filters else {
        return filters.clone();
    };
    let mut stored = store_filters(map);
    if let Some(Value::Array(groups)) = stored.get_mut("groups") {
        for group in groups {
            let Some(Value::Array(props)) = group.get_mut("properties") else {
                continue;
            };
            for prop in props {
                let Value::Object(prop) = prop else { continue };
                prop.remove("cohort_name");
                prop.remove("group_key_names");
                // SDKs evaluate an untyped (legacy) property as a person property.
                if prop.get("type").is_none_or(Value::is_null) {
                    prop.insert("type".into(), json!("person"));
                }
                if prop.get("type").and_then(Value::as_str) == Some("flag") {
                    // The UI's label repeats the target key; the id is what counts.
                    prop.remove("label");
                    if let Some(id) = as_id(prop.get("key")) {
                        let key = key_of(id).unwrap_or_else(|| format!("#{id}"));
                        prop.insert("key".into(), Value::String(key));
                    }
                }
            }
        }
    }
    if let Some(Value::Object(payloads)) = stored.get_mut("payloads") {
        for value in payloads.values_mut() {
            if let Value::String(text) = value
                && let Ok(parsed) = serde_json::from_str(text)
            {
                *value = parsed;
            }
        }
    }
    canonical(&Value::Object(stored))
}

/// Members whose `false` means the same as absent.
const FALSE_IS_ABSENT: [&str; 4] = [
    "negation",
    "early_exit",
    "feature_enrollment",
    "exposure_frozen",
];
/// Members whose empty list or object means the same as absent.
const EMPTY_IS_ABSENT: [&str; 2] = ["properties", "payloads"];

/// Drop null members (and defaulted `false`/empty ones), and turn numbers into floats,
/// recursively.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| {
                    let defaulted = (FALSE_IS_ABSENT.contains(&k.as_str())
                        && **v == Value::Bool(false))
                        || (EMPTY_IS_ABSENT.contains(&k.as_str()) && is_empty_container(v));
                    !v.is_null() && !defaulted
                })
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Number(n) => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or_else(|| value.clone(), Value::Number),
        other => other.clone(),
    }
}

fn is_empty_container(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.is_empty())
        || matches!(value, Value::Array(a) if a.is_empty())
}

/// `json.dumps` with Python's defaults: `", "` and `": "` separators, ASCII-only output.
pub fn python_dumps(value: &Value) -> String {
    let mut out = String::new();
    dump(value, &mut out);
    out
}

fn dump(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => dump_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_str(k, out);
                out.push_str(": ");
                dump(v, out);
            }
            out.push('}');
        }
    }
}

fn dump_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
