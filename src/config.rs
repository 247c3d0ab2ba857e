//! `flagops.yaml`: which backend, where the flags are, and each environment's policy.
//!
//! Pure data. `source::load_config` reads and checks it. Secrets are never here: an
//! environment names the *variable* that holds its API key.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file name looked up in the repository directory.
pub const CONFIG_FILE: &str = "flagops.yaml";

/// The top of `flagops.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which flag service holds the live state.
    pub backend: BackendKind,
    /// Where flag files are: directories (every `*.yaml`/`*.yml` below is read) or globs,
    /// relative to the config file. Default `flags/`.
    #[serde(default = "default_flags")]
    pub flags: FlagSources,
    /// For `backend: local`: the JSON file holding the live state, relative to the config file.
    /// Default `.flagops/state.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// For `backend: local`: whose flags and rules the local state follows. Default
    /// `posthog`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulate: Option<Service>,
    /// Environments by name (`staging`, `production`, …).
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
}

/// The flag service kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// PostHog's feature-flag API.
    Posthog,
    /// Mixpanel's Feature Flags API.
    Mixpanel,
    /// A JSON file in the repository that follows a service's rules (`emulate`; no account
    /// needed).
    Local,
}

impl BackendKind {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Posthog => "posthog",
            BackendKind::Mixpanel => "mixpanel",
            BackendKind::Local => "local",
        }
    }
}

/// A flag service: whose flag files a repository holds and whose rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// PostHog.
    Posthog,
    /// Mixpanel.
    Mixpanel,
}

impl Service {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Posthog => "posthog",
            Service::Mixpanel => "mixpanel",
        }
    }
}

impl Config {
    /// The service whose flags the repository holds: the backend's, or for `backend: local`
    /// the one it emulates (PostHog by default).
    pub fn service(&self) -> Service {
        self.backend.service(self.emulate)
    }
}

impl BackendKind {
    /// The service whose flags a repository of this backend holds: its own, or for `local`
    /// the one it `emulate`s (PostHog by default).
    pub fn service(self, emulate: Option<Service>) -> Service {
        match self {
            BackendKind::Posthog => Service::Posthog,
            BackendKind::Mixpanel => Service::Mixpanel,
            BackendKind::Local => emulate.unwrap_or(Service::Posthog),
        }
    }
}

/// A Mixpanel data-residency region: which App API origin a project lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// `https://mixpanel.com` (the default).
    #[default]
    Us,
    /// `https://eu.mixpanel.com`.
    Eu,
    /// `https://in.mixpanel.com`.
    In,
}

impl Region {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::In => "in",
        }
    }
}

/// One directory or glob, or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FlagSources {
    /// A single directory or glob.
    One(String),
    /// Several directories or globs.
    Many(Vec<String>),
}

impl FlagSources {
    /// The entries as a list.
    pub fn entries(&self) -> Vec<&str> {
        match self {
            FlagSources::One(one) => vec![one.as_str()],
            FlagSources::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }
}

fn default_flags() -> FlagSources {
    FlagSources::One("flags/".to_owned())
}

/// One environment: where its flags live and what a plan may do there.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The API origin. PostHog: `https://us.posthog.com`, `https://eu.posthog.com` or
    /// self-hosted. Mixpanel: the App API origin, instead of `region` (e.g. a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub host: Option<String>,
    /// The project id (PostHog or Mixpanel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// PostHog: the name of the environment variable holding the personal API key (never the
    /// key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub api_key_env: Option<String>,
    /// Mixpanel: the project's data-residency region, `us` (default), `eu` or `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Mixpanel: the workspace id; by default the project's global workspace (else its
    /// default one) is looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<u64>,
    /// Mixpanel: the name of the environment variable holding the service account's user
    /// name (never the name itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub username_env: Option<String>,
    /// Mixpanel: the name of the environment variable holding the service account's secret
    /// (never the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub secret_env: Option<String>,
    /// Mixpanel: delete pruned flags instead of archiving them (disabling them first, as the
    /// service refuses to delete an enabled flag). Default `false`: archive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hard_delete: bool,
    /// Soft-delete live flags that are not in the repository.
    #[serde(default)]
    pub prune: bool,
    /// Refuse a plan that deletes more flags than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u32>,
    /// Glob patterns of flag keys that are never deleted or disabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protect: Vec<String>,
    /// The request budget `apply` paces itself to (per API key). Default: the backend's
    /// documented limits (PostHog: 480 per minute and 4,800 per hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
    /// Top-level flag fields that plans leave out of updates: the live value is kept and a
    /// difference is not a change (like Terraform's `ignore_changes`). New flags are still
    /// created with the repository's values. For fields the service owns or drops (a PostHog
    /// organization without some features returns them empty). Which fields may be ignored
    /// depends on the service (the README lists them); fields that other fields depend on
    /// cannot be: a mix of live and repository values could be a flag nobody reviewed or
    /// validated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("uniqueItems" = true))]
    pub ignore: Vec<String>,
}

