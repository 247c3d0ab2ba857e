//! The fake's HTTP side: records every request, then applies injected faults, the trailing-slash
//! redirect, Basic auth, the request budget, and routes to the store (mixpanel-api.md §1.2, §3).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Action, lock, scheduled};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::store::{ApiErr, Store};
use super::{Chaos, Fault, RecordedRequest, RequestBudget};

/// Shared state of a running fake.
#[derive(Debug)]
pub struct Shared {
    pub store: Mutex<Store>,
    pub log: Mutex<Vec<RecordedRequest>>,
    /// Queued faults, each for any request (`None`) or only for `(method, path)` matches.
    pub faults: Mutex<VecDeque<(Option<Scope>, Fault)>>,
    pub budget: Mutex<BudgetState>,
    /// The schedule and how many requests it has seen.
    pub chaos: Mutex<Option<(Chaos, usize)>>,
    /// How late every list request (`GET …/feature-flags/`) is answered (`None`: at once).
    pub list_latency: Mutex<Option<Duration>>,
    /// The `Authorization` header the service account sends.
    pub expected_auth: String,
    pub base_url: String,
}

/// The requests a queued fault is for: `method` (empty: any) and a path containing `path`.
#[derive(Debug, Clone)]
pub struct Scope {
    pub method: String,
    pub path: String,
}

/// Budget bookkeeping: the times of the requests let through within the last window.
#[derive(Debug, Default)]
pub struct BudgetState {
    pub rule: Option<RequestBudget>,
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

/// A 429 as Mixpanel documents one (the ingestion API's troubleshooting pages: this body and
/// no `Retry-After`; the App API's own 429 is not published).
fn too_many_requests(retry_after: Option<String>) -> Response {
    let mut response = json_response(
        429,
        &json!({"code": 429, "error": "Too many requests", "status": "Too Many Requests"}),
    );
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
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
    let record = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        body: body_json.clone(),
        authorization: header("authorization"),
        user_agent: header("user-agent"),
        at: Instant::now(),
        status: None,
    };
    let query = record.query_pairs();
    let index = {
        let mut log = lock(&shared.log);
        log.push(record);
        log.len() - 1
    };

    let (action, delay) = next_fault(&shared, method.as_str(), uri.path());
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let listing = method == Method::GET
        && matches!(route_of(uri.path()), Some(Route::Flags(_, _, tail)) if tail.is_empty());
    let latency = *lock(&shared.list_latency);
    if let Some(latency) = latency.filter(|_| listing) {
        tokio::time::sleep(latency).await;
    }
    let response = match action {
        Action::Drop => drop_connection(),
        Action::Fail(status) => json_response(
            status,
            &json!({"status": "error", "error": "Internal server error"}),
        ),
        Action::Redirect(status, to) => {
            let target = match uri.query() {
                Some(q) => format!("{to}{}?{q}", uri.path()),
                None => format!("{to}{}", uri.path()),
            };
            redirect(status, &target)
        }
        Action::RateLimited(retry_after) => too_many_requests(retry_after),
        Action::Answer(status, body) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [("content-type", "application/json")], body).into_response()
        }
        Action::HugeDetail(status, bytes) => {
            let line = "Internal server error\n::error::injected\n";
            let detail: String = line.chars().cycle().take(bytes).collect();
            json_response(status, &json!({"status": "error", "error": detail}))
        }
        Action::Proceed | Action::DropAfterCommit | Action::Garbled => {
            let request = Request {
                method: &method,
                uri: &uri,
                query: &query,
                authorization: header("authorization"),
                raw_body: &body,
                body: body_json.as_ref(),
            };
            let response = answer(&shared, &request);
            if matches!(action, Action::DropAfterCommit) {
                drop_connection();
            }
            if matches!(action, Action::Garbled) {
                let status = response.status();
                let mut cut = (status, r#"{"status": "ok", "results": {"id": "#).into_response();
                cut.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                cut
            } else {
                response
            }
        }
    };
    if let Some(entry) = lock(&shared.log).get_mut(index) {
        entry.status = Some(response.status().as_u16());
    }
    response
}

