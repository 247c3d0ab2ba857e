//! A PostHog list's pages read at once: how many requests a plan makes, how many pages are
//! read at the same time, and what happens when the flags change while the pages are read
//! (no flag lost, none twice, or a clear error). Request counts and outcomes, not timings.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use flagops::backend::Backend;
use flagops::backend::posthog::{ApiKey, PosthogBackend, PosthogSettings};
use serde_json::{Value, json};

use crate::support::fake_posthog::{FakePosthog, ListChange, PROJECT_ID, READ_KEY};
use crate::support::{FAKE_KEY_VAR, Repo, Run, flagops_with_env, posthog_repo_config};

const LIST_PATH: &str = "/api/projects/1/feature_flags/";

fn simple(key: &str) -> Value {
    json!({"key": key, "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}})
}

/// Seed `n` flags `flag-0000`… (ids grow with the number: the newest lists first).
fn seed(fake: &FakePosthog, n: usize) -> Vec<i64> {
    fake.seed((0..n).map(|i| simple(&format!("flag-{i:04}"))).collect())
}

/// An adapter reading `concurrency` pages of a list at once.
fn backend(fake: &FakePosthog, concurrency: usize) -> PosthogBackend {
    let mut settings = PosthogSettings::new(fake.base_url(), PROJECT_ID, ApiKey::new(READ_KEY));
    settings.list_concurrency = concurrency;
    PosthogBackend::new(settings).unwrap()
}

/// The keys of a list, sorted; every key once.
async fn listed(backend: &PosthogBackend) -> Vec<String> {
    let state = backend.list().await.unwrap();
    assert!(state.unsupported.is_empty(), "{:?}", state.unsupported);
    let keys: Vec<String> = state.flags.iter().map(|f| f.flag.key.clone()).collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a flag listed twice: {keys:?}");
    keys
}

/// `flag-0000`…`flag-<n-1>` plus `extra`, sorted.
fn keys(n: usize, extra: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = (0..n).map(|i| format!("flag-{i:04}")).collect();
    keys.extend(extra.iter().map(|k| (*k).to_owned()));
    keys.sort();
    keys
}

/// The queries of the list requests the fake received, in order.
fn list_queries(fake: &FakePosthog) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|r| {
            assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", LIST_PATH));
            r.query.clone()
        })
        .collect()
}

/// Run `flagops args…` in `dir` with the fake's key and `envs`, off the runtime.
async fn flagops_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    envs.push((
        FAKE_KEY_VAR.to_owned(),
        crate::support::fake_posthog::WRITE_KEY.to_owned(),
    ));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        flagops_with_env(&dir, &args, &envs)
    })
    .await
    .unwrap()
}

/// A repository whose environment `live` is the fake, with a flag file for each of `n`
/// seeded flags (so that the plan has no changes).
fn repo_of(fake: &FakePosthog, n: usize) -> Repo {
    let repo = Repo::empty();
    repo.write("flagops.yaml", posthog_repo_config(&fake.base_url()));
    for i in 0..n {
        repo.write(
            &format!("flags/flag-{i:04}.yaml"),
            format!("key: flag-{i:04}\nconditions:\n  - rollout_percentage: 100\n"),
        );
    }
    repo
}

/// `flagops plan` of N flags reads ceil(N / 1,000) pages of the default list plus one of
/// the archived list, and nothing else: no request per flag (a per-flag refresh would make N).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_n_flags_makes_one_list_request_per_thousand_and_no_per_flag_read() {
    for (n, archived) in [(999, 0), (2_001, 3)] {
        let fake = FakePosthog::start().await;
        seed(&fake, n);
        fake.seed(
            (0..archived)
                .map(|i| json!({"key": format!("old-{i}"), "active": false, "archived": true, "filters": {"groups": [{"properties": []}]}}))
                .collect(),
        );
        let repo = repo_of(&fake, n);
        let run = flagops_env(repo.path(), &["plan", "--env", "live"], &[]).await;
        run.expect_code(0);
        // The archived flags are live, but not in the repository.
        assert!(
            run.stdout.contains(&format!("({n} flags in sync)")),
            "{n}: {}",
            run.stdout
        );
        assert_eq!(run.stdout.matches("? `old-").count(), archived);
        let mut queries = list_queries(&fake);
        queries.sort();
        let pages = n.div_ceil(1000);
        let mut expected: Vec<String> = (0..pages)
            .map(|p| match p {
                0 => "limit=1000".to_owned(),
                p => format!("limit=1000&offset={}", p * 1000),
            })
            .collect();
        expected.push("archived=true&limit=1000".to_owned());
        expected.sort();
        assert_eq!(queries, expected, "{n} flags");
    }
}

