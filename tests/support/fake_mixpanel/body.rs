//! The closed `FeatureFlagRequest` body (POST and PUT), checked as Mixpanel's server checks it.
//!
//! Source: mixpanel/docs `openapi/feature-flags-management.openapi.yaml` (components
//! `FeatureFlagRequest`, `ManagementRuleSet`, `ManagementVariant`, `ManagementRollout`,
//! `RuntimeEventRule`, `ManagementVariantOverride`): every object is `additionalProperties:
//! false`, so a read-only field of the response (`id`, `created`, `modified`, `creator_id`, …)
//! is just an unknown field of the request and refused the same way. The schema is generated
//! from pydantic models (the `title: ''` / `anyOf: [.., null]` pattern), so the messages are
//! pydantic's, prefixed with the field's location: `id: Extra inputs are not permitted`,
//! `ruleset.variants.0.split: Input should be less than or equal to 1`. The exact server text
//! is not published; the location is what a client can rely on.

use serde_json::{Map, Value};

use super::store::ApiErr;

/// Top-level fields of `FeatureFlagRequest`, in the spec's order.
pub const REQUEST_FIELDS: [&str; 13] = [
    "name",
    "key",
    "description",
    "tags",
    "experiment_id",
    "status",
    "context",
    "data_group_id",
    "serving_method",
    "ruleset",
    "workspace_id",
    "is_experiment_active",
    "hash_salt",
];

/// `reset_hash_salt` is writable but never stored.
pub const RESET_HASH_SALT: &str = "reset_hash_salt";

const REQUIRED: [&str; 6] = [
    "name",
    "key",
    "tags",
    "context",
    "serving_method",
    "ruleset",
];

/// `FeatureFlagStatus`.
pub const STATUSES: [&str; 3] = ["enabled", "disabled", "archived"];
const SERVING_METHODS: [&str; 4] = ["client", "server", "remote_or_local", "remote_only"];
const VARIANT_FIELDS: [&str; 6] = [
    "key",
    "value",
    "description",
    "is_control",
    "split",
    "is_sticky",
];
const ROLLOUT_FIELDS: [&str; 9] = [
    "name",
    "cohort_definition",
    "runtime_evaluation_definition",
    "runtime_evaluation_rule",
    "runtime_event_rule",
    "cohort_hash",
    "rollout_percentage",
    "variant_override",
    "variant_splits",
];
const EVENT_RULE_FIELDS: [&str; 4] = ["event_name", "time_window", "duration", "property_filters"];

/// `ManagementRuleSet.variants.maxItems` (the docs' prose says 10; the server schema says 11).
const MAX_VARIANTS: usize = 11;
/// `ManagementVariant.value` as a string: `maxLength: 32768`.
const MAX_STRING_VALUE: usize = 32_768;
/// Tolerance of the split sums.
const EPSILON: f64 = 1e-9;

fn bad(loc: &str, msg: impl std::fmt::Display) -> ApiErr {
    ApiErr::bad(format!("{loc}: {msg}"))
}

fn join(parent: &str, child: impl std::fmt::Display) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// Refuse keys outside `allowed` (the first in sorted order), then missing `required` ones.
fn closed(
    obj: &Map<String, Value>,
    loc: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), ApiErr> {
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(&join(loc, extra), "Extra inputs are not permitted"));
    }
    if let Some(missing) = required.iter().find(|r| !obj.contains_key(**r)) {
        return Err(bad(&join(loc, missing), "Field required"));
    }
    Ok(())
}

fn object<'a>(value: &'a Value, loc: &str) -> Result<&'a Map<String, Value>, ApiErr> {
    value
        .as_object()
        .ok_or_else(|| bad(loc, "Input should be a valid dictionary"))
}

fn string(value: &Value, loc: &str, min: usize, max: usize) -> Result<(), ApiErr> {
    let Some(s) = value.as_str() else {
        return Err(bad(loc, "Input should be a valid string"));
    };
    let n = s.chars().count();
    if n < min {
        let s = if min == 1 { "" } else { "s" };
        return Err(bad(
            loc,
            format!("String should have at least {min} character{s}"),
        ));
    }
    if n > max {
        return Err(bad(
            loc,
            format!("String should have at most {max} characters"),
        ));
    }
    Ok(())
}

fn nullable_string(value: Option<&Value>, loc: &str) -> Result<(), ApiErr> {
    match value {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(_) => Err(bad(loc, "Input should be a valid string")),
    }
}

fn nullable_bool(value: Option<&Value>, loc: &str) -> Result<(), ApiErr> {
    match value {
        None | Some(Value::Null | Value::Bool(_)) => Ok(()),
        Some(_) => Err(bad(loc, "Input should be a valid boolean")),
    }
}

fn nullable_object(value: Option<&Value>, loc: &str) -> Result<(), ApiErr> {
    match value {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(_) => Err(bad(loc, "Input should be a valid dictionary")),
    }
}

