//! The Mixpanel adapter's failures against the strict fake: redirects are never followed,
//! 429s are waited out, lost or unreadable answers of writes have an unknown outcome, every
//! error has an exact, actionable text, and the secret never shows.

use flagops::backend::Backend;
use flagops::backend::mixpanel::{MixpanelBackend, MixpanelSettings, Secret};
use flagops::backend::pacing::RetryPolicy;

use super::{SECRET_VAR, USER_VAR, backend, flags_path, gate, lines, seeded, settings};
use crate::support::fake_mixpanel::{
    FakeMixpanel, Fault, PROJECT_ID, SA_SECRET, SA_USERNAME, WORKSPACE_ID,
};

#[tokio::test]
async fn a_redirect_is_an_error_naming_the_path_and_is_never_followed() {
    let fake = FakeMixpanel::start().await;
    let backend = backend(&fake);
    fake.inject(Fault::Redirect {
        status: 301,
        to: fake.base_url(),
        times: 1,
    });
    let error = backend.create(&gate("a")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the answer to `create flag `a`` ({path}) is a redirect (301) to `{path}`; flagops follows no redirect (it would turn a write into a GET), so nothing was sent there; check that `host` is the App API origin",
            path = flags_path()
        )
    );
    assert_eq!(lines(&fake), [format!("POST {}", flags_path())]);
    assert!(fake.flags().is_empty());
}

#[tokio::test]
async fn a_429_is_waited_out_with_backoff_and_retry_after() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("a", "disabled")]);
    let backend = backend(&fake);
    fake.inject(Fault::RateLimited {
        retry_after: None,
        times: 2,
    });
    fake.inject(Fault::RateLimited {
        retry_after: Some("0".into()),
        times: 1,
    });
    let state = backend.list().await.unwrap();
    assert_eq!(state.flags.len(), 1);
    let statuses: Vec<Option<u16>> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(429), Some(429), Some(200)]);
    // A write is sent again after a 429 too (the server did nothing).
    fake.clear_requests();
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::RateLimited {
            retry_after: None,
            times: 1,
        },
    );
    backend.create(&gate("b")).await.unwrap();
    assert_eq!(
        lines(&fake),
        [
            format!("POST {}", flags_path()),
            format!("POST {}", flags_path())
        ]
    );
    assert_eq!(fake.flags().len(), 2);
}

#[tokio::test]
async fn a_429_asking_too_long_a_wait_fails_at_once() {
    let fake = FakeMixpanel::start().await;
    let backend = backend(&fake);
    fake.inject(Fault::RateLimited {
        retry_after: Some("3600".into()),
        times: 1,
    });
    let error = backend.list().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "could not list flags of project {PROJECT_ID}: Mixpanel is rate limiting (429) and asks to wait 1 h, longer than the 10 min flagops waits at most; try again later or lower `rate_limit`"
        )
    );
}

