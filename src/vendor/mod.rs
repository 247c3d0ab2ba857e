//! Vendor flag models: each flag service's own typed flag object behind one trait, and the
//! one place the core chooses among them.
//!
//! A service brings a [`Model`]: its flag model (`model::VendorFlag`: identity, dependencies,
//! normalisation, field-level diff, ignorable and secret fields), its file format and schema
//! (`model::FlagFile`), its rules about one flag (`rules::FlagRules`), the words a plan uses
//! for its changes (`render::plan::FlagWords`), how the local backend stores it
//! (`backend::local::LocalModel`) and its adapter (`Model::Remote`). The commands are generic
//! over `Model`; `cli` calls them once, with the model `Config::service` names.
//!
//! PostHog's model is in [`posthog`], Mixpanel's in [`mixpanel`].

pub mod mixpanel;
pub mod posthog;

use std::fmt::Debug;

use serde::de::DeserializeOwned;

use crate::backend::Backend;
use crate::backend::any::SetupError;
use crate::backend::local::LocalModel;
use crate::config::{Environment, Service};
use crate::model::FlagFile;
use crate::render::plan::FlagWords;
use crate::rules::FlagRules;
use crate::schema::SchemaFile;

/// The flag schema files of `service`, or with `None` of every service, in a stable order.
pub fn flag_schema_files(service: Option<Service>) -> Vec<SchemaFile> {
    let mut files = Vec::new();
    if service.is_none_or(|s| s == Service::Posthog) {
        files.push(crate::schema::flag_file::<posthog::Flag>());
    }
    if service.is_none_or(|s| s == Service::Mixpanel) {
        files.push(crate::schema::flag_file::<mixpanel::MixpanelFlag>());
    }
    files
}

/// Everything flagops needs of a flag service.
pub trait Model:
    FlagFile + FlagRules + LocalModel + FlagWords + DeserializeOwned + Debug + 'static
{
    /// The service's adapter.
    type Remote: Backend<Flag = Self> + Debug;

    /// The adapter for environment `name` (its settings in `environment`).
    ///
    /// # Errors
    /// When the environment's settings are incomplete or a credential variable is unset.
    fn remote(name: &str, environment: &Environment) -> Result<Self::Remote, SetupError>;

    /// What the plan's header calls one of the service's projects (`PostHog project`).
    const PROJECT: &'static str;

    /// The service, as the config and saved plans name it.
    const SERVICE: Service;
}
