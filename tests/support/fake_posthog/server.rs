//! The fake's HTTP side: records every request, then applies injected faults, Bearer auth and
//! scopes, the rate limit, and routes to the store (posthog-api.md §1, §2, §7).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Action, lock, scheduled};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::store::{ApiErr, Store, is_deleted};
use super::{Chaos, Fault, ListChange, RateLimitRule, RecordedRequest};

/// Key scopes: `(key, scopes)`.
pub const KEYS: [(&str, &[&str]); 4] = [
    (
        super::WRITE_KEY,
        &[
            "feature_flag:read",
            "feature_flag:write",
            "cohort:read",
            "group:read",
        ],
    ),
    (
        super::READ_KEY,
        &["feature_flag:read", "cohort:read", "group:read"],
    ),
    (super::NO_SCOPE_KEY, &["insight:read"]),
    (
        super::FLAGS_ONLY_KEY,
        &["feature_flag:read", "feature_flag:write"],
    ),
];

/// Shared state of a running fake.
#[derive(Debug)]
pub struct Shared {
    pub store: Mutex<Store>,
    pub log: Mutex<Vec<RecordedRequest>>,
    pub faults: Mutex<VecDeque<Fault>>,
    pub rate: Mutex<RateState>,
    /// The schedule and how many requests it has seen.
    pub chaos: Mutex<Option<(Chaos, usize)>>,
    pub max_page_size: Mutex<Option<usize>>,
    /// The origin written into `next`/`previous` links (`None`: the fake's own).
    pub link_origin: Mutex<Option<String>>,
    /// Every list page has a `next` link.
    pub endless_pages: Mutex<bool>,
    /// How late every list request is answered.
    pub list_latency: Mutex<Option<Duration>>,
    /// Changes made after the default list's first page is served, and how many more times.
    pub list_changes: Mutex<Option<(Vec<ListChange>, usize)>>,
    /// List requests being answered now, and the most at once.
    pub lists_in_flight: InFlight,
    pub base_url: String,
}

/// Rate-limit bookkeeping: like Django REST framework's throttle (PostHog's), the times of
/// the requests let through within the last window (a sliding log; 429s are not counted).
#[derive(Debug, Default)]
pub struct RateState {
    pub rule: Option<RateLimitRule>,
    pub recent: VecDeque<Instant>,
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn err(e: &ApiErr) -> Response {
    json_response(e.status, &e.body)
}

/// Every request lands here.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body_json: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let index = {
        let mut log = lock(&shared.log);
        log.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            body: body_json.clone(),
            authorization: header("authorization"),
            user_agent: header("user-agent"),
            at: Instant::now(),
            status: None,
        });
        log.len() - 1
    };

    let (action, delay) = next_fault(&shared);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let listing = method == Method::GET && is_list(uri.path());
    let _in_flight = listing.then(|| shared.lists_in_flight.enter());
    let latency = *lock(&shared.list_latency);
    if let Some(latency) = latency.filter(|_| listing) {
        tokio::time::sleep(latency).await;
    }
    let response = match action {
        Action::Drop => drop_connection(),
        Action::Fail(status) => json_response(
            status,
            &json!({"type": "server_error", "code": "error", "detail": "A server error occurred.", "attr": null}),
        ),
        Action::Redirect(status, to) => {
            let target = match uri.query() {
                Some(q) => format!("{to}{}?{q}", uri.path()),
                None => format!("{to}{}", uri.path()),
            };
            let mut response = json_response(status, &json!({}));
            if let Ok(location) = HeaderValue::from_str(&target) {
                response.headers_mut().insert("location", location);
            }
            response
        }
        Action::RateLimited(retry_after) => {
            let mut response = json_response(
                429,
                &json!({"type": "throttled_error", "code": "throttled", "detail": "Request was throttled.", "attr": null}),
            );
            if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        Action::Answer(status, body) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [("content-type", "application/json")], body).into_response()
        }
        Action::HugeDetail(status, bytes) => {
            let line = "A server error occurred.\n::error::injected\n";
            let detail: String = line.chars().cycle().take(bytes).collect();
            json_response(
                status,
                &json!({"type": "server_error", "code": "error", "detail": detail, "attr": null}),
            )
        }
        Action::Proceed | Action::DropAfterCommit | Action::Garbled => {
            let response = answer(&shared, &method, &uri, &headers, &body, body_json.as_ref());
            if matches!(action, Action::DropAfterCommit) {
                drop_connection();
            }
            if matches!(action, Action::Garbled) {
                let status = response.status();
                let mut cut = (status, r#"{"id": 1, "key": "#).into_response();
                cut.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                cut
            } else {
                response
            }
        }
    };
    if listing && response.status() == StatusCode::OK {
        change_after_first_page(&shared, uri.query().unwrap_or_default());
    }
    if let Some(entry) = lock(&shared.log).get_mut(index) {
        entry.status = Some(response.status().as_u16());
    }
    response
}

