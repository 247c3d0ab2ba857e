//! The fake's in-memory projects, workspaces and flags, and Mixpanel's write rules (mixpanel-api.md
//! §1.2, §2, §3): server-owned fields (`id`, `hash_salt`, `created`, `modified`, `enabled_at`, …),
//! unique keys (archived flags included), `context` frozen once enabled, no deleting an enabled
//! flag, archive and restore.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::body;

/// An error answer: status and Mixpanel's body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiErr {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl ApiErr {
    /// `status` with the management API's error envelope `{status: "error", error}`
    /// (the 401/403 response schemas of feature-flags-management.openapi.yaml; the
    /// `ManagementApiErrorResponse` component adds a `type` whose values are not published, so
    /// the fake sends none).
    pub fn new(status: u16, error: impl Into<String>) -> Self {
        ApiErr {
            status,
            body: json!({"status": "error", "error": error.into()}),
        }
    }

    /// 400 with `error`.
    pub fn bad(error: impl Into<String>) -> Self {
        Self::new(400, error)
    }

    /// 404 for an unknown flag.
    pub fn flag_not_found() -> Self {
        Self::new(404, "Feature flag not found")
    }
}

/// One workspace ("data view") of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// "All Project Data".
    pub is_global: bool,
    /// The default view.
    pub is_default: bool,
}

/// One project: its workspaces and its flags (in creation order, all workspaces).
#[derive(Debug, Default, Clone)]
pub struct Project {
    /// Workspaces, in the order the discovery endpoint lists them.
    pub workspaces: Vec<Workspace>,
    /// Stored flags (rendered form), oldest first.
    pub flags: Vec<Map<String, Value>>,
}

/// Everything the fake holds.
#[derive(Debug)]
pub struct Store {
    /// Projects by id.
    pub projects: BTreeMap<u64, Project>,
    rng: fastrand::Rng,
    last_time: Option<jiff::Timestamp>,
}

fn flag_id(flag: &Map<String, Value>) -> &str {
    flag.get("id").and_then(Value::as_str).unwrap_or_default()
}

fn flag_key(flag: &Map<String, Value>) -> &str {
    flag.get("key").and_then(Value::as_str).unwrap_or_default()
}

/// Archived flags are hidden from the list unless `include_archived=true`.
pub fn is_archived(flag: &Map<String, Value>) -> bool {
    flag.get("status").and_then(Value::as_str) == Some("archived")
}

impl Store {
    /// An empty store (ids and salts from a fixed seed: the same per run).
    pub fn new() -> Self {
        Store {
            projects: BTreeMap::new(),
            rng: fastrand::Rng::with_seed(0x006d_6978_7061_6e65),
            last_time: None,
        }
    }

