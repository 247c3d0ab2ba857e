//! The backend an environment uses, chosen from the config.
//!
//! `AnyBackend` is the one place that maps `backend:` in `flagops.yaml` to an adapter; commands
//! build it with [`AnyBackend::for_environment`] and use it through the [`Backend`] trait.
//! Adding an adapter means one variant here, one arm in `for_environment` and one arm per
//! trait method.

use std::path::Path;

use super::local::{DEFAULT_STATE_FILE, LocalBackend};
use super::posthog::{PosthogBackend, SettingsError};
use super::{Backend, BackendResult, Capabilities, LiveFlag, LiveState};
use crate::config::{BackendKind, Config};
use crate::model::Flag;

/// Why no backend could be built for an environment (a usage or config error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The environment is not in the config.
    #[error("unknown environment `{name}`")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments the config defines.
        known: Vec<String>,
    },
    /// The PostHog settings of the environment are incomplete, or its API key is unset.
    #[error(transparent)]
    Posthog(#[from] SettingsError),
}

/// Every backend flagops can talk to.
#[derive(Debug)]
pub enum AnyBackend {
    /// `backend: local`.
    Local(LocalBackend),
    /// `backend: posthog`.
    Posthog(Box<PosthogBackend>),
}

impl AnyBackend {
    /// The backend for environment `env` of `config`, whose file is in `root`.
    pub fn for_environment(root: &Path, config: &Config, env: &str) -> Result<Self, SetupError> {
        if !config.environments.contains_key(env) {
            return Err(SetupError::UnknownEnvironment {
                name: env.to_owned(),
                known: config.environments.keys().cloned().collect(),
            });
        }
        match config.backend {
            BackendKind::Local => {
                let file = config.state.as_deref().unwrap_or(DEFAULT_STATE_FILE);
                Ok(AnyBackend::Local(LocalBackend::new(root.join(file), env)))
            }
            BackendKind::Posthog => {
                let environment = &config.environments[env];
                Ok(AnyBackend::Posthog(Box::new(
                    PosthogBackend::from_environment(env, environment)?,
                )))
            }
        }
    }
}

impl Backend for AnyBackend {
    type Flag = Flag;

    fn capabilities(&self) -> Capabilities {
        match self {
            AnyBackend::Local(b) => b.capabilities(),
            AnyBackend::Posthog(b) => b.capabilities(),
        }
    }

    async fn list(&self) -> BackendResult<LiveState> {
        match self {
            AnyBackend::Local(b) => b.list().await,
            AnyBackend::Posthog(b) => b.list().await,
        }
    }

    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag>> {
        match self {
            AnyBackend::Local(b) => b.get(key).await,
            AnyBackend::Posthog(b) => b.get(key).await,
        }
    }

    async fn create(&self, flag: &Flag) -> BackendResult<LiveFlag> {
        match self {
            AnyBackend::Local(b) => b.create(flag).await,
            AnyBackend::Posthog(b) => b.create(flag).await,
        }
    }

    async fn update(&self, live: &LiveFlag, desired: &Flag) -> BackendResult<LiveFlag> {
        match self {
            AnyBackend::Local(b) => b.update(live, desired).await,
            AnyBackend::Posthog(b) => b.update(live, desired).await,
        }
    }

    async fn delete(&self, live: &LiveFlag) -> BackendResult<()> {
        match self {
            AnyBackend::Local(b) => b.delete(live).await,
            AnyBackend::Posthog(b) => b.delete(live).await,
        }
    }
}