#[tokio::test]
async fn errors_have_exact_actionable_texts() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("taken", "disabled")]);
    // Wrong secret.
    let mut wrong = settings(&fake, Some(WORKSPACE_ID));
    wrong.secret = Secret::new("not-the-secret");
    let error = MixpanelBackend::new(wrong)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the service account from `{USER_VAR}` and `{SECRET_VAR}` was rejected when trying to list flags of project {PROJECT_ID} (401: Invalid credentials); set them to the username and secret of a valid service account of project {PROJECT_ID} at {} (a project in another region is not found: check `region`)",
            fake.base_url()
        )
    );
    // Unknown workspace.
    let error = MixpanelBackend::new(settings(&fake, Some(1)))
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "project {PROJECT_ID} or its workspace was not found at {} when trying to list flags of project {PROJECT_ID} (404: Workspace not found); check `project_id`, `workspace_id` and `region`",
            fake.base_url()
        )
    );
    // A refused body: the server's message, escaped onto one line.
    let backend = backend(&fake);
    let error = backend.create(&gate("taken")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "flag `taken`: Mixpanel refused to create it (400: key: Duplicate key 'taken')"
    );
    // A 5xx on a write is not repeated (its outcome is unknown to apply).
    fake.clear_requests();
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::ServerError {
            status: 503,
            times: 1,
        },
    );
    let error = backend.create(&gate("new")).await.unwrap_err();
    assert_eq!(error.to_string(), "server error 503: Internal server error");
    assert!(error.is_outcome_unknown());
    assert_eq!(fake.requests().len(), 1);
    // A 5xx on a read is repeated.
    fake.clear_requests();
    fake.inject(Fault::ServerError {
        status: 502,
        times: 2,
    });
    backend.list().await.unwrap();
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn the_secret_never_shows_in_errors_or_debug_output() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("taken", "disabled")]);
    let settings = settings(&fake, None);
    let backend = MixpanelBackend::new(settings.clone()).unwrap();
    let mut texts = vec![format!("{settings:?}"), format!("{backend:?}")];
    let mut refused = self::settings(&fake, Some(WORKSPACE_ID));
    refused.secret = Secret::new("wrong-secret-value");
    texts.push(
        MixpanelBackend::new(refused)
            .unwrap()
            .list()
            .await
            .unwrap_err()
            .to_string(),
    );
    texts.push(
        backend
            .create(&gate("taken"))
            .await
            .unwrap_err()
            .to_string(),
    );
    fake.inject(Fault::Redirect {
        status: 302,
        to: format!("http://{SA_USERNAME}:{SA_SECRET}@127.0.0.1:1"),
        times: 1,
    });
    texts.push(backend.list().await.unwrap_err().to_string());
    texts.push(format!("{backend:?}"));
    for text in &texts {
        assert!(!text.contains(SA_SECRET), "{text}");
        assert!(!text.contains("wrong-secret-value"), "{text}");
        assert!(!text.contains(SA_USERNAME), "{text}");
    }
    assert!(texts[0].contains("Secret(***)"), "{}", texts[0]);
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_or_unreadable_has_an_unknown_outcome() {
    let fake = FakeMixpanel::start().await;
    let backend = backend(&fake);
    fake.inject(Fault::DropAfterCommit { times: 1 });
    let error = backend.create(&gate("a")).await.unwrap_err();
    assert!(error.is_outcome_unknown(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("could not create flag `a`: the connection failed"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .ends_with("; the server may have done it: the outcome is unknown"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 1, "a write is never repeated here");
    // `apply` then looks: one list finds it.
    let found = backend.get("a").await.unwrap().unwrap();
    assert_eq!(found.flag.key, "a");

    fake.inject(Fault::Garbled { times: 1 });
    let error = backend.create(&gate("b")).await.unwrap_err();
    assert!(error.is_outcome_unknown(), "{error}");
    assert!(
        error.to_string().starts_with(
            "the answer to `create flag `b`` could not be read as JSON (status 200): "
        ),
        "{error}"
    );
    assert!(
        error.to_string().ends_with(
            "; the server accepted the request, so it may have been done: the outcome is unknown"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn no_server_and_an_oversized_answer_are_clear_errors() {
    let mut s = MixpanelSettings::new(
        "http://127.0.0.1:1",
        PROJECT_ID,
        SA_USERNAME,
        Secret::new(SA_SECRET),
    );
    s.workspace_id = Some(WORKSPACE_ID);
    s.retry = RetryPolicy::none();
    let error = MixpanelBackend::new(s).unwrap().list().await.unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "could not list flags of project {PROJECT_ID}: could not connect to http://127.0.0.1:1"
        )),
        "{error}"
    );
    assert!(error.to_string().ends_with("; nothing was sent"), "{error}");

    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("a", "disabled")]);
    let mut small = settings(&fake, Some(WORKSPACE_ID));
    small.max_response_bytes = 100;
    let error = MixpanelBackend::new(small)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the answer to `list flags of project {PROJECT_ID}` is larger than 100 bytes (status 200); check that `host` is the Mixpanel App API origin"
        )
    );
}

#[tokio::test]
async fn a_huge_server_message_is_quoted_on_one_short_line() {
    let fake = FakeMixpanel::start().await;
    let backend = backend(&fake);
    fake.inject_for(
        "POST",
        "/feature-flags/",
        Fault::HugeDetail {
            status: 400,
            bytes: 100_000,
            times: 1,
        },
    );
    let error = backend.create(&gate("a")).await.unwrap_err().to_string();
    assert!(
        error.starts_with("flag `a`: Mixpanel refused to create it (400: Internal server error ::error::injected Internal"),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");
    assert!(error.chars().count() < 300, "{error}");
    assert!(error.ends_with("…)"), "{error}");
}

#[tokio::test]
async fn nothing_is_sent_to_the_origin_a_redirect_points_to() {
    let fake = FakeMixpanel::start().await;
    let elsewhere = FakeMixpanel::start().await;
    let backend = backend(&fake);
    for _ in 0..2 {
        fake.inject(Fault::Redirect {
            status: 307,
            to: elsewhere.base_url(),
            times: 1,
        });
    }
    let error = backend.list().await.unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "the answer to `list flags of project {PROJECT_ID}` ({}) is a redirect (307) to another origin, `{}`; flagops follows no redirect (it would turn a write into a GET), so nothing was sent there; check that `host` is the App API origin",
            flags_path(),
            elsewhere.base_url()
        )
    );
    backend.create(&gate("a")).await.unwrap_err();
    assert!(elsewhere.requests().is_empty(), "{:?}", lines(&elsewhere));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_garbled_list_is_an_error_never_an_empty_list() {
    let fake = FakeMixpanel::start().await;
    fake.seed(vec![seeded("a", "disabled")]);
    let backend = backend(&fake);
    fake.inject(Fault::Garbled { times: 1 });
    let error = backend.list().await.unwrap_err();
    assert!(!error.is_outcome_unknown(), "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "the answer to `list flags of project {PROJECT_ID}` could not be read as JSON (status 200): "
        )),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 1);
}
