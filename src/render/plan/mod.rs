//! Plans as text: human (terminal), JSON (the saved-plan document) and markdown (a pull-request
//! comment or job summary that always fits its size budget).
//!
//! Every format leads with what a reviewer must see (`risk`: deletions, disables, widened
//! rollouts, …), in full, then the rest grouped by action.
//!
//! Pure: each renderer returns a `String`; the `cli` layer decides where it goes.

pub mod human;
pub mod json;
pub mod markdown;
pub mod risk;
pub(crate) mod words;

use crate::render::escape::Inline;

/// Which service an environment is, for the header of a plan (never a key; not saved in the
/// plan document: the command reads it from the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A PostHog project.
    Posthog {
        /// The origin, without any user information.
        host: String,
        /// The project id.
        project_id: Option<u64>,
    },
    /// The local backend's state file (relative to the config file).
    Local {
        /// The state file.
        state: String,
    },
}

impl Target {
    /// `PostHog project `2` at `https://us.posthog.com`` or `state file `.flagops/state.json``.
    pub fn words(&self, out: Inline) -> String {
        match self {
            Target::Posthog { host, project_id } => {
                let project = project_id.map_or_else(|| "?".to_owned(), |id| id.to_string());
                format!(
                    "PostHog project {} at {}",
                    out.name(&project),
                    out.name(host)
                )
            }
            Target::Local { state } => format!("local state file {}", out.name(state)),
        }
    }
}
