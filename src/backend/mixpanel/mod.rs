//! The Mixpanel adapter: the `Backend` trait over Mixpanel's Feature Flags management API
//! (the App API, service-account Basic auth). The only code that speaks Mixpanel's HTTP.
//!
//! - `settings`: where and how to connect (region or `host`, project, workspace, service
//!   account from two variables, delete mode, budget);
//! - `wire`: the JSON (envelope, errors, the closed request body, the response);
//! - `fraction`: the wire's 0–1 fractions ↔ the file's 0–100 percentages, exactly;
//! - `translate`: wire ↔ `MixpanelFlag`;
//! - `error`: answers → `BackendError`; `http`: the request path;
//! - `operations`: the `Backend` trait's calls.
//!
//! Requests (every path ends with a slash, under
//! `{host}/api/app/projects/{project_id}/workspaces/{workspace_id}/feature-flags/`): `list` is
//! one `GET` with `include_archived=true` (the API has no pages; archived flags are live flags
//! with `status: archived`, deleted ones are left out); `get` a `GET` of the flag by id when
//! it is known, else a list; `create` a `POST`; `update` a full `PUT` of the desired flag,
//! with the live `hash_salt` when the file leaves it out; `delete` archives
//! (`POST …/{id}/archive/`), or with `hard_delete` disables an enabled flag (a `PUT`) and
//! then `DELETE`s it. The workspace is configured or looked up once (one request).
//!
//! Preconditions: Mixpanel has no version. A flag's token is its `modified` time
//! (`Token::Text`), and before a write the adapter compares the `modified` and the content of
//! the flag as last read (the list `apply` makes just before its steps, or this adapter's own
//! last answer; a `GET` when it has read nothing) with what the plan saw, and refuses a
//! changed flag (`Conflict`). Mixpanel itself cannot refuse a stale write, so a change made
//! between that read and the write is not detected.

mod error;
mod fraction;
mod http;
mod operations;
mod settings;
mod translate;
mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use reqwest::Method;
use serde_json::{Map, Value};

pub use settings::{MixpanelConfig, MixpanelSettings, Secret, ServiceAccountSecret, SettingsError};

use self::error::Target;
use self::wire::FeatureFlagResponse;
use super::http::{self as shared, Access, Call, json_kind, quote, unreadable};
use super::pacing::{Pacer, RetryPolicy};
use super::{BackendError, BackendResult, LiveFlag, RateLimit, Token, Unsupported, scrub_text};
use crate::model::VendorFlag;
use crate::vendor::mixpanel::MixpanelFlag;

/// The default request budget: 60 requests an hour (so at most 60 in any minute too).
///
/// Mixpanel publishes no limit for its App API; its Headless SDK, which drives this API,
/// documents a default of 60 requests an hour. Staying within it means no 429 on projects
/// with that budget; `rate_limit` in `flagops.yaml` raises it.
pub const RATE_LIMIT: RateLimit = RateLimit {
    per_minute: 60,
    per_hour: 60,
};

/// A Mixpanel project (one workspace of it) reached over HTTP.
pub struct MixpanelBackend {
    client: reqwest::Client,
    origin: String,
    project_id: u64,
    workspace: tokio::sync::OnceCell<u64>,
    username: String,
    secret: Secret,
    /// The `Authorization` credential (base64 of `username:secret`), which reveals the
    /// secret: masked like it.
    credential: String,
    username_env: Option<String>,
    secret_env: Option<String>,
    hard_delete: bool,
    cache: Mutex<BTreeMap<String, Seen>>,
    pacer: Pacer,
    retry: RetryPolicy,
    max_response_bytes: usize,
    request_timeout: std::time::Duration,
    rate_limited_backoff: std::time::Duration,
    requests: AtomicU64,
    /// Whether listed flags are remembered for the preconditions of writes (not when only
    /// reading).
    keeps_seen: bool,
}

/// A flag as this adapter last read it (or as a write's answer showed it), by id.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    modified: Option<String>,
    hash_salt: Option<String>,
    /// The flag, or why it cannot be managed.
    flag: Result<MixpanelFlag, String>,
}

