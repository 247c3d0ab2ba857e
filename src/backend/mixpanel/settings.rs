//! How to reach one Mixpanel project: App API origin (a region or a `host`), project,
//! workspace, service account, delete mode, pacing and timeouts.
//!
//! The config feeds [`MixpanelConfig`] (one field per `flagops.yaml` environment setting:
//! `region`, `host`, `project_id`, `workspace_id`, `username_env`, `secret_env`, `hard_delete`,
//! `rate_limit`); [`MixpanelSettings::from_config`] checks it and reads the service account
//! from the two variables it names. The secret is kept in [`Secret`], whose `Debug` never
//! shows it; the username is not printed either (messages name the variables).

use std::time::Duration;

use super::RATE_LIMIT;
use crate::backend::http;
use crate::backend::pacing::{Budget, NOTICE_AFTER, Notice, RetryPolicy};
use crate::backend::secret::{Concealed, Kind, read_variable};
use crate::config::Region;

/// The App API origin of a data-residency region.
fn region_origin(region: Region) -> &'static str {
    match region {
        Region::Us => "https://mixpanel.com",
        Region::Eu => "https://eu.mixpanel.com",
        Region::In => "https://in.mixpanel.com",
    }
}

/// A service account's secret. It has no `Display`, and its `Debug` prints `Secret(***)`.
pub type Secret = Concealed<ServiceAccountSecret>;

/// The kind of a [`Secret`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAccountSecret {}

impl Kind for ServiceAccountSecret {
    const NAME: &'static str = "Secret";
}

/// An environment's Mixpanel settings as written in `flagops.yaml`, before they are checked
/// (each field is the config field of the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MixpanelConfig {
    /// `region`: `us` (default), `eu` or `in`.
    pub region: Option<Region>,
    /// `host`: an App API origin instead of a region's (a proxy, a fake).
    pub host: Option<String>,
    /// `project_id`.
    pub project_id: Option<u64>,
    /// `workspace_id`; without it the project's global workspace (else its default one) is
    /// looked up with one request.
    pub workspace_id: Option<u64>,
    /// `username_env`: the variable holding the service account's username.
    pub username_env: Option<String>,
    /// `secret_env`: the variable holding the service account's secret.
    pub secret_env: Option<String>,
    /// `hard_delete`: delete flags for good (disabling them first) instead of archiving them.
    pub hard_delete: bool,
    /// `rate_limit`: the request budget (per minute, per hour); `None` keeps the default's.
    pub per_minute: Option<u32>,
    /// `rate_limit.per_hour`.
    pub per_hour: Option<u32>,
}

/// Connection settings of one Mixpanel project.
#[derive(Clone)]
pub struct MixpanelSettings {
    /// App API origin (`https://mixpanel.com`, `https://eu.mixpanel.com`, … or `host`).
    pub host: String,
    /// The project id.
    pub project_id: u64,
    /// The workspace (data view); `None`: discovered.
    pub workspace_id: Option<u64>,
    /// The service account's username.
    pub username: String,
    /// The service account's secret.
    pub secret: Secret,
    /// The variable the username was read from (named in messages).
    pub username_env: Option<String>,
    /// The variable the secret was read from (named in messages).
    pub secret_env: Option<String>,
    /// Delete for good (disable, then `DELETE`) instead of archiving.
    pub hard_delete: bool,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, from sending it to the last byte of the answer.
    pub request_timeout: Duration,
    /// Waits at least this long are announced.
    pub notice_after: Duration,
    /// Where this adapter announces its waits; `None`: the process-wide hook.
    pub notice: Option<Notice>,
    /// Request budgets the adapter keeps to (default [`RATE_LIMIT`]: 60 an hour).
    pub budgets: Vec<Budget>,
    /// Repeats of 429s and of failed reads.
    pub retry: RetryPolicy,
    /// The first wait after a 429 without `Retry-After`; doubled for each further one (with
    /// up to 10 % jitter), up to a minute.
    pub rate_limited_backoff: Duration,
    /// Largest response body read; a longer answer is an error.
    pub max_response_bytes: usize,
}

