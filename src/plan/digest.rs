//! Hashes and secrets: live-flag fingerprints, content digests and the masking of values
//! that must not appear in any output.
//!
//! A vendor's secret values (`VendorFlag::secret_values`, such as PostHog's encrypted values)
//! are masked in the plan itself, so every rendering and the saved plan file carry [`MASK`]
//! instead of the value, plus a digest of the desired value (`Step::masked_payloads`) with
//! which `apply` checks that the value it takes from the repository is the one that was
//! planned.

use serde::Serialize;
use serde_json::Value;

use super::{Change, Step};
use crate::model::VendorFlag;
/// PostHog's sentinel, re-exported where 0.1 had it (`model::ENCRYPTED_SENTINEL`).
pub use crate::vendor::posthog::ENCRYPTED_SENTINEL;

/// What a masked value is replaced with.
pub const MASK: &str = "(sensitive value)";

pub use crate::util::sha256;

/// A stable fingerprint of a (normalized) flag: the digest of its JSON with sorted keys.
pub fn fingerprint<F: Serialize>(flag: &F) -> String {
    sha256(super::to_value(flag).to_string().as_bytes())
}

/// The digest of a JSON value (object keys sorted, as `serde_json` keeps them).
pub(crate) fn value_digest(value: &Value) -> String {
    sha256(value.to_string().as_bytes())
}

/// Mask the secret values of a step everywhere it holds them.
pub(crate) fn mask<F: VendorFlag>(step: &mut Step<F>) {
    let secret = step.desired.as_ref().is_some_and(F::has_secrets)
        || step.live.as_ref().is_some_and(|l| l.flag.has_secrets());
    if !secret {
        return;
    }
    if let Some(values) = step.desired.as_mut().and_then(F::secret_values_mut) {
        for (key, value) in values {
            step.masked_payloads
                .insert(key.clone(), value_digest(value));
            *value = Value::String(MASK.to_owned());
        }
    }
    if let Some(values) = step.live.as_mut().and_then(|l| l.flag.secret_values_mut()) {
        for value in values.values_mut() {
            *value = Value::String(MASK.to_owned());
        }
    }
    for change in &mut step.changes {
        mask_change::<F>(change);
    }
}

fn mask_change<F: VendorFlag>(change: &mut Change<F::Field>) {
    if !F::is_secret_field(change.field) {
        return;
    }
    for value in [&mut change.before, &mut change.after]
        .into_iter()
        .flatten()
    {
        *value = Value::String(MASK.to_owned());
    }
}

/// Put the repository's values back into the masked secret values of `plan`, each checked against
/// the digest recorded at plan time. `desired` are the repository's flags resolved for the
/// plan's environment. Fails (naming the flag and payload) when a value changed since.
pub fn unmask<F: VendorFlag>(plan: &mut super::Plan<F>, desired: &[F]) -> Result<(), String> {
    for step in &mut plan.steps {
        if step.masked_payloads.is_empty() {
            continue;
        }
        let current = desired
            .iter()
            .find(|f| f.key() == step.key)
            .map(F::normalized)
            .ok_or_else(|| format!("flag `{}` is no longer in the repository", step.key))?;
        let Some(target) = &mut step.desired else {
            continue;
        };
        for (key, digest) in &step.masked_payloads {
            let value = current.secret_values().and_then(|v| v.get(key));
            let value = value.ok_or_else(|| {
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
            if let Some(values) = target.secret_values_mut() {
                values.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(())
}