/// Requests being answered at the same time, and the most there were.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    /// One more, until the guard is dropped (also when the connection is dropped).
    fn enter(&self) -> Leave<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        Leave(self)
    }

    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// Counts a request out of [`InFlight`] when dropped.
struct Leave<'a>(&'a InFlight);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `/api/projects/<id>/feature_flags/`: the list.
fn is_list(path: &str) -> bool {
    matches!(
        path.trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice(),
        ["api", "projects", _, "feature_flags"]
    )
}

/// After the default list's first page was served: the changes set for that, if any are left.
fn change_after_first_page(shared: &Shared, query: &str) {
    let first_page = url_pairs(query)
        .iter()
        .all(|(k, _)| k != "offset" && k != "archived" && k != "key");
    if !first_page {
        return;
    }
    let mut changes = lock(&shared.list_changes);
    let Some((list, times)) = changes.as_mut() else {
        return;
    };
    let mut store = lock(&shared.store);
    for change in list.iter() {
        match change {
            ListChange::Create(flag) => {
                if let Value::Object(flag) = flag {
                    store.seed(super::PROJECT_ID, flag.clone());
                }
            }
            ListChange::Delete(id) => {
                if let Some(flag) = store
                    .projects
                    .get_mut(&super::PROJECT_ID)
                    .and_then(|p| p.flags.get_mut(id))
                {
                    flag.insert("deleted".into(), json!(true));
                }
            }
        }
    }
    *times = times.saturating_sub(1);
    if *times == 0 {
        *changes = None;
    }
}

/// Unwinding out of the connection task closes the socket without an answer; it does not
/// run the panic hook, so nothing is printed.
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("fake_posthog: dropped connection"));
}

/// Authenticate, throttle and route a request.
fn answer(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    body_json: Option<&Value>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    if !body.is_empty() && body_json.is_none() {
        return err(&ApiErr::invalid("parse_error", "JSON parse error", None));
    }
    let scopes = match authenticate(header("authorization").as_deref()) {
        Ok(scopes) => scopes,
        Err(e) => return err(&e),
    };
    if let Some(resp) = throttle(shared) {
        return resp;
    }
    route(shared, method, uri, body_json, scopes)
}

fn next_fault(shared: &Shared) -> (Action, Option<Duration>) {
    if let Some(fault) = scheduled(&shared.chaos) {
        return fault.action();
    }
    let mut faults = lock(&shared.faults);
    let Some(front) = faults.front_mut() else {
        return (Action::Proceed, None);
    };
    let (fault, used_up) = front.take_one();
    if used_up {
        faults.pop_front();
    }
    fault.action()
}

fn authenticate(header: Option<&str>) -> Result<&'static [&'static str], ApiErr> {
    let Some(header) = header else {
        return Err(ApiErr::new(
            401,
            "authentication_error",
            "not_authenticated",
            "Authentication credentials were not provided.",
            None,
        ));
    };
    let token = header.strip_prefix("Bearer ").unwrap_or("");
    KEYS.iter()
        .find(|(key, _)| *key == token)
        .map(|(_, scopes)| *scopes)
        .ok_or_else(|| {
            ApiErr::new(
                401,
                "authentication_error",
                "authentication_failed",
                "Invalid personal API key.",
                None,
            )
        })
}

