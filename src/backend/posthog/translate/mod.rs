//! Live PostHog JSON ↔ `model::Flag`, both ways.
//!
//! Reading (`from_wire`) undoes what the server adds so that a flag in sync reads back as it
//! was written:
//! - `cohort_name` and `group_key_names` (injected into properties on every read) are dropped;
//! - `dependency_chain` (local-evaluation payloads only) is dropped;
//! - on `type: flag` properties the id in `key` becomes `flag: <target key>`; the `label` PostHog's
//!   UI keeps there (the target's key, again) is dropped, and written back as the target key;
//!   a target id that is not a live flag becomes `flag: "#<id>"`, which is not a valid key, so
//!   validation and plan show it instead of losing the reference (and writing it back keeps it);
//! - per-group `aggregation_group_type_index` equal to the flag-level value (the server copies it
//!   into every group) reads as "inherit" (absent);
//! - payloads (stored as JSON-encoded strings) are parsed into values; a legacy payload string
//!   that is not JSON (older servers accepted them, SDKs serve the raw text) reads as that
//!   text, a string value: no JSON string is stored that way, so the two cannot be confused,
//!   and the text is what the SDKs serve. Writing it back sends the JSON form (`"\"text\""`),
//!   which newer servers require; the sentinel of an encrypted payload goes back as it came;
//! - `min`/`max` read as `gte`/`lte`; a property without `type` (legacy) reads as `person`; tags are sorted and deduplicated (the server lower-cases);
//! - `evaluation_tags` (the name of `evaluation_contexts` on servers from before the rename)
//!   reads as `evaluation_contexts` when that is absent; writes always use the new name;
//! - read-only fields (`created_by`, `status`, `experiment_set`, …) are ignored;
//! - unknown top-level `filters` keys are not modelled but survive updates, because PATCH merges
//!   `filters` by top-level key and the adapter only sends the keys it owns.
//!
//! Anything else the model cannot represent (rules-v2 `filters.version: 2`, unknown fields inside a
//! condition, property or variant) makes the flag *unsupported*: it is reported with the reason
//! and never written.
//!
//! Writing (`write`: `to_wire`) produces the full body of a create; `update` sends the subset
//! that changed (`changed_fields`).

use std::fmt::{self, Display};

use serde_json::{Map, Value};

mod write;

pub(crate) use write::{changed_fields, to_wire};

use super::ids::Ids;
use super::wire::WireFlag;
use crate::model::Percent;
use crate::util::sorted_set;
use crate::vendor::posthog::{
    BucketingIdentifier, Condition, EvaluationRuntime, Flag, Holdout, Operator, Property,
    PropertyType, SortKey, Variant,
};

/// Why a live flag cannot be represented.
pub(crate) type Reason = String;

/// Prefix of a dependency on a flag id that is not live (e.g. the target was deleted).
pub const MISSING_TARGET_PREFIX: char = '#';

/// Translate a live flag into the model. Dependency ids are resolved through `ids`.
pub(crate) fn from_wire(wire: &WireFlag, ids: &Ids) -> Result<Flag, Reason> {
    let filters = match &wire.filters {
        Value::Object(map) => map,
        // PostHog always answers with an object; a null (or missing) `filters` means the
        // answer is not what flagops understands, and reading it as "no conditions" would let
        // a plan overwrite the flag's real targeting.
        other => return Err(format!("`filters` is {}, not an object", kind(other))),
    };
    match filters.get("version") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_i64() == Some(1) => {}
        Some(v) => {
            return Err(format!(
                "it uses `filters.version` {v} (feature flag rules v2), which flagops cannot manage"
            ));
        }
    }
    let flag_level = opt_index(
        filters.get("aggregation_group_type_index"),
        "`filters.aggregation_group_type_index`",
    )?;
    let conditions = match filters.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(groups)) => groups
            .iter()
            .enumerate()
            .map(|(i, g)| read_condition(g, i + 1, flag_level, ids))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("`filters.groups` is {}, not a list", kind(other))),
    };
    let tags = sorted_set(wire.tags.clone().unwrap_or_default());
    Ok(Flag {
        key: wire.key.clone(),
        name: wire.name.clone().unwrap_or_default(),
        active: wire.active,
        archived: wire.archived.unwrap_or(false),
        tags,
        evaluation_contexts: wire
            .evaluation_contexts
            .clone()
            .or_else(|| wire.evaluation_tags.clone())
            .unwrap_or_default(),
        conditions,
        aggregation_group_type_index: flag_level,
        aggregation: None,
        variants: read_variants(filters.get("multivariate"))?,
        payloads: read_payloads(filters.get("payloads"))?,
        holdout: read_holdout(filters.get("holdout"))?,
        early_exit: opt_bool(filters.get("early_exit"), "`filters.early_exit`")?.unwrap_or(false),
        feature_enrollment: opt_bool(
            filters.get("feature_enrollment"),
            "`filters.feature_enrollment`",
        )?
        .unwrap_or(false),
        ensure_experience_continuity: wire.ensure_experience_continuity.unwrap_or(false),
        evaluation_runtime: match wire.evaluation_runtime.as_deref() {
            None | Some("all" | "both") => EvaluationRuntime::All,
            Some("server") => EvaluationRuntime::Server,
            Some("client") => EvaluationRuntime::Client,
            Some(other) => return Err(format!("unknown `evaluation_runtime` `{other}`")),
        },
        bucketing_identifier: match wire.bucketing_identifier.as_deref() {
            None | Some("distinct_id") => BucketingIdentifier::DistinctId,
            Some("device_id") => BucketingIdentifier::DeviceId,
            Some(other) => return Err(format!("unknown `bucketing_identifier` `{other}`")),
        },
        is_remote_configuration: wire.is_remote_configuration.unwrap_or(false),
        has_encrypted_payloads: wire.has_encrypted_payloads.unwrap_or(false),
        depends_on: Vec::new(),
    })
}