/// The pages after the first are read at once, at most `list_concurrency` at a time;
/// `FLAGOPS_LIST_CONCURRENCY=1` reads them one after another, and a bad value is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_read_at_once_up_to_the_concurrency() {
    for concurrency in [1, 4] {
        let fake = FakePosthog::start().await;
        seed(&fake, 95);
        fake.set_max_page_size(Some(10));
        // Slow enough that pages asked for at once are answered at once.
        fake.set_list_latency(Some(Duration::from_millis(150)));
        assert_eq!(listed(&backend(&fake, concurrency)).await, keys(95, &[]));
        assert_eq!(fake.most_lists_at_once(), concurrency);
        // Every page once: the first, nine by offset, the archived list.
        let queries = list_queries(&fake);
        assert_eq!(queries.len(), 11, "{queries:?}");
        assert_eq!(
            queries.iter().collect::<BTreeSet<_>>().len(),
            11,
            "{queries:?}"
        );
    }

    let fake = FakePosthog::start().await;
    seed(&fake, 25);
    fake.set_max_page_size(Some(10));
    fake.set_list_latency(Some(Duration::from_millis(150)));
    let repo = repo_of(&fake, 25);
    let sequential = [("FLAGOPS_LIST_CONCURRENCY", "1")];
    let run = flagops_env(repo.path(), &["plan", "--env", "live"], &sequential).await;
    run.expect_code(0);
    assert!(run.stdout.contains("(25 flags in sync)"), "{}", run.stdout);
    assert_eq!(fake.most_lists_at_once(), 1);

    for bad in ["0", "17", "four", ""] {
        fake.clear_requests();
        let run = flagops_env(
            repo.path(),
            &["plan", "--env", "live"],
            &[("FLAGOPS_LIST_CONCURRENCY", bad)],
        )
        .await;
        run.expect_code(2);
        assert_eq!(
            run.stderr,
            "error: environment variable `FLAGOPS_LIST_CONCURRENCY` is not a whole number from 1 to 16 (how many pages of a list are read at once); unset it for the default, 4\n",
            "{bad:?}"
        );
        assert!(fake.requests().is_empty(), "{bad:?}");
    }
}

/// A flag created after the first page was read pushes every later page down by one: the
/// last flag of each page would be read twice. The pages do not add up, the list is read
/// again: every flag once, the new one included.
#[tokio::test]
async fn a_flag_created_while_the_pages_are_read_is_listed_once() {
    for concurrency in [1, 4] {
        let fake = FakePosthog::start().await;
        seed(&fake, 25);
        fake.set_max_page_size(Some(10));
        fake.change_list_after_first_page(vec![ListChange::Create(simple("new"))], 1);
        assert_eq!(
            listed(&backend(&fake, concurrency)).await,
            keys(25, &["new"])
        );
        let queries = list_queries(&fake);
        let first_pages = queries.iter().filter(|q| *q == "limit=1000").count();
        assert_eq!(first_pages, 2, "read again once: {queries:?}");
        if concurrency == 1 {
            // One after another, the changed count is seen on the second page.
            assert_eq!(
                queries,
                [
                    "limit=1000",
                    "limit=10&offset=10",
                    "limit=1000",
                    "limit=10&offset=10",
                    "limit=10&offset=20",
                    "archived=true&limit=1000",
                ]
            );
        }
    }
}

