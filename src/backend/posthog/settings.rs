//! How to reach one PostHog project: origin, project id, API key and timeouts.
//!
//! Built from an environment of `flagops.yaml`; the key is read from the variable the
//! environment names and is kept in `ApiKey`, whose `Debug` never shows it.

use std::time::Duration;

use super::RATE_LIMIT;
use super::pages::LIST_CONCURRENCY;
use crate::backend::pacing::{Budget, NOTICE_AFTER, Notice, RetryPolicy};
use crate::backend::secret::{Concealed, Kind, read_variable};
use crate::config::Environment;

/// The variable that sets how many pages of one list are read at once (1 to
/// `MAX_LIST_CONCURRENCY`; default [`LIST_CONCURRENCY`]); `1` reads them one after another.
pub const LIST_CONCURRENCY_ENV: &str = "FLAGOPS_LIST_CONCURRENCY";

/// The most pages of one list read at once.
const MAX_LIST_CONCURRENCY: usize = 16;

/// A personal API key. It has no `Display`, and its `Debug` prints `ApiKey(***)`.
pub type ApiKey = Concealed<PersonalApiKey>;

/// The kind of an [`ApiKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalApiKey {}

impl Kind for PersonalApiKey {
    const NAME: &'static str = "ApiKey";
}

/// Connection settings of one PostHog project.
#[derive(Clone)]
pub struct PosthogSettings {
    /// Origin of the private API: `https://us.posthog.com`, `https://eu.posthog.com` or a
    /// self-hosted origin (a trailing slash is fine).
    pub host: String,
    /// The project id.
    pub project_id: u64,
    /// The personal API key.
    pub api_key: ApiKey,
    /// The environment variable the key was read from (named in error messages).
    pub api_key_env: Option<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, from sending it to the last byte of the answer.
    pub request_timeout: Duration,
    /// Waits at least this long are announced (a slow answer, a long delay before a repeat,
    /// a 429 pause).
    pub notice_after: Duration,
    /// Where this adapter announces its waits; `None`: the process-wide hook
    /// (`Pacer::on_wait`).
    pub notice: Option<Notice>,
    /// Page size of list requests (PostHog has no maximum; larger pages mean fewer billed calls).
    pub page_size: u32,
    /// Pages of one list read at once, after the first (1: one after another).
    pub list_concurrency: usize,
    /// Request budgets the adapter keeps to (default: PostHog's 480/minute and 4,800/hour).
    pub budgets: Vec<Budget>,
    /// Repeats of 429s and of failed reads.
    pub retry: RetryPolicy,
    /// The first wait after a 429 that gives no `Retry-After` (nor a throttle message naming
    /// the seconds); doubled for each further one, up to a minute.
    pub rate_limited_backoff: Duration,
    /// Largest response body read; a longer answer is an error (a broken server or proxy
    /// must not exhaust memory).
    pub max_response_bytes: usize,
}

