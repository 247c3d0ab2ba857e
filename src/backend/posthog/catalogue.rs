//! The project's catalogue: its cohorts and group types, read only when a flag needs them.
//!
//! - Cohorts: every page of `GET /api/projects/:id/cohorts/` (DRF limit/offset, like the flag
//!   list; PostHog leaves deleted cohorts out of it). A cohort id a flag references that is not
//!   listed is looked up alone (`GET …/cohorts/:id/`): a deleted cohort answers with
//!   `deleted: true`, one that never existed with 404. A dynamic cohort is behavioural when its
//!   `filters` hold a `type: behavioral` property (or, in the legacy `groups`, an event or
//!   action); the cohorts it includes are its `type: cohort` properties. Static cohorts are
//!   neither (PostHog always accepts them in flags).
//! - Group types: `GET /api/projects/:id/groups_types/`, one unpaginated array of
//!   `{group_type, group_type_index, …}`.

use std::collections::BTreeSet;

use reqwest::{Method, Url};
use serde_json::{Map, Value};

use super::wire::Page;
use super::{MAX_PAGES, PosthogBackend};
use crate::backend::http::{Access, Call, json_kind};
use crate::backend::{BackendError, BackendResult};
use crate::model::catalogue::{Catalogue, Cohort, GroupType, Needs};

impl PosthogBackend {
    fn project_url(&self, rest: &str) -> String {
        format!("{}/api/projects/{}/{rest}", self.origin, self.project_id)
    }

    /// The parts of the catalogue `needs` asks for.
    pub(super) async fn read_catalogue(&self, needs: &Needs) -> BackendResult<Catalogue> {
        let mut catalogue = Catalogue::default();
        if needs.cohorts {
            let mut cohorts: Vec<Cohort> = self
                .cohort_pages()
                .await
                .map_err(|e| with_scope(e, "cohort:read"))?
                .iter()
                .filter_map(read_cohort)
                .collect();
            let listed: BTreeSet<i64> = cohorts.iter().map(|c| c.id).collect();
            for &id in needs.cohort_ids.difference(&listed) {
                if let Some(cohort) = self
                    .cohort_alone(id)
                    .await
                    .map_err(|e| with_scope(e, "cohort:read"))?
                {
                    cohorts.push(cohort);
                }
            }
            cohorts.sort_by_key(|c| c.id);
            catalogue.cohorts = Some(cohorts);
        }
        if needs.group_types {
            catalogue.group_types = Some(
                self.group_types()
                    .await
                    .map_err(|e| with_scope(e, "group:read"))?,
            );
        }
        Ok(catalogue)
    }