/// A flag deleted after the first page was read pulls every later page up by one: the first
/// flag of each would be missed. The list is read again: no flag lost, the deleted one gone.
#[tokio::test]
async fn a_flag_deleted_while_the_pages_are_read_loses_no_other_flag() {
    for concurrency in [1, 4] {
        let fake = FakePosthog::start().await;
        let ids = seed(&fake, 25);
        fake.set_max_page_size(Some(10));
        // The newest lists first: flag-0024 is on the first page.
        fake.change_list_after_first_page(vec![ListChange::Delete(ids[24])], 1);
        assert_eq!(listed(&backend(&fake, concurrency)).await, keys(24, &[]));
        let queries = list_queries(&fake);
        assert_eq!(
            queries.iter().filter(|q| *q == "limit=1000").count(),
            2,
            "{queries:?}"
        );
    }
}

/// A flag created and another deleted from the first page: the count and the later pages are
/// the same, so the pages add up to the list as it was when the first page was read (the
/// deleted flag still there, the new one not yet), read once.
#[tokio::test]
async fn a_create_and_a_delete_that_keep_the_count_read_as_before_both() {
    let fake = FakePosthog::start().await;
    let ids = seed(&fake, 25);
    fake.set_max_page_size(Some(10));
    fake.change_list_after_first_page(
        vec![
            ListChange::Create(simple("new")),
            ListChange::Delete(ids[20]),
        ],
        1,
    );
    assert_eq!(listed(&backend(&fake, 4)).await, keys(25, &[]));
    let mut queries = list_queries(&fake);
    queries.sort();
    assert_eq!(
        queries,
        [
            "archived=true&limit=1000",
            "limit=10&offset=10",
            "limit=10&offset=20",
            "limit=1000",
        ]
    );
}

/// Flags that change on every reading: after the second, the list is an error naming both
/// mismatches, and nothing is returned.
#[tokio::test]
async fn a_list_that_changes_on_every_reading_is_a_clear_error() {
    let fake = FakePosthog::start().await;
    seed(&fake, 25);
    fake.set_max_page_size(Some(10));
    fake.change_list_after_first_page(vec![ListChange::Create(simple("new"))], 2);
    let error = backend(&fake, 1).list().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the pages of `list flags of project 1` did not add up, twice: page 2 counted 26 flags, the first page 25; read again, page 2 counted 27 flags, the first page 26; the flags were probably being changed meanwhile, so flagops cannot tell which exist; try again"
    );
    assert_eq!(
        list_queries(&fake),
        [
            "limit=1000",
            "limit=10&offset=10",
            "limit=1000",
            "limit=10&offset=10",
        ]
    );

    // Through the command line: exit code 1, the same reason.
    let repo = repo_of(&fake, 25);
    fake.change_list_after_first_page(vec![ListChange::Create(simple("newer"))], 2);
    let run = flagops_env(
        repo.path(),
        &["plan", "--env", "live"],
        &[("FLAGOPS_LIST_CONCURRENCY", "1")],
    )
    .await;
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: cannot read the live flags of `live`: the pages of `list flags of project 1` did not add up, twice: page 2 counted 28 flags, the first page 27; read again, page 2 counted 29 flags, the first page 28; the flags were probably being changed meanwhile, so flagops cannot tell which exist; try again\n"
    );
}

/// A flag created and the oldest one deleted: the count stays, but the flag read last on the
/// first page moves down to the second, and is on two pages. The list is read again.
#[tokio::test]
async fn a_flag_on_two_pages_with_the_count_unchanged_is_read_again() {
    let fake = FakePosthog::start().await;
    let ids = seed(&fake, 25);
    fake.set_max_page_size(Some(10));
    fake.change_list_after_first_page(
        vec![
            ListChange::Create(simple("new")),
            ListChange::Delete(ids[0]),
        ],
        1,
    );
    let mut expected = keys(25, &["new"]);
    expected.retain(|k| k != "flag-0000");
    assert_eq!(listed(&backend(&fake, 1)).await, expected);
    // The archived list was asked for once the first reading's last page was: one request
    // at a time, it comes before the second reading.
    assert_eq!(
        list_queries(&fake),
        [
            "limit=1000",
            "limit=10&offset=10",
            "limit=10&offset=20",
            "archived=true&limit=1000",
            "limit=1000",
            "limit=10&offset=10",
            "limit=10&offset=20",
        ]
    );
}

