//! The backend an environment uses, chosen from the config: the local state file or the
//! service's adapter (`vendor::Model::Remote`), for the service's model `F`.
//!
//! Commands build it with [`AnyBackend::for_environment`] and use it through the [`Backend`]
//! trait.

use std::path::Path;

use super::local::{DEFAULT_STATE_FILE, LocalBackend};
use super::posthog::SettingsError;
use super::{Backend, BackendResult, Capabilities, LiveFlag, LiveState};
use crate::config::{BackendKind, Config};
use crate::model::{Catalogue, Needs};
use crate::vendor::Model;

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
    /// The service's settings of the environment are incomplete, or a credential variable
    /// is unset (the message names the variable, never its value).
    #[error("{0}")]
    Settings(String),
}

impl From<SettingsError> for SetupError {
    fn from(e: SettingsError) -> Self {
        SetupError::Settings(e.to_string())
    }
}

/// The backend of one environment, for the service's model `F`.
#[derive(Debug)]
pub enum AnyBackend<F: Model> {
    /// `backend: local`.
    Local(LocalBackend<F>),
    /// The service itself (`backend: posthog`, `backend: mixpanel`).
    Remote(Box<F::Remote>),
}

impl<F: Model> AnyBackend<F> {
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
                Ok(AnyBackend::Local(LocalBackend::of_model(
                    root.join(file),
                    env,
                )))
            }
            BackendKind::Posthog | BackendKind::Mixpanel => Ok(AnyBackend::Remote(Box::new(
                F::remote(env, &config.environments[env])?,
            ))),
        }
    }
}

impl<F: Model> Backend for AnyBackend<F> {
    type Flag = F;

    fn capabilities(&self) -> Capabilities {
        match self {
            AnyBackend::Local(b) => b.capabilities(),
            AnyBackend::Remote(b) => b.capabilities(),
        }
    }

    async fn list(&self) -> BackendResult<LiveState<F>> {
        match self {
            AnyBackend::Local(b) => b.list().await,
            AnyBackend::Remote(b) => b.list().await,
        }
    }

    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag<F>>> {
        match self {
            AnyBackend::Local(b) => b.get(key).await,
            AnyBackend::Remote(b) => b.get(key).await,
        }
    }

    async fn create(&self, flag: &F) -> BackendResult<LiveFlag<F>> {
        match self {
            AnyBackend::Local(b) => b.create(flag).await,
            AnyBackend::Remote(b) => b.create(flag).await,
        }
    }

    async fn update(&self, live: &LiveFlag<F>, desired: &F) -> BackendResult<LiveFlag<F>> {
        match self {
            AnyBackend::Local(b) => b.update(live, desired).await,
            AnyBackend::Remote(b) => b.update(live, desired).await,
        }
    }

    async fn delete(&self, live: &LiveFlag<F>) -> BackendResult<()> {
        match self {
            AnyBackend::Local(b) => b.delete(live).await,
            AnyBackend::Remote(b) => b.delete(live).await,
        }
    }

    async fn refresh(&self) -> BackendResult<()> {
        match self {
            AnyBackend::Local(b) => b.refresh().await,
            AnyBackend::Remote(b) => b.refresh().await,
        }
    }

    fn read_only(&mut self) {
        match self {
            AnyBackend::Local(b) => b.read_only(),
            AnyBackend::Remote(b) => b.read_only(),
        }
    }

    fn requests_sent(&self) -> Option<u64> {
        match self {
            AnyBackend::Local(b) => b.requests_sent(),
            AnyBackend::Remote(b) => b.requests_sent(),
        }
    }

    async fn catalogue(&self, needs: &Needs) -> BackendResult<Catalogue> {
        match self {
            AnyBackend::Local(b) => b.catalogue(needs).await,
            AnyBackend::Remote(b) => b.catalogue(needs).await,
        }
    }
}
