//! The fake's in-memory state and PostHog's write rules (posthog-api.md §3–§6): key rules,
//! filter guards, dependency and cohort checks, state transitions, soft delete, `version`
//! and the `original_flag` conflict check.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::normalize::{inject_read_fields, store_filters};
mod checks;

use super::rules::{check_key, comparable};

/// An error answer: status and PostHog's `{type, code, detail, attr}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiErr {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl ApiErr {
    pub fn new(
        status: u16,
        kind: &str,
        code: &str,
        detail: impl Into<String>,
        attr: Option<&str>,
    ) -> Self {
        ApiErr {
            status,
            body: json!({"type": kind, "code": code, "detail": detail.into(), "attr": attr}),
        }
    }

    pub fn invalid(code: &str, detail: impl Into<String>, attr: Option<&str>) -> Self {
        Self::new(400, "validation_error", code, detail, attr)
    }

    pub fn filters(detail: impl Into<String>) -> Self {
        Self::invalid("invalid_input", detail, Some("filters"))
    }

    pub fn not_found() -> Self {
        Self::new(404, "invalid_request", "not_found", "Not found.", None)
    }
}

/// One project's flags and cohorts.
#[derive(Debug, Default, Clone)]
pub struct Project {
    /// Stored flags (stored form, without read-injected fields), by id, deleted ones too.
    pub flags: BTreeMap<i64, Map<String, Value>>,
    /// Cohort id → name (live cohorts: what flags may reference).
    pub cohorts: BTreeMap<i64, String>,
    /// Extra fields of cohort objects (`deleted`, `is_static`, `filters`, and `name` for a
    /// deleted cohort, which is not in `cohorts`), by id.
    pub cohort_objects: BTreeMap<i64, Value>,
    /// Group types: index → name.
    pub group_types: BTreeMap<u32, String>,
}

/// Everything the fake holds.
#[derive(Debug)]
pub struct Store {
    pub projects: BTreeMap<u64, Project>,
    next_id: i64,
    next_change_request: u64,
    /// Writes answer 409 `approval_required` and change nothing.
    pub approval_required: bool,
    /// The organization lacks tagging and evaluation contexts: both are silently dropped
    /// and always returned as `[]` (posthog-api.md §3).
    pub without_tags: bool,
}

/// Top-level flag fields a client may write.
const WRITABLE: [&str; 13] = [
    "key",
    "name",
    "filters",
    "active",
    "deleted",
    "archived",
    "tags",
    "evaluation_contexts",
    "ensure_experience_continuity",
    "is_remote_configuration",
    "has_encrypted_payloads",
    "evaluation_runtime",
    "bucketing_identifier",
];

impl Store {
    pub fn new(project_id: u64) -> Self {
        let mut projects = BTreeMap::new();
        projects.insert(project_id, Project::default());
        Store {
            projects,
            next_id: 1,
            next_change_request: 1,
            approval_required: false,
            without_tags: false,
        }
    }

    pub fn project(&self, id: u64) -> Result<&Project, ApiErr> {
        self.projects.get(&id).ok_or_else(ApiErr::not_found)
    }

