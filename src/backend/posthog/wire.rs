//! The JSON PostHog's feature-flag API sends and receives (management API, `filters` version 1).
//!
//! Only the envelope is typed here; a flag's `filters` stays a `serde_json::Value` until
//! `translate` reads it, so that fields this tool does not know are seen (and reported) rather
//! than silently dropped by a derive.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One page of `GET /api/projects/:id/feature_flags/` (DRF limit/offset pagination).
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    /// Absolute URL of the next page, `null` on the last one.
    #[serde(default)]
    pub(crate) next: Option<String>,
    /// How many items the whole list has (bounds the pages read); any JSON, read leniently.
    #[serde(default)]
    pub(crate) count: Option<Value>,
    /// The flags of this page, as raw objects (required: `list_query` checks it is there).
    pub(crate) results: Vec<Map<String, Value>>,
}

/// A listed flag: the fields the adapter reads of it, as compact JSON text, and what a list
/// needs of it before translating (its id, key and whether it is deleted), read once as its
/// page is parsed. The text is parsed again only when the flag is translated, one flag at a
/// time: a project's flags are never all held as JSON trees at once.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The numeric id, when the server gave one.
    pub(crate) id: Option<i64>,
    /// The key, when it is a string.
    pub(crate) key: Option<String>,
    /// Soft-deleted.
    pub(crate) deleted: bool,
    /// The kept fields as one JSON object (sent back as `original_flag`).
    pub(crate) text: Box<str>,
}

impl Listed {
    /// A flag read as a JSON object (a single `GET`, a write's answer).
    pub(crate) fn from_object(object: &Map<String, Value>) -> Listed {
        Listed {
            id: object.get("id").and_then(Value::as_i64),
            key: object.get("key").and_then(Value::as_str).map(str::to_owned),
            deleted: object.get("deleted").and_then(Value::as_bool) == Some(true),
            text: Value::Object(object.clone()).to_string().into_boxed_str(),
        }
    }

    /// The kept fields as a JSON object.
    pub(crate) fn object(&self) -> Map<String, Value> {
        serde_json::from_str(&self.text).unwrap_or_default()
    }
}

/// The fields of a flag object the adapter reads. The raw object is kept beside it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireFlag {
    /// Numeric id; dependencies reference it.
    pub(crate) id: i64,
    /// The key.
    pub(crate) key: String,
    /// Name (PostHog's description); may be blank or null.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Targeting document.
    #[serde(default)]
    pub(crate) filters: Value,
    /// Enabled (PostHog's default is true).
    #[serde(default = "yes")]
    pub(crate) active: bool,
    /// Soft-deleted.
    #[serde(default)]
    pub(crate) deleted: Option<bool>,
    /// Archived (newest API only).
    #[serde(default)]
    pub(crate) archived: Option<bool>,
    /// Row version for optimistic concurrency.
    #[serde(default)]
    pub(crate) version: Option<i64>,
    /// Tags (lower-cased by the server).
    #[serde(default)]
    pub(crate) tags: Option<Vec<String>>,
    /// Evaluation contexts (older servers: `evaluation_tags`).
    #[serde(default)]
    pub(crate) evaluation_contexts: Option<Vec<String>>,
    /// The same, under its name on servers from before the rename.
    #[serde(default)]
    pub(crate) evaluation_tags: Option<Vec<String>>,
    /// Keep a user's value across authentication.
    #[serde(default)]
    pub(crate) ensure_experience_continuity: Option<bool>,
    /// Remote-configuration flag.
    #[serde(default)]
    pub(crate) is_remote_configuration: Option<bool>,
    /// Encrypted payloads.
    #[serde(default)]
    pub(crate) has_encrypted_payloads: Option<bool>,
    /// `server`, `client` or `all`.
    #[serde(default)]
    pub(crate) evaluation_runtime: Option<String>,
    /// `distinct_id` or `device_id`.
    #[serde(default)]
    pub(crate) bucketing_identifier: Option<String>,
}

fn yes() -> bool {
    true
}

impl WireFlag {
    /// Whether the flag is soft-deleted.
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.unwrap_or(false)
    }
}

/// PostHog's error envelope (drf-exceptions-hog): `{type, code, detail, attr}`, plus the
/// approval-policy fields of a 409 `approval_required`. (`type` is not needed: `code` and the
/// status say more.)
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiError {
    /// Machine-readable code (`unique`, `conflict`, `permission_denied`, …).
    #[serde(default)]
    pub(crate) code: Option<String>,
    /// Human-readable text.
    #[serde(default)]
    pub(crate) detail: Option<String>,
    /// The field the error is about.
    #[serde(default)]
    pub(crate) attr: Option<String>,
    /// Approval policies: `approval_required`.
    #[serde(default)]
    pub(crate) status: Option<String>,
    /// Approval policies: the opened change request.
    #[serde(default)]
    pub(crate) change_request_id: Option<Value>,
    /// Some endpoints (`bulk_keys`, approvals) use `error` instead of `detail`.
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// Response of `POST /feature_flags/bulk_keys/`.
#[derive(Debug, Deserialize)]
pub(crate) struct BulkKeys {
    /// Id (as a string) → key.
    #[serde(default)]
    pub(crate) keys: std::collections::BTreeMap<String, String>,
}