fn choice(value: &Value, loc: &str, allowed: &[&str]) -> Result<(), ApiErr> {
    if value.as_str().is_some_and(|s| allowed.contains(&s)) {
        return Ok(());
    }
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    let (last, rest) = quoted.split_last().expect("a non-empty enum");
    if rest.is_empty() {
        return Err(bad(loc, format!("Input should be {last}")));
    }
    Err(bad(
        loc,
        format!("Input should be {} or {last}", rest.join(", ")),
    ))
}

fn fraction(value: &Value, loc: &str) -> Result<f64, ApiErr> {
    let Some(n) = value.as_f64().filter(|_| !value.is_boolean()) else {
        return Err(bad(loc, "Input should be a valid number"));
    };
    if n < 0.0 {
        return Err(bad(loc, "Input should be greater than or equal to 0"));
    }
    if n > 1.0 {
        return Err(bad(loc, "Input should be less than or equal to 1"));
    }
    Ok(n)
}

/// A UUID of version 4 in its hyphenated form (`format: uuid4`).
pub fn is_uuid4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
        && parts[2].starts_with('4')
        && parts[3].starts_with(['8', '9', 'a', 'b', 'A', 'B'])
}

/// Check a POST/PUT body against the closed schema and the rules between its parts.
pub fn check(body: &Value) -> Result<(), ApiErr> {
    let obj = object(body, "body")?;
    let mut allowed: Vec<&str> = REQUEST_FIELDS.to_vec();
    allowed.push(RESET_HASH_SALT);
    closed(obj, "", &allowed, &REQUIRED)?;
    for field in ["name", "key", "context"] {
        string(&obj[field], field, 1, 255)?;
    }
    nullable_string(obj.get("description"), "description")?;
    let tags = obj["tags"]
        .as_array()
        .ok_or_else(|| bad("tags", "Input should be a valid list"))?;
    for (i, tag) in tags.iter().enumerate() {
        if !tag.is_string() {
            return Err(bad(&format!("tags.{i}"), "Input should be a valid string"));
        }
    }
    match obj.get("experiment_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if is_uuid4(s) => {}
        Some(Value::String(_)) => {
            return Err(bad(
                "experiment_id",
                "Input should be a valid UUID version 4",
            ));
        }
        Some(_) => return Err(bad("experiment_id", "Input should be a valid string")),
    }
    if let Some(status) = obj.get("status") {
        choice(status, "status", &STATUSES)?;
    }
    match obj.get("data_group_id") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => {
            return Err(bad(
                "data_group_id",
                "Input should be a valid string or integer",
            ));
        }
    }
    choice(&obj["serving_method"], "serving_method", &SERVING_METHODS)?;
    match obj.get("workspace_id") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => return Err(bad("workspace_id", "Input should be a valid integer")),
    }
    nullable_bool(obj.get("is_experiment_active"), "is_experiment_active")?;
    match obj.get("hash_salt") {
        None | Some(Value::Null) => {}
        Some(v) => string(v, "hash_salt", 32, 32)?,
    }
    nullable_bool(obj.get(RESET_HASH_SALT), RESET_HASH_SALT)?;
    ruleset(&obj["ruleset"])
}

fn ruleset(value: &Value) -> Result<(), ApiErr> {
    let rs = object(value, "ruleset")?;
    closed(
        rs,
        "ruleset",
        &["variants", "rollout", "test"],
        &["variants", "rollout"],
    )?;
    let variants = rs["variants"]
        .as_array()
        .ok_or_else(|| bad("ruleset.variants", "Input should be a valid list"))?;
    if variants.len() > MAX_VARIANTS {
        return Err(bad(
            "ruleset.variants",
            format!(
                "List should have at most {MAX_VARIANTS} items after validation, not {}",
                variants.len()
            ),
        ));
    }
    let mut keys: Vec<&str> = Vec::new();
    let mut total = 0.0;
    for (i, v) in variants.iter().enumerate() {
        let loc = format!("ruleset.variants.{i}");
        let v = object(v, &loc)?;
        closed(
            v,
            &loc,
            &VARIANT_FIELDS,
            &["key", "value", "is_control", "split"],
        )?;
        let key = v["key"]
            .as_str()
            .ok_or_else(|| bad(&join(&loc, "key"), "Input should be a valid string"))?;
        if let Value::String(s) = &v["value"]
            && s.chars().count() > MAX_STRING_VALUE
        {
            return Err(bad(
                &join(&loc, "value"),
                format!("String should have at most {MAX_STRING_VALUE} characters"),
            ));
        }
        nullable_string(v.get("description"), &join(&loc, "description"))?;
        if !v["is_control"].is_boolean() {
            return Err(bad(
                &join(&loc, "is_control"),
                "Input should be a valid boolean",
            ));
        }
        if v.get("is_sticky").is_some_and(|s| !s.is_boolean()) {
            return Err(bad(
                &join(&loc, "is_sticky"),
                "Input should be a valid boolean",
            ));
        }
        total += fraction(&v["split"], &join(&loc, "split"))?;
        if keys.contains(&key) {
            return Err(bad(
                &join(&loc, "key"),
                format!("Duplicate variant key '{key}'"),
            ));
        }
        keys.push(key);
    }
    // Sums: not stated by the spec; mixpanel-headless (jaredmcfarland/mixpanel_data
    // mixpanel-plugin/commands/mp-flags.md, "Invalid payload") says variant splits sum to 1.0,
    // and the SDK evaluators walk cumulative splits up to 1 (mixpanel-python
    // mixpanel/flags/local_feature_flags.py `_get_assigned_variant`).
    if !variants.is_empty() && (total - 1.0).abs() > EPSILON {
        return Err(bad(
            "ruleset.variants",
            format!("Variant splits must sum to 1, not {total}"),
        ));
    }
    let rollout = rs["rollout"]
        .as_array()
        .ok_or_else(|| bad("ruleset.rollout", "Input should be a valid list"))?;
    for (i, group) in rollout.iter().enumerate() {
        rollout_group(group, &format!("ruleset.rollout.{i}"), &keys)?;
    }
    match rs.get("test") {
        None | Some(Value::Null) => Ok(()),
        Some(test) => test_users(test, &keys),
    }
}