const CONDITION_FIELDS: [&str; 8] = [
    "properties",
    "rollout_percentage",
    "variant",
    "aggregation_group_type_index",
    "description",
    "sort_key",
    "exposure_frozen",
    "exposure_frozen_cohort",
];

fn read_condition(
    group: &Value,
    n: usize,
    flag_level: Option<u32>,
    ids: &Ids,
) -> Result<Condition, Reason> {
    let at = Place::Condition(n);
    let Value::Object(group) = group else {
        return Err(format!("{at} is {}, not an object", kind(group)));
    };
    reject_unknown(group, &CONDITION_FIELDS, at)?;
    let properties = match group.get("properties") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(props)) => props
            .iter()
            .enumerate()
            .map(|(i, p)| read_property(p, Place::Property(n, i + 1), ids))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{at}: `properties` is {}, not a list", kind(other))),
    };
    // The server copies the flag-level index into every group; equal means "inherit".
    let aggregation = match group.get("aggregation_group_type_index") {
        None => None,
        Some(Value::Null) if flag_level.is_some() => {
            return Err(format!(
                "{at} aggregates by persons while the flag aggregates by group type {}",
                flag_level.unwrap_or_default()
            ));
        }
        Some(v) => {
            let index = opt_index(Some(v), at.field("aggregation_group_type_index"))?;
            if index == flag_level { None } else { index }
        }
    };
    Ok(Condition {
        properties,
        rollout_percentage: opt_percent(
            group.get("rollout_percentage"),
            at.field("rollout_percentage"),
        )?,
        variant: opt_string(group.get("variant"), at.field("variant"))?,
        aggregation_group_type_index: aggregation,
        aggregation: None,
        description: opt_string(group.get("description"), at.field("description"))?,
        sort_key: match group.get("sort_key") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(SortKey::Number(n.clone())),
            Some(Value::String(s)) => Some(SortKey::Text(s.clone())),
            Some(other) => return Err(format!("{at}: `sort_key` is {}", kind(other))),
        },
        exposure_frozen: opt_bool(group.get("exposure_frozen"), at.field("exposure_frozen"))?,
        exposure_frozen_cohort: match group.get("exposure_frozen_cohort") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| format!("{at}: `exposure_frozen_cohort` is not an integer"))?,
            ),
        },
    })
}

const PROPERTY_FIELDS: [&str; 10] = [
    "key",
    "type",
    "operator",
    "value",
    "negation",
    "group_type_index",
    "label",
    "cohort_name",
    "group_key_names",
    "dependency_chain",
];

fn read_property(value: &Value, at: Place, ids: &Ids) -> Result<Property, Reason> {
    let Value::Object(prop) = value else {
        return Err(format!("{at} is {}, not an object", kind(value)));
    };
    reject_unknown(prop, &PROPERTY_FIELDS, at)?;
    // Legacy flags may lack `type`; SDKs evaluate such a property as a person property, and
    // PostHog requires a type on every write, so it reads (and is written back) as `person`.
    let kind_name =
        opt_string(prop.get("type"), at.field("type"))?.unwrap_or_else(|| "person".to_owned());
    let property_type = match kind_name.as_str() {
        "person" => PropertyType::Person,
        "cohort" => PropertyType::Cohort,
        "group" => PropertyType::Group,
        "flag" => PropertyType::Flag,
        "person_metadata" => PropertyType::PersonMetadata,
        other => {
            return Err(format!(
                "{at} has type `{other}`, which flagops cannot represent"
            ));
        }
    };
    // PostHog accepts numeric keys and stores them as strings.
    let key = match prop.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(format!("{at}: `key` is {}", kind(other))),
    };
    let operator = match prop.get("operator") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(
            Operator::parse(name).ok_or_else(|| format!("{at} uses unknown operator `{name}`"))?,
        ),
        Some(other) => return Err(format!("{at}: `operator` is {}", kind(other))),
    };
    let (key, flag, label) = if property_type == PropertyType::Flag {
        let raw = key.ok_or_else(|| format!("{at} is a flag dependency without a target"))?;
        let id: i64 = raw.parse().map_err(|_| {
            format!("{at} names its target `{raw}` by key; PostHog stores flag ids")
        })?;
        let target = ids
            .key_of(id)
            .map_or_else(|| format!("{MISSING_TARGET_PREFIX}{id}"), str::to_owned);
        (None, Some(target), None)
    } else {
        (key, None, opt_string(prop.get("label"), at.field("label"))?)
    };
    Ok(Property {
        kind: property_type,
        key,
        flag,
        operator,
        value: prop.get("value").filter(|v| !v.is_null()).cloned(),
        cohort: None,
        negation: opt_bool(prop.get("negation"), at.field("negation"))?,
        group_type: None,
        group_type_index: opt_index(prop.get("group_type_index"), at.field("group_type_index"))?,
        label,
    })
}