    /// A fresh flag id (ids are global, as PostHog's primary keys).
    pub fn fresh_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Store `flag` as given (management form, normalised like a save), without validation.
    /// A missing `id` gets a fresh one. Returns the id.
    #[allow(clippy::needless_pass_by_value)]
    pub fn seed(&mut self, project: u64, flag: Map<String, Value>) -> i64 {
        let id = flag
            .get("id")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| self.fresh_id());
        self.next_id = self.next_id.max(id + 1);
        let mut stored = defaults(
            id,
            flag.get("key").and_then(Value::as_str).unwrap_or_default(),
        );
        for field in WRITABLE {
            if let Some(v) = flag.get(field) {
                stored.insert(field.into(), v.clone());
            }
        }
        if let Some(v) = flag.get("version").and_then(Value::as_i64) {
            stored.insert("version".into(), json!(v));
        }
        for (field, value) in [("deleted", false), ("active", true), ("archived", false)] {
            if stored.get(field).is_none_or(Value::is_null) {
                stored.insert(field.into(), json!(value));
            }
        }
        normalise_fields(&mut stored);
        self.projects
            .entry(project)
            .or_default()
            .flags
            .insert(id, stored);
        id
    }

    /// The API form of a stored flag (read-only and injected fields added).
    pub fn render(&self, project: u64, flag: &Map<String, Value>) -> Value {
        let mut out = flag.clone();
        let cohorts = self
            .projects
            .get(&project)
            .map(|p| p.cohorts.clone())
            .unwrap_or_default();
        if let Some(Value::Object(filters)) = out.get_mut("filters") {
            inject_read_fields(filters, &cohorts);
        }
        if self.without_tags {
            out.insert("tags".into(), json!([]));
            out.insert("evaluation_contexts".into(), json!([]));
        }
        let multivariate = flag.get("filters").and_then(|f| f.get("multivariate"));
        let variants = multivariate
            .and_then(|m| m.get("variants"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let user = json!({"id": 1, "uuid": "00000000-0000-0000-0000-000000000001", "distinct_id": "fake-user",
            "first_name": "Fake", "last_name": "", "email": "fake@example.com", "is_email_verified": true,
            "hedgehog_config": null, "role_at_organization": null});
        let status = if flag.get("deleted") == Some(&json!(true)) {
            "DELETED"
        } else {
            "ACTIVE"
        };
        for (field, value) in [
            ("created_by", user.clone()),
            ("last_modified_by", user),
            ("created_at", json!("2026-01-01T00:00:00Z")),
            ("updated_at", json!("2026-01-01T00:00:00Z")),
            ("status", json!(status)),
            ("experiment_set", json!([])),
            ("experiment_set_metadata", json!([])),
            ("surveys", json!([])),
            ("features", json!([])),
            ("can_edit", json!(true)),
            ("user_access_level", json!("editor")),
            ("last_called_at", Value::Null),
            ("is_used_in_replay_settings", json!(false)),
            (
                "is_eligible_for_experiment",
                json!((2..=20).contains(&variants)),
            ),
            ("usage_dashboard", Value::Null),
            ("analytics_dashboards", json!([])),
            ("has_enriched_analytics", json!(false)),
        ] {
            out.insert(field.into(), value);
        }
        Value::Object(out)
    }

    /// POST: create a flag.
    pub fn create(&mut self, project: u64, body: &Value) -> Result<Value, ApiErr> {
        self.project(project)?;
        let Value::Object(body) = body else {
            return Err(ApiErr::invalid(
                "parse_error",
                "JSON parse error - expected an object",
                None,
            ));
        };
        let key = match body.get("key") {
            Some(Value::String(k)) => k.clone(),
            _ => {
                return Err(ApiErr::invalid(
                    "required",
                    "This field is required.",
                    Some("key"),
                ));
            }
        };
        check_key(&key)?;
        let filters = match body.get("filters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(f)) => f.clone(),
            Some(_) => return Err(ApiErr::filters("Filters must be an object")),
        };
        if filters
            .get("groups")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            return Err(ApiErr::filters(
                "Feature flags must have at least one condition set (group).",
            ));
        }
        let mut flag = defaults(0, &key);
        for field in WRITABLE {
            if let Some(v) = body.get(field)
                && !v.is_null()
            {
                flag.insert(field.into(), v.clone());
            }
        }
        flag.insert("deleted".into(), json!(false));
        self.validate(project, None, &mut flag, true)?;
        self.approval_gate("create", None)?;
        // A create with a deleted flag's key frees the tombstone.
        let tombstones: Vec<i64> = self.projects[&project]
            .flags
            .iter()
            .filter(|(_, f)| {
                f.get("key").and_then(Value::as_str) == Some(key.as_str()) && is_deleted(f)
            })
            .map(|(id, _)| *id)
            .collect();
        let id = self.fresh_id();
        flag.insert("id".into(), json!(id));
        flag.insert("version".into(), json!(1));
        let p = self
            .projects
            .get_mut(&project)
            .ok_or_else(ApiErr::not_found)?;
        for t in tombstones {
            p.flags.remove(&t);
        }
        p.flags.insert(id, flag.clone());
        Ok(self.render(project, &flag))
    }

    /// PATCH (or PUT): partial update, soft delete and restore.
    pub fn update(
        &mut self,
        project: u64,
        id: i64,
        body: &Value,
        full: bool,
    ) -> Result<Value, ApiErr> {
        let stored = self
            .project(project)?
            .flags
            .get(&id)
            .cloned()
            .ok_or_else(ApiErr::not_found)?;
        let Value::Object(body) = body else {
            return Err(ApiErr::invalid(
                "parse_error",
                "JSON parse error - expected an object",
                None,
            ));
        };
        if full && !body.get("key").is_some_and(Value::is_string) {
            return Err(ApiErr::invalid(
                "required",
                "This field is required.",
                Some("key"),
            ));
        }
        let mut changes: Map<String, Value> = body
            .iter()
            .filter(|(k, _)| WRITABLE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if changes.contains_key("filters") && !is_v1(&stored) {
            return Err(ApiErr::invalid(
                "unsupported_config_version",
                "This flag uses a newer filters version and cannot be updated with this API.",
                Some("filters"),
            ));
        }
        self.check_concurrency(project, &stored, body, &mut changes)?;
        let mut flag = stored.clone();
        for (field, value) in &changes {
            if field == "filters" {
                let Value::Object(patch) = value else {
                    return Err(ApiErr::filters("Filters must be an object"));
                };
                // PATCH merges the top-level keys of `filters`.
                let mut merged = flag
                    .get("filters")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (k, v) in patch {
                    merged.insert(k.clone(), v.clone());
                }
                flag.insert("filters".into(), Value::Object(merged));
            } else {
                flag.insert(field.clone(), value.clone());
            }
        }
        if let Some(Value::String(key)) = changes.get("key") {
            check_key(key)?;
        }
        let filters_sent = changes.contains_key("filters");
        self.validate(project, Some(id), &mut flag, filters_sent)?;
        self.check_transitions(project, id, &stored, &flag)?;
        self.approval_gate("update", Some(id))?;
        let version = stored.get("version").and_then(Value::as_i64).unwrap_or(1) + 1;
        flag.insert("version".into(), json!(version));
        let p = self
            .projects
            .get_mut(&project)
            .ok_or_else(ApiErr::not_found)?;
        p.flags.insert(id, flag.clone());
        Ok(self.render(project, &flag))
    }

    fn approval_gate(&mut self, action: &str, id: Option<i64>) -> Result<(), ApiErr> {
        if !self.approval_required {
            return Ok(());
        }
        let change_request_id = format!("cr-{}", self.next_change_request);
        self.next_change_request += 1;
        Err(ApiErr {
            status: 409,
            body: json!({
                "code": "approval_required", "status": "approval_required",
                "detail": "This change requires approval. A change request has been created.",
                "message": format!("Approval required to {action} this feature flag"),
                "resource_type": "feature_flag", "resource_id": id,
                "change_request_id": change_request_id,
                "change_request": {"id": change_request_id, "state": "pending"},
                "required_approvers": 1
            }),
        })
    }

    /// §6: with a stale `version` and an `original_flag`, refuse if a field the caller changes
    /// was also changed by someone else; drop fields the caller did not change.
    fn check_concurrency(
        &self,
        project: u64,
        stored: &Map<String, Value>,
        body: &Map<String, Value>,
        changes: &mut Map<String, Value>,
    ) -> Result<(), ApiErr> {
        let Some(version) = body.get("version").and_then(Value::as_i64) else {
            return Ok(());
        };
        let current_version = stored.get("version").and_then(Value::as_i64).unwrap_or(1);
        let Some(Value::Object(original)) = body.get("original_flag") else {
            return Ok(());
        };
        if version == current_version {
            return Ok(());
        }
        let current = self.render(project, stored);
        let mut conflict = false;
        changes.retain(|field, value| {
            let before = original.get(field.as_str()).unwrap_or(&Value::Null);
            if comparable(field, value) == comparable(field, before) {
                return false;
            }
            let now = current.get(field.as_str()).unwrap_or(&Value::Null);
            if comparable(field, now) != comparable(field, before) {
                conflict = true;
            }
            true
        });
        if conflict {
            return Err(ApiErr::new(
                409,
                "server_error",
                "conflict",
                "The feature flag was updated by fake@example.com since you started editing it. Please refresh and try again.",
                None,
            ));
        }
        Ok(())
    }
}

fn defaults(id: i64, key: &str) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "id": id, "key": key, "name": "", "filters": {"groups": []}, "active": true, "deleted": false,
        "archived": false, "version": 1, "tags": [], "evaluation_contexts": [],
        "ensure_experience_continuity": false, "is_remote_configuration": false,
        "has_encrypted_payloads": false, "evaluation_runtime": "all", "bucketing_identifier": "distinct_id"
    }) else {
        unreachable!()
    };
    m
}