pub(super) fn require(scopes: &[&str], scope: &str) -> Result<(), ApiErr> {
    if scopes.contains(&scope) || scopes.contains(&"*") {
        Ok(())
    } else {
        Err(ApiErr::new(
            403,
            "authentication_error",
            "permission_denied",
            format!("API key missing required scope '{scope}'"),
            None,
        ))
    }
}

fn throttle(shared: &Shared) -> Option<Response> {
    let mut rate = lock(&shared.rate);
    let rule = rate.rule?;
    let now = Instant::now();
    while rate
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= rule.window)
    {
        rate.recent.pop_front();
    }
    if rate.recent.len() >= rule.max_requests as usize {
        let secs = rule.retry_after_secs;
        let body = json!({"type": "throttled_error", "code": "throttled", "detail": format!("Request was throttled. Expected available in {secs} seconds."), "attr": null});
        let mut resp = json_response(429, &body);
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
        return Some(resp);
    }
    rate.recent.push_back(now);
    None
}

fn route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    body: Option<&Value>,
    scopes: &[&str],
) -> Response {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let catalogue = match segments.as_slice() {
        ["api", "projects", project, "cohorts", rest @ ..] => project
            .parse::<u64>()
            .map_err(|_| ApiErr::not_found())
            .and_then(|p| super::catalogue::cohorts(shared, method, uri, p, rest, scopes)),
        ["api", "projects", project, "groups_types"] => project
            .parse::<u64>()
            .map_err(|_| ApiErr::not_found())
            .and_then(|p| super::catalogue::group_types(shared, method, p, scopes)),
        _ => Err(ApiErr::not_found()),
    };
    if segments
        .get(3)
        .is_some_and(|s| *s == "cohorts" || *s == "groups_types")
    {
        return match catalogue {
            Ok((status, value)) => json_response(status, &value),
            Err(e) => err(&e),
        };
    }
    let (project, rest) = match segments.as_slice() {
        ["api", "projects", project, "feature_flags", rest @ ..] => match project.parse::<u64>() {
            Ok(p) => (p, rest),
            Err(_) => return err(&ApiErr::not_found()),
        },
        _ => return err(&ApiErr::not_found()),
    };
    let read = || require(scopes, "feature_flag:read");
    let write = || require(scopes, "feature_flag:write");
    let empty = json!({});
    let body = body.unwrap_or(&empty);
    let result: Result<(u16, Value), ApiErr> = (|| {
        let mut store = lock(&shared.store);
        store.project(project)?;
        match (method.as_str(), rest) {
            ("GET", []) => {
                read()?;
                Ok((200, list(shared, &store, project, uri)))
            }
            ("POST", []) => {
                write()?;
                store.create(project, body).map(|v| (201, v))
            }
            ("POST", ["bulk_keys"]) => {
                read()?;
                bulk_keys(&store, project, body)
            }
            (_, []) => Err(method_not_allowed(method)),
            (m, [id, tail @ ..]) => {
                let id: i64 = id.parse().map_err(|_| ApiErr::not_found())?;
                match (m, tail) {
                    ("GET", []) => {
                        read()?;
                        let flag = store
                            .project(project)?
                            .flags
                            .get(&id)
                            .cloned()
                            .ok_or_else(ApiErr::not_found)?;
                        Ok((200, store.render(project, &flag)))
                    }
                    ("GET", ["dependent_flags"]) => {
                        read()?;
                        store
                            .project(project)?
                            .flags
                            .get(&id)
                            .ok_or_else(ApiErr::not_found)?;
                        let deps: Vec<Value> = store
                            .active_dependents(project, id)
                            .into_iter()
                            .map(|(i, k, n)| json!({"id": i, "key": k, "name": n}))
                            .collect();
                        Ok((200, Value::Array(deps)))
                    }
                    ("PATCH", []) => {
                        write()?;
                        store.update(project, id, body, false).map(|v| (200, v))
                    }
                    ("PUT", []) => {
                        write()?;
                        store.update(project, id, body, true).map(|v| (200, v))
                    }
                    ("DELETE", []) => {
                        write()?;
                        Err(ApiErr::new(
                            405,
                            "invalid_request",
                            "method_not_allowed",
                            "Hard delete of this model is not allowed. Use a patch API call to set \"deleted\" to true",
                            None,
                        ))
                    }
                    (_, []) => Err(method_not_allowed(method)),
                    _ => Err(ApiErr::not_found()),
                }
            }
        }
    })();
    match result {
        Ok((status, value)) => json_response(status, &value),
        Err(e) => err(&e),
    }
}