impl std::fmt::Debug for PosthogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosthogSettings")
            // A host with a password is refused, but must not be shown before it is.
            .field("host", &crate::config::shown_host(&self.host))
            .field("project_id", &self.project_id)
            .field("api_key", &self.api_key)
            .field("api_key_env", &self.api_key_env)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("notice_after", &self.notice_after)
            .field("page_size", &self.page_size)
            .field("list_concurrency", &self.list_concurrency)
            .field("budgets", &self.budgets)
            .field("retry", &self.retry)
            .field("rate_limited_backoff", &self.rate_limited_backoff)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl PosthogSettings {
    /// Default connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default request timeout.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default first wait after a 429 without `Retry-After`.
    pub const RATE_LIMITED_BACKOFF: Duration = Duration::from_secs(5);
    /// Default list page size.
    pub const PAGE_SIZE: u32 = 1000;
    /// Default largest response body: 64 MiB (a page of 1,000 large flags is a few MiB).
    pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

    /// Settings with the default timeouts and page size.
    pub fn new(host: impl Into<String>, project_id: u64, api_key: ApiKey) -> Self {
        PosthogSettings {
            host: host.into(),
            project_id,
            api_key,
            api_key_env: None,
            connect_timeout: Self::CONNECT_TIMEOUT,
            request_timeout: Self::REQUEST_TIMEOUT,
            notice_after: NOTICE_AFTER,
            notice: None,
            page_size: Self::PAGE_SIZE,
            list_concurrency: LIST_CONCURRENCY,
            budgets: Budget::of(RATE_LIMIT),
            retry: RetryPolicy::default(),
            rate_limited_backoff: Self::RATE_LIMITED_BACKOFF,
            max_response_bytes: Self::MAX_RESPONSE_BYTES,
        }
    }

    /// Settings for environment `name` of the config, reading the API key from the process
    /// environment.
    pub fn from_environment(name: &str, environment: &Environment) -> Result<Self, SettingsError> {
        let mut settings =
            Self::from_environment_with(name, environment, |var| std::env::var(var).ok())?;
        settings.list_concurrency =
            list_concurrency(std::env::var(LIST_CONCURRENCY_ENV).ok().as_deref())?;
        Ok(settings)
    }

    /// Like `from_environment`, with `lookup` standing in for the process environment.
    pub fn from_environment_with(
        name: &str,
        environment: &Environment,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let host = environment
            .host
            .clone()
            .ok_or_else(|| SettingsError::MissingHost {
                environment: name.to_owned(),
            })?;
        let project_id = environment
            .project_id
            .ok_or_else(|| SettingsError::MissingProjectId {
                environment: name.to_owned(),
            })?;
        let variable =
            environment
                .api_key_env
                .clone()
                .ok_or_else(|| SettingsError::MissingApiKeyEnv {
                    environment: name.to_owned(),
                })?;
        let Some(key) = read_variable(lookup, &variable) else {
            return Err(SettingsError::ApiKeyUnset {
                environment: name.to_owned(),
                variable,
            });
        };
        let mut settings = PosthogSettings::new(host, project_id, ApiKey::new(key));
        settings.api_key_env = Some(variable);
        if let Some(limit) = environment.rate_limit {
            settings.budgets = Budget::of(RATE_LIMIT.with(limit.per_minute, limit.per_hour));
        }
        Ok(settings)
    }
}

/// The pages of one list read at once, from the value of [`LIST_CONCURRENCY_ENV`] if set.
fn list_concurrency(value: Option<&str>) -> Result<usize, SettingsError> {
    let Some(value) = value else {
        return Ok(LIST_CONCURRENCY);
    };
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_LIST_CONCURRENCY).contains(n))
        .ok_or(SettingsError::ListConcurrency)
}

/// Why an environment cannot be reached. Names the setting or variable, never a value of
/// the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// No `host`.
    #[error(
        "environment `{environment}` has no `host`; set it to `https://us.posthog.com`, `https://eu.posthog.com` or your instance's origin"
    )]
    MissingHost {
        /// Environment name.
        environment: String,
    },
    /// No `project_id`.
    #[error(
        "environment `{environment}` has no `project_id`; set it to the PostHog project's numeric id"
    )]
    MissingProjectId {
        /// Environment name.
        environment: String,
    },
    /// No `api_key_env`.
    #[error(
        "environment `{environment}` has no `api_key_env`; name the environment variable that holds the personal API key"
    )]
    MissingApiKeyEnv {
        /// Environment name.
        environment: String,
    },
    /// The variable is not set or empty.
    #[error(
        "environment variable `{variable}` (the `api_key_env` of environment `{environment}`) is not set or empty; export a personal API key with the `feature_flag:read` and `feature_flag:write` scopes"
    )]
    ApiKeyUnset {
        /// Environment name.
        environment: String,
        /// Variable name.
        variable: String,
    },
    /// `host` is not a usable http(s) origin (see `config::host_problem`).
    #[error("`host` `{host}` {problem}")]
    InvalidHost {
        /// The configured host, as `config::shown_host` shows it (no password or query).
        host: String,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// [`LIST_CONCURRENCY_ENV`] is not a number from 1 to `MAX_LIST_CONCURRENCY` (its value is
    /// not shown).
    #[error(
        "environment variable `{LIST_CONCURRENCY_ENV}` is not a whole number from 1 to {MAX_LIST_CONCURRENCY} (how many pages of a list are read at once); unset it for the default, {LIST_CONCURRENCY}"
    )]
    ListConcurrency,
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}
