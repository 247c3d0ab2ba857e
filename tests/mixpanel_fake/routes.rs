//! Paths, the trailing-slash redirect, Basic auth, projects and workspaces.

use serde_json::{Value, json};

use super::{Api, error, gate};
use crate::support::fake_mixpanel::{
    DEFAULT_WORKSPACE_ID, FakeMixpanel, PROJECT_ID, SA_SECRET, SA_USERNAME, WORKSPACE_ID,
    basic_auth,
};

#[tokio::test]
async fn slashless_paths_are_redirected_before_auth_and_a_following_client_loses_the_write() {
    let fake = FakeMixpanel::start().await;
    let slashless = FakeMixpanel::flags_path().trim_end_matches('/').to_owned();
    let anonymous = Api::new(&fake).with_auth(None);
    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::PUT,
    ] {
        let resp = anonymous
            .http
            .request(method, format!("{}{slashless}?a=1", fake.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 301);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            format!("{}{}?a=1", fake.base_url(), FakeMixpanel::flags_path())
        );
    }
    fake.clear_requests();

    // reqwest's default policy follows a 301 and, as browsers do, turns the POST into a GET
    // without its body: the "create" answers the list and creates nothing.
    let following = reqwest::Client::new();
    let resp = following
        .post(format!("{}{slashless}", fake.base_url()))
        .header("authorization", fake.authorization())
        .json(&gate("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok", "results": []}));
    assert!(fake.flags().is_empty());
    let log = fake.requests();
    let lines: Vec<(String, Option<u16>, bool)> = log
        .iter()
        .map(|r| (r.line(), r.status, r.body.is_some()))
        .collect();
    assert_eq!(
        lines,
        [
            (format!("POST {slashless}"), Some(301), true),
            (
                format!("GET {}", FakeMixpanel::flags_path()),
                Some(200),
                false
            ),
        ]
    );
}

#[tokio::test]
async fn only_the_service_account_basic_auth_is_let_in() {
    let fake = FakeMixpanel::start().await;
    let path = FakeMixpanel::flags_path();
    let cases = [
        (None, "Authentication required"),
        (
            Some(basic_auth(SA_USERNAME, "wrong")),
            "Invalid credentials",
        ),
        (Some(format!("Bearer {SA_SECRET}")), "Invalid credentials"),
    ];
    for (auth, message) in cases {
        let api = Api::new(&fake).with_auth(auth.clone());
        let (status, retry, body) = api
            .raw(reqwest::Method::POST, &path, Some(&gate("a")))
            .await;
        assert_eq!(
            (status, retry, body),
            (401, None, error(message)),
            "{auth:?}"
        );
    }
    assert!(fake.flags().is_empty());
    let (status, body) = Api::new(&fake).call(reqwest::Method::GET, "", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "results": []}))
    );
    let auths: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(auths[0], None);
    assert_eq!(auths[3].as_deref(), Some(&*fake.authorization()));
    assert_eq!(
        fake.authorization(),
        format!(
            "Basic {}",
            "ZmxhZ29wcy1mYWtlLjRmMmE5MS5tcC1zZXJ2aWNlLWFjY291bnQ6ZmFrZS1zYS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="
        )
    );
}

#[tokio::test]
async fn projects_workspaces_and_the_route_without_a_workspace() {
    let fake = FakeMixpanel::start().await;
    let api = Api::new(&fake);
    let get = |path: String| {
        let api = &api;
        async move {
            let (status, _, body) = api.raw(reqwest::Method::GET, &path, None).await;
            (status, body)
        }
    };
    assert_eq!(
        get(format!("/api/app/projects/{PROJECT_ID}/feature-flags/")).await,
        (400, error("Workspace is required"))
    );
    assert_eq!(
        get(format!(
            "/api/app/projects/999/workspaces/{WORKSPACE_ID}/feature-flags/"
        ))
        .await,
        (403, error("You do not have access to this project"))
    );
    assert_eq!(
        get(format!(
            "/api/app/projects/{PROJECT_ID}/workspaces/1/feature-flags/"
        ))
        .await,
        (404, error("Workspace not found"))
    );
    assert_eq!(
        get(format!(
            "/api/app/projects/{PROJECT_ID}/workspaces/{WORKSPACE_ID}/feature-flags/nope/"
        ))
        .await,
        (404, error("Feature flag not found"))
    );
    for path in ["workspaces", "workspaces/public", "workspaces/public/"] {
        let (status, body) = get(format!("/api/app/projects/{PROJECT_ID}/{path}")).await;
        assert_eq!(status, 200, "{path}");
        let picked: Vec<(u64, bool, bool)> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["id"].as_u64().unwrap(),
                    w["is_global"].as_bool().unwrap(),
                    w["is_default"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            picked,
            [
                (DEFAULT_WORKSPACE_ID, false, true),
                (WORKSPACE_ID, true, false)
            ]
        );
    }
    // A flag lives in one workspace only.
    let (_, created) = api.create(&gate("a")).await;
    let other =
        format!("/api/app/projects/{PROJECT_ID}/workspaces/{DEFAULT_WORKSPACE_ID}/feature-flags/");
    assert_eq!(
        get(other.clone()).await,
        (200, json!({"status": "ok", "results": []}))
    );
    let id = created["results"]["id"].as_str().unwrap();
    assert_eq!(
        get(format!("{other}{id}/")).await,
        (404, error("Feature flag not found"))
    );
}