impl std::fmt::Debug for MixpanelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixpanelSettings")
            .field("host", &crate::config::shown_host(&self.host))
            .field("project_id", &self.project_id)
            .field("workspace_id", &self.workspace_id)
            .field("username_env", &self.username_env)
            .field("secret", &self.secret)
            .field("secret_env", &self.secret_env)
            .field("hard_delete", &self.hard_delete)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("budgets", &self.budgets)
            .field("retry", &self.retry)
            .field("rate_limited_backoff", &self.rate_limited_backoff)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl MixpanelSettings {
    /// Default connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default request timeout.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default first wait after a 429 without `Retry-After` (Mixpanel's own tools: 1 s).
    pub const RATE_LIMITED_BACKOFF: Duration = Duration::from_secs(1);
    /// Default largest response body: 64 MiB (the list has no pages).
    pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

    /// Settings with the default timeouts, budget and delete mode (archive).
    pub fn new(
        host: impl Into<String>,
        project_id: u64,
        username: impl Into<String>,
        secret: Secret,
    ) -> Self {
        MixpanelSettings {
            host: host.into(),
            project_id,
            workspace_id: None,
            username: username.into(),
            secret,
            username_env: None,
            secret_env: None,
            hard_delete: false,
            connect_timeout: Self::CONNECT_TIMEOUT,
            request_timeout: Self::REQUEST_TIMEOUT,
            notice_after: NOTICE_AFTER,
            notice: None,
            budgets: Budget::of(RATE_LIMIT),
            retry: RetryPolicy::default(),
            rate_limited_backoff: Self::RATE_LIMITED_BACKOFF,
            max_response_bytes: Self::MAX_RESPONSE_BYTES,
        }
    }

    /// Settings for environment `name` of the config, reading the service account from the
    /// process environment.
    pub fn from_config(name: &str, config: &MixpanelConfig) -> Result<Self, SettingsError> {
        Self::from_config_with(name, config, |var| std::env::var(var).ok())
    }

    /// Like [`from_config`](Self::from_config), with `lookup` standing in for the process
    /// environment.
    pub fn from_config_with(
        name: &str,
        config: &MixpanelConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let environment = || name.to_owned();
        let host = match (&config.region, &config.host) {
            (Some(_), Some(_)) => {
                return Err(SettingsError::RegionAndHost {
                    environment: environment(),
                });
            }
            (_, Some(host)) => http::origin(host, "mixpanel", |host, problem| {
                SettingsError::InvalidHost { host, problem }
            })?,
            (Some(region), None) => region_origin(*region).to_owned(),
            (None, None) => region_origin(Region::default()).to_owned(),
        };
        let project_id = config
            .project_id
            .ok_or_else(|| SettingsError::MissingProjectId {
                environment: environment(),
            })?;
        let variable = |value: &Option<String>, field: &'static str| {
            value.clone().ok_or_else(|| SettingsError::MissingVariable {
                environment: environment(),
                field,
            })
        };
        let username_env = variable(&config.username_env, "username_env")?;
        let secret_env = variable(&config.secret_env, "secret_env")?;
        let read = |variable: &str, field: &'static str| {
            read_variable(&lookup, variable).ok_or_else(|| SettingsError::VariableUnset {
                environment: environment(),
                variable: variable.to_owned(),
                field,
            })
        };
        let username = read(&username_env, "username_env")?;
        let secret = Secret::new(read(&secret_env, "secret_env")?);
        let mut settings = MixpanelSettings::new(host, project_id, username, secret);
        settings.workspace_id = config.workspace_id;
        settings.username_env = Some(username_env);
        settings.secret_env = Some(secret_env);
        settings.hard_delete = config.hard_delete;
        if config.per_minute.is_some() || config.per_hour.is_some() {
            settings.budgets = Budget::of(RATE_LIMIT.with(config.per_minute, config.per_hour));
        }
        Ok(settings)
    }
}