impl std::fmt::Debug for MixpanelBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixpanelBackend")
            .field("origin", &self.origin)
            .field("project_id", &self.project_id)
            .field("workspace", &self.workspace.get())
            .field("username_env", &self.username_env)
            .field("secret", &self.secret)
            .field("secret_env", &self.secret_env)
            .field("hard_delete", &self.hard_delete)
            .field("budgets", &self.pacer.budgets())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl MixpanelBackend {
    /// An adapter for one project.
    pub fn new(settings: MixpanelSettings) -> Result<Self, SettingsError> {
        let origin = shared::origin(&settings.host, "mixpanel", |host, problem| {
            SettingsError::InvalidHost { host, problem }
        })?;
        // Basic auth is set on each request (`http`), not here.
        let client = shared::client(
            reqwest::header::HeaderMap::new(),
            settings.connect_timeout,
            settings.request_timeout,
        )
        .map_err(SettingsError::Client)?;
        let workspace = match settings.workspace_id {
            Some(id) => tokio::sync::OnceCell::new_with(Some(id)),
            None => tokio::sync::OnceCell::new(),
        };
        let credential = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                settings.username,
                settings.secret.expose()
            ))
        };
        Ok(MixpanelBackend {
            client,
            origin,
            project_id: settings.project_id,
            workspace,
            username: settings.username,
            credential,
            secret: settings.secret,
            username_env: settings.username_env,
            secret_env: settings.secret_env,
            hard_delete: settings.hard_delete,
            cache: Mutex::new(BTreeMap::new()),
            pacer: Pacer::announcing(&settings.budgets, settings.notice, settings.notice_after),
            retry: settings.retry,
            max_response_bytes: settings.max_response_bytes,
            request_timeout: settings.request_timeout,
            rate_limited_backoff: settings.rate_limited_backoff,
            requests: AtomicU64::new(0),
            keeps_seen: true,
        })
    }

    /// An adapter for environment `name` of the config, the service account read from the
    /// variables it names.
    pub fn from_config(name: &str, config: &MixpanelConfig) -> Result<Self, SettingsError> {
        Self::new(MixpanelSettings::from_config(name, config)?)
    }

    /// How many HTTP requests this adapter has sent (repeats included), for reports.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Seen>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn target(&self) -> Target<'_> {
        Target {
            origin: &self.origin,
            project_id: self.project_id,
            username_env: self.username_env.as_deref(),
            secret_env: self.secret_env.as_deref(),
            timeout: self.request_timeout,
        }
    }

    /// What no output may show, though a server may echo it: the secret, the Basic
    /// credential and the service account's user name.
    fn hidden(&self) -> [&str; 3] {
        [self.secret.expose(), &self.credential, &self.username]
    }

    /// Translate one raw flag, remembering it. Reasons quote what the server sent, so the
    /// secret is scrubbed from them.
    fn absorb(&self, raw: Map<String, Value>) -> Result<LiveFlag<MixpanelFlag>, Unsupported> {
        let (key, id) = identity(&raw);
        let wire = serde_json::from_value(Value::Object(raw));
        self.absorb_wire(key, id, wire, true)
    }

    /// [`absorb`](Self::absorb) of a flag already parsed (`key` and `id` as listed, for the
    /// message when it could not be); remembered only when `remember`.
    fn absorb_wire(
        &self,
        key: String,
        id: String,
        wire: Result<FeatureFlagResponse, serde_json::Error>,
        remember: bool,
    ) -> Result<LiveFlag<MixpanelFlag>, Unsupported> {
        let hidden = self.hidden();
        let scrub = |s: String| scrub_text(s, &hidden);
        let wire = match wire {
            Ok(wire) => wire,
            Err(e) => {
                return Err(Unsupported {
                    key,
                    id,
                    reason: format!("unexpected flag object ({})", quote(&e.to_string())),
                }
                .scrubbed(&hidden));
            }
        };
        let flag = translate::from_wire(&wire).map_err(scrub);
        if remember {
            self.cache().insert(
                wire.id.clone(),
                Seen {
                    key: wire.key.clone(),
                    modified: wire.modified.clone(),
                    hash_salt: wire.hash_salt.clone(),
                    flag: flag.clone(),
                },
            );
        }
        match flag {
            Ok(flag) => Ok(LiveFlag {
                id: wire.id,
                flag,
                token: wire.modified.map(Token::Text),
            }),
            Err(reason) => Err(Unsupported {
                key: scrub(wire.key),
                id: scrub(wire.id),
                reason,
            }),
        }
    }

    /// The flag a write answered with, as a `LiveFlag`.
    fn stored(&self, answer: Value, call: &Call<'_>) -> BackendResult<LiveFlag<MixpanelFlag>> {
        let Value::Object(raw) = answer else {
            return Err(unreadable(
                None,
                &format!("has `results` that are {}, not a flag", json_kind(&answer)),
                call,
            ));
        };
        self.absorb(raw).map_err(|u| BackendError::Unsupported {
            key: u.key,
            reason: u.reason,
        })
    }

    /// The flag with `id` as last read, reading it (one `GET`) when it was not.
    async fn seen(&self, id: &str, key: &str) -> BackendResult<Option<Seen>> {
        if let Some(seen) = self.cache().get(id) {
            return Ok(Some(seen.clone()));
        }
        let call = Call {
            key: Some(key),
            action: format!("read flag `{key}`"),
            access: Access::Read,
        };
        let url = self.flag_url(id, "").await?;
        match self
            .send_results::<Map<String, Value>>(Method::GET, &url, None, &call)
            .await
        {
            Ok(raw) => {
                let deleted =
                    serde_json::from_value::<FeatureFlagResponse>(Value::Object(raw.clone()))
                        .is_ok_and(|w| w.is_deleted());
                if deleted {
                    return Ok(None);
                }
                let _ = self.absorb(raw);
                Ok(self.cache().get(id).cloned())
            }
            Err(BackendError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The flag as last read (and its translation), if it is still what the plan saw
    /// (`live`): the same key, `modified` and content; a `Conflict` otherwise, `NotFound`
    /// when it is gone.
    async fn unchanged(
        &self,
        live: &LiveFlag<MixpanelFlag>,
    ) -> BackendResult<(Seen, MixpanelFlag)> {
        let key = &live.flag.key;
        let Some(seen) = self.seen(&live.id, key).await? else {
            return Err(BackendError::NotFound { key: key.clone() });
        };
        let conflict = |detail: String| BackendError::Conflict {
            key: key.clone(),
            detail: format!("{detail}; plan again"),
        };
        if seen.key != *key {
            return Err(conflict(format!("its key is `{}` now", quote(&seen.key))));
        }
        let was = live.token.as_ref().map(ToString::to_string);
        let now = seen
            .modified
            .as_ref()
            .map(|m| Token::Text(m.clone()).to_string());
        if was != now {
            let show = |t: Option<String>| t.unwrap_or_else(|| "none".to_owned());
            return Err(conflict(format!(
                "its `modified` is {} now, {} when it was read",
                show(now),
                show(was)
            )));
        }
        match &seen.flag {
            Ok(flag) if flag.normalized() == live.flag.normalized() => {
                let flag = flag.clone();
                Ok((seen, flag))
            }
            Ok(_) => Err(conflict(
                "its content differs from what was read, with the same `modified`".to_owned(),
            )),
            Err(reason) => Err(BackendError::Unsupported {
                key: key.clone(),
                reason: reason.clone(),
            }),
        }
    }
}

/// A flag object's key (`?` when it has none) and id (empty when it has none) as the server
/// wrote them, for messages about a flag that could not be read.
fn identity(raw: &Map<String, Value>) -> (String, String) {
    let id = raw.get("id").and_then(Value::as_str).unwrap_or_default();
    (shared::raw_key(raw), id.to_owned())
}
