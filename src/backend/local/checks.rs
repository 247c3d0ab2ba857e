//! What the local backend refuses, as its service would: a write checked against the rest of
//! the environment's flags (keys, dependencies, cycles, the catalogue), and the stored flag a
//! write names, checked against the version its caller read.

use super::{EnvironmentState, LocalModel, StoredFlag};
use crate::backend::{BackendError, BackendResult, LiveFlag, Token};
use crate::graph::{DependencyGraph, format_cycle};
use crate::model::catalogue::Catalogue;

pub(super) fn invalid(key: &str, detail: impl Into<String>) -> BackendError {
    BackendError::Invalid {
        key: key.to_owned(),
        detail: detail.into(),
    }
}

/// Check `flag` (about to be stored under `id`, `None` for a new flag) against the rest.
pub(super) fn check_write<F: LocalModel>(
    state: &EnvironmentState<F::Stored>,
    id: Option<u64>,
    flag: &F,
) -> BackendResult<()> {
    let key = flag.key();
    if let Some(why) = flag.refusal() {
        return Err(invalid(key, why));
    }
    let catalogue = Catalogue {
        cohorts: state.cohorts.clone(),
        group_types: state.group_types.clone(),
    };
    if let Some(why) = flag.catalogue_refusal(&catalogue) {
        return Err(invalid(key, why));
    }
    let others: Vec<F> = state
        .flags
        .iter()
        .filter(|f| !f.deleted && Some(f.id) != id)
        .map(StoredFlag::resolved)
        .collect();
    if others.iter().any(|f| f.key() == key) {
        return Err(invalid(
            key,
            "there is already a feature flag with this key",
        ));
    }
    for target in flag.evaluation_dependencies() {
        if target == key {
            return Err(invalid(key, "a flag cannot depend on itself"));
        }
        let Some(stored) = others.iter().find(|f| f.key() == target) else {
            return Err(invalid(
                key,
                format!("the dependency `{target}` does not exist"),
            ));
        };
        if flag.is_enabled() && !stored.is_enabled() {
            return Err(invalid(
                key,
                format!("cannot depend on the disabled flag `{target}`"),
            ));
        }
    }
    if let Some(id) = id {
        let was_enabled = state
            .flags
            .iter()
            .any(|f| f.id == id && f.resolved::<F>().is_enabled());
        if was_enabled && !flag.is_enabled() {
            let dependents = enabled_dependents(&others, key);
            if !dependents.is_empty() {
                return Err(invalid(
                    key,
                    format!(
                        "cannot disable this flag because enabled flags depend on it: {}",
                        dependents.join(", ")
                    ),
                ));
            }
        }
    }
    let graph = DependencyGraph::new(
        others
            .iter()
            .map(|f| (f.key().to_owned(), f.evaluation_dependencies()))
            .chain(std::iter::once((
                key.to_owned(),
                flag.evaluation_dependencies(),
            ))),
    );
    if let Some(cycle) = graph
        .cycles()
        .into_iter()
        .find(|c| c.iter().any(|k| k == key))
    {
        return Err(invalid(
            key,
            format!("circular dependency: {}", format_cycle(&cycle)),
        ));
    }
    Ok(())
}

pub(super) fn enabled_dependents<F: LocalModel>(others: &[F], key: &str) -> Vec<String> {
    others
        .iter()
        .filter(|f| f.is_enabled() && f.evaluation_dependencies().contains(key))
        .map(|f| format!("`{}`", f.key()))
        .collect()
}

/// The stored flag `live` names, checked against the version the caller read.
pub(super) fn find_current<'a, F: LocalModel>(
    state: &'a mut EnvironmentState<F::Stored>,
    live: &LiveFlag<F>,
) -> BackendResult<&'a mut StoredFlag<F::Stored>> {
    let key = live.flag.key().to_owned();
    let id: u64 = live
        .id
        .parse()
        .map_err(|_| BackendError::NotFound { key: key.clone() })?;
    let stored = state
        .flags
        .iter_mut()
        .find(|f| f.id == id && !f.deleted)
        .ok_or_else(|| BackendError::NotFound { key: key.clone() })?;
    if let Some(version) = &live.token
        && *version != Token::Number(stored.version)
    {
        return Err(BackendError::Conflict {
            key,
            detail: format!(
                "it is at version {}, the caller read version {version}",
                stored.version
            ),
        });
    }
    Ok(stored)
}
