//! The write checks of the fake: PostHog's always-on guards, cohort and dependency rules, and
//! the state transitions a write may not make (posthog-api.md §5).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::super::normalize::as_id;
use super::super::rules::{check_filters, find_cycle, person_dependencies, properties};
use super::{ApiErr, Store, is_deleted, is_v1, normalise_fields};

impl Store {
    /// Guards of every write (the always-on tier) plus cohort and dependency checks.
    pub(super) fn validate(
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

    pub(super) fn check_cohorts(
        &self,
        project: u64,
        filters: &Map<String, Value>,
    ) -> Result<(), ApiErr> {
        let p = self.project(project)?;
        let cohorts = &p.cohorts;
        for prop in properties(filters) {
            if prop.get("type").and_then(Value::as_str) == Some("cohort") {
                match as_id(prop.get("value")) {
                    Some(c) if cohorts.contains_key(&c) => {
                        if let Some(name) = behavioural(p, c) {
                            return Err(ApiErr::invalid(
                                "behavioral_cohort_found",
                                format!(
                                    "Cohort '{name}' with filters on events cannot be used in feature flags."
                                ),
                                Some("filters"),
                            ));
                        }
                    }
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
    pub(super) fn check_dependencies(
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

    pub(super) fn check_transitions(
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

/// The name of a cohort with behavioural filters that cohort `id` is or includes (PostHog
/// refuses such cohorts in flags; static cohorts never are).
fn behavioural(project: &super::Project, id: i64) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![id];
    while let Some(next) = stack.pop() {
        if !seen.insert(next) {
            continue;
        }
        let Some(extra) = project.cohort_objects.get(&next) else {
            continue;
        };
        if extra.get("is_static") == Some(&Value::Bool(true)) {
            continue;
        }
        let text = extra
            .get("filters")
            .map(ToString::to_string)
            .unwrap_or_default();
        if text.contains("\"behavioral\"") {
            return project.cohorts.get(&next).cloned();
        }
        let mut found = Vec::new();
        collect_cohorts(extra.get("filters"), &mut found);
        stack.extend(found);
    }
    None
}

fn collect_cohorts(value: Option<&Value>, out: &mut Vec<i64>) {
    match value {
        Some(Value::Object(map)) => {
            if map.get("type").and_then(Value::as_str) == Some("cohort")
                && let Some(id) = as_id(map.get("value"))
            {
                out.push(id);
            }
            for inner in map.values() {
                collect_cohorts(Some(inner), out);
            }
        }
        Some(Value::Array(items)) => {
            for inner in items {
                collect_cohorts(Some(inner), out);
            }
        }
        _ => {}
    }
}