/// Why an environment cannot be reached. Names the setting or variable, never a value of the
/// service account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Both `region` and `host`.
    #[error(
        "environment `{environment}` sets both `region` and `host`; keep one (`host` is an App API origin that replaces the region's)"
    )]
    RegionAndHost {
        /// Environment name.
        environment: String,
    },
    /// No `project_id`.
    #[error(
        "environment `{environment}` has no `project_id`; set it to the Mixpanel project's numeric id"
    )]
    MissingProjectId {
        /// Environment name.
        environment: String,
    },
    /// No `username_env` or `secret_env`.
    #[error(
        "environment `{environment}` has no `{field}`; name the environment variable that holds the service account's {}",
        what(field)
    )]
    MissingVariable {
        /// Environment name.
        environment: String,
        /// `username_env` or `secret_env`.
        field: &'static str,
    },
    /// A variable is not set or empty.
    #[error(
        "environment variable `{variable}` (the `{field}` of environment `{environment}`) is not set or empty; export the {} of a Mixpanel service account with at least the analyst role on the project",
        what(field)
    )]
    VariableUnset {
        /// Environment name.
        environment: String,
        /// Variable name.
        variable: String,
        /// `username_env` or `secret_env`.
        field: &'static str,
    },
    /// `host` is not a usable http(s) origin (see `config::host_problem`).
    #[error("`host` `{host}` {problem}")]
    InvalidHost {
        /// The configured host, as `config::shown_host` shows it.
        host: String,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// "username" or "secret", for the field that names its variable.
fn what(field: &str) -> &'static str {
    if field == "username_env" {
        "username"
    } else {
        "secret"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RateLimit;

    fn config() -> MixpanelConfig {
        MixpanelConfig {
            project_id: Some(12345),
            username_env: Some("MP_USER".into()),
            secret_env: Some("MP_SECRET".into()),
            ..MixpanelConfig::default()
        }
    }

    fn lookup(var: &str) -> Option<String> {
        match var {
            "MP_USER" => Some("sa.user".into()),
            "MP_SECRET" => Some(" s3cret-value \n".into()),
            _ => None,
        }
    }

    #[test]
    fn regions_choose_the_app_api_origin_and_us_is_the_default() {
        let origin = |region: Option<Region>| {
            let config = MixpanelConfig { region, ..config() };
            MixpanelSettings::from_config_with("prod", &config, lookup)
                .unwrap()
                .host
        };
        assert_eq!(origin(None), "https://mixpanel.com");
        assert_eq!(origin(Some(Region::Us)), "https://mixpanel.com");
        assert_eq!(origin(Some(Region::Eu)), "https://eu.mixpanel.com");
        assert_eq!(origin(Some(Region::In)), "https://in.mixpanel.com");
    }

    #[test]
    fn a_host_replaces_the_region_and_is_checked() {
        let config = MixpanelConfig {
            host: Some("http://127.0.0.1:9000/".into()),
            workspace_id: Some(7),
            hard_delete: true,
            ..config()
        };
        let settings = MixpanelSettings::from_config_with("prod", &config, lookup).unwrap();
        assert_eq!(settings.host, "http://127.0.0.1:9000");
        assert_eq!(settings.workspace_id, Some(7));
        assert!(settings.hard_delete);
        assert_eq!(settings.username, "sa.user");
        assert_eq!(settings.secret.expose(), "s3cret-value");
        let both = MixpanelConfig {
            region: Some(Region::Eu),
            ..config.clone()
        };
        assert_eq!(
            MixpanelSettings::from_config_with("prod", &both, lookup)
                .unwrap_err()
                .to_string(),
            "environment `prod` sets both `region` and `host`; keep one (`host` is an App API origin that replaces the region's)"
        );
        let bad = MixpanelConfig {
            host: Some("https://user:pw@proxy.example?x=1".into()),
            ..config
        };
        let error = MixpanelSettings::from_config_with("prod", &bad, lookup)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("pw"), "{error}");
        assert!(
            error.starts_with("`host` `https://***@proxy.example…`"),
            "{error}"
        );
    }

    #[test]
    fn missing_settings_and_unset_variables_are_named() {
        let error = |config: &MixpanelConfig, lookup: &dyn Fn(&str) -> Option<String>| {
            MixpanelSettings::from_config_with("staging", config, lookup)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(
                &MixpanelConfig {
                    project_id: None,
                    ..config()
                },
                &lookup
            ),
            "environment `staging` has no `project_id`; set it to the Mixpanel project's numeric id"
        );
        assert_eq!(
            error(
                &MixpanelConfig {
                    secret_env: None,
                    ..config()
                },
                &lookup
            ),
            "environment `staging` has no `secret_env`; name the environment variable that holds the service account's secret"
        );
        assert_eq!(
            error(&config(), &|v| (v == "MP_SECRET").then(|| "x".to_owned())),
            "environment variable `MP_USER` (the `username_env` of environment `staging`) is not set or empty; export the username of a Mixpanel service account with at least the analyst role on the project"
        );
        assert_eq!(
            error(&config(), &|v| match v {
                "MP_USER" => Some("u".into()),
                _ => Some("  ".into()),
            }),
            "environment variable `MP_SECRET` (the `secret_env` of environment `staging`) is not set or empty; export the secret of a Mixpanel service account with at least the analyst role on the project"
        );
    }

    #[test]
    fn the_default_budget_is_sixty_an_hour_and_configurable() {
        let settings = MixpanelSettings::from_config_with("p", &config(), lookup).unwrap();
        assert_eq!(settings.budgets, Budget::of(RATE_LIMIT));
        assert_eq!(RATE_LIMIT.per_hour, 60);
        let config = MixpanelConfig {
            per_hour: Some(600),
            ..config()
        };
        let settings = MixpanelSettings::from_config_with("p", &config, lookup).unwrap();
        assert_eq!(
            settings.budgets,
            Budget::of(RateLimit {
                per_minute: RATE_LIMIT.per_minute,
                per_hour: 600
            })
        );
    }

    #[test]
    fn debug_never_shows_the_secret_or_the_username() {
        let settings = MixpanelSettings::from_config_with("p", &config(), lookup).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cret-value"), "{debug}");
        assert!(!debug.contains("sa.user"), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
        assert!(debug.contains("MP_SECRET"), "{debug}");
    }
}
