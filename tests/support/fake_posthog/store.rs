//! The fake's in-memory state and PostHog's write rules (posthog-api.md §3–§6): key rules,
//! filter guards, dependency and cohort checks, state transitions, soft delete, `version`
//! and the `original_flag` conflict check.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::normalize::{as_id, inject_read_fields, store_filters};
use super::rules::{
    check_filters, check_key, comparable, find_cycle, person_dependencies, properties,
};

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
    /// Cohort id → name.
    pub cohorts: BTreeMap<i64, String>,
}

/// Everything the fake holds.
#[derive(Debug)]
pub struct Store {
    pub projects: BTreeMap<u64, Project>,
    next_id: i64,
    next_change_request: u64,
    /// Writes answer 409 `approval_required` and change nothing.
    pub approval_required: bool,
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

    /// Guards of every write (the always-on tier) plus cohort and dependency checks.
    fn validate(
        &self,
        project: u64,
        id: Option<i64>,
        flag: &mut Map<String, Value>,
        filters_sent: bool,
    ) -> Result<(), ApiErr> {
        let key = flag
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let deleted = is_deleted(flag);
        if !deleted {
            let p = self.project(project)?;
            if p.flags.iter().any(|(other, f)| {
                Some(*other) != id
                    && !is_deleted(f)
                    && f.get("key").and_then(Value::as_str) == Some(key.as_str())
            }) {
                return Err(ApiErr::invalid(
                    "unique",
                    "There is already a feature flag with this key.",
                    Some("key"),
                ));
            }
        }
        for field in [
            "active",
            "deleted",
            "archived",
            "ensure_experience_continuity",
            "is_remote_configuration",
            "has_encrypted_payloads",
        ] {
            if flag
                .get(field)
                .is_some_and(|v| !v.is_boolean() && !v.is_null())
            {
                return Err(ApiErr::invalid(
                    "invalid",
                    "Must be a valid boolean.",
                    Some(field),
                ));
            }
        }
        for (field, allowed) in [
            ("evaluation_runtime", &["server", "client", "all"][..]),
            ("bucketing_identifier", &["distinct_id", "device_id"][..]),
        ] {
            if let Some(v) = flag.get(field).filter(|v| !v.is_null())
                && !v.as_str().is_some_and(|s| allowed.contains(&s))
            {
                return Err(ApiErr::invalid(
                    "invalid_choice",
                    format!("{v} is not a valid choice."),
                    Some(field),
                ));
            }
        }
        if flag.get("archived") == Some(&json!(true)) && flag.get("active") == Some(&json!(true)) {
            return Err(ApiErr::invalid(
                "invalid_input",
                "An archived feature flag must be disabled.",
                None,
            ));
        }
        if flag.get("has_encrypted_payloads") == Some(&json!(true))
            && flag.get("is_remote_configuration") != Some(&json!(true))
        {
            return Err(ApiErr::invalid(
                "invalid_input",
                "Encrypted payloads can only be used with remote configuration flags.",
                None,
            ));
        }
        if flag.get("bucketing_identifier") == Some(&json!("device_id"))
            && flag.get("ensure_experience_continuity") == Some(&json!(true))
        {
            return Err(ApiErr::invalid(
                "invalid_input",
                "Device ID bucketing cannot be combined with experience continuity.",
                None,
            ));
        }
        if let Some(contexts) = flag.get("evaluation_contexts").and_then(Value::as_array)
            && (contexts.len() > 50
                || contexts
                    .iter()
                    .any(|c| c.as_str().is_none_or(|s| s.len() > 255)))
        {
            return Err(ApiErr::invalid(
                "invalid_input",
                "At most 50 evaluation contexts of at most 255 characters.",
                Some("evaluation_contexts"),
            ));
        }
        if let Some(tags) = flag.get("tags").filter(|t| !t.is_null())
            && !tags
                .as_array()
                .is_some_and(|t| t.iter().all(Value::is_string))
        {
            return Err(ApiErr::invalid(
                "invalid_input",
                "Tags must be a list of strings.",
                Some("tags"),
            ));
        }
        if filters_sent {
            let filters = flag
                .get("filters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            check_filters(&filters)?;
            self.check_cohorts(project, &filters)?;
            self.check_dependencies(project, id, &key, &filters)?;
        }
        normalise_fields(flag);
        Ok(())
    }

    fn check_cohorts(&self, project: u64, filters: &Map<String, Value>) -> Result<(), ApiErr> {
        let cohorts = &self.project(project)?.cohorts;
        for prop in properties(filters) {
            if prop.get("type").and_then(Value::as_str) == Some("cohort") {
                match as_id(prop.get("value")) {
                    Some(c) if cohorts.contains_key(&c) => {}
                    _ => {
                        let shown = prop
                            .get("value")
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        return Err(ApiErr::invalid(
                            "cohort_does_not_exist",
                            format!("Cohort with id {shown} does not exist"),
                            Some("filters"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Dependencies in person-aggregated conditions: ids only, targets live, active and v1,
    /// no self-reference, no cycle.
    fn check_dependencies(
        &self,
        project: u64,
        id: Option<i64>,
        key: &str,
        filters: &Map<String, Value>,
    ) -> Result<(), ApiErr> {
        let p = self.project(project)?;
        for target in person_dependencies(filters)? {
            if Some(target) == id {
                return Err(ApiErr::filters("A feature flag cannot depend on itself"));
            }
            let Some(t) = p.flags.get(&target).filter(|t| !is_deleted(t)) else {
                return Err(ApiErr::filters(format!(
                    "Flag dependency references non-existent flag with ID {target}"
                )));
            };
            let t_key = t.get("key").and_then(Value::as_str).unwrap_or_default();
            if t.get("active") != Some(&json!(true)) {
                return Err(ApiErr::filters(format!(
                    "Cannot create dependency on disabled flag '{t_key}' (ID: {target})"
                )));
            }
            if !is_v1(t) {
                return Err(ApiErr::invalid(
                    "unsupported_dependency_config_version",
                    format!(
                        "Flag dependency on '{t_key}' (ID: {target}) uses an unsupported filters version"
                    ),
                    Some("filters"),
                ));
            }
        }
        // Cycle check: the graph of live flags with this flag's new edges.
        let mut edges: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (fid, f) in &p.flags {
            if !is_deleted(f) {
                let fs = f
                    .get("filters")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                edges.insert(*fid, person_dependencies(&fs).unwrap_or_default());
            }
        }
        let me = id.unwrap_or(-1);
        edges.insert(me, person_dependencies(filters)?);
        let key_of = |fid: i64| {
            if fid == me {
                key.to_owned()
            } else {
                p.flags
                    .get(&fid)
                    .and_then(|f| f.get("key"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            }
        };
        let mut path = vec![me];
        if let Some(cycle) = find_cycle(me, &edges, &mut path, &mut BTreeSet::new()) {
            let names: Vec<String> = cycle.into_iter().map(key_of).collect();
            return Err(ApiErr::filters(format!(
                "Circular dependency detected: {}",
                names.join(" → ")
            )));
        }
        Ok(())
    }

    /// Active, non-deleted flags depending on `id`.
    pub fn active_dependents(&self, project: u64, id: i64) -> Vec<(i64, String, String)> {
        let Ok(p) = self.project(project) else {
            return Vec::new();
        };
        p.flags
            .iter()
            .filter(|(fid, f)| {
                **fid != id && !is_deleted(f) && f.get("active") == Some(&json!(true))
            })
            .filter(|(_, f)| {
                let fs = f
                    .get("filters")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                person_dependencies(&fs).unwrap_or_default().contains(&id)
            })
            .map(|(fid, f)| {
                let s = |k: &str| {
                    f.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (*fid, s("key"), s("name"))
            })
            .collect()
    }

    fn check_transitions(
        &self,
        project: u64,
        id: i64,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Result<(), ApiErr> {
        let listed = |deps: Vec<(i64, String, String)>| {
            deps.iter()
                .map(|(i, k, _)| format!("{k} (ID: {i})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let was_deleted = is_deleted(before);
        let deleting = !was_deleted && is_deleted(after);
        let disabling =
            before.get("active") == Some(&json!(true)) && after.get("active") != Some(&json!(true));
        if deleting || disabling {
            let dependents = self.active_dependents(project, id);
            if !dependents.is_empty() {
                let what = if deleting { "delete" } else { "disable" };
                return Err(ApiErr::invalid(
                    "invalid_input",
                    format!(
                        "Cannot {what} this feature flag because other flags depend on it: {}",
                        listed(dependents)
                    ),
                    None,
                ));
            }
        }
        let enabling =
            before.get("active") != Some(&json!(true)) && after.get("active") == Some(&json!(true));
        if enabling && !is_deleted(after) {
            let p = self.project(project)?;
            let fs = after
                .get("filters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let disabled: Vec<(i64, String, String)> = person_dependencies(&fs)?
                .into_iter()
                .filter_map(|t| p.flags.get(&t).map(|f| (t, f)))
                .filter(|(_, f)| f.get("active") != Some(&json!(true)) || is_deleted(f))
                .map(|(t, f)| {
                    (
                        t,
                        f.get("key")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        String::new(),
                    )
                })
                .collect();
            if !disabled.is_empty() {
                return Err(ApiErr::invalid(
                    "invalid_input",
                    format!(
                        "Cannot enable this feature flag because it depends on disabled flags: {}",
                        listed(disabled)
                    ),
                    None,
                ));
            }
        }
        if was_deleted && !is_deleted(after) {
            let key = after.get("key").and_then(Value::as_str).unwrap_or_default();
            let p = self.project(project)?;
            if p.flags.iter().any(|(o, f)| {
                *o != id && !is_deleted(f) && f.get("key").and_then(Value::as_str) == Some(key)
            }) {
                return Err(ApiErr::invalid(
                    "unique",
                    "There is already a feature flag with this key.",
                    Some("key"),
                ));
            }
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