fn rollout_group(value: &Value, loc: &str, variants: &[&str]) -> Result<(), ApiErr> {
    let g = object(value, loc)?;
    closed(
        g,
        loc,
        &ROLLOUT_FIELDS,
        &["rollout_percentage", "variant_splits"],
    )?;
    nullable_string(g.get("name"), &join(loc, "name"))?;
    nullable_string(g.get("cohort_hash"), &join(loc, "cohort_hash"))?;
    for field in [
        "cohort_definition",
        "runtime_evaluation_definition",
        "runtime_evaluation_rule",
    ] {
        nullable_object(g.get(field), &join(loc, field))?;
    }
    fraction(&g["rollout_percentage"], &join(loc, "rollout_percentage"))?;
    match g.get("runtime_event_rule") {
        None | Some(Value::Null) => {}
        Some(rule) => {
            let at = join(loc, "runtime_event_rule");
            let r = object(rule, &at)?;
            closed(r, &at, &EVENT_RULE_FIELDS, &["event_name", "time_window"])?;
            string(&r["event_name"], &join(&at, "event_name"), 0, usize::MAX)?;
            choice(
                &r["time_window"],
                &join(&at, "time_window"),
                &["while_flag_enabled"],
            )?;
            if let Some(d) = r.get("duration").filter(|d| !d.is_null()) {
                choice(
                    d,
                    &join(&at, "duration"),
                    &["end_of_session", "indefinitely"],
                )?;
            }
            nullable_object(r.get("property_filters"), &join(&at, "property_filters"))?;
        }
    }
    match g.get("variant_override") {
        None | Some(Value::Null) => {}
        Some(o) => {
            let at = join(loc, "variant_override");
            let o = object(o, &at)?;
            closed(o, &at, &["key"], &["key"])?;
            let key = &o["key"];
            if !key.as_str().is_some_and(|k| variants.contains(&k)) {
                return Err(bad(&join(&at, "key"), format!("Unknown variant {key}")));
            }
        }
    }
    let at = join(loc, "variant_splits");
    let splits = object(&g["variant_splits"], &at)?;
    let mut total = 0.0;
    for (key, split) in splits {
        let Some(n) = split.as_f64().filter(|_| !split.is_boolean()) else {
            return Err(bad(&join(&at, key), "Input should be a valid number"));
        };
        if !variants.contains(&key.as_str()) {
            return Err(bad(&join(&at, key), format!("Unknown variant '{key}'")));
        }
        total += n;
    }
    if !variants.is_empty() && (total - 1.0).abs() > EPSILON {
        return Err(bad(
            &at,
            format!("Variant splits must sum to 1, not {total}"),
        ));
    }
    Ok(())
}

/// `test`: `map<string, map<string, string>>` in the schema; the SDKs read `test.users`, a
/// map from distinct id to variant key, matched case-insensitively (mixpanel-python
/// `_get_matching_variant`).
fn test_users(value: &Value, variants: &[&str]) -> Result<(), ApiErr> {
    let test = object(value, "ruleset.test")?;
    for (name, inner) in test {
        let at = join("ruleset.test", name);
        for (id, variant) in object(inner, &at)? {
            let Some(variant) = variant.as_str() else {
                return Err(bad(&join(&at, id), "Input should be a valid string"));
            };
            if name == "users"
                && !variants
                    .iter()
                    .any(|k| k.to_lowercase() == variant.to_lowercase())
            {
                return Err(bad(&join(&at, id), format!("Unknown variant '{variant}'")));
            }
        }
    }
    Ok(())
}

/// `body` without `reset_hash_salt` (an instruction, not a stored field).
pub fn stored_fields(body: &Map<String, Value>) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| REQUEST_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