fn read_variants(multivariate: Option<&Value>) -> Result<Vec<Variant>, Reason> {
    let variants = match multivariate {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => match m.get("variants") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(v)) => v,
            Some(other) => return Err(format!("`multivariate.variants` is {}", kind(other))),
        },
        Some(other) => return Err(format!("`multivariate` is {}", kind(other))),
    };
    variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = Place::Variant(i + 1);
            let Value::Object(v) = v else {
                return Err(format!("{at} is {}", kind(v)));
            };
            reject_unknown(v, &["key", "name", "rollout_percentage", "description"], at)?;
            Ok(Variant {
                key: opt_string(v.get("key"), at.field("key"))?
                    .ok_or_else(|| format!("{at} has no `key`"))?,
                name: opt_string(v.get("name"), at.field("name"))?,
                rollout_percentage: opt_percent(
                    v.get("rollout_percentage"),
                    at.field("rollout_percentage"),
                )?
                .ok_or_else(|| format!("{at} has no `rollout_percentage`"))?,
                description: opt_string(v.get("description"), at.field("description"))?,
            })
        })
        .collect()
}

fn read_payloads(
    payloads: Option<&Value>,
) -> Result<std::collections::BTreeMap<String, Value>, Reason> {
    let mut out = std::collections::BTreeMap::new();
    match payloads {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let parsed = match value {
                    Value::Null => continue,
                    // A legacy payload that is not JSON is served as the raw text by the
                    // SDKs: the JSON string of that text means the same.
                    Value::String(text) => {
                        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                    }
                    other => other.clone(),
                };
                out.insert(key.clone(), parsed);
            }
        }
        Some(other) => return Err(format!("`payloads` is {}", kind(other))),
    }
    Ok(out)
}

fn read_holdout(holdout: Option<&Value>) -> Result<Option<Holdout>, Reason> {
    match holdout {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(h)) => {
            reject_unknown(h, &["id", "exclusion_percentage"], "`holdout`")?;
            Ok(Some(Holdout {
                id: h
                    .get("id")
                    .and_then(Value::as_i64)
                    .ok_or("`holdout.id` is not an integer")?,
                exclusion_percentage: opt_percent(
                    h.get("exclusion_percentage"),
                    "`holdout.exclusion_percentage`",
                )?
                .ok_or("`holdout` has no `exclusion_percentage`")?,
            }))
        }
        Some(other) => Err(format!("`holdout` is {}", kind(other))),
    }
}

fn reject_unknown(
    object: &Map<String, Value>,
    known: &[&str],
    at: impl Display,
) -> Result<(), Reason> {
    match object
        .iter()
        .find(|(k, v)| !v.is_null() && !known.contains(&k.as_str()))
    {
        Some((field, _)) => Err(format!(
            "{at} has field `{field}`, which flagops cannot represent"
        )),
        None => Ok(()),
    }
}

fn opt_string(value: Option<&Value>, what: impl Display) -> Result<Option<String>, Reason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{what} is {}, not a string", kind(other))),
    }
}

fn opt_bool(value: Option<&Value>, what: impl Display) -> Result<Option<bool>, Reason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{what} is {}, not a boolean", kind(other))),
    }
}

fn opt_percent(value: Option<&Value>, what: impl Display) -> Result<Option<Percent>, Reason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(Percent)),
        Some(other) => Err(format!("{what} is {}, not a number", kind(other))),
    }
}

fn opt_index(value: Option<&Value>, what: impl Display) -> Result<Option<u32>, Reason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{what} is not a group type index")),
    }
}

/// Where in a live flag a value was read, for messages: formatted only when one is written.
#[derive(Clone, Copy)]
enum Place {
    /// The n-th condition (1-based).
    Condition(usize),
    /// The i-th property of the n-th condition.
    Property(usize, usize),
    /// The n-th variant.
    Variant(usize),
}

impl Place {
    /// A field of the value at this place.
    fn field(self, name: &'static str) -> Field {
        Field { place: self, name }
    }
}

impl Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Condition(n) => write!(f, "condition {n}"),
            Self::Property(n, i) => write!(f, "condition {n}, property {i}"),
            Self::Variant(n) => write!(f, "variant {n}"),
        }
    }
}

/// A field at a `Place`: "condition 1: `variant`".
struct Field {
    place: Place,
    name: &'static str,
}

impl Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`", self.place, self.name)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