/// The queries a scripted list server received.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A list server on 127.0.0.1:0 answering each page with `page(offset)`: its origin and log.
async fn scripted(page: impl Fn(i64) -> Value + Clone + Send + Sync + 'static) -> (String, Log) {
    let requests: Log = Log::default();
    let log = Log::clone(&requests);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = Log::clone(&log);
        let page = page.clone();
        async move {
            let query = uri.query().unwrap_or_default().to_owned();
            log.lock().unwrap().push(query.clone());
            let offset: i64 = query
                .split('&')
                .find_map(|p| p.strip_prefix("offset="))
                .map_or(0, |o| o.parse().unwrap());
            axum::Json(page(offset))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, requests)
}

/// Ten flags from `offset` (ids from `offset + 1`).
fn ten_flags(offset: i64) -> Vec<Value> {
    (offset..offset + 10)
        .map(|i| json!({"id": i + 1, "key": format!("f{i}"), "version": 1, "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}}))
        .collect()
}

/// The error of listing `base` reading one page at a time.
async fn list_error(base: String) -> String {
    let mut settings = PosthogSettings::new(base, PROJECT_ID, ApiKey::new(READ_KEY));
    settings.list_concurrency = 1;
    PosthogBackend::new(settings)
        .unwrap()
        .list()
        .await
        .unwrap_err()
        .to_string()
}

const NEXT_PAGE: &str = "http://elsewhere/api/projects/1/feature_flags/?limit=10&offset=10";

/// A server that says every page counts 30 flags but ends the list on its second page
/// (offset 10) every time: an error after the second reading, never 20 flags as if all.
#[tokio::test]
async fn a_page_that_ends_the_list_before_its_count_is_an_error() {
    let (base, requests) = scripted(|offset| {
        let next = (offset == 0).then_some(NEXT_PAGE);
        json!({"count": 30, "next": next, "results": ten_flags(offset)})
    })
    .await;
    assert_eq!(
        list_error(base).await,
        "the pages of `list flags of project 1` did not add up, twice: page 2 ended the list, although 30 flags need 3 pages; read again, page 2 ended the list, although 30 flags need 3 pages; the flags were probably being changed meanwhile, so flagops cannot tell which exist; try again"
    );
    // Each reading stops at the page that ended early: the third is never asked for.
    assert_eq!(
        *requests.lock().unwrap(),
        [
            "limit=1000",
            "limit=10&offset=10",
            "limit=1000",
            "limit=10&offset=10"
        ]
    );
}

/// A later page without `count`: nothing to check it against, so it does not add up.
#[tokio::test]
async fn a_later_page_without_a_count_does_not_add_up() {
    let (base, requests) = scripted(|offset| {
        let next = (offset < 20).then(|| {
            format!(
                "http://elsewhere/api/projects/1/feature_flags/?limit=10&offset={}",
                offset + 10
            )
        });
        if offset == 0 {
            json!({"count": 30, "next": next, "results": ten_flags(offset)})
        } else {
            json!({"next": next, "results": ten_flags(offset)})
        }
    })
    .await;
    assert_eq!(
        list_error(base).await,
        "the pages of `list flags of project 1` did not add up, twice: page 2 has no `count`, the first page counted 30 flags; read again, page 2 has no `count`, the first page counted 30 flags; the flags were probably being changed meanwhile, so flagops cannot tell which exist; try again"
    );
    assert_eq!(requests.lock().unwrap().len(), 4);
}
