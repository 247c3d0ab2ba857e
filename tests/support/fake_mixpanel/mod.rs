//! A strict, in-memory fake of Mixpanel's Feature Flags management API (the App API) for tests
//! (mixpanel-api.md), on 127.0.0.1.
//!
//! Started by the test itself on `127.0.0.1:0`, in the style of the fake PostHog (same request
//! log, same [`Fault`]s). It refuses what Mixpanel refuses: slash-less paths (301 to the slashed
//! path, before auth), Basic auth other than the service account's, unknown projects and
//! workspaces, the project-only route (`Workspace is required`), closed request bodies (unknown
//! and read-only fields, missing required fields, fractions outside 0–1, splits not summing to
//! 1), duplicate keys (archived flags included), a `context` change after the flag was enabled,
//! deleting an enabled flag. It owns what Mixpanel owns: UUID ids, a 32-character `hash_salt`,
//! `created`/`modified` timestamps, `enabled_at`. Every request is recorded, in order.
//!
//! ```ignore
//! let fake = FakeMixpanel::start().await;
//! let ids = fake.seed(vec![json!({"key": "a", "name": "A", "status": "enabled", "ruleset": {…}})]);
//! // … point the adapter at fake.base_url(), PROJECT_ID, WORKSPACE_ID, SA_USERNAME/SA_SECRET …
//! assert_eq!(fake.requests()[0].line(), format!("GET {}?include_archived=true", FakeMixpanel::flags_path()));
//! let definitions = fake.definitions(); // what `/flags/definitions` would serve the SDKs
//! ```

mod body;
mod server;
mod store;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::faults::{Action, lock, scheduled};

use serde_json::{Map, Value, json};

pub use super::fake_posthog::RecordedRequest;
pub use super::faults::{Chaos, Fault};
pub use body::is_uuid4;
pub use server::basic_auth;
pub use store::Workspace;

use server::{BudgetState, Scope, Shared};
use store::Store;

/// The project every fake starts with.
pub const PROJECT_ID: u64 = 12345;
/// Its global workspace ("All Project Data"), the one discovery should pick.
pub const WORKSPACE_ID: u64 = 67890;
/// Its default (not global) workspace, listed first.
pub const DEFAULT_WORKSPACE_ID: u64 = 67001;
/// The service account's username.
pub const SA_USERNAME: &str = "flagops-fake.4f2a91.mp-service-account";
/// The service account's secret.
pub const SA_SECRET: &str = "fake-sa-secret-0123456789abcdef";

/// A request budget: once `max_requests` authenticated requests were let through within the
/// last `window` (sliding), answer 429 without `Retry-After` (Mixpanel publishes no number for
/// this API; its documented 429s carry no `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBudget {
    /// Requests allowed per window.
    pub max_requests: u32,
    /// Window length.
    pub window: Duration,
}

/// A running fake; stopped when dropped.
#[derive(Debug)]
pub struct FakeMixpanel {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMixpanel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeMixpanel {
    /// Start a fake with project [`PROJECT_ID`] and its two workspaces, no flags.
    pub async fn start() -> FakeMixpanel {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            budget: Mutex::new(BudgetState::default()),
            chaos: Mutex::new(None),
            list_latency: Mutex::new(None),
            expected_auth: basic_auth(SA_USERNAME, SA_SECRET),
            base_url,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let fake = FakeMixpanel { shared, task };
        fake.add_project(
            PROJECT_ID,
            vec![
                Workspace {
                    id: DEFAULT_WORKSPACE_ID,
                    name: "Default view".into(),
                    is_global: false,
                    is_default: true,
                },
                Workspace {
                    id: WORKSPACE_ID,
                    name: "All Project Data".into(),
                    is_global: true,
                    is_default: false,
                },
            ],
        );
        fake
    }

    /// `http://127.0.0.1:<port>` (no trailing slash): the App API origin (`host`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `/api/app/projects/{PROJECT_ID}/workspaces/{WORKSPACE_ID}/feature-flags/`.
    pub fn flags_path() -> String {
        format!("/api/app/projects/{PROJECT_ID}/workspaces/{WORKSPACE_ID}/feature-flags/")
    }

    /// The `Authorization` header of the service account.
    pub fn authorization(&self) -> String {
        self.shared.expected_auth.clone()
    }

    /// Add (or replace the workspaces of) a project.
    pub fn add_project(&self, project: u64, workspaces: Vec<Workspace>) {
        lock(&self.shared.store)
            .projects
            .entry(project)
            .or_default()
            .workspaces = workspaces;
    }

