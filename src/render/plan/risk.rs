//! What a reviewer must see first in a plan: the steps that switch something off or away, or
//! give a feature to more people than before.
//!
//! Pure and computed from the plan value alone (the saved document is not changed). Which
//! steps are risky, how much and in what words is the vendor's (`FlagWords::risks`; PostHog's
//! in `model::risk`); here they are ranked.

use super::FlagWords;
use crate::plan::{Plan, Step};
use crate::render::escape::Inline;

/// One reason a step is risky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Risk {
    /// How much a reviewer must look: lower first (deletions, then disables, then what
    /// reaches more people, then re-targeting).
    pub rank: u8,
    /// The risk in words, escaped for its output.
    pub words: String,
}

/// The risky steps of a plan, each with its risks.
pub type Risky<'a, F> = Vec<(&'a Step<F>, Vec<Risk>)>;

/// The plan's steps split into the risky ones (with their risks in words for `to`), most
/// severe first (then by key), and the rest in apply order.
pub fn split<F: FlagWords>(plan: &Plan<F>, to: Inline) -> (Risky<'_, F>, Vec<&Step<F>>) {
    let mut risky = Vec::new();
    let mut rest = Vec::new();
    for step in &plan.steps {
        let found = F::risks(step, to);
        if found.is_empty() {
            rest.push(step);
        } else {
            risky.push((step, found));
        }
    }
    risky.sort_by_key(|(step, risks)| {
        let rank = risks.iter().map(|r| r.rank).min().unwrap_or(u8::MAX);
        (rank, step.key.clone())
    });
    (risky, rest)
}
