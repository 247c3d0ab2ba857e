//! A strict, in-memory fake of GitHub's REST API for issue comments, issues and the pull
//! requests of a commit, for tests.
//!
//! Started by the test itself on `127.0.0.1:0`. It refuses what GitHub refuses: a request
//! without `User-Agent` (403) or `Accept` (415), a missing or wrong token (401: it takes
//! `Authorization: Bearer <TOKEN>` or `token <TOKEN>`), another repository than [`REPO`]
//! (404), a commit that is not a full SHA (422). Lists are paginated as GitHub does
//! (`per_page` up to 100, default 30; `Link` with `rel="next"` and `rel="last"`, absolute
//! URLs). What the token writes is by its identity (`user.login`: `github-actions[bot]`, or
//! [`FakeGithub::set_identity`]). Every request is recorded, in order.
//!
//! ```ignore
//! let fake = FakeGithub::start().await;
//! fake.seed_comments(5, 150);
//! // … run `flagops plan --github-comment` with `fake.env(…)` …
//! assert_eq!(fake.requests()[0].line(), "GET /repos/acme/flags/issues/5/comments?per_page=100");
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::faults::lock;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

mod shapes;

use shapes::{comment_json, is_sha, issue_json, message, page, pull_json, query_pairs};

/// The token the fake accepts.
pub const TOKEN: &str = "ghs_fakeGithubToken0123456789abcdef";
/// The one repository the fake serves.
pub const REPO: &str = "acme/flags";
/// The token's identity unless [`FakeGithub::set_identity`] says otherwise.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
/// The author of seeded comments that are not flagops'.
pub const REVIEWER: &str = "octocat";

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PATCH`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query (empty when none).
    pub query: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl RecordedRequest {
    /// `METHOD path?query`.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }

    /// Whether it changed something (not a `GET`).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// A fault for the next request (applied after the checks of headers and token).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 403 "secondary rate limit" with `Retry-After: secs`.
    SecondaryRateLimit { retry_after: u64 },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` `secs` from now.
    PrimaryRateLimit { reset_in: u64 },
    /// 422 whose message repeats the request's `Authorization` header (a server that
    /// echoes what it was sent).
    EchoAuthorization,
    /// A 502 Bad Gateway.
    BadGateway,
    /// A 302 to `location` (another server).
    Redirect { location: String },
    /// A 200 list page whose `Link` next points to `origin` (another server).
    ForeignNext { origin: String },
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// The issue or pull-request number.
    pub issue: u64,
    /// Its Markdown.
    pub body: String,
    /// Its author's login.
    pub author: String,
}

/// An issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Its number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Its author's login.
    pub author: String,
}

/// A pull request, as the commit → pulls endpoint lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// The commits it holds (full SHAs).
    pub commits: Vec<String>,
    /// Whether it was merged.
    pub merged: bool,
    /// The merge commit (for an open pull request, GitHub's test merge).
    pub merge_commit_sha: String,
}

#[derive(Default)]
struct Data {
    comments: Vec<Comment>,
    issues: Vec<Issue>,
    pulls: Vec<Pull>,
    identity: String,
    next_comment: u64,
    next_issue: u64,
}

struct Shared {
    base_url: String,
    data: Mutex<Data>,
    log: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<VecDeque<Fault>>,
    fail_writes: Mutex<bool>,
}

