//! The PostHog adapter against a hostile or broken server (not the strict fake: a scripted
//! server that answers whatever a test tells it): every bad answer is a clear error naming
//! what was wrong, never a panic, a hang, unbounded memory or a silently empty list.

use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use flagops::backend::Backend;
use flagops::backend::pacing::RetryPolicy;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};

const SECRET: &str = "phx_hostile_secret_789";

/// One scripted answer: status, content type, body.
type Answer = (u16, &'static str, String);

/// A server on 127.0.0.1:0 answering every request with `script(path_and_query)`, and
/// counting requests.
struct Hostile {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    async fn start(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let script = Arc::new(script);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let script = Arc::clone(&script);
            let log = Arc::clone(&log);
            async move {
                let target = uri
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                log.lock().unwrap().push(target.clone());
                let (status, content_type, body) = script(&target);
                let mut response: Response = body.into_response();
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hostile { base, requests }
    }

    fn settings(&self) -> PosthogSettings {
        let mut s = PosthogSettings::new(self.base.clone(), 1, ApiKey::new(SECRET));
        s.api_key_env = Some("HOSTILE_KEY".into());
        s.retry = RetryPolicy::none();
        s
    }

    fn backend(&self) -> PosthogBackend {
        PosthogBackend::new(self.settings()).unwrap()
    }

    fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn json(body: &str) -> Answer {
    (200, "application/json", body.to_owned())
}

/// List against a server answering `answer` to everything; the error's text.
async fn list_error(answer: Answer) -> String {
    let server = Hostile::start(move |_| answer.clone()).await;
    let error = server.backend().list().await.unwrap_err();
    let text = error.to_string();
    assert!(!text.contains(SECRET), "{text}");
    // The first page failed: nothing more was asked.
    assert_eq!(server.request_count(), 1, "{text}");
    text
}

/// A 200 whose body is not a list page is an error naming what was wrong, never "no flags"
/// (which would make a plan create every flag).
#[tokio::test]
async fn a_list_answer_that_is_not_a_page_is_an_error_not_an_empty_list() {
    let cases = [
        ("[]", "expected a JSON object with `results`, got an array"),
        (r#"{"next": null}"#, "the object has no `results`"),
        (
            r#"{"next": null, "results": {}}"#,
            "`results` is an object, not an array",
        ),
        (
            r#"{"next": null, "results": null}"#,
            "`results` is null, not an array",
        ),
    ];
    for (body, what) in cases {
        assert_eq!(
            list_error(json(body)).await,
            format!(
                "unexpected answer to `list flags of project 1`: {what}; check that `host` is the PostHog API origin"
            ),
            "{body}"
        );
    }
}

/// Bodies that are not JSON at all, or cut short, or an HTML error page of a proxy.
#[tokio::test]
async fn broken_bodies_are_clear_errors() {
    assert_eq!(
        list_error(json("not json")).await,
        "the answer to `list flags of project 1` could not be read as JSON (status 200): expected ident at line 1 column 2"
    );
    assert_eq!(
        list_error(json(r#"{"next": null, "results": [{"id": 1, "#)).await,
        "the answer to `list flags of project 1` could not be read as JSON (status 200): EOF while parsing a value at line 1 column 37"
    );
    assert_eq!(
        list_error((
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>".into()
        ))
        .await,
        "server error 502: the answer is not JSON: <html><body>502 Bad Gateway</body></html>"
    );
}

/// A body larger than `max_response_bytes` is refused without being read into memory, whether
/// its length is announced (`Content-Length`) or streamed.
#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let page = format!(
        r#"{{"next": null, "results": [{{"id": 1, "key": "a", "name": "{}"}}]}}"#,
        "x".repeat(4096)
    );
    let announced = Hostile::start(move |_| json(&page)).await;
    let mut settings = announced.settings();
    settings.max_response_bytes = 1024;
    let error = PosthogBackend::new(settings)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the answer to `list flags of project 1` is larger than 1024 bytes (status 200); check that `host` is the PostHog API origin"
    );

    // Streamed without a length: an endless body.
    let app = axum::Router::new().fallback(|| async {
        // Blanks are valid leading JSON whitespace: only the size gives it away.
        let blanks = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(&[b' '; 8192]))
        });
        axum::body::Body::from_stream(blanks)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut settings = PosthogSettings::new(base, 1, ApiKey::new(SECRET));
    settings.retry = RetryPolicy::none();
    settings.max_response_bytes = 1 << 20;
    let error = PosthogBackend::new(settings)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the answer to `list flags of project 1` is larger than 1048576 bytes (status 200); check that `host` is the PostHog API origin"
    );
}

/// `next` links that lead back to a page already read (directly or through another page)
/// are an error after one turn, not thousands of requests.
#[tokio::test]
async fn next_links_that_loop_are_an_error() {
    for pages in [1_u32, 3] {
        let server = Hostile::start(move |target| {
            let offset: u32 = target
                .split("offset=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .map_or(0, |n| n.parse().unwrap());
            let next = (offset + 1) % pages;
            json(&format!(
                r#"{{"next": "http://elsewhere/api/projects/1/feature_flags/?limit=1000&offset={next}", "results": []}}"#
            ))
        })
        .await;
        let error = server.backend().list().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the `next` link of the answer to `list flags of project 1` points back to a page already read",
            "{pages} pages"
        );
        // The first request (no `offset`), each `offset` page once, then the link back is
        // refused.
        assert_eq!(server.request_count(), pages as usize + 1, "{pages} pages");
    }
}

/// A server that echoes the key into flag fields: the reasons a flag is unsupported quote
/// what the server sent, and must still never contain the key.
#[tokio::test]
async fn a_key_echoed_into_flag_fields_is_not_in_unsupported_reasons() {
    let flags = format!(
        r#"{{"next": null, "results": [
            {{"id": 1, "key": "a", "version": "{SECRET}", "filters": {{"groups": []}}}},
            {{"id": 2, "key": "b", "filters": {{"groups": [{{"properties": [{{"key": "k", "type": "person", "operator": "{SECRET}", "value": 1}}]}}]}}}}
        ]}}"#
    );
    let server = Hostile::start(move |_| json(&flags)).await;
    let state = server.backend().list().await.unwrap();
    let reasons: Vec<String> = state
        .unsupported
        .iter()
        .map(|u| format!("{}: {}", u.key, u.reason))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    for reason in &reasons {
        assert!(!reason.contains(SECRET), "{reason}");
        assert!(reason.contains("***"), "{reason}");
    }
}

