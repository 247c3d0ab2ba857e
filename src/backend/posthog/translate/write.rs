//! `model::Flag` → PostHog JSON: the body of a create (`to_wire`), and the subset of it an
//! update sends (`changed_fields`). Dependencies are written by id; the flag's tags as PostHog
//! stores them; payloads JSON-encoded.

use serde_json::{Map, Value, json};

use super::MISSING_TARGET_PREFIX;
use crate::backend::posthog::ids::Ids;
use crate::util::sorted_set;
use crate::vendor::posthog::normalize;
use crate::vendor::posthog::{Flag, Property, PropertyType};

/// The full JSON body that creates `flag` (the fields flagops manages). Dependencies are
/// resolved to ids through `ids`; an unknown target is an error naming it.
pub(crate) fn to_wire(flag: &Flag, ids: &Ids) -> Result<Map<String, Value>, String> {
    let tags = sorted_set(flag.tags.iter().map(|t| normalize::tag(t)));
    let mut body = Map::new();
    body.insert("key".into(), json!(flag.key));
    body.insert("name".into(), json!(flag.name));
    body.insert("active".into(), json!(flag.active));
    body.insert("archived".into(), json!(flag.archived));
    body.insert("tags".into(), json!(tags));
    body.insert(
        "evaluation_contexts".into(),
        json!(flag.evaluation_contexts),
    );
    body.insert("filters".into(), Value::Object(filters_to_wire(flag, ids)?));
    body.insert(
        "ensure_experience_continuity".into(),
        json!(flag.ensure_experience_continuity),
    );
    body.insert("evaluation_runtime".into(), json!(flag.evaluation_runtime));
    body.insert(
        "bucketing_identifier".into(),
        json!(flag.bucketing_identifier),
    );
    body.insert(
        "is_remote_configuration".into(),
        json!(flag.is_remote_configuration),
    );
    body.insert(
        "has_encrypted_payloads".into(),
        json!(flag.has_encrypted_payloads),
    );
    Ok(body)
}

fn filters_to_wire(flag: &Flag, ids: &Ids) -> Result<Map<String, Value>, String> {
    let mut groups = Vec::with_capacity(flag.conditions.len());
    for (ci, condition) in flag.conditions.iter().enumerate() {
        let mut properties = Vec::with_capacity(condition.properties.len());
        for (pi, property) in condition.properties.iter().enumerate() {
            properties.push(property_to_wire(property, ids).map_err(|target| {
                format!(
                    "condition {}, property {} depends on flag `{target}`, which does not exist in this project; create it first",
                    ci + 1,
                    pi + 1
                )
            })?);
        }
        let mut group = Map::new();
        group.insert("properties".into(), Value::Array(properties));
        group.insert(
            "rollout_percentage".into(),
            json!(condition.rollout_percentage),
        );
        group.insert("variant".into(), json!(condition.variant));
        // Explicit per group, as the server stores it.
        group.insert(
            "aggregation_group_type_index".into(),
            json!(flag.condition_aggregation(condition)),
        );
        if let Some(d) = &condition.description {
            group.insert("description".into(), json!(d));
        }
        if let Some(s) = &condition.sort_key {
            group.insert("sort_key".into(), json!(s));
        }
        if let Some(f) = condition.exposure_frozen {
            group.insert("exposure_frozen".into(), json!(f));
        }
        if let Some(c) = condition.exposure_frozen_cohort {
            group.insert("exposure_frozen_cohort".into(), json!(c));
        }
        groups.push(Value::Object(group));
    }
    let multivariate = if flag.variants.is_empty() {
        Value::Null
    } else {
        let variants: Vec<Value> = flag
            .variants
            .iter()
            .map(|v| {
                let mut m = Map::new();
                m.insert("key".into(), json!(v.key));
                if let Some(name) = &v.name {
                    m.insert("name".into(), json!(name));
                }
                m.insert("rollout_percentage".into(), json!(v.rollout_percentage));
                if let Some(d) = &v.description {
                    m.insert("description".into(), json!(d));
                }
                Value::Object(m)
            })
            .collect();
        json!({ "variants": variants })
    };
    // PostHog stores payloads as JSON-encoded strings. The sentinel it shows for an encrypted
    // payload goes back as it came, which keeps the stored ciphertext.
    let payloads: Map<String, Value> = flag
        .payloads
        .iter()
        .map(|(k, v)| {
            let sentinel = flag.has_encrypted_payloads
                && v.as_str() == Some(crate::vendor::posthog::ENCRYPTED_SENTINEL);
            let stored = if sentinel {
                v.clone()
            } else {
                Value::String(v.to_string())
            };
            (k.clone(), stored)
        })
        .collect();
    let mut filters = Map::new();
    filters.insert("groups".into(), Value::Array(groups));
    filters.insert("multivariate".into(), multivariate);
    filters.insert("payloads".into(), Value::Object(payloads));
    filters.insert(
        "aggregation_group_type_index".into(),
        json!(flag.aggregation_group_type_index),
    );
    filters.insert("holdout".into(), json!(flag.holdout));
    filters.insert("early_exit".into(), json!(flag.early_exit));
    filters.insert("feature_enrollment".into(), json!(flag.feature_enrollment));
    Ok(filters)
}

/// A property in wire form; `Err(target)` when a dependency target has no id.
fn property_to_wire(property: &Property, ids: &Ids) -> Result<Value, String> {
    let mut m = Map::new();
    if property.kind == PropertyType::Flag {
        let target = property.flag.clone().unwrap_or_default();
        let id = match target
            .strip_prefix(MISSING_TARGET_PREFIX)
            .and_then(|d| d.parse::<i64>().ok())
        {
            Some(id) => id,
            None => ids.id_of(&target).ok_or_else(|| target.clone())?,
        };
        m.insert("key".into(), json!(id.to_string()));
        m.insert("type".into(), json!("flag"));
        m.insert(
            "operator".into(),
            json!(property.effective_operator().as_str()),
        );
        // PostHog's UI keeps the target's key as the label.
        if !target.starts_with(MISSING_TARGET_PREFIX) {
            m.insert("label".into(), json!(target));
        }
    } else {
        if let Some(key) = &property.key {
            m.insert("key".into(), json!(key));
        }
        m.insert("type".into(), json!(property.kind.as_str()));
        if let Some(op) = property.operator {
            m.insert("operator".into(), json!(op.as_str()));
        }
        if let Some(label) = &property.label {
            m.insert("label".into(), json!(label));
        }
    }
    if let Some(value) = &property.value {
        m.insert("value".into(), value.clone());
    }
    if let Some(negation) = property.negation {
        m.insert("negation".into(), json!(negation));
    }
    if let Some(index) = property.group_type_index {
        m.insert("group_type_index".into(), json!(index));
    }
    Ok(Value::Object(m))
}

/// The fields of `desired` that differ from `live`, as an update body. `filters` is sent whole
/// (every owned top-level key) when any part of it differs.
pub(crate) fn changed_fields(
    live: &Map<String, Value>,
    desired: &Map<String, Value>,
) -> Map<String, Value> {
    desired
        .iter()
        .filter(|(field, value)| live.get(field.as_str()) != Some(value))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect()
}
