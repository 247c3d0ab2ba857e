//! A strict, in-memory fake of PostHog's feature-flag API for tests (posthog-api.md).
//!
//! Started by the test itself on `127.0.0.1:0`; it refuses what PostHog refuses (auth and
//! scopes, key rules, dependency rules, soft delete, versions and conflicts, DELETE → 405, rate
//! limits) and normalises what PostHog normalises. Every request is recorded, in order.
//!
//! ```ignore
//! let fake = FakePosthog::start().await;
//! let ids = fake.seed(vec![json!({"key": "a", "filters": {"groups": [{"properties": []}]}})]);
//! // … point the adapter at fake.base_url(), PROJECT_ID, WRITE_KEY …
//! assert_eq!(fake.requests()[0].method, "GET");
//! ```

mod catalogue;
mod fixtures;
pub mod normalize;
mod rules;
mod server;
mod store;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::faults::{Action, lock, scheduled};

use serde_json::{Map, Value};

pub use super::faults::{Chaos, Fault};
pub use fixtures::FixtureSet;
pub use store::ApiErr;

use server::{RateState, Shared};
use store::Store;

/// The project every fake starts with.
pub const PROJECT_ID: u64 = 1;
/// A personal API key with `feature_flag:read`, `feature_flag:write`, `cohort:read` and
/// `group:read`.
pub const WRITE_KEY: &str = "phx_fake_write_0123456789abcdef";
/// A personal API key with `feature_flag:read`, `cohort:read` and `group:read`.
pub const READ_KEY: &str = "phx_fake_read_0123456789abcdef";
/// A valid personal API key without feature-flag scopes.
pub const NO_SCOPE_KEY: &str = "phx_fake_noscope_0123456789abcdef";
/// A key with the flag scopes only (no `cohort:read`, no `group:read`).
pub const FLAGS_ONLY_KEY: &str = "phx_fake_flagsonly_0123456789abcdef";

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/api/projects/1/feature_flags/`.
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// When it arrived.
    pub at: std::time::Instant,
    /// The status answered; `None` when the connection was dropped (or still in progress).
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The decoded query pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        server::url_pairs(&self.query)
    }

    /// `METHOD path?query`, for compact assertions.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

/// A request budget: once `max_requests` authenticated requests were let through within the
/// last `window` (a sliding window, as PostHog counts), answer 429 with
/// `Retry-After: retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Requests allowed per window.
    pub max_requests: u32,
    /// Window length.
    pub window: Duration,
    /// Seconds announced in `Retry-After`.
    pub retry_after_secs: u64,
}

/// A change to the flags made by someone else while a list is being read.
#[derive(Debug, Clone, PartialEq)]
pub enum ListChange {
    /// Create this flag (seeded: management form, a fresh id, so it lists first).
    Create(Value),
    /// Soft-delete the flag with this id.
    Delete(i64),
}

/// A running fake; stopped when dropped.
#[derive(Debug)]
pub struct FakePosthog {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePosthog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakePosthog {
    /// Start a fake with one empty project (`PROJECT_ID`).
    pub async fn start() -> FakePosthog {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(PROJECT_ID)),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            rate: Mutex::new(RateState::default()),
            chaos: Mutex::new(None),
            max_page_size: Mutex::new(None),
            link_origin: Mutex::new(None),
            endless_pages: Mutex::new(false),
            list_latency: Mutex::new(None),
            list_changes: Mutex::new(None),
            lists_in_flight: server::InFlight::default(),
            base_url,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakePosthog { shared, task }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Seed flags (management form: `key`, `filters` with dependencies by id, …) into
    /// `PROJECT_ID`, normalised as a save would, without validation. Returns their ids.
    pub fn seed(&self, flags: Vec<Value>) -> Vec<i64> {
        self.seed_project(PROJECT_ID, flags)
    }

    /// Seed flags into `project` (created if needed).
    pub fn seed_project(&self, project: u64, flags: Vec<Value>) -> Vec<i64> {
        let mut store = lock(&self.shared.store);
        flags
            .into_iter()
            .map(|f| match f {
                Value::Object(map) => store.seed(project, map),
                other => panic!("a seeded flag must be an object, got {other}"),
            })
            .collect()
    }

    /// Load a posthog-go SDK fixture (local-evaluation payload), convert it to management
    /// form and seed it into `PROJECT_ID` with its cohorts.
    pub fn seed_fixture(&self, path: &Path) -> FixtureSet {
        let set = fixtures::load(path, || lock(&self.shared.store).fresh_id());
        for (id, name) in &set.cohorts {
            self.add_cohort(PROJECT_ID, *id, name);
        }
        for (index, name) in &set.group_types {
            self.add_group_type(PROJECT_ID, *index, name);
        }
        let ids = self.seed(set.flags.clone());
        assert_eq!(ids.len(), set.flags.len());
        set
    }

    /// Add an empty project.
    pub fn add_project(&self, project: u64) {
        lock(&self.shared.store)
            .projects
            .entry(project)
            .or_default();
    }