    /// Every page of the cohort list. Pages are read on the configured origin whatever their
    /// `next` link says, at most `MAX_PAGES`, and a `next` that leads back ends in an error.
    async fn cohort_pages(&self) -> BackendResult<Vec<Map<String, Value>>> {
        let call = Call {
            key: None,
            action: format!("list cohorts of project {}", self.project_id),
            access: Access::Read,
        };
        let base = self.project_url("cohorts/");
        let mut query = vec![("limit".to_owned(), self.page_size.to_string())];
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let url = Url::parse_with_params(&base, &query)
                .map_err(|e| BackendError::Io(format!("cannot build the list URL: {e}")))?;
            let answer = self.send(Method::GET, url.as_str(), None, &call).await?;
            let page: Page = serde_json::from_value(answer)
                .map_err(|e| unexpected(&call, &format!("expected a page of cohorts ({e})")))?;
            out.extend(page.results);
            let Some(next) = page.next else {
                return Ok(out);
            };
            let mut next_query: Vec<(String, String)> = Url::parse(&next)
                .map_err(|e| unexpected(&call, &format!("an invalid `next` link ({e})")))?
                .query_pairs()
                .into_owned()
                .collect();
            let mut key = next_query.clone();
            key.sort();
            if !seen.insert(key) {
                return Err(unexpected(
                    &call,
                    "a `next` link back to a page already read",
                ));
            }
            std::mem::swap(&mut query, &mut next_query);
        }
        Err(unexpected(
            &call,
            &format!("a `next` link on every one of {MAX_PAGES} pages"),
        ))
    }

    /// One cohort by id (deleted ones included); `None` when the project has none with it.
    async fn cohort_alone(&self, id: i64) -> BackendResult<Option<Cohort>> {
        // With a key, a 404 reads as "not found" (without one it means "no such project").
        let name = format!("cohort {id}");
        let call = Call {
            key: Some(&name),
            action: format!("read cohort {id} of project {}", self.project_id),
            access: Access::Read,
        };
        let url = self.project_url(&format!("cohorts/{id}/"));
        match self.send(Method::GET, &url, None, &call).await {
            Ok(Value::Object(cohort)) => Ok(read_cohort(&cohort).filter(|c| c.id == id)),
            Ok(other) => Err(unexpected(
                &call,
                &format!("{}, not a cohort", json_kind(&other)),
            )),
            Err(BackendError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn group_types(&self) -> BackendResult<Vec<GroupType>> {
        let call = Call {
            key: None,
            action: format!("list group types of project {}", self.project_id),
            access: Access::Read,
        };
        let url = self.project_url("groups_types/");
        let answer = self.send(Method::GET, &url, None, &call).await?;
        let Value::Array(items) = answer else {
            return Err(unexpected(
                &call,
                &format!("{}, not a list", json_kind(&answer)),
            ));
        };
        let mut types: Vec<GroupType> = items
            .iter()
            .filter_map(|t| {
                Some(GroupType {
                    index: u32::try_from(t.get("group_type_index")?.as_u64()?).ok()?,
                    name: t.get("group_type")?.as_str()?.to_owned(),
                })
            })
            .collect();
        types.sort_by_key(|t| t.index);
        Ok(types)
    }
}

/// A refusal of these reads names the scope they need (`Access::Read` names the flags' own).
fn with_scope(error: BackendError, scope: &str) -> BackendError {
    match error {
        BackendError::Auth(message) => {
            BackendError::Auth(message.replace("`feature_flag:read`", &format!("`{scope}`")))
        }
        other => other,
    }
}

fn unexpected(call: &Call<'_>, what: &str) -> BackendError {
    BackendError::Server {
        status: 200,
        detail: Some(format!(
            "unexpected answer to `{}`: {what}; check that `host` is the PostHog API origin",
            call.action
        )),
    }
}

/// A cohort object as the catalogue keeps it (`None` without a numeric id and a name).
fn read_cohort(raw: &Map<String, Value>) -> Option<Cohort> {
    let mut cohort = Cohort {
        id: raw.get("id")?.as_i64()?,
        name: raw.get("name")?.as_str()?.to_owned(),
        deleted: raw.get("deleted").and_then(Value::as_bool) == Some(true),
        ..Cohort::default()
    };
    if raw.get("is_static").and_then(Value::as_bool) == Some(true) {
        return Some(cohort);
    }
    let mut includes = BTreeSet::new();
    if let Some(filters) = raw.get("filters") {
        walk(filters, &mut cohort.behavioral, &mut includes, 0);
    }
    if let Some(Value::Array(groups)) = raw.get("groups") {
        for group in groups {
            let is_set = |k: &str| group.get(k).is_some_and(|v| !v.is_null());
            cohort.behavioral |= is_set("action_id") || is_set("event_id");
            walk(group, &mut cohort.behavioral, &mut includes, 0);
        }
    }
    includes.remove(&cohort.id);
    cohort.includes = includes.into_iter().collect();
    Some(cohort)
}

/// The deepest nesting of a cohort's filters walked (PostHog's own are a few levels).
const MAX_DEPTH: usize = 64;

/// Find behavioural properties and included cohorts anywhere in a cohort's filters.
fn walk(value: &Value, behavioral: &mut bool, includes: &mut BTreeSet<i64>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            match map.get("type").and_then(Value::as_str) {
                Some("behavioral") => *behavioral = true,
                Some("cohort") => {
                    let id = match map.get("value") {
                        Some(Value::Number(n)) => n.as_i64(),
                        Some(Value::String(s)) => s.parse().ok(),
                        _ => None,
                    };
                    includes.extend(id);
                }
                _ => {}
            }
            for inner in map.values() {
                walk(inner, behavioral, includes, depth + 1);
            }
        }
        Value::Array(items) => {
            for inner in items {
                walk(inner, behavioral, includes, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::read_cohort;

    #[test]
    fn behavioural_filters_and_included_cohorts_are_found_at_any_depth() {
        let raw = json!({"id": 5, "name": "Active", "is_static": false, "filters": {"properties": {
        "type": "OR", "values": [{"type": "AND", "values": [
            {"type": "behavioral", "key": "$pageview", "value": "performed_event"},
            {"type": "cohort", "key": "id", "value": 9},
        ]}]}}});
        let cohort = read_cohort(raw.as_object().unwrap()).unwrap();
        assert!(cohort.behavioral);
        assert_eq!(cohort.includes, vec![9]);
        let legacy = json!({"id": 6, "name": "Old", "groups": [{"action_id": 3, "days": 7}]});
        assert!(read_cohort(legacy.as_object().unwrap()).unwrap().behavioral);
        let fixed = json!({"id": 7, "name": "Static", "is_static": true,
                           "filters": {"properties": {"type": "behavioral"}}});
        assert!(!read_cohort(fixed.as_object().unwrap()).unwrap().behavioral);
    }
}
