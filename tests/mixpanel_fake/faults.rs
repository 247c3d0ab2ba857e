//! Injected faults, the request budget and the request log.

use std::time::Duration;

use serde_json::json;

use super::{Api, error, gate};
use crate::support::fake_mixpanel::{FakeMixpanel, Fault, PROJECT_ID, RequestBudget};

#[tokio::test]
async fn faults_budgets_and_the_request_log() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let path = FakeMixpanel::flags_path();

    fake.inject(Fault::RateLimited {
        retry_after: None,
        times: 1,
    });
    fake.inject(Fault::ServerError {
        status: 503,
        times: 2,
    });
    assert_eq!(
        api.raw(reqwest::Method::GET, &path, None).await,
        (
            429,
            None,
            json!({"code": 429, "error": "Too many requests", "status": "Too Many Requests"})
        )
    );
    for _ in 0..2 {
        assert_eq!(
            api.raw(reqwest::Method::GET, &path, None).await,
            (503, None, error("Internal server error"))
        );
    }
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);

    // A fault for one route: other requests pass it by.
    fake.inject_for("POST", "/feature-flags/", Fault::Drop { times: 1 });
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
    let dropped = api
        .http
        .post(format!("{}{path}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await;
    assert!(dropped.is_err(), "the connection is dropped");
    assert!(fake.flags().is_empty(), "a dropped request does nothing");
    fake.inject(Fault::DropAfterCommit { times: 1 });
    let dropped = api
        .http
        .post(format!("{}{path}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await;
    assert!(dropped.is_err());
    assert!(
        fake.flag("a").is_some(),
        "the write happened before the drop"
    );

    let log = fake.requests();
    let summary: Vec<(String, Option<u16>)> = log.iter().map(|r| (r.line(), r.status)).collect();
    let get = format!("GET {path}");
    let post = format!("POST {path}");
    assert_eq!(
        summary,
        [
            (get.clone(), Some(429)),
            (get.clone(), Some(503)),
            (get.clone(), Some(503)),
            (get.clone(), Some(200)),
            (get.clone(), Some(200)),
            (post.clone(), None),
            (post, None),
        ]
    );
    assert_eq!(log[6].body.as_ref(), Some(&gate("a")));
    assert!(
        log.iter()
            .all(|r| r.authorization.as_deref() == Some(&*fake.authorization()))
    );

    // A budget: the third request within the window is throttled, without Retry-After.
    fake.clear_requests();
    fake.set_budget(Some(RequestBudget {
        max_requests: 2,
        window: Duration::from_secs(3600),
    }));
    assert_eq!(
        api.call(reqwest::Method::GET, "?include_archived=true", None)
            .await
            .0,
        200
    );
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
    let (status, retry, _) = api.raw(reqwest::Method::GET, &path, None).await;
    assert_eq!((status, retry), (429, None));
    assert_eq!(
        fake.requests()[0].query_pairs(),
        [("include_archived".to_owned(), "true".to_owned())]
    );
    fake.set_budget(None);
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
}

#[tokio::test]
async fn garbled_answers_redirects_elsewhere_and_slow_answers() {
    let fake = FakeMixpanel::start().await;
    let elsewhere = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let path = FakeMixpanel::flags_path();

    // Committed, then answered with a body cut short.
    fake.inject(Fault::Garbled { times: 1 });
    let resp = api
        .http
        .post(format!("{}{path}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(serde_json::from_str::<serde_json::Value>(&resp.text().await.unwrap()).is_err());
    assert!(fake.flag("a").is_some());

    // A redirect to another origin, which a client must not follow with the credentials.
    fake.inject(Fault::Redirect {
        status: 307,
        to: elsewhere.base_url(),
        times: 1,
    });
    let resp = api
        .http
        .get(format!("{}{path}?include_archived=true", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        format!("{}{path}?include_archived=true", elsewhere.base_url())
    );
    assert!(elsewhere.requests().is_empty());

    fake.inject(Fault::Slow {
        delay: Duration::from_millis(200),
        times: 1,
    });
    let started = std::time::Instant::now();
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    fake.inject(Fault::HugeDetail {
        status: 502,
        bytes: 10_000,
        times: 1,
    });
    let (status, body) = api.call(reqwest::Method::GET, "", None).await;
    assert_eq!(status, 502);
    let detail = body["error"].as_str().unwrap();
    assert_eq!(detail.len(), 10_000);
    assert!(detail.contains("\n::error::injected\n"));
    assert_eq!(error("x")["status"], body["status"]);
}

/// The benchmarks' list latency: the list (`GET …/feature-flags/`) is answered that late, a
/// flag by id and the workspace lookup are not; `None` turns it off.
#[tokio::test]
async fn a_list_latency_delays_the_list_only() {
    let latency = Duration::from_secs(2);
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let (status, created) = api.create(&gate("a")).await;
    assert_eq!(status, 200, "{created}");
    let id = created["results"]["id"].as_str().unwrap().to_owned();
    fake.set_list_latency(Some(latency));

    let start = std::time::Instant::now();
    let (status, listed) = api.call(reqwest::Method::GET, "", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["results"][0]["key"], "a");
    assert!(start.elapsed() >= latency, "{:?}", start.elapsed());

    let start = std::time::Instant::now();
    assert_eq!(
        api.call(reqwest::Method::GET, &format!("{id}/"), None)
            .await
            .0,
        200
    );
    let workspaces = format!("/api/app/projects/{PROJECT_ID}/workspaces/");
    assert_eq!(
        api.raw(reqwest::Method::GET, &workspaces, None).await.0,
        200
    );
    assert!(start.elapsed() < latency, "{:?}", start.elapsed());

    fake.set_list_latency(None);
    let start = std::time::Instant::now();
    assert_eq!(api.call(reqwest::Method::GET, "", None).await.0, 200);
    assert!(start.elapsed() < latency, "{:?}", start.elapsed());
    assert_eq!(fake.requests().len(), 5);
}