    /// Register a cohort (flags may only reference existing cohorts).
    pub fn add_cohort(&self, project: u64, id: i64, name: &str) {
        lock(&self.shared.store)
            .projects
            .entry(project)
            .or_default()
            .cohorts
            .insert(id, name.to_owned());
    }

    /// Register a cohort object with extra fields (`{"deleted": true}`, `{"is_static": true}`,
    /// `{"filters": …}`); a deleted one is served by id only, and flags may not reference it.
    pub fn add_cohort_object(&self, project: u64, id: i64, name: &str, extra: Value) {
        let mut store = lock(&self.shared.store);
        let p = store.projects.entry(project).or_default();
        let mut extra = extra;
        if extra.get("deleted") == Some(&Value::Bool(true)) {
            p.cohorts.remove(&id);
            extra["name"] = Value::String(name.to_owned());
        } else {
            p.cohorts.insert(id, name.to_owned());
        }
        p.cohort_objects.insert(id, extra);
    }

    /// Register a group type.
    pub fn add_group_type(&self, project: u64, index: u32, name: &str) {
        lock(&self.shared.store)
            .projects
            .entry(project)
            .or_default()
            .group_types
            .insert(index, name.to_owned());
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Every flag of `PROJECT_ID` as `GET /:id/` renders it (deleted ones too), by id.
    pub fn flags(&self) -> Vec<Value> {
        self.flags_of(PROJECT_ID)
    }

    /// Every flag of `project`, rendered, by id.
    pub fn flags_of(&self, project: u64) -> Vec<Value> {
        let store = lock(&self.shared.store);
        let Ok(p) = store.project(project) else {
            return Vec::new();
        };
        p.flags.values().map(|f| store.render(project, f)).collect()
    }

    /// The live (not deleted) flag of `PROJECT_ID` with `key`, rendered.
    pub fn flag(&self, key: &str) -> Option<Value> {
        self.flags()
            .into_iter()
            .find(|f| f["key"] == key && f["deleted"] != true)
    }

    /// Id → key of `project`'s live flags.
    pub fn keys_by_id(&self, project: u64) -> BTreeMap<i64, String> {
        self.flags_of(project)
            .into_iter()
            .filter(|f| f["deleted"] != true)
            .filter_map(|f| Some((f["id"].as_i64()?, f["key"].as_str()?.to_owned())))
            .collect()
    }

    /// A PATCH made by someone else (no HTTP, not recorded), e.g. to cause a conflict.
    pub fn patch_as_other(&self, id: i64, body: &Value) -> Result<Value, ApiErr> {
        lock(&self.shared.store).update(PROJECT_ID, id, body, false)
    }

    /// Throttle after a budget (`None`: unlimited).
    pub fn set_rate_limit(&self, rule: Option<RateLimitRule>) {
        *lock(&self.shared.rate) = RateState {
            rule,
            ..RateState::default()
        };
    }

    /// Inject faults on a schedule (`None`: stop).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *lock(&self.shared.chaos) = chaos.map(|c| (c, 0));
    }

    /// Queue a fault for the next requests.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// Make every write answer 409 `approval_required` (nothing is written).
    pub fn set_approval_required(&self, on: bool) {
        lock(&self.shared.store).approval_required = on;
    }

    /// Behave like an organization without tagging and evaluation contexts: both are
    /// accepted on write and always returned as `[]`.
    pub fn set_without_tags(&self, on: bool) {
        lock(&self.shared.store).without_tags = on;
    }

    /// Cap the page size of lists (PostHog has no cap; this forces pagination in tests).
    pub fn set_max_page_size(&self, max: Option<usize>) {
        *lock(&self.shared.max_page_size) = max;
    }

    /// Write `origin` instead of the fake's own into pagination links (as a proxy in front
    /// of PostHog may), `None` to stop.
    pub fn set_link_origin(&self, origin: Option<String>) {
        *lock(&self.shared.link_origin) = origin;
    }

    /// Make every list page link to a further one (a fresh `offset` each time, the real
    /// `count`), as a broken server whose pagination never ends.
    pub fn set_endless_pages(&self, on: bool) {
        *lock(&self.shared.endless_pages) = on;
    }

    /// Answer every list request (`GET …/feature_flags/`) `latency` late (`None`: at once),
    /// as a server that takes time to serve a page; other requests are not delayed.
    pub fn set_list_latency(&self, latency: Option<Duration>) {
        *lock(&self.shared.list_latency) = latency;
    }

    /// The most list requests that were being answered at the same time.
    pub fn most_lists_at_once(&self) -> usize {
        self.shared.lists_in_flight.most()
    }

    /// Make `changes` each time the first page (no `offset`) of the default list (no
    /// `archived`, no `key`) has been served, the next `times` times: the pages read after it
    /// see the changed list, as when someone edits flags while flagops reads them.
    pub fn change_list_after_first_page(&self, changes: Vec<ListChange>, times: usize) {
        *lock(&self.shared.list_changes) = Some((changes, times));
    }

    /// The stored (not rendered) form of a flag, for tests of normalisation.
    pub fn stored(&self, id: i64) -> Option<Map<String, Value>> {
        lock(&self.shared.store)
            .projects
            .get(&PROJECT_ID)?
            .flags
            .get(&id)
            .cloned()
    }
}
