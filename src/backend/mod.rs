//! Backends: where the live state is. Adapters are the only code that speaks HTTP.
//!
//! A backend lists the live flags of one environment and creates, updates and soft-deletes
//! them. It translates between its wire format and its flag model (`Backend::Flag`, a
//! `model::VendorFlag`; PostHog's and the local backend's is `model::Flag`) (dependencies by **key**;
//! ids stay inside the adapter, which keeps its own key ↔ id map and updates it on create so
//! that dependents created later in the same apply can refer to a new flag). Translation is
//! faithful; `plan` normalizes both sides before comparing.

pub mod any;
pub(crate) mod http;
pub mod local;
pub mod mixpanel;
pub mod pacing;
pub mod posthog;
pub mod secret;
pub mod token;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::model::{Catalogue, Needs, VendorFlag};
use crate::vendor::posthog::Flag;

pub use token::Token;

/// A flag as the backend holds it, in the vendor's model `F` (PostHog's [`Flag`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveFlag<F = Flag> {
    /// The backend's own id (PostHog: numeric id, as a string).
    pub id: String,
    /// The flag, dependencies by key.
    pub flag: F,
    /// The service's concurrency token (PostHog `version`), opaque outside the adapter;
    /// `None` when the service has none.
    #[serde(rename = "version")]
    pub token: Option<Token>,
}

/// A live flag the model cannot represent; it is reported and never overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsupported {
    /// The flag key.
    pub key: String,
    /// The backend id.
    pub id: String,
    /// Why (e.g. "uses filters version 2").
    pub reason: String,
}

impl Unsupported {
    /// This report with every one of `hidden` replaced by `***` in all of its texts (its
    /// reason quotes what the server sent, and a server may echo a secret).
    #[must_use]
    pub fn scrubbed(self, hidden: &[&str]) -> Unsupported {
        let clean = |s: String| scrub_text(s, hidden);
        Unsupported {
            key: clean(self.key),
            id: clean(self.id),
            reason: clean(self.reason),
        }
    }
}

/// The live state of one environment, flags in the vendor's model `F`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveState<F = Flag> {
    /// Flags, sorted by key (deleted flags are not included).
    pub flags: Vec<LiveFlag<F>>,
    /// Flags that cannot be managed, sorted by key.
    pub unsupported: Vec<Unsupported>,
}

impl<F> Default for LiveState<F> {
    fn default() -> Self {
        LiveState {
            flags: Vec::new(),
            unsupported: Vec::new(),
        }
    }
}

impl<F: VendorFlag> LiveState<F> {
    /// The live flag with `key`: a binary search, since `flags` is sorted by key (every
    /// backend's `list` sorts it; a plan looks up each of its flags).
    pub fn get(&self, key: &str) -> Option<&LiveFlag<F>> {
        debug_assert!(
            self.flags.is_sorted_by(|a, b| a.flag.key() < b.flag.key()),
            "LiveState::flags must be sorted by key"
        );
        self.flags
            .binary_search_by(|f| f.flag.key().cmp(key))
            .ok()
            .map(|i| &self.flags[i])
    }
}

impl BackendError {
    /// This error with every one of `hidden` (secrets, and what reveals them) replaced by
    /// `***` in all of its texts: what a server echoed never reaches an output.
    #[must_use]
    pub fn scrubbed(self, hidden: &[&str]) -> BackendError {
        if hidden.iter().all(|h| h.is_empty()) {
            return self;
        }
        let clean = |s: String| scrub_text(s, hidden);
        match self {
            BackendError::Auth(m) => BackendError::Auth(clean(m)),
            BackendError::NotFound { key } => BackendError::NotFound { key: clean(key) },
            BackendError::Conflict { key, detail } => BackendError::Conflict {
                key: clean(key),
                detail: clean(detail),
            },
            BackendError::ApprovalRequired {
                key,
                change_request_id,
            } => BackendError::ApprovalRequired {
                key: clean(key),
                change_request_id: clean(change_request_id),
            },
            BackendError::Invalid { key, detail } => BackendError::Invalid {
                key: clean(key),
                detail: clean(detail),
            },
            BackendError::Server { status, detail } => BackendError::Server {
                status,
                detail: detail.map(clean),
            },
            BackendError::Transport(m) => BackendError::Transport(clean(m)),
            BackendError::Unsupported { key, reason } => BackendError::Unsupported {
                key: clean(key),
                reason: clean(reason),
            },
            BackendError::Io(m) => BackendError::Io(clean(m)),
            other @ BackendError::RateLimited { .. } => other,
        }
    }
}