/// A request budget; a window left out keeps the backend's documented limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Most requests in any minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub per_minute: Option<u32>,
    /// Most requests in any hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub per_hour: Option<u32>,
}

/// Why `host` is not a usable API origin, or `None` when it is: an `http`/`https` URL with a
/// host and nothing that would change where or as whom requests go: no user name or password
/// (they would replace the API key with Basic auth), no query and no fragment. A path is kept
/// (a self-hosted instance under a prefix). The reason never repeats the rejected parts; it
/// is worded for `backend`'s service (`posthog`, `mixpanel`).
pub fn host_problem(host: &str, backend: &str) -> Option<String> {
    let mixpanel = backend == BackendKind::Mixpanel.as_str();
    let (example, credential) = if mixpanel {
        (
            "https://eu.mixpanel.com",
            "the service account is the only credential sent",
        )
    } else {
        (
            "https://us.posthog.com",
            "the API key is the only credential sent",
        )
    };
    let Ok(url) = reqwest::Url::parse(host.trim()) else {
        return Some(format!("is not a URL; use e.g. `{example}`"));
    };
    if !matches!(url.scheme(), "http" | "https") {
        Some(format!("is not an http(s) URL; use e.g. `{example}`"))
    } else if url.host().is_none() {
        Some(format!("has no host name; use e.g. `{example}`"))
    } else if !url.username().is_empty() || url.password().is_some() {
        Some(format!(
            "contains a user name or password; remove it ({credential})"
        ))
    } else if url.query().is_some() {
        Some("has a query (`?…`); remove it".to_owned())
    } else if url.fragment().is_some() {
        Some("has a fragment (`#…`); remove it".to_owned())
    } else {
        None
    }
}

/// `host` as it may be shown in a message: without a user name, password, query or fragment
/// (secrets can hide there), even when it does not parse.
pub fn shown_host(host: &str) -> String {
    let host = host.trim();
    let cut = host.find(['?', '#']).map_or(host, |i| &host[..i]);
    let (scheme, rest) = cut.split_once("://").unwrap_or(("", cut));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    let hidden = if cut.len() < host.len() { "…" } else { "" };
    if scheme.is_empty() && !cut.contains("://") {
        format!("{authority}{path}{hidden}")
    } else {
        format!("{scheme}://{authority}{path}{hidden}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_would_send_requests_elsewhere_or_as_someone_else_are_refused() {
        for ok in [
            "https://us.posthog.com",
            "https://eu.posthog.com/",
            "http://127.0.0.1:8000",
            "https://posthog.example.com/prefix",
        ] {
            assert_eq!(host_problem(ok, "posthog"), None, "{ok}");
        }
        let problem = |h: &str| host_problem(h, "posthog").unwrap_or_else(|| "fine".into());
        assert!(
            problem("https://user:hunter2@us.posthog.com")
                .starts_with("contains a user name or password")
        );
        assert!(problem("https://user@us.posthog.com").starts_with("contains a user name"));
        assert!(problem("https://us.posthog.com/?token=x").starts_with("has a query"));
        assert!(problem("https://us.posthog.com/#x").starts_with("has a fragment"));
        assert!(problem("ftp://us.posthog.com").starts_with("is not an http(s) URL"));
        assert!(problem("us.posthog.com").starts_with("is not a URL"));
    }

    #[test]
    fn host_problems_are_worded_for_the_configured_service() {
        assert_eq!(
            host_problem("eu.mixpanel.com", "mixpanel").as_deref(),
            Some("is not a URL; use e.g. `https://eu.mixpanel.com`")
        );
        assert_eq!(
            host_problem("https://sa:secret@eu.mixpanel.com", "mixpanel").as_deref(),
            Some(
                "contains a user name or password; remove it (the service account is the only \
                 credential sent)"
            )
        );
    }

    #[test]
    fn a_shown_host_hides_credentials_queries_and_fragments() {
        assert_eq!(
            shown_host("https://user:hunter2@us.posthog.com/x?token=y#z"),
            "https://***@us.posthog.com/x…"
        );
        assert_eq!(
            shown_host("https://us.posthog.com"),
            "https://us.posthog.com"
        );
        assert_eq!(shown_host("ftp://a:b@c"), "ftp://***@c");
        assert_eq!(shown_host("a:b@c d"), "***@c d");
    }
}