    /// Seed flags into [`PROJECT_ID`] / [`WORKSPACE_ID`] without validation: request-shaped
    /// objects over the server's defaults; they may carry server fields (`id`, `hash_salt`,
    /// `enabled_at`, `modified`, …). An enabled flag without `enabled_at` gets one; a flag
    /// without `hash_salt` gets a fresh one. Returns their ids.
    pub fn seed(&self, flags: Vec<Value>) -> Vec<String> {
        self.seed_in(PROJECT_ID, WORKSPACE_ID, flags)
    }

    /// Seed flags into `workspace` of `project`.
    pub fn seed_in(&self, project: u64, workspace: u64, flags: Vec<Value>) -> Vec<String> {
        let mut store = lock(&self.shared.store);
        flags
            .into_iter()
            .map(|f| match f {
                Value::Object(map) => store.seed(project, workspace, &map),
                other => panic!("a seeded flag must be an object, got {other}"),
            })
            .collect()
    }

    /// Every flag of [`PROJECT_ID`] as the API renders it (archived ones too), oldest first.
    pub fn flags(&self) -> Vec<Value> {
        self.flags_of(PROJECT_ID)
    }

    /// Every flag of `project` (all workspaces), oldest first.
    pub fn flags_of(&self, project: u64) -> Vec<Value> {
        lock(&self.shared.store)
            .projects
            .get(&project)
            .map(|p| p.flags.iter().cloned().map(Value::Object).collect())
            .unwrap_or_default()
    }

    /// The flag of [`PROJECT_ID`] with `key`, rendered.
    pub fn flag(&self, key: &str) -> Option<Value> {
        self.flags().into_iter().find(|f| f["key"] == key)
    }

    /// Change a stored flag of [`PROJECT_ID`] as someone else would in the web app (no HTTP,
    /// not recorded): `edit` gets the stored object; `modified` then moves on. Panics when no
    /// flag has `key`.
    pub fn edit_as_other(&self, key: &str, edit: impl FnOnce(&mut Map<String, Value>)) {
        let mut store = lock(&self.shared.store);
        let now = store.now();
        let flag = store
            .projects
            .get_mut(&PROJECT_ID)
            .and_then(|p| p.flags.iter_mut().find(|f| f["key"] == key))
            .unwrap_or_else(|| panic!("no flag {key:?}"));
        edit(flag);
        flag.insert("modified".into(), json!(now));
    }

    /// What `GET /flags/definitions` would serve the SDKs for [`PROJECT_ID`]: `{"flags": […]}`
    /// with the enabled flags only, in `ExperimentationFlagMetadata` form — the input of
    /// `scripts/mixpanel_eval/`.
    pub fn definitions(&self) -> Value {
        self.definitions_of(PROJECT_ID)
    }

    /// What `GET /flags/definitions` would serve for `project` (all its workspaces).
    pub fn definitions_of(&self, project: u64) -> Value {
        let store = lock(&self.shared.store);
        let flags: Vec<Value> = store
            .projects
            .get(&project)
            .map(|p| p.flags.iter().filter_map(store::definition).collect())
            .unwrap_or_default();
        json!({ "flags": flags })
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Queue a fault for the next requests (applied before the redirect and auth).
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push_back((None, fault));
    }

    /// Queue a fault for the next requests with `method` (`""`: any) whose path contains
    /// `path` (e.g. `("POST", "/feature-flags/")`, `("PUT", &id)`); other requests pass.
    pub fn inject_for(&self, method: &str, path: &str, fault: Fault) {
        let scope = Scope {
            method: method.to_owned(),
            path: path.to_owned(),
        };
        lock(&self.shared.faults).push_back((Some(scope), fault));
    }

    /// Inject faults on a schedule (`None`: stop).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *lock(&self.shared.chaos) = chaos.map(|c| (c, 0));
    }

    /// Answer every list request (`GET …/feature-flags/`) `latency` late (`None`: at once),
    /// as a server that takes time to serve a long list; other requests are not delayed.
    pub fn set_list_latency(&self, latency: Option<Duration>) {
        *lock(&self.shared.list_latency) = latency;
    }

    /// Throttle after a budget (`None`: unlimited).
    pub fn set_budget(&self, budget: Option<RequestBudget>) {
        *lock(&self.shared.budget) = BudgetState {
            rule: budget,
            ..BudgetState::default()
        };
    }
}