/// Server-side normalisation of a whole flag.
fn normalise_fields(flag: &mut Map<String, Value>) {
    if let Some(Value::Object(filters)) = flag.get("filters") {
        let stored = store_filters(filters);
        flag.insert("filters".into(), Value::Object(stored));
    }
    if let Some(Value::Array(tags)) = flag.get("tags") {
        let mut clean: Vec<String> = tags
            .iter()
            .filter_map(Value::as_str)
            .map(|t| t.trim().to_lowercase())
            .collect();
        clean.sort();
        clean.dedup();
        flag.insert("tags".into(), json!(clean));
    }
    if let Some(Value::Array(contexts)) = flag.get("evaluation_contexts") {
        let mut seen = Vec::new();
        for c in contexts.iter().filter_map(Value::as_str) {
            if !seen.contains(&c.to_owned()) {
                seen.push(c.to_owned());
            }
        }
        flag.insert("evaluation_contexts".into(), json!(seen));
    }
    if flag.get("name").is_none_or(Value::is_null) {
        flag.insert("name".into(), json!(""));
    }
}

pub fn is_deleted(flag: &Map<String, Value>) -> bool {
    flag.get("deleted") == Some(&json!(true))
}

fn is_v1(flag: &Map<String, Value>) -> bool {
    match flag.get("filters").and_then(|f| f.get("version")) {
        None | Some(Value::Null) => true,
        Some(v) => v.as_i64() == Some(1),
    }
}