fn redirect(status: u16, location: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let mut response = (status, "").into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert("location", location);
    }
    response
}

/// Unwinding out of the connection task closes the socket without an answer; it does not
/// run the panic hook, so nothing is printed.
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("fake_mixpanel: dropped connection"));
}

fn next_fault(shared: &Shared, method: &str, path: &str) -> (Action, Option<Duration>) {
    if let Some(fault) = scheduled(&shared.chaos) {
        return fault.action();
    }
    let mut faults = lock(&shared.faults);
    let applies = |scope: &Option<Scope>| {
        scope.as_ref().is_none_or(|s| {
            (s.method.is_empty() || s.method.eq_ignore_ascii_case(method)) && path.contains(&s.path)
        })
    };
    let Some(at) = faults.iter().position(|(scope, _)| applies(scope)) else {
        return (Action::Proceed, None);
    };
    let (fault, used_up) = faults[at].1.take_one();
    if used_up {
        faults.remove(at);
    }
    fault.action()
}

/// What routing needs of a request.
struct Request<'a> {
    method: &'a Method,
    uri: &'a Uri,
    query: &'a [(String, String)],
    authorization: Option<String>,
    raw_body: &'a Bytes,
    body: Option<&'a Value>,
}

/// The routes of the App API the fake serves, by their segments after `/api/app/`.
enum Route<'a> {
    /// `projects/{pid}/workspaces[/public]` (discovery).
    Workspaces(&'a str),
    /// `projects/{pid}/feature-flags[/…]` (no workspace).
    ProjectFlags(&'a str),
    /// `projects/{pid}/workspaces/{wid}/feature-flags[/rest…]`.
    Flags(&'a str, &'a str, Vec<&'a str>),
}

fn route_of(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/api/app/")?;
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["projects", pid, "workspaces"] | ["projects", pid, "workspaces", "public"] => {
            Some(Route::Workspaces(pid))
        }
        ["projects", pid, "feature-flags", ..] => Some(Route::ProjectFlags(pid)),
        [
            "projects",
            pid,
            "workspaces",
            wid,
            "feature-flags",
            tail @ ..,
        ] => Some(Route::Flags(pid, wid, tail.to_vec())),
        _ => None,
    }
}

/// Redirect, authenticate, throttle and route a request.
fn answer(shared: &Shared, req: &Request<'_>) -> Response {
    let path = req.uri.path();
    let Some(route) = route_of(path) else {
        return err(&ApiErr::new(404, "Not found"));
    };
    // The feature-flag routes are Django routes with a trailing slash: the slash-less form is
    // answered 301 to the slashed one by the APPEND_SLASH middleware, before any view (so
    // before auth), for every method — which makes a client that follows it turn a POST, PUT
    // or DELETE into a GET (terraform-provider-mixpanel internal/client/client.go,
    // `preserveMethodOnRedirect`). mixpanel-headless calls the workspace discovery route
    // without the slash (`/projects/{pid}/workspaces/public`), so that one answers both.
    if matches!(route, Route::Flags(..) | Route::ProjectFlags(..)) && !path.ends_with('/') {
        let location = match req.uri.query() {
            Some(q) => format!("{}{path}/?{q}", shared.base_url),
            None => format!("{}{path}/", shared.base_url),
        };
        return redirect(301, &location);
    }
    if let Err(e) = authenticate(shared, req.authorization.as_deref()) {
        return err(&e);
    }
    if let Some(resp) = throttle(shared) {
        return resp;
    }
    if !req.raw_body.is_empty() && req.body.is_none() {
        return err(&ApiErr::bad("Invalid JSON body"));
    }
    let result = match route {
        Route::Workspaces(pid) => workspaces(shared, req.method, pid),
        Route::ProjectFlags(pid) => parse_id(pid).and_then(|pid| {
            lock(&shared.store).project(pid)?;
            // terraform-provider-mixpanel gen/crudgen.py and internal/client/workspace.go:
            // the project-only route answers 400 {"error": "Workspace is required"}.
            Err(ApiErr::bad("Workspace is required"))
        }),
        Route::Flags(pid, wid, tail) => flags(shared, req, pid, wid, &tail),
    };
    match result {
        Ok(results) => json_response(200, &json!({"status": "ok", "results": results})),
        Err(e) => err(&e),
    }
}

fn parse_id(segment: &str) -> Result<u64, ApiErr> {
    segment
        .parse::<u64>()
        .map_err(|_| ApiErr::new(404, "Not found"))
}

fn method_not_allowed(method: &Method) -> ApiErr {
    ApiErr::new(405, format!("Method \"{method}\" not allowed."))
}

/// Workspace discovery: `{status: "ok", results: [{id, name, is_global, is_default, …}]}`
/// (terraform-provider-mixpanel internal/client/workspace.go; mixpanel-headless
/// `list_workspaces`).
fn workspaces(shared: &Shared, method: &Method, pid: &str) -> Result<Value, ApiErr> {
    let pid = parse_id(pid)?;
    if method != Method::GET {
        return Err(method_not_allowed(method));
    }
    let store = lock(&shared.store);
    Ok(store
        .project(pid)?
        .workspaces
        .iter()
        .map(|w| {
            json!({"id": w.id, "name": w.name, "project_id": pid, "is_global": w.is_global,
                "is_default": w.is_default, "is_restricted": false, "is_visible": true})
        })
        .collect())
}

fn flags(
    shared: &Shared,
    req: &Request<'_>,
    pid: &str,
    wid: &str,
    tail: &[&str],
) -> Result<Value, ApiErr> {
    let pid = parse_id(pid)?;
    let wid = parse_id(wid)?;
    let mut store = lock(&shared.store);
    store.workspace(pid, wid)?;
    let empty = json!({});
    let body = req.body.unwrap_or(&empty);
    let method = req.method.as_str();
    match (method, tail) {
        ("GET", []) => {
            // `include_archived`: "true" / "false" (an enum of strings), default false.
            let include = match req.query.iter().find(|(k, _)| k == "include_archived") {
                None => false,
                Some((_, v)) if v == "true" => true,
                Some((_, v)) if v == "false" => false,
                Some((_, v)) => {
                    return Err(ApiErr::bad(format!(
                        "include_archived: Input should be 'true' or 'false', not '{v}'"
                    )));
                }
            };
            store.list(pid, wid, include).map(Value::Array)
        }
        ("POST", []) => store.create(pid, wid, body),
        ("GET", [id]) => store.get(pid, wid, id),
        ("PUT", [id]) => store.update(pid, wid, id, body),
        ("DELETE", [id]) => store.delete(pid, wid, id),
        ("POST", [id, "archive"]) => store.set_archived(pid, wid, id, true),
        ("DELETE", [id, "archive"]) => store.set_archived(pid, wid, id, false),
        (_, [] | [_] | [_, "archive"]) => Err(method_not_allowed(req.method)),
        _ => Err(ApiErr::new(404, "Not found")),
    }
}

fn authenticate(shared: &Shared, header: Option<&str>) -> Result<(), ApiErr> {
    // Service accounts authenticate with HTTP Basic `username:secret`
    // (docs reference/service-accounts.mdx); the 401 body is the spec's `{error, status}`.
    match header {
        None => Err(ApiErr::new(401, "Authentication required")),
        Some(h) if h == shared.expected_auth => Ok(()),
        Some(_) => Err(ApiErr::new(401, "Invalid credentials")),
    }
}

fn throttle(shared: &Shared) -> Option<Response> {
    let mut budget = lock(&shared.budget);
    let rule = budget.rule?;
    let now = Instant::now();
    while budget
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= rule.window)
    {
        budget.recent.pop_front();
    }
    if budget.recent.len() >= rule.max_requests as usize {
        return Some(too_many_requests(None));
    }
    budget.recent.push_back(now);
    None
}

/// `Basic base64(username:secret)`.
pub fn basic_auth(username: &str, secret: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{username}:{secret}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
