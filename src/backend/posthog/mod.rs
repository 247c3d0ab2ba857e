//! The PostHog adapter: the `Backend` trait over PostHog's feature-flag REST API.
//!
//! - `settings`: where and how to connect (origin, project, key, timeouts);
//! - `wire`: the JSON envelope; `translate`: live JSON ↔ `model::Flag`;
//! - `ids`: the project's key ↔ id map (dependencies are stored by id);
//! - `catalogue`: the project's cohorts and group types, read when a flag names them;
//! - `error`: HTTP responses → `BackendError`;
//! - `http`: one request; `pages`: one paginated list, its pages read at once and checked;
//! - `operations`: the `Backend` trait's calls (below).
//!
//! Requests: `list` reads every page of the default list and of `archived=true` (the default list
//! hides archived flags) with a large page size, because every list call is billed like a
//! local-evaluation request; `create` sends a POST; `update` a PATCH of only the fields that changed, with
//! `version` and `original_flag` so that the server refuses an edit that overlaps someone
//! else's; `delete` re-reads the flag, refuses if its version moved, then sends a PATCH of
//! `deleted: true` (PostHog answers DELETE with 405).
//!
//! Every request goes through `http`: paced to the key's budget (`backend::pacing`, shared by
//! all concurrent callers), kept on the configured origin (no redirect is followed), 429s
//! waited out, reads repeated on 5xx and transport errors, long waits announced. A write whose
//! outcome is unknown (its answer lost or unreadable) is returned to the caller (`apply` looks
//! before it repeats).

mod catalogue;
mod error;
mod http;
mod ids;
mod operations;
mod page;
mod pages;
mod settings;
mod translate;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

pub use pages::LIST_CONCURRENCY;
pub use settings::{ApiKey, LIST_CONCURRENCY_ENV, PersonalApiKey, PosthogSettings, SettingsError};

use super::pacing::{Pacer, RetryPolicy};
pub use translate::MISSING_TARGET_PREFIX;

use self::error::Target;
use self::ids::Ids;
use self::wire::{BulkKeys, Listed, WireFlag};
use super::http::{self as shared, Access, Call, json_kind, unreadable};
use super::{BackendError, BackendResult, LiveFlag, RateLimit, Token, Unsupported};
use crate::config::Environment;

/// PostHog's documented budget for CRUD endpoints, per personal API key.
pub const RATE_LIMIT: RateLimit = RateLimit {
    per_minute: 480,
    per_hour: 4800,
};

/// Most pages one list may follow, whatever the server's `count` says (2 million flags at the
/// default page size): a guard against a server that never ends.
const MAX_PAGES: usize = 2_000;

/// A PostHog project reached over HTTP.
pub struct PosthogBackend {
    client: reqwest::Client,
    origin: String,
    project_id: u64,
    api_key: ApiKey,
    api_key_env: Option<String>,
    page_size: u32,
    /// Pages of one list read at once.
    list_concurrency: usize,
    /// Pages of every list read at once (a plan reads the archived list while the default
    /// list's last pages are read): `list_concurrency` of them in all.
    list_slots: tokio::sync::Semaphore,
    cache: Mutex<Cache>,
    pacer: Pacer,
    retry: RetryPolicy,
    max_response_bytes: usize,
    request_timeout: std::time::Duration,
    rate_limited_backoff: std::time::Duration,
    /// Whether the flags as read are kept for `original_flag` (not when only reading).
    keeps_originals: bool,
}

/// What the adapter learnt from its reads.
#[derive(Debug, Default)]
struct Cache {
    ids: Ids,
    /// Raw flag objects as last read, by id, as compact JSON text (sent back as
    /// `original_flag`): a fraction of the memory of a parsed tree, for a project's every flag.
    raw: BTreeMap<i64, Box<str>>,
    /// Ids of flags that must never be written.
    unsupported: BTreeMap<i64, String>,
}

