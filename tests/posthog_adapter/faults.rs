//! The adapter against the fake's hostile modes: redirects, endless pages, garbled answers,
//! huge error details, odd `Retry-After`s, slow and refused connections. Each case checks the
//! exact message and what the servers received.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use flagops::backend::pacing::Notice;

#[allow(clippy::wildcard_imports)]
use super::*;

/// Settings that never repeat a request and announce waits of 200 ms or more into `said`.
fn quick(fake: &FakePosthog, said: &Arc<Mutex<Vec<String>>>) -> PosthogSettings {
    let mut s = settings(fake, WRITE_KEY);
    s.retry = RetryPolicy::none();
    s.budgets = Vec::new();
    s.notice_after = Duration::from_millis(200);
    let sink = Arc::clone(said);
    let notice: Notice = Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_owned()));
    s.notice = Some(notice);
    s
}

fn said() -> Arc<Mutex<Vec<String>>> {
    Arc::new(Mutex::new(Vec::new()))
}

/// A redirect to another origin is never followed, for reads and writes: the other server
/// receives nothing (no body, no key), nothing is created, and the error names the status
/// and the target's origin only (not its path or query).
#[tokio::test]
async fn a_redirect_is_never_followed_to_another_origin() {
    let fake = FakePosthog::start().await;
    let elsewhere = FakePosthog::start().await;
    let id = fake.seed(vec![simple("old")])[0];
    let to = elsewhere.base_url();
    let adapter = PosthogBackend::new(quick(&fake, &said())).unwrap();
    let live = adapter.list().await.unwrap();
    let old = live.get("old").unwrap().clone();

    for status in [301, 302, 303, 307, 308] {
        fake.inject(Fault::Redirect {
            status,
            to: to.clone(),
            times: 3,
        });
        let e = adapter
            .create(&flag("new", vec![Condition::default()]))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the answer to `create flag `new`` is a redirect ({status}) to `{to}`; flagops follows no redirect, so nothing was sent there; set `host` to the origin that serves the API"
            )
        );
        let half = Condition {
            rollout_percentage: Some(Percent(50.0)),
            ..Condition::default()
        };
        let e = adapter
            .update(&old, &flag("old", vec![half]))
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "the answer to `update flag `old`` is a redirect ({status}) to `{to}`;"
            )),
            "{e}"
        );
        let e = adapter.list().await.unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "the answer to `list flags of project 1` is a redirect ({status}) to `{to}`;"
            )),
            "{e}"
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(fake.flag("new").is_none());
    assert_eq!(fake.flag("old").unwrap()["version"], 1);
    // Every write reached the configured server once and was answered with the redirect.
    let writes: Vec<(String, Option<u16>)> = fake
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.line(), r.status))
        .collect();
    let mut expected = Vec::new();
    for status in [301, 302, 303, 307, 308] {
        expected.push((
            "POST /api/projects/1/feature_flags/".to_owned(),
            Some(status),
        ));
        expected.push((
            format!("PATCH /api/projects/1/feature_flags/{id}/"),
            Some(status),
        ));
    }
    assert_eq!(writes, expected);

    // A redirect on the same origin is not followed either, and says so.
    fake.inject(Fault::Redirect {
        status: 301,
        to: fake.base_url(),
        times: 1,
    });
    assert_eq!(
        adapter.list().await.unwrap_err().to_string(),
        format!(
            "the answer to `list flags of project 1` is a redirect (301) to another path on the same origin (`{}`); flagops follows no redirect, so nothing was sent there; set `host` to the origin that serves the API",
            fake.base_url()
        )
    );
}

/// A server whose list never ends is read for the pages its `count` needs plus two, then
/// it is an error; never thousands of requests. (The archived list, started once the default
/// list's counted pages were asked for, is bounded the same way: 1 page for its count of 0,
/// plus two.)
#[tokio::test]
async fn a_list_that_never_ends_stops_at_what_its_count_needs() {
    let fake = FakePosthog::start().await;
    fake.seed(["a", "b", "c"].iter().map(|k| simple(k)).collect());
    fake.set_max_page_size(Some(2));
    fake.set_endless_pages(true);
    let e = PosthogBackend::new(quick(&fake, &said()))
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the answer to `list flags of project 1` did not end after 4 pages although its first page counted 3 flags (2 a page): its `next` link goes on; check that `host` is the PostHog API origin"
    );
    let requests = fake.requests();
    let archived = requests
        .iter()
        .filter(|r| r.query.contains("archived=true"))
        .count();
    assert_eq!((requests.len() - archived, archived), (4, 3));
}

