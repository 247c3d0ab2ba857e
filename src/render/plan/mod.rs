//! Plans as text: human (terminal), JSON (the saved-plan document) and markdown (a pull-request
//! comment or job summary that always fits its size budget).
//!
//! Every format leads with what a reviewer must see (`risk`: deletions, disables, widened
//! rollouts, …), in full, then the rest grouped by action.
//!
//! Pure: each renderer returns a `String`; the `cli` layer decides where it goes.

pub mod drift;
pub mod human;
pub mod json;
pub mod markdown;
pub mod risk;
pub(crate) mod words;

use crate::render::escape::Inline;

/// Which service or file an environment is, for the header of a plan: vendor-neutral words
/// the command builds from the config (never a key; not saved in the plan document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What it is, in words: `PostHog project`, `local state file`.
    pub kind: String,
    /// Its name or id: `4242`, `.flagops/state.json`.
    pub name: String,
    /// Where, if anywhere: the origin of the service.
    pub at: Option<String>,
}

impl Target {
    /// ``PostHog project `2` at `https://us.posthog.com` `` or ``local state file `…` ``, with
    /// the name and place escaped for `out`.
    pub fn words(&self, out: Inline) -> String {
        let mut text = format!("{} {}", out.text(&self.kind), out.name(&self.name));
        if let Some(at) = &self.at {
            text.push_str(" at ");
            text.push_str(&out.name(at));
        }
        text
    }
}
