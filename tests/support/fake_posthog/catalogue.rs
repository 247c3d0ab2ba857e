//! The fake's cohorts and group types (posthog-api.md, cohorts and group types): `GET
//! /api/projects/:id/cohorts/` (limit/offset pages, newest first, deleted cohorts left out),
//! `GET …/cohorts/:id/` (deleted ones too, with `deleted: true`) and `GET …/groups_types/`
//! (one unpaginated array). Reads need `cohort:read` and `group:read`.

use axum::http::{Method, Uri};
use serde_json::{Map, Value, json};

use super::lock;
use super::server::{Shared, require, url_pairs};
use super::store::{ApiErr, Store};

/// One cohort as the API renders it: id, name, `deleted`, `is_static`, `filters` (the extra
/// fields it was added with).
fn render(store: &Store, project: u64, id: i64) -> Option<Value> {
    let p = store.projects.get(&project)?;
    let extra = p.cohort_objects.get(&id);
    let name = p
        .cohorts
        .get(&id)
        .cloned()
        .or_else(|| extra.and_then(|e| e.get("name")?.as_str().map(str::to_owned)))?;
    let mut cohort: Map<String, Value> = json!({
        "id": id, "name": name, "description": "", "deleted": false, "is_static": false,
        "filters": {"properties": {"type": "OR", "values": []}}, "groups": [],
        "is_calculating": false, "count": 0,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            cohort.insert(k.clone(), v.clone());
        }
    }
    Some(Value::Object(cohort))
}

/// Route `rest` below `/api/projects/:project/cohorts/`.
pub fn cohorts(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    project: u64,
    rest: &[&str],
    scopes: &[&str],
) -> Result<(u16, Value), ApiErr> {
    require(scopes, "cohort:read")?;
    let store = lock(&shared.store);
    let p = store.project(project)?;
    match (method.as_str(), rest) {
        ("GET", [] | [""]) => {
            let query = uri.query().map(url_pairs).unwrap_or_default();
            let param = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.parse::<usize>().ok())
            };
            let mut limit = param("limit").filter(|l| *l > 0).unwrap_or(100);
            if let Some(max) = *lock(&shared.max_page_size) {
                limit = limit.min(max);
            }
            let offset = param("offset").unwrap_or(0);
            // Newest first; deleted cohorts are not listed.
            let ids: Vec<i64> = p.cohorts.keys().rev().copied().collect();
            let results: Vec<Value> = ids
                .iter()
                .skip(offset)
                .take(limit)
                .filter_map(|id| render(&store, project, *id))
                .collect();
            let next = (offset + limit < ids.len()).then(|| {
                format!(
                    "{}{}?limit={limit}&offset={}",
                    shared.base_url,
                    uri.path(),
                    offset + limit
                )
            });
            Ok((
                200,
                json!({"count": ids.len(), "next": next, "previous": null, "results": results}),
            ))
        }
        ("GET", [id] | [id, ""]) => {
            let id: i64 = id.parse().map_err(|_| ApiErr::not_found())?;
            render(&store, project, id)
                .map(|c| (200, c))
                .ok_or_else(ApiErr::not_found)
        }
        _ => Err(ApiErr::not_found()),
    }
}

/// `GET /api/projects/:project/groups_types/`.
pub fn group_types(
    shared: &Shared,
    method: &Method,
    project: u64,
    scopes: &[&str],
) -> Result<(u16, Value), ApiErr> {
    require(scopes, "group:read")?;
    if method != Method::GET {
        return Err(ApiErr::not_found());
    }
    let store = lock(&shared.store);
    let p = store.project(project)?;
    let types: Vec<Value> = p
        .group_types
        .iter()
        .map(|(index, name)| {
            json!({"group_type": name, "group_type_index": index,
                   "name_singular": null, "name_plural": null})
        })
        .collect();
    Ok((200, Value::Array(types)))
}