/// A write whose 2xx answer cannot be read was (perhaps) done: the outcome is unknown, never
/// "failed … nothing was done".
#[tokio::test]
async fn a_garbled_answer_to_a_write_is_an_unknown_outcome() {
    let fake = FakePosthog::start().await;
    let adapter = PosthogBackend::new(quick(&fake, &said())).unwrap();
    fake.inject(Fault::Garbled { times: 1 });
    let e = adapter
        .create(&flag("new", vec![Condition::default()]))
        .await
        .unwrap_err();
    assert!(matches!(e, BackendError::Transport(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the answer to `create flag `new`` could not be read as JSON (status 201): EOF while parsing a value at line 1 column 17; the server accepted the request, so it may have been done: the outcome is unknown"
    );
    assert!(fake.flag("new").is_some(), "the fake committed it");

    // A garbled answer to a read is a plain error (nothing about an outcome).
    fake.inject(Fault::Garbled { times: 1 });
    assert_eq!(
        adapter.list().await.unwrap_err().to_string(),
        "the answer to `list flags of project 1` could not be read as JSON (status 200): EOF while parsing a value at line 1 column 17"
    );
}

/// A 20 MB error detail full of newlines and `::error::` lines is quoted on one short line.
#[tokio::test]
async fn a_huge_error_detail_is_one_short_line() {
    let fake = FakePosthog::start().await;
    let adapter = PosthogBackend::new(quick(&fake, &said())).unwrap();
    fake.inject(Fault::HugeDetail {
        status: 500,
        bytes: 20_000_000,
        times: 1,
    });
    let text = adapter.list().await.unwrap_err().to_string();
    assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
    assert!(text.chars().count() < 260, "{} chars", text.chars().count());
    assert!(
        text.starts_with("server error 500: A server error occurred. ::error::injected A server"),
        "{text}"
    );
    assert!(text.ends_with('…'), "{text}");

    fake.inject(Fault::HugeDetail {
        status: 400,
        bytes: 100_000,
        times: 1,
    });
    let text = adapter
        .create(&flag("new", vec![Condition::default()]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with("flag `new`: A server error occurred. ::error::"),
        "{text}"
    );
    assert!(!text.contains('\n') && text.chars().count() < 260, "{text}");
}

/// `Retry-After` as an HTTP date is waited out (announced); a value past the longest wait
/// fails at once however it is written; a 429 without one waits the default backoff.
#[tokio::test]
async fn retry_after_as_a_date_a_huge_number_or_absent() {
    let fake = FakePosthog::start().await;
    fake.seed(vec![simple("a")]);
    let told = said();
    let mut s = quick(&fake, &told);
    s.retry = RetryPolicy {
        max_retry_after: Duration::from_secs(3),
        ..RetryPolicy::default()
    };
    s.rate_limited_backoff = Duration::from_millis(300);
    let adapter = PosthogBackend::new(s).unwrap();

    // An HTTP date two seconds ahead: waited (1-2 s), announced, then the list goes on.
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&soon)
        .unwrap();
    fake.inject(Fault::RateLimited {
        retry_after: Some(date),
        times: 1,
    });
    let start = Instant::now();
    let state = adapter.list().await.unwrap();
    assert_eq!(state.flags.len(), 1);
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    let notes = told.lock().unwrap().clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("the server is rate limiting (429); every request waits ")
            && notes[0].ends_with(" s as its `Retry-After` asks"),
        "{notes:?}"
    );

    // Past the longest wait, in seconds (small or absurd) or as a date: at once, one request.
    let far = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    let far = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&far)
        .unwrap();
    for (header, asks) in [
        ("700".to_owned(), "700 s".to_owned()),
        (
            "1000000000000000000000".to_owned(),
            "more than a day".to_owned(),
        ),
        (far, "59 min".to_owned()),
    ] {
        fake.clear_requests();
        fake.inject(Fault::RateLimited {
            retry_after: Some(header.clone()),
            times: 1,
        });
        let start = Instant::now();
        let e = adapter.list().await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1), "{header}");
        let text = e.to_string();
        assert!(
            text.starts_with("could not list flags of project 1: the server is rate limiting (429) and asks to wait ")
                && text.ends_with(", longer than the 3 s flagops waits at most; try again later"),
            "{header}: {text}"
        );
        if !header.contains("GMT") {
            assert!(text.contains(&format!("asks to wait {asks},")), "{text}");
        }
        assert_eq!(fake.requests().len(), 1, "{header}");
    }

    // No `Retry-After`: 300 ms, then 600 ms (the default backoff), then the answer.
    fake.clear_requests();
    fake.inject(Fault::RateLimited {
        retry_after: None,
        times: 2,
    });
    let start = Instant::now();
    adapter.list().await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        fake.requests().iter().map(|r| r.status).collect::<Vec<_>>()[..3],
        [Some(429), Some(429), Some(200)]
    );
    let notes = told.lock().unwrap().clone();
    assert!(
        notes.contains(&"the server is rate limiting (429); every request waits 300 ms (it gave no `Retry-After`: the default backoff)".to_owned()),
        "{notes:?}"
    );
}