/// `text` with every one of `hidden` (secrets, and what reveals them) replaced by `***`,
/// the longest first, so that one never leaves a piece of another; empty ones are skipped.
pub(crate) fn scrub_text(text: String, hidden: &[&str]) -> String {
    let mut hidden: Vec<&str> = hidden.iter().copied().filter(|h| !h.is_empty()).collect();
    hidden.sort_by_key(|h| std::cmp::Reverse(h.len()));
    hidden
        .iter()
        .fold(text, |text, secret| text.replace(secret, "***"))
}

/// Request budget of a backend (per API key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests per minute.
    pub per_minute: u32,
    /// Requests per hour.
    pub per_hour: u32,
}

impl RateLimit {
    /// This budget with the parts a config sets (`rate_limit.per_minute`, `.per_hour`)
    /// instead of its own; a part not set keeps this one's.
    #[must_use]
    pub fn with(self, per_minute: Option<u32>, per_hour: Option<u32>) -> RateLimit {
        RateLimit {
            per_minute: per_minute.unwrap_or(self.per_minute),
            per_hour: per_hour.unwrap_or(self.per_hour),
        }
    }
}

/// What a backend supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Conditions can reference other flags (`type: flag`).
    pub flag_dependencies: bool,
    /// Updates carry a version and stale writes are refused.
    pub versioned: bool,
    /// The documented request budget, if any.
    pub rate_limit: Option<RateLimit>,
}

/// Why a backend call failed. Messages name the flag and never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The API key is missing, invalid or lacks a scope.
    #[error("{0}")]
    Auth(String),
    /// The flag does not exist (any more).
    #[error("flag `{key}` not found")]
    NotFound {
        /// Flag key.
        key: String,
    },
    /// Someone changed the flag since it was read.
    #[error("flag `{key}` was changed by someone else since it was read: {detail}")]
    Conflict {
        /// Flag key.
        key: String,
        /// The server's explanation.
        detail: String,
    },
    /// The change needs approval; a change request was opened instead.
    #[error(
        "flag `{key}`: the change needs approval; change request {change_request_id} was opened"
    )]
    ApprovalRequired {
        /// Flag key.
        key: String,
        /// The change request's id.
        change_request_id: String,
    },
    /// The server refused the content.
    #[error("flag `{key}`: {detail}")]
    Invalid {
        /// Flag key.
        key: String,
        /// The server's message (with the field, when it gave one).
        detail: String,
    },
    /// Too many requests (429); nothing was done.
    #[error("rate limited by the server (429){}", .retry_after_secs.map(|s| format!("; it asks to wait {s} s")).unwrap_or_default())]
    RateLimited {
        /// Seconds to wait, if the server said (`Retry-After`).
        retry_after_secs: Option<u64>,
    },
    /// A 5xx response, or an answer that is not what the API sends (an unexpected status,
    /// a redirect, a body that cannot be read); `detail` says which.
    #[error("{}", server_text(*.status, .detail.as_deref()))]
    Server {
        /// HTTP status.
        status: u16,
        /// What was wrong (one line), if known.
        detail: Option<String>,
    },
    /// The request did not complete (connection, timeout), or a write's answer could not be
    /// read. The message says what happened, and whether the outcome is unknown (a write
    /// that may have been done).
    #[error("{0}")]
    Transport(String),
    /// The flag cannot be written by this tool.
    #[error("flag `{key}` cannot be managed: {reason}")]
    Unsupported {
        /// Flag key.
        key: String,
        /// Why.
        reason: String,
    },
    /// Local state file problems and other I/O.
    #[error("{0}")]
    Io(String),
}

