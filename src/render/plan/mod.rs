//! Plans as text: human (terminal), JSON (the saved-plan document) and markdown (a pull-request
//! comment or job summary that always fits its size budget).
//!
//! Every format leads with what a reviewer must see (`risk`: deletions, disables, widened
//! rollouts, …), in full, then the rest grouped by action.
//!
//! The words come from the vendor's model: its changes ([`ChangeWords`], on its
//! `VendorFlag::Field`), its new flags and its risks ([`FlagWords`]); PostHog's are in
//! `model::words` and `model::risk`. The layout is the same for every vendor.
//!
//! Pure: each renderer returns a `String`; the `cli` layer decides where it goes.

pub mod drift;
pub mod human;
pub mod json;
pub mod markdown;
pub mod risk;

use crate::model::VendorFlag;
use crate::plan::{Change, Step};
use crate::render::escape::Inline;

pub use risk::Risk;

/// One described change: a headline and, for a value shown as a diff (a JSON document),
/// the lines of that diff (each starting with `+`, `-` or a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// One line, escaped for its output.
    pub headline: String,
    /// The diff lines, escaped for the terminal (markdown shows them in a code block).
    pub lines: Vec<String>,
}

impl Described {
    /// A change described in one line.
    pub fn one(headline: String) -> Self {
        Described {
            headline,
            lines: Vec::new(),
        }
    }
}

/// How a vendor's changes are put in words (implemented on its `VendorFlag::Field`).
pub trait ChangeWords: Sized + serde::Serialize {
    /// A change in words, every name and value escaped for `to`.
    fn describe(change: &Change<Self>, to: Inline) -> Described;
}

/// How a vendor's flags are put in words in a plan.
pub trait FlagWords: VendorFlag<Field: ChangeWords> {
    /// The fields of a new flag worth showing, escaped for `to`.
    fn created(&self, to: Inline) -> Vec<Described>;

    /// Why `step` needs a reviewer's attention (none for most steps), in words for `to`.
    fn risks(step: &Step<Self>, to: Inline) -> Vec<Risk>;
}

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
