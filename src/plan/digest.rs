//! Hashes and secrets: live-flag fingerprints, content digests and the masking of values
//! that must not appear in any output.
//!
//! Encrypted payloads (`has_encrypted_payloads`) are masked in the plan itself, so every
//! rendering and the saved plan file carry [`MASK`] instead of the value, plus a digest of the
//! desired value (`Step::masked_payloads`) with which `apply` checks that the value it takes
//! from the repository is the one that was planned.

use serde::Serialize;
use serde_json::Value;

use super::{Change, Field, Step};
use crate::model::Flag;

/// What a masked value is replaced with.
pub const MASK: &str = "(sensitive value)";

/// What PostHog returns for an encrypted payload to callers that may not read it.
pub const ENCRYPTED_SENTINEL: &str = "********* (encrypted)";

pub use crate::util::sha256;

/// A stable fingerprint of a (normalized) flag: the digest of its JSON with sorted keys.
pub fn fingerprint<F: Serialize>(flag: &F) -> String {
    sha256(super::to_value(flag).to_string().as_bytes())
}

/// The digest of a JSON value (object keys sorted, as `serde_json` keeps them).
pub(crate) fn value_digest(value: &Value) -> String {
    sha256(value.to_string().as_bytes())
}

/// The live flag to compare with `want`: encrypted payloads the service would not reveal
/// (the sentinel string) count as equal to the desired value, since they cannot be compared.
pub(crate) fn unmask_unknown(have: &Flag, want: &Flag) -> Flag {
    let mut out = have.clone();
    if have.has_encrypted_payloads {
        for (key, value) in &mut out.payloads {
            if value.as_str() == Some(ENCRYPTED_SENTINEL)
                && let Some(desired) = want.payloads.get(key)
            {
                value.clone_from(desired);
            }
        }
    }
    out
}

/// Mask the encrypted payloads of a step everywhere it holds them.
pub(crate) fn mask(step: &mut Step) {
    let secret = step
        .desired
        .as_ref()
        .is_some_and(|f| f.has_encrypted_payloads)
        || step
            .live
            .as_ref()
            .is_some_and(|l| l.flag.has_encrypted_payloads);
    if !secret {
        return;
    }
    if let Some(desired) = &mut step.desired {
        for (key, value) in &mut desired.payloads {
            step.masked_payloads
                .insert(key.clone(), value_digest(value));
            *value = Value::String(MASK.to_owned());
        }
    }
    if let Some(live) = &mut step.live {
        for value in live.flag.payloads.values_mut() {
            *value = Value::String(MASK.to_owned());
        }
    }
    for change in &mut step.changes {
        mask_change(change);
    }
}

fn mask_change(change: &mut Change) {
    if change.field != Field::Payloads {
        return;
    }
    for value in [&mut change.before, &mut change.after]
        .into_iter()
        .flatten()
    {
        *value = Value::String(MASK.to_owned());
    }
}

/// Put the repository's values back into the masked payloads of `plan`, each checked against
/// the digest recorded at plan time. `desired` are the repository's flags resolved for the
/// plan's environment. Fails (naming the flag and payload) when a value changed since.
pub fn unmask(plan: &mut super::Plan, desired: &[Flag]) -> Result<(), String> {
    for step in &mut plan.steps {
        if step.masked_payloads.is_empty() {
            continue;
        }
        let current = desired
            .iter()
            .find(|f| f.key == step.key)
            .map(crate::model::normalize::normalize)
            .ok_or_else(|| format!("flag `{}` is no longer in the repository", step.key))?;
        let Some(target) = &mut step.desired else {
            continue;
        };
        for (key, digest) in &step.masked_payloads {
            let value = current.payloads.get(key).ok_or_else(|| {
                format!(
                    "payload `{key}` of flag `{}` is no longer in the repository",
                    step.key
                )
            })?;
            if &value_digest(value) != digest {
                return Err(format!(
                    "payload `{key}` of flag `{}` changed since the plan was made",
                    step.key
                ));
            }
            target.payloads.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}
