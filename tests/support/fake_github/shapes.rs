//! The fake GitHub's answers: error messages, the JSON of comments, issues, users and pull
//! requests as GitHub's REST API shapes them, and list pages with GitHub's `Link` header.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Comment, Issue, Pull, REPO};

pub(super) fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": text, "documentation_url": "https://docs.github.com/rest"})),
    )
        .into_response()
}

pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.replace("%2C", ",").replace("%2c", ","))
        })
        .collect()
}

pub(super) fn user_json(login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({"login": login, "type": kind})
}

pub(super) fn comment_json(base: &str, c: &Comment) -> Value {
    json!({
        "id": c.id,
        "body": c.body,
        "user": user_json(&c.author),
        "html_url": format!("{base}/{REPO}/pull/{}#issuecomment-{}", c.issue, c.id),
    })
}

pub(super) fn issue_json(i: &Issue) -> Value {
    json!({
        "number": i.number,
        "title": i.title,
        "body": i.body,
        "state": i.state,
        "labels": i.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "user": user_json(&i.author),
    })
}

pub(super) fn pull_json(base: &str, p: &Pull) -> Value {
    json!({
        "number": p.number,
        "state": if p.merged { "closed" } else { "open" },
        "merged_at": if p.merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "merge_commit_sha": p.merge_commit_sha,
        "head": {"sha": p.commits.last()},
        "html_url": format!("{base}/{REPO}/pull/{}", p.number),
    })
}

/// Whether `sha` is a full commit SHA (GitHub answers 422 for anything else).
pub(super) fn is_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One page of `items` with GitHub's `Link` header.
pub(super) fn page(
    base: &str,
    path: &str,
    query: &str,
    items: Vec<Value>,
    next_origin: Option<&str>,
) -> Response {
    let pairs = query_pairs(query);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let per_page = get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let number = get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((number - 1) * per_page)
        .take(per_page)
        .collect();
    let rest: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let link_to = |n: usize, origin: &str| {
        let mut q = rest.clone();
        q.push(format!("per_page={per_page}"));
        q.push(format!("page={n}"));
        format!("{origin}{path}?{}", q.join("&"))
    };
    let mut links = Vec::new();
    if number < last || next_origin.is_some() {
        links.push(format!(
            "<{}>; rel=\"next\"",
            link_to(number + 1, next_origin.unwrap_or(base))
        ));
        links.push(format!("<{}>; rel=\"last\"", link_to(last, base)));
    }
    let mut response = axum::Json(Value::Array(slice)).into_response();
    if !links.is_empty() {
        response.headers_mut().insert(
            header::LINK,
            links.join(", ").parse().expect("a header value"),
        );
    }
    response
}