/// A flag with `filters: null` (or none) and one listed without a numeric id are reported as
/// unsupported — never read as "no conditions" (a plan would overwrite the real targeting)
/// and never dropped (a plan would try to create the key again).
#[tokio::test]
async fn null_filters_and_missing_ids_are_unsupported_not_empty_or_dropped() {
    let flags = r#"{"next": null, "results": [
        {"id": 1, "key": "null-filters", "version": 1, "filters": null},
        {"id": 2, "key": "no-filters", "version": 1},
        {"id": "x7", "key": "odd-id", "version": 1, "filters": {"groups": []}},
        {"key": "no-id", "version": 1, "filters": {"groups": []}},
        {"id": 3, "key": "fine", "version": 1, "filters": {"groups": [{"properties": [], "rollout_percentage": 5}]}}
    ]}"#;
    let server = Hostile::start(move |_| json(flags)).await;
    let state = server.backend().list().await.unwrap();
    let live: Vec<&str> = state.flags.iter().map(|f| f.flag.key.as_str()).collect();
    assert_eq!(live, ["fine"]);
    let unsupported: Vec<(&str, &str)> = state
        .unsupported
        .iter()
        .map(|u| (u.key.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        unsupported,
        [
            ("no-filters", "`filters` is null, not an object"),
            ("no-id", "the server listed it without a numeric `id`"),
            ("null-filters", "`filters` is null, not an object"),
            ("odd-id", "the server listed it without a numeric `id`"),
        ]
    );
}

/// A server whose `next` never ends and that gives no `count` is read for at most 2,000
/// pages, then it is an error: bounded requests, time and memory.
#[tokio::test]
async fn a_list_without_count_or_end_stops_at_the_hard_cap() {
    let server = Hostile::start(|target| {
        let offset: u64 = target
            .split("offset=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .map_or(0, |n| n.parse().unwrap());
        json(&format!(
            r#"{{"next": "http://elsewhere/api/projects/1/feature_flags/?limit=1000&offset={}", "results": []}}"#,
            offset + 1000
        ))
    })
    .await;
    let mut settings = server.settings();
    settings.budgets = Vec::new();
    let error = PosthogBackend::new(settings)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the answer to `list flags of project 1` did not end after 2000 pages (the most flagops reads): its `next` link goes on; check that `host` is the PostHog API origin"
    );
    assert_eq!(server.request_count(), 2000);
}

/// An error detail that echoes the key where the quote is cut: no part of the key is shown.
#[tokio::test]
async fn a_key_echoed_where_an_error_detail_is_cut_never_shows() {
    for at in [0, 180, 195, 199, 5000] {
        let detail = format!("{}{SECRET} and more", "x".repeat(at));
        let body = serde_json::json!({ "detail": detail }).to_string();
        let text = list_error((500, "application/json", body)).await;
        assert!(!text.contains("phx_"), "{at}: {text}");
        assert!(text.chars().count() < 240, "{at}: {text}");
    }
}

/// Pages that each fit under `max_response_bytes` but never end: the list stops once its
/// pages add up to four times that, so memory stays bounded before the page cap.
#[tokio::test]
async fn a_list_stops_when_its_pages_add_up_to_too_much() {
    let server = Hostile::start(|target| {
        let offset: u64 = target
            .split("offset=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .map_or(0, |n| n.parse().unwrap());
        json(&format!(
            r#"{{"next": "http://x/api/projects/1/feature_flags/?limit=1000&offset={}", "results": [], "pad": "{}"}}"#,
            offset + 1,
            "x".repeat(800)
        ))
    })
    .await;
    let mut settings = server.settings();
    settings.max_response_bytes = 1024;
    let error = PosthogBackend::new(settings)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the answer to `list flags of project 1` is larger than 4096 bytes over its first 5 pages; check that `host` is the PostHog API origin"
    );
    assert_eq!(server.request_count(), 5);
}