/// An answer slower than the notice threshold is announced while it is awaited; a timeout
/// says how long was waited, and a refused connection says that nothing was sent.
#[tokio::test]
async fn slow_answers_timeouts_and_refused_connections_read_clearly() {
    let fake = FakePosthog::start().await;
    let told = said();
    let mut s = quick(&fake, &told);
    s.request_timeout = Duration::from_millis(700);
    let adapter = PosthogBackend::new(s).unwrap();
    fake.inject(Fault::Slow {
        delay: Duration::from_millis(400),
        times: 1,
    });
    adapter.list().await.unwrap();
    assert_eq!(
        *told.lock().unwrap(),
        ["no answer yet to `list flags of project 1` after 200 ms; waiting at most 700 ms in all"]
    );

    fake.inject(Fault::Slow {
        delay: Duration::from_secs(3),
        times: 1,
    });
    assert_eq!(
        adapter.list().await.unwrap_err().to_string(),
        "could not list flags of project 1: no complete answer within 700 ms"
    );
    fake.inject(Fault::Slow {
        delay: Duration::from_secs(3),
        times: 1,
    });
    assert_eq!(
        adapter
            .create(&flag("new", vec![Condition::default()]))
            .await
            .unwrap_err()
            .to_string(),
        "could not create flag `new`: no complete answer within 700 ms; the server may have done it: the outcome is unknown"
    );

    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut s = quick(&fake, &told);
    s.host = origin.clone();
    let text = PosthogBackend::new(s)
        .unwrap()
        .create(&flag("new", vec![Condition::default()]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(&format!(
            "could not create flag `new`: could not connect to {origin} ("
        )) && text.ends_with("); nothing was sent"),
        "{text}"
    );
}

/// A read that times out is repeated: each slow attempt and each long delay before a repeat
/// is announced, and the final error says how many attempts were made.
#[tokio::test]
async fn repeated_timeouts_are_announced_and_counted() {
    let fake = FakePosthog::start().await;
    let told = said();
    let mut s = quick(&fake, &told);
    s.request_timeout = Duration::from_millis(400);
    s.retry = RetryPolicy {
        retries: 1,
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    fake.inject(Fault::Slow {
        delay: Duration::from_secs(2),
        times: 2,
    });
    let e = PosthogBackend::new(s).unwrap().list().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not list flags of project 1: no complete answer within 400 ms (2 attempts)"
    );
    let notes = told.lock().unwrap().clone();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert_eq!(
        notes[0],
        "no answer yet to `list flags of project 1` after 200 ms; waiting at most 400 ms in all"
    );
    assert!(
        notes[1].starts_with(
            "could not list flags of project 1: no complete answer within 400 ms; trying again in "
        ) && notes[1].ends_with(" ms (attempt 2 of 2)"),
        "{notes:?}"
    );
    assert_eq!(
        notes[2],
        "no answer yet to `list flags of project 1` after 200 ms (attempt 2 of 2); waiting at most 400 ms in all"
    );
    assert_eq!(fake.requests().len(), 2);
}