impl std::fmt::Debug for PosthogBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosthogBackend")
            .field("origin", &self.origin)
            .field("project_id", &self.project_id)
            .field("api_key", &self.api_key)
            .field("api_key_env", &self.api_key_env)
            .field("page_size", &self.page_size)
            .field("list_concurrency", &self.list_concurrency)
            .field("budgets", &self.pacer.budgets())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl PosthogBackend {
    /// An adapter for one project.
    pub fn new(settings: PosthogSettings) -> Result<Self, SettingsError> {
        let origin = shared::origin(&settings.host, "posthog", |host, problem| {
            SettingsError::InvalidHost { host, problem }
        })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.api_key.expose()))
            .map_err(|_| {
                SettingsError::Client(
                    "the API key contains characters not allowed in a header".into(),
                )
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        let client = shared::client(headers, settings.connect_timeout, settings.request_timeout)
            .map_err(SettingsError::Client)?;
        Ok(PosthogBackend {
            client,
            origin,
            project_id: settings.project_id,
            api_key: settings.api_key,
            api_key_env: settings.api_key_env,
            page_size: settings.page_size.max(1),
            list_concurrency: settings.list_concurrency.max(1),
            list_slots: tokio::sync::Semaphore::new(settings.list_concurrency.max(1)),
            cache: Mutex::new(Cache::default()),
            pacer: Pacer::announcing(&settings.budgets, settings.notice, settings.notice_after),
            retry: settings.retry,
            max_response_bytes: settings.max_response_bytes,
            request_timeout: settings.request_timeout,
            rate_limited_backoff: settings.rate_limited_backoff,
            keeps_originals: true,
        })
    }

    /// An adapter for environment `name` of the config, the key read from its `api_key_env`.
    pub fn from_environment(name: &str, environment: &Environment) -> Result<Self, SettingsError> {
        Self::new(PosthogSettings::from_environment(name, environment)?)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flags_url(&self) -> String {
        format!(
            "{}/api/projects/{}/feature_flags/",
            self.origin, self.project_id
        )
    }

    fn flag_url(&self, id: i64) -> String {
        format!("{}{id}/", self.flags_url())
    }

    fn target(&self) -> Target<'_> {
        Target {
            origin: &self.origin,
            project_id: self.project_id,
            key_source: self.api_key_env.as_deref(),
            timeout: self.request_timeout,
        }
    }

    /// Fill in the keys of dependency ids this adapter has not seen (`bulk_keys`).
    async fn learn_dependency_keys(&self, flags: &[Map<String, Value>]) -> BackendResult<()> {
        let unknown: BTreeSet<i64> = {
            let cache = self.cache();
            flags
                .iter()
                .flat_map(|f| dependency_ids(f.get("filters")))
                .filter(|id| cache.ids.key_of(*id).is_none())
                .collect()
        };
        if unknown.is_empty() {
            return Ok(());
        }
        let call = Call {
            key: None,
            action: format!("look up flag keys in project {}", self.project_id),
            access: Access::Read,
        };
        let url = format!("{}bulk_keys/", self.flags_url());
        let body = json!({ "ids": unknown });
        let answer = match self.send(Method::POST, &url, Some(&body), &call).await {
            Ok(answer) => answer,
            // Ids none of which exist any more: keep them as `#<id>` markers.
            Err(BackendError::Server { status: 400, .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let keys: BulkKeys = serde_json::from_value(answer).unwrap_or(BulkKeys {
            keys: BTreeMap::new(),
        });
        let mut cache = self.cache();
        for (id, key) in keys.keys {
            if let Ok(id) = id.parse() {
                cache.ids.insert(id, &key);
            }
        }
        Ok(())
    }

    /// Translate one raw flag with the current map, remembering it. Why a flag is unsupported
    /// quotes what the server sent, so the key is scrubbed from it (a server may echo it).
    fn absorb(&self, raw: Listed) -> Result<LiveFlag, Unsupported> {
        self.absorb_raw(raw)
            .map_err(|u| u.scrubbed(&[self.api_key.expose()]))
    }

    fn absorb_raw(&self, raw: Listed) -> Result<LiveFlag, Unsupported> {
        let wire = match serde_json::from_str::<WireFlag>(&raw.text) {
            Ok(wire) => wire,
            Err(e) => {
                let (key, id) = identity(&raw.object());
                return Err(Unsupported {
                    key,
                    id,
                    reason: format!("unexpected flag object ({e})"),
                });
            }
        };
        let mut cache = self.cache();
        if !wire.is_deleted() {
            cache.ids.insert(wire.id, &wire.key);
        }
        if self.keeps_originals {
            cache.raw.insert(wire.id, raw.text);
        }
        match translate::from_wire(&wire, &cache.ids) {
            Ok(flag) => {
                cache.unsupported.remove(&wire.id);
                Ok(LiveFlag {
                    id: wire.id.to_string(),
                    flag,
                    token: wire.version.map(Token::Number),
                })
            }
            Err(reason) => {
                cache.unsupported.insert(wire.id, reason.clone());
                Err(Unsupported {
                    key: wire.key,
                    id: wire.id.to_string(),
                    reason,
                })
            }
        }
    }

    /// The flag a write answered with, as a `LiveFlag` (learning the keys of any dependency
    /// ids it has not seen).
    async fn stored(&self, answer: Value, call: &Call<'_>) -> BackendResult<LiveFlag> {
        let Value::Object(raw) = answer else {
            return Err(unreadable(
                None,
                &format!("is not a flag object but {}", json_kind(&answer)),
                call,
            ));
        };
        self.learn_dependency_keys(std::slice::from_ref(&raw))
            .await?;
        self.absorb(Listed::from_object(&raw))
            .map_err(|u| BackendError::Unsupported {
                key: u.key,
                reason: u.reason,
            })
    }

    fn parse_id(live: &LiveFlag) -> BackendResult<i64> {
        live.id.parse().map_err(|_| BackendError::Invalid {
            key: live.flag.key.clone(),
            detail: format!("`{}` is not a PostHog flag id", live.id),
        })
    }

    fn refuse_unsupported(&self, id: i64, key: &str) -> BackendResult<()> {
        match self.cache().unsupported.get(&id) {
            Some(reason) => Err(BackendError::Unsupported {
                key: key.to_owned(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The `original_flag` of an update: the object as read if it is the version the caller
    /// read, else the caller's flag in wire form.
    fn original(&self, id: i64, live: &LiveFlag, fallback: Option<&Map<String, Value>>) -> Value {
        let cache = self.cache();
        let read = cache
            .raw
            .get(&id)
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        match read {
            Some(raw) if raw.get("version").and_then(Value::as_i64) == live_version(live) => raw,
            _ => fallback.map_or_else(
                || json!({ "key": live.flag.key }),
                |m| Value::Object(m.clone()),
            ),
        }
    }
}

/// A flag object's key (`?` when it has none) and id (as the server wrote it, empty when it
/// has none), for messages about a flag that could not be read.
fn identity(object: &Map<String, Value>) -> (String, String) {
    let id = object.get("id").map(ToString::to_string);
    (shared::raw_key(object), id.unwrap_or_default())
}

/// The PostHog `version` a live flag was read at (its token is always a number when this
/// adapter read it).
fn live_version(live: &LiveFlag) -> Option<i64> {
    live.token.as_ref().and_then(Token::as_number)
}

/// Ids named by `type: flag` properties of a raw `filters`.
fn dependency_ids(filters: Option<&Value>) -> Vec<i64> {
    let Some(groups) = filters
        .and_then(|f| f.get("groups"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    groups
        .iter()
        .filter_map(|g| g.get("properties").and_then(Value::as_array))
        .flatten()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("flag"))
        .filter_map(|p| match p.get("key") {
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        })
        .collect()
}

fn object(value: Value, call: &Call<'_>) -> BackendResult<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(BackendError::Server {
            status: 200,
            detail: Some(format!(
                "the answer to `{}` is not a flag object",
                call.action
            )),
        }),
    }
}