/// A running fake; stopped when dropped.
pub struct FakeGithub {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGithub {
    /// Start an empty fake.
    pub async fn start() -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared {
            base_url,
            data: Mutex::new(Data {
                identity: ACTIONS_BOT.to_owned(),
                next_comment: 1000,
                next_issue: 100,
                ..Data::default()
            }),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            fail_writes: Mutex::new(false),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGithub { shared, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `count` comments by [`REVIEWER`] on pull request `pr`.
    pub fn seed_comments(&self, pr: u64, count: usize) {
        for i in 0..count {
            self.seed_comment(pr, &format!("LGTM {i}"));
        }
    }

    /// A comment with `body` on `pr` by [`REVIEWER`]; its id.
    pub fn seed_comment(&self, pr: u64, body: &str) -> u64 {
        self.seed_comment_by(pr, REVIEWER, body)
    }

    /// A comment with `body` on `pr` by `login`; its id.
    pub fn seed_comment_by(&self, pr: u64, login: &str, body: &str) -> u64 {
        let mut data = lock(&self.shared.data);
        let id = data.next_comment;
        data.next_comment += 1;
        data.comments.push(Comment {
            id,
            issue: pr,
            body: body.to_owned(),
            author: login.to_owned(),
        });
        id
    }

    /// An open issue labelled `labels` with `body`, by `login`; its number.
    pub fn seed_issue_by(&self, login: &str, title: &str, body: &str, labels: &[&str]) -> u64 {
        let mut data = lock(&self.shared.data);
        let number = data.next_issue;
        data.next_issue += 1;
        data.issues.push(Issue {
            number,
            title: title.to_owned(),
            body: body.to_owned(),
            state: "open".to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            author: login.to_owned(),
        });
        number
    }

    /// The login of what the token writes from now on (a personal access token's user, a
    /// GitHub App's `slug[bot]`).
    pub fn set_identity(&self, login: &str) {
        login.clone_into(&mut lock(&self.shared.data).identity);
    }

    /// A pull request holding `commits`; merged as `merge_commit_sha` when `merged`.
    pub fn seed_pull(&self, number: u64, commits: &[&str], merged: bool, merge_commit_sha: &str) {
        lock(&self.shared.data).pulls.push(Pull {
            number,
            commits: commits.iter().map(|c| (*c).to_owned()).collect(),
            merged,
            merge_commit_sha: merge_commit_sha.to_owned(),
        });
    }

    /// Answer the next requests with these faults, in order.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// Answer every write (`POST`, `PATCH`) with 502, changing nothing.
    pub fn fail_writes(&self, on: bool) {
        *lock(&self.shared.fail_writes) = on;
    }

    /// The comments of `issue`, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<Comment> {
        lock(&self.shared.data)
            .comments
            .iter()
            .filter(|c| c.issue == issue)
            .cloned()
            .collect()
    }

    /// Every issue, oldest first.
    pub fn issues(&self) -> Vec<Issue> {
        lock(&self.shared.data).issues.clone()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// `METHOD path?query` of every request so far.
    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(RecordedRequest::line).collect()
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// The variables GitHub Actions sets, pointing at the fake, with `event` as the payload
    /// file (when given).
    pub fn env(&self, event: Option<&std::path::Path>) -> Vec<(String, String)> {
        let mut vars = vec![
            ("GITHUB_API_URL".to_owned(), self.base_url()),
            ("GITHUB_REPOSITORY".to_owned(), REPO.to_owned()),
            ("GITHUB_TOKEN".to_owned(), TOKEN.to_owned()),
        ];
        if let Some(event) = event {
            vars.push((
                "GITHUB_EVENT_PATH".to_owned(),
                event.to_str().expect("UTF-8 path").to_owned(),
            ));
        }
        vars
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let response = answer(
        &shared,
        &method,
        &path,
        &query,
        &headers,
        json_body.as_ref(),
    );
    lock(&shared.log).push(RecordedRequest {
        method: method.to_string(),
        path,
        query,
        body: json_body,
        status: response.status().as_u16(),
        at: std::time::Instant::now(),
    });
    response
}

fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if header(header::USER_AGENT).is_none_or(str::is_empty) {
        return message(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    if header(header::ACCEPT).is_none_or(str::is_empty) {
        return message(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Missing Accept header");
    }
    let authorization = header(header::AUTHORIZATION).unwrap_or("").to_owned();
    if authorization != format!("Bearer {TOKEN}") && authorization != format!("token {TOKEN}") {
        return message(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let mut foreign_next = None;
    if let Some(fault) = lock(&shared.faults).pop_front() {
        match fault {
            Fault::SecondaryRateLimit { retry_after } => {
                let mut r = message(
                    StatusCode::FORBIDDEN,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                );
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    retry_after.to_string().parse().expect("value"),
                );
                return r;
            }
            Fault::PrimaryRateLimit { reset_in } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_secs();
                let mut r = message(StatusCode::FORBIDDEN, "API rate limit exceeded");
                r.headers_mut()
                    .insert("x-ratelimit-remaining", "0".parse().expect("value"));
                r.headers_mut().insert(
                    "x-ratelimit-reset",
                    (now + reset_in).to_string().parse().expect("value"),
                );
                return r;
            }
            Fault::EchoAuthorization => {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("Validation Failed: unexpected header {authorization}"),
                );
            }
            Fault::BadGateway => return message(StatusCode::BAD_GATEWAY, "Server Error"),
            Fault::Redirect { location } => {
                let mut r = message(StatusCode::FOUND, "Moved");
                r.headers_mut()
                    .insert(header::LOCATION, location.parse().expect("a header value"));
                return r;
            }
            Fault::ForeignNext { origin } => foreign_next = Some(origin),
        }
    }
    if *method != Method::GET && *lock(&shared.fail_writes) {
        return message(StatusCode::BAD_GATEWAY, "Server Error");
    }
    let Some(rest) = path.strip_prefix(&format!("/repos/{REPO}/")) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let base = &shared.base_url;
    let mut data = lock(&shared.data);
    let text = |field: &str| body.and_then(|b| b.get(field)).and_then(Value::as_str);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["issues", n, "comments"]) => {
            let Ok(n) = n.parse::<u64>() else {
                return message(StatusCode::NOT_FOUND, "Not Found");
            };
            let items = data
                .comments
                .iter()
                .filter(|c| c.issue == n)
                .map(|c| comment_json(base, c))
                .collect();
            page(base, path, query, items, foreign_next.as_deref())
        }
        ("POST", ["issues", n, "comments"]) => {
            let (Ok(n), Some(text)) = (n.parse::<u64>(), text("body")) else {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            let id = data.next_comment;
            data.next_comment += 1;
            let comment = Comment {
                id,
                issue: n,
                body: text.to_owned(),
                author: data.identity.clone(),
            };
            let json = comment_json(base, &comment);
            data.comments.push(comment);
            (StatusCode::CREATED, axum::Json(json)).into_response()
        }
        ("PATCH", ["issues", "comments", id]) => {
            let text = text("body").map(str::to_owned);
            let Some(comment) = data
                .comments
                .iter_mut()
                .find(|c| id.parse::<u64>().is_ok_and(|id| c.id == id))
            else {
                return message(StatusCode::NOT_FOUND, "Not Found");
            };
            let Some(text) = text else {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            comment.body = text;
            axum::Json(comment_json(base, comment)).into_response()
        }
        ("GET", ["commits", sha, "pulls"]) => {
            if !is_sha(sha) {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("No commit found for SHA: {sha}"),
                );
            }
            let sha = sha.to_ascii_lowercase();
            let items = data
                .pulls
                .iter()
                .filter(|p| p.commits.contains(&sha) || (p.merged && p.merge_commit_sha == sha))
                .map(|p| pull_json(base, p))
                .collect();
            page(base, path, query, items, foreign_next.as_deref())
        }
        ("GET", ["issues"]) => {
            let pairs = query_pairs(query);
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let state = get("state").unwrap_or_else(|| "open".to_owned());
            let labels: Vec<String> = get("labels")
                .map(|l| l.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            let items = data
                .issues
                .iter()
                .filter(|i| state == "all" || i.state == state)
                .filter(|i| labels.iter().all(|l| i.labels.contains(l)))
                .map(issue_json)
                .collect();
            page(base, path, query, items, foreign_next.as_deref())
        }
        ("POST", ["issues"]) => {
            let Some(title) = text("title").filter(|t| !t.is_empty()) else {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            let labels = body
                .and_then(|b| b.get("labels"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let number = data.next_issue;
            data.next_issue += 1;
            let issue = Issue {
                number,
                title: title.to_owned(),
                body: text("body").unwrap_or("").to_owned(),
                state: "open".to_owned(),
                labels,
                author: data.identity.clone(),
            };
            let json = issue_json(&issue);
            data.issues.push(issue);
            (StatusCode::CREATED, axum::Json(json)).into_response()
        }
        ("PATCH", ["issues", n]) => {
            let body_text = text("body").map(str::to_owned);
            let state = text("state").map(str::to_owned);
            let Some(issue) = data
                .issues
                .iter_mut()
                .find(|i| n.parse::<u64>().is_ok_and(|n| i.number == n))
            else {
                return message(StatusCode::NOT_FOUND, "Not Found");
            };
            if let Some(b) = body_text {
                issue.body = b;
            }
            if let Some(s) = state {
                if s != "open" && s != "closed" {
                    return message(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
                }
                issue.state = s;
            }
            axum::Json(issue_json(issue)).into_response()
        }
        _ => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}