    /// A fresh version-4 UUID.
    pub fn fresh_uuid(&mut self) -> String {
        let a = self.rng.u64(..);
        let b = self.rng.u64(..);
        let hex = format!("{a:016x}{b:016x}");
        let variant = ["8", "9", "a", "b"][self.rng.usize(..4)];
        format!(
            "{}-{}-4{}-{variant}{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// A fresh 32-character `hash_salt`.
    pub fn fresh_salt(&mut self) -> String {
        format!("{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..))
    }

    /// Now, as an ISO-8601 string strictly later than every earlier one (so `modified` changes
    /// on every write, even two writes within the clock's resolution).
    pub fn now(&mut self) -> String {
        let mut t = jiff::Timestamp::now();
        if let Some(last) = self.last_time
            && t <= last
        {
            t = last + jiff::SignedDuration::from_micros(1);
        }
        self.last_time = Some(t);
        format!("{t:.6}")
    }

    pub fn project(&self, id: u64) -> Result<&Project, ApiErr> {
        // Unknown to the service account: Mixpanel answers 403 for a project a service account
        // is not a member of (the spec documents 401 and 403 only; the text is not published).
        self.projects
            .get(&id)
            .ok_or_else(|| ApiErr::new(403, "You do not have access to this project"))
    }

    fn project_mut(&mut self, id: u64) -> Result<&mut Project, ApiErr> {
        self.project(id)?;
        Ok(self.projects.get_mut(&id).expect("checked above"))
    }

    /// Check that `workspace` belongs to `project`.
    pub fn workspace(&self, project: u64, workspace: u64) -> Result<(), ApiErr> {
        if self
            .project(project)?
            .workspaces
            .iter()
            .any(|w| w.id == workspace)
        {
            Ok(())
        } else {
            Err(ApiErr::new(404, "Workspace not found"))
        }
    }

    /// The flags of `workspace`, oldest first.
    pub fn list(
        &self,
        project: u64,
        workspace: u64,
        include_archived: bool,
    ) -> Result<Vec<Value>, ApiErr> {
        Ok(self
            .project(project)?
            .flags
            .iter()
            .filter(|f| f.get("workspace_id") == Some(&json!(workspace)))
            .filter(|f| include_archived || !is_archived(f))
            .map(|f| Value::Object(f.clone()))
            .collect())
    }

    fn position(&self, project: u64, workspace: u64, id: &str) -> Result<usize, ApiErr> {
        self.project(project)?
            .flags
            .iter()
            .position(|f| flag_id(f) == id && f.get("workspace_id") == Some(&json!(workspace)))
            .ok_or_else(ApiErr::flag_not_found)
    }

    /// GET one flag.
    pub fn get(&self, project: u64, workspace: u64, id: &str) -> Result<Value, ApiErr> {
        let at = self.position(project, workspace, id)?;
        Ok(Value::Object(self.projects[&project].flags[at].clone()))
    }

    fn check_unique_key(
        &self,
        project: u64,
        key: &str,
        except: Option<&str>,
    ) -> Result<(), ApiErr> {
        // Keys are unique per project, archived flags included (mixpanel-api.md §2.1; the
        // message is mixpanel-headless's "Duplicate key", mp-flags.md troubleshooting).
        let taken = self
            .project(project)?
            .flags
            .iter()
            .any(|f| flag_key(f) == key && Some(flag_id(f)) != except);
        if taken {
            return Err(ApiErr::bad(format!("key: Duplicate key '{key}'")));
        }
        Ok(())
    }

    fn check_workspace_field(body: &Map<String, Value>, workspace: u64) -> Result<(), ApiErr> {
        // `workspace_id` in the body is "normally implied by the path"; a different one is
        // refused rather than silently moving the flag (not documented either way).
        match body.get("workspace_id") {
            None | Some(Value::Null) => Ok(()),
            Some(v) if v == &json!(workspace) => Ok(()),
            Some(v) => Err(ApiErr::bad(format!(
                "workspace_id: {v} does not match the workspace of the path ({workspace})"
            ))),
        }
    }

    /// POST: create a flag from a request body (200 with the flag, as the spec says).
    pub fn create(&mut self, project: u64, workspace: u64, body: &Value) -> Result<Value, ApiErr> {
        body::check(body)?;
        let obj = body.as_object().expect("checked");
        Self::check_workspace_field(obj, workspace)?;
        self.check_unique_key(project, obj["key"].as_str().unwrap_or_default(), None)?;
        let now = self.now();
        let id = self.fresh_uuid();
        let mut flag = Self::defaults(project, workspace, &id, &now);
        for (k, v) in body::stored_fields(obj) {
            flag.insert(k, v);
        }
        flag.insert("workspace_id".into(), json!(workspace));
        if flag.get("hash_salt").is_none_or(Value::is_null) {
            let salt = self.fresh_salt();
            flag.insert("hash_salt".into(), json!(salt));
        }
        if flag.get("status").and_then(Value::as_str) == Some("enabled") {
            flag.insert("enabled_at".into(), json!(now));
        }
        if is_archived(&flag) {
            flag.insert("deleted".into(), json!(now));
        }
        self.project_mut(project)?.flags.push(flag.clone());
        Ok(Value::Object(flag))
    }

    /// PUT: replace the writable fields of a flag (full body, same schema as create).
    pub fn update(
        &mut self,
        project: u64,
        workspace: u64,
        id: &str,
        body: &Value,
    ) -> Result<Value, ApiErr> {
        let at = self.position(project, workspace, id)?;
        body::check(body)?;
        let obj = body.as_object().expect("checked");
        Self::check_workspace_field(obj, workspace)?;
        self.check_unique_key(project, obj["key"].as_str().unwrap_or_default(), Some(id))?;
        let stored = self.projects[&project].flags[at].clone();
        // "The variant assignment key cannot be changed once the flag has been enabled"
        // (mixpanel/docs docs/featureflags.mdx); `enabled_at` is set on the first enable and
        // kept after a disable, so it tells whether the flag was ever enabled.
        let ever_enabled = stored.get("enabled_at").is_some_and(|v| !v.is_null());
        if ever_enabled && stored.get("context") != obj.get("context") {
            return Err(ApiErr::bad(
                "context: The variant assignment key cannot be changed once the flag has been enabled",
            ));
        }
        let now = self.now();
        let mut flag = stored.clone();
        // Full replacement: optional fields left out go back to their defaults.
        for (field, default) in [
            ("description", Value::Null),
            ("status", json!("disabled")),
            ("data_group_id", Value::Null),
            ("experiment_id", Value::Null),
            ("is_experiment_active", Value::Null),
        ] {
            flag.insert(field.into(), default);
        }
        for (k, v) in body::stored_fields(obj) {
            flag.insert(k, v);
        }
        flag.insert("workspace_id".into(), json!(workspace));
        // `hash_salt` absent or null keeps the stored salt; `reset_hash_salt: true` draws a new
        // one (FeatureFlagRequest: "reset_hash_salt"; reassigns every user).
        if flag.get("hash_salt").is_none_or(Value::is_null) {
            flag.insert("hash_salt".into(), stored["hash_salt"].clone());
        }
        if obj.get(body::RESET_HASH_SALT) == Some(&json!(true)) {
            let salt = self.fresh_salt();
            flag.insert("hash_salt".into(), json!(salt));
        }
        let was_enabled = stored.get("status").and_then(Value::as_str) == Some("enabled");
        let status = flag
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if status == "enabled" && !was_enabled {
            // Reset on each enable (re-arms runtime-event targeting, docs runtime-events.mdx).
            flag.insert("enabled_at".into(), json!(now));
        }
        let deleted = if status == "archived" {
            stored
                .get("deleted")
                .filter(|d| !d.is_null())
                .cloned()
                .unwrap_or(json!(now))
        } else {
            Value::Null
        };
        flag.insert("deleted".into(), deleted);
        flag.insert("modified".into(), json!(now));
        self.projects.get_mut(&project).expect("exists").flags[at].clone_from(&flag);
        Ok(Value::Object(flag))
    }

    /// DELETE: permanent; an enabled flag is refused (mixpanel-headless mp-flags.md:
    /// "Cannot delete enabled flag … disable it first").
    pub fn delete(&mut self, project: u64, workspace: u64, id: &str) -> Result<Value, ApiErr> {
        let at = self.position(project, workspace, id)?;
        let flag = &self.projects[&project].flags[at];
        if flag.get("status").and_then(Value::as_str) == Some("enabled") {
            return Err(ApiErr::bad(
                "Cannot delete enabled flag. Disable it first or archive it.",
            ));
        }
        self.project_mut(project)?.flags.remove(at);
        Ok(json!({}))
    }

    /// POST `{id}/archive/` (archive: status `archived`, disabled) or DELETE `{id}/archive/`
    /// (restore, as a disabled flag); both answer the flag (mixpanel-api.md §1.2, D2 and
    /// mixpanel-headless `archive_flag`/`restore_flag`).
    pub fn set_archived(
        &mut self,
        project: u64,
        workspace: u64,
        id: &str,
        archived: bool,
    ) -> Result<Value, ApiErr> {
        let at = self.position(project, workspace, id)?;
        let now = self.now();
        let flag = &mut self.project_mut(project)?.flags[at];
        if archived && !is_archived(flag) {
            flag.insert("status".into(), json!("archived"));
            flag.insert("deleted".into(), json!(now));
            flag.insert("modified".into(), json!(now));
        } else if !archived && is_archived(flag) {
            flag.insert("status".into(), json!("disabled"));
            flag.insert("deleted".into(), Value::Null);
            flag.insert("modified".into(), json!(now));
        }
        Ok(Value::Object(flag.clone()))
    }

    /// A flag with every server-owned field (FeatureFlagApiResponse) at its initial value.
    pub fn defaults(project: u64, workspace: u64, id: &str, now: &str) -> Map<String, Value> {
        let Value::Object(m) = json!({
            "id": id, "project_id": project, "workspace_id": workspace,
            "content_type": "feature-flags",
            "name": "", "key": "", "description": null, "tags": [], "status": "disabled",
            "context": "distinct_id", "data_group_id": null, "serving_method": "server",
            "ruleset": {"variants": [], "rollout": [], "test": null},
            "experiment_id": null, "is_experiment_active": null, "hash_salt": null,
            "created": now, "modified": now, "enabled_at": null, "deleted": null,
            "creator_id": 1, "creator_name": "Fake Service Account",
            "creator_email": "fake-sa@example.com",
            "last_modified_by_id": 1, "last_modified_by_name": "Fake Service Account",
            "last_modified_by_email": "fake-sa@example.com",
            "is_favorited": false, "pinned_date": null, "content_environments_id": null,
            "project_name": format!("Fake project {project}"),
            "can_update_basic": true, "can_view": true, "can_share": true, "can_pin": true,
            "is_shared_with_project": true, "is_superadmin": false, "allow_staff_override": false
        }) else {
            unreachable!()
        };
        m
    }

    /// Store `flag` (request-shaped, may carry `id`, `status`, `hash_salt`, `enabled_at`, …)
    /// over the defaults, without validation. Returns its id.
    pub fn seed(&mut self, project: u64, workspace: u64, flag: &Map<String, Value>) -> String {
        let now = self.now();
        let id = match flag.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => self.fresh_uuid(),
        };
        let mut stored = Self::defaults(project, workspace, &id, &now);
        for (k, v) in flag {
            stored.insert(k.clone(), v.clone());
        }
        stored.insert("id".into(), json!(id));
        if stored.get("hash_salt").is_none_or(Value::is_null) && !flag.contains_key("hash_salt") {
            let salt = self.fresh_salt();
            stored.insert("hash_salt".into(), json!(salt));
        }
        if stored.get("status").and_then(Value::as_str) == Some("enabled")
            && !flag.contains_key("enabled_at")
        {
            stored.insert("enabled_at".into(), json!(now));
        }
        self.projects.entry(project).or_default().flags.push(stored);
        id
    }
}

/// One stored flag as `GET /flags/definitions` serves it to the SDKs for local evaluation
/// (`ExperimentationFlagMetadata`: mixpanel/docs `openapi/feature-flags.openapi.yaml`;
/// mixpanel-python `mixpanel/flags/types.py` `ExperimentationFlag`), or `None` when the
/// endpoint would not serve it: it serves enabled flags only (mixpanel-api.md §1.3).
pub fn definition(flag: &Map<String, Value>) -> Option<Value> {
    if flag.get("status").and_then(Value::as_str) != Some("enabled") {
        return None;
    }
    let field = |name: &str| flag.get(name).cloned().unwrap_or(Value::Null);
    let ruleset = flag.get("ruleset").and_then(Value::as_object);
    let part = |name: &str| ruleset.and_then(|r| r.get(name)).cloned();
    let mut rs = Map::new();
    rs.insert("variants".into(), part("variants").unwrap_or(json!([])));
    rs.insert("rollout".into(), part("rollout").unwrap_or(json!([])));
    if let Some(test) = part("test").filter(|t| !t.is_null()) {
        rs.insert("test".into(), test);
    }
    Some(json!({
        "id": field("id"), "name": field("name"), "key": field("key"), "status": field("status"),
        "project_id": field("project_id"), "workspace_id": field("workspace_id"),
        "context": field("context"), "experiment_id": field("experiment_id"),
        "is_experiment_active": field("is_experiment_active"), "hash_salt": field("hash_salt"),
        "ruleset": Value::Object(rs)
    }))
}
