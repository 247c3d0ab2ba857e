//! Error mapping, secrets in Debug output, and settings from the environment.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Every error the adapter maps, with its exact message.
#[tokio::test]
async fn errors_are_mapped_to_actionable_messages() {
    let fake = FakePosthog::start().await;
    let id = fake.seed(vec![simple("taken")])[0];
    let origin = fake.base_url();
    let new = flag("new", vec![Condition::default()]);
    let mut errors = Vec::new();

    let e = backend(&fake, "phx_wrong_key").list().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the API key from `{KEY_VAR}` was rejected when trying to list flags of project 1 (401 authentication_failed: Invalid personal API key.); set it to a valid personal API key for {origin}"
        )
    );
    errors.push(e);

    let e = backend(&fake, NO_SCOPE_KEY).list().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the API key from `{KEY_VAR}` may not list flags of project 1: it needs the `feature_flag:read` scope on project 1 (403 permission_denied: API key missing required scope 'feature_flag:read'); add the scope to the personal API key"
        )
    );
    errors.push(e);

    let e = backend(&fake, READ_KEY).create(&new).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the API key from `{KEY_VAR}` may not create flag `new`: it needs the `feature_flag:write` scope on project 1 (403 permission_denied: API key missing required scope 'feature_flag:write'); add the scope to the personal API key"
        )
    );
    errors.push(e);

    let mut other_project = settings(&fake, WRITE_KEY);
    other_project.project_id = 99;
    let e = PosthogBackend::new(other_project)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "project 99 was not found at {origin}, or the API key from `{KEY_VAR}` cannot access it (404 not_found: Not found.); check `project_id` and the key's project restrictions"
        )
    );
    errors.push(e);

    // Repeats are off here: this test is about how each failure reads.
    let mut once = settings(&fake, WRITE_KEY);
    once.retry = RetryPolicy::none();
    let adapter = PosthogBackend::new(once).unwrap();
    let ghost = LiveFlag {
        id: "4242".into(),
        flag: flag("ghost", vec![]),
        token: Some(1.into()),
    };
    let e = adapter
        .update(&ghost, &flag("ghost", vec![Condition::default()]))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        BackendError::NotFound {
            key: "ghost".into()
        }
    );
    assert_eq!(e.to_string(), "flag `ghost` not found");
    errors.push(e);

    let e = adapter
        .create(&flag("taken", vec![Condition::default()]))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "flag `taken`: There is already a feature flag with this key. (field `key`)"
    );
    errors.push(e);

    let e = adapter
        .create(&flag("no-groups", vec![]))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "flag `no-groups`: Feature flags must have at least one condition set (group). (field `filters`)"
    );
    errors.push(e);

    fake.set_approval_required(true);
    let e = adapter.create(&new).await.unwrap_err();
    assert_eq!(
        e,
        BackendError::ApprovalRequired {
            key: "new".into(),
            change_request_id: "cr-1".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "flag `new`: the change needs approval; change request cr-1 was opened"
    );
    errors.push(e);
    fake.set_approval_required(false);

    fake.set_rate_limit(Some(RateLimitRule {
        max_requests: 0,
        window: Duration::from_secs(3600),
        retry_after_secs: 17,
    }));
    let e = adapter.list().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not list flags of project 1: the server is still rate limiting (429) after 0 waits; try again later"
    );
    assert!(e.is_retryable());
    errors.push(e);
    fake.set_rate_limit(None);

    fake.inject(Fault::ServerError {
        status: 503,
        times: 1,
    });
    let e = adapter.list().await.unwrap_err();
    assert_eq!(e.to_string(), "server error 503: A server error occurred.");
    errors.push(e);

    fake.inject(Fault::Drop { times: 1 });
    let e = adapter.create(&new).await.unwrap_err();
    assert!(matches!(e, BackendError::Transport(_)), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("could not create flag `new`: the connection failed"),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("; the server may have done it: the outcome is unknown"),
        "{e}"
    );
    assert!(
        fake.flag("new").is_none(),
        "a dropped request changes nothing"
    );
    errors.push(e);

    fake.inject(Fault::Slow {
        delay: Duration::from_secs(5),
        times: 1,
    });
    let mut impatient = settings(&fake, WRITE_KEY);
    impatient.request_timeout = Duration::from_millis(200);
    impatient.retry = RetryPolicy::none();
    let e = PosthogBackend::new(impatient)
        .unwrap()
        .delete(&LiveFlag {
            id: id.to_string(),
            flag: flag("taken", vec![]),
            token: Some(1.into()),
        })
        .await
        .unwrap_err();
    // A read that timed out: nothing to say about an outcome.
    assert_eq!(
        e.to_string(),
        "could not read flag `taken`: no complete answer within 200 ms"
    );
    errors.push(e);

    for error in &errors {
        for secret in [WRITE_KEY, READ_KEY, NO_SCOPE_KEY, "phx_wrong_key"] {
            assert!(!error.to_string().contains(secret), "{error}");
            assert!(!format!("{error:?}").contains(secret), "{error:?}");
        }
    }
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let key = "phx_supersecret_value";
    let mut s = PosthogSettings::new("https://eu.posthog.com", 5, ApiKey::new(key));
    s.api_key_env = Some("POSTHOG_KEY".into());
    let debug = format!("{s:?} {:?}", PosthogBackend::new(s.clone()).unwrap());
    assert!(!debug.contains(key), "{debug}");
    assert!(debug.contains("ApiKey(***)"), "{debug}");
}

#[test]
fn settings_come_from_the_environment_the_config_names() {
    let env = Environment {
        host: Some("https://eu.posthog.com/".into()),
        project_id: Some(5678),
        api_key_env: Some("POSTHOG_API_KEY_PROD".into()),
        ..Environment::default()
    };
    let settings = PosthogSettings::from_environment_with("production", &env, |var| {
        (var == "POSTHOG_API_KEY_PROD").then(|| "phx_abc".to_owned())
    })
    .unwrap();
    assert_eq!(settings.project_id, 5678);
    assert_eq!(settings.api_key, ApiKey::new("phx_abc"));

    let unset = PosthogSettings::from_environment_with("production", &env, |_| Some("  ".into()))
        .unwrap_err();
    assert_eq!(
        unset.to_string(),
        "environment variable `POSTHOG_API_KEY_PROD` (the `api_key_env` of environment `production`) is not set or empty; export a personal API key with the `feature_flag:read` and `feature_flag:write` scopes"
    );
    let no_host = Environment {
        host: None,
        ..env.clone()
    };
    assert_eq!(
        PosthogSettings::from_environment_with("production", &no_host, |_| None).unwrap_err(),
        SettingsError::MissingHost {
            environment: "production".into()
        }
    );
    let bad = PosthogSettings::new("ftp://example.com", 1, ApiKey::new("k"));
    assert_eq!(
        PosthogBackend::new(bad).unwrap_err().to_string(),
        "`host` `ftp://example.com` is not an http(s) URL; use e.g. `https://us.posthog.com`"
    );
    let with_password =
        PosthogSettings::new("https://ann:hunter2@eu.posthog.com", 1, ApiKey::new("k"));
    assert!(!format!("{with_password:?}").contains("hunter2"));
    assert_eq!(
        PosthogBackend::new(with_password).unwrap_err().to_string(),
        "`host` `https://***@eu.posthog.com` contains a user name or password; remove it (the API key is the only credential sent)"
    );
}