impl BackendError {
    /// Whether repeating the same request may succeed (rate limits, 5xx, transport).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BackendError::RateLimited { .. }
                | BackendError::Server { .. }
                | BackendError::Transport(_)
        )
    }
}

impl BackendError {
    /// Whether the server may have done the request although the call failed: a 5xx, or a
    /// transport failure (no answer, or one that could not be read). For a write its outcome
    /// is unknown until the flag is read back; repeating a read may succeed.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            BackendError::Server { status: 500.., .. } | BackendError::Transport(_)
        )
    }
}

/// "server error 502: …" for a 5xx; the detail alone otherwise (it names the status).
fn server_text(status: u16, detail: Option<&str>) -> String {
    match (status, detail) {
        (500.., Some(detail)) => format!("server error {status}: {detail}"),
        (500.., None) => format!("server error {status}"),
        (_, Some(detail)) => detail.to_owned(),
        (_, None) => format!("unexpected answer (status {status})"),
    }
}

/// Result alias for backend calls.
pub type BackendResult<T> = Result<T, BackendError>;

/// One environment's flag service.
///
/// Implementations must be strict: refuse what the real service refuses, so tests against
/// them catch wrong assumptions.
pub trait Backend: Send + Sync {
    /// The service's flag model (PostHog's and the local backend's: [`Flag`]).
    type Flag: VendorFlag + Send + Sync;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// Every live (not deleted) flag, with as few requests as possible.
    fn list(&self) -> impl Future<Output = BackendResult<LiveState<Self::Flag>>> + Send;

    /// One flag by key, `None` if it does not exist or is deleted. Used to check the outcome
    /// of a create whose response was lost, and to re-read after apply.
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = BackendResult<Option<LiveFlag<Self::Flag>>>> + Send;

    /// Create a flag; dependencies must already exist (by key). Returns the stored flag.
    fn create(
        &self,
        flag: &Self::Flag,
    ) -> impl Future<Output = BackendResult<LiveFlag<Self::Flag>>> + Send;

    /// Update `live` (as read at plan time: id and token) to `desired`. The backend refuses
    /// if the flag changed since (`Conflict`). Returns the stored flag.
    fn update(
        &self,
        live: &LiveFlag<Self::Flag>,
        desired: &Self::Flag,
    ) -> impl Future<Output = BackendResult<LiveFlag<Self::Flag>>> + Send;

    /// Soft-delete `live` (PostHog: `deleted: true`), refusing if it changed since.
    fn delete(&self, live: &LiveFlag<Self::Flag>)
    -> impl Future<Output = BackendResult<()>> + Send;

    /// Read the live state again before a later level of an apply, for a service whose
    /// preconditions are checked against the adapter's latest read (Mixpanel, which has no
    /// version to send): one read per level instead of one per flag. By default nothing:
    /// a versioned service refuses a stale write itself.
    fn refresh(&self) -> impl Future<Output = BackendResult<()>> + Send {
        std::future::ready(Ok(()))
    }

    /// This backend will only be read from (a plan that is not applied): it need not keep
    /// what only writes use (PostHog's flags as read, sent back as `original_flag`). By
    /// default nothing changes.
    fn read_only(&mut self) {}

    /// How many requests this backend has sent so far, where the service's budget is small
    /// enough that a user plans around it (Mixpanel). By default not counted.
    fn requests_sent(&self) -> Option<u64> {
        None
    }

    /// The parts of the project's catalogue (cohorts, group types) that `needs` asks for, with
    /// as few requests as possible; the parts not asked for (or not known) are `None`. By
    /// default nothing is known.
    fn catalogue(&self, _needs: &Needs) -> impl Future<Output = BackendResult<Catalogue>> + Send {
        async { Ok(Catalogue::default()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_secret_everywhere() {
        let e = BackendError::Invalid {
            key: "a".into(),
            detail: "bad phx_secret".into(),
        }
        .scrubbed(&["phx_secret"]);
        assert_eq!(e.to_string(), "flag `a`: bad ***");
        let e = BackendError::Auth("echo s3cret and s3cret".into()).scrubbed(&["s3cret"]);
        assert_eq!(e.to_string(), "echo *** and ***");
    }
}