fn method_not_allowed(method: &Method) -> ApiErr {
    ApiErr::new(
        405,
        "invalid_request",
        "method_not_allowed",
        format!("Method \"{method}\" not allowed."),
        None,
    )
}

/// GET list: `limit`/`offset` pagination with `next`/`previous` links, `archived`, `key`,
/// `active`; newest first; deleted flags never listed.
fn list(shared: &Shared, store: &Store, project: u64, uri: &Uri) -> Value {
    let query: Vec<(String, String)> = uri.query().map(url_pairs).unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(100);
    if let Some(max) = *lock(&shared.max_page_size) {
        limit = limit.min(max);
    }
    let offset = param("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let archived = param("archived").map(|a| a == "true");
    let active = param("active");
    let key = param("key").map(|k| k.to_lowercase());
    let Ok(p) = store.project(project) else {
        return json!({});
    };
    let mut matching: Vec<_> = p
        .flags
        .values()
        .filter(|f| !is_deleted(f))
        .filter(|f| f.get("archived") == Some(&json!(archived.unwrap_or(false))))
        .filter(|f| match active.as_deref() {
            Some("true") => f.get("active") == Some(&json!(true)),
            Some("false") => f.get("active") == Some(&json!(false)),
            _ => true,
        })
        .filter(|f| {
            key.as_ref().is_none_or(|k| {
                f.get("key")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .as_ref()
                    == Some(k)
            })
        })
        .collect();
    matching.reverse(); // newest first (ids grow with creation)
    if key.is_some() {
        matching.truncate(1); // `key` returns the newest match only
    }
    let count = matching.len();
    let results: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|f| store.render(project, f))
        .collect();
    let link = |new_offset: usize| {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .cloned()
            .collect();
        pairs.push(("limit".into(), limit.to_string()));
        if new_offset > 0 {
            pairs.push(("offset".into(), new_offset.to_string()));
        }
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let origin = lock(&shared.link_origin)
            .clone()
            .unwrap_or_else(|| shared.base_url.clone());
        format!("{origin}{}?{}", uri.path(), qs.join("&"))
    };
    let endless = *lock(&shared.endless_pages);
    let next = (endless || offset + limit < count).then(|| link(offset + limit));
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    json!({"count": count, "next": next, "previous": previous, "results": results})
}

fn bulk_keys(store: &Store, project: u64, body: &Value) -> Result<(u16, Value), ApiErr> {
    let ids: Vec<i64> = body
        .get("ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| super::normalize::as_id(Some(v)))
        .collect();
    let p = store.project(project)?;
    let keys: serde_json::Map<String, Value> = ids
        .iter()
        .filter_map(|id| {
            p.flags
                .get(id)
                .filter(|f| !is_deleted(f))
                .map(|f| (id.to_string(), f["key"].clone()))
        })
        .collect();
    if keys.is_empty() {
        return Ok((400, json!({"error": "No valid flag IDs provided"})));
    }
    Ok((200, json!({"keys": keys})))
}

/// Decode `a=b&c=d` (percent-decoding, `+` as space).
pub fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
