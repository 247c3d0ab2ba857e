//! Findings narrowed to one change (`validate --changed-since REV`): those in the files the
//! change touched, and those of flags that depend, directly or through other flags, on a flag
//! defined in those files (at the base or now). GitHub shows only the first annotations of a
//! job, so the change's own findings must not be crowded out by older ones elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::finding::{Finding, Severity};
use crate::model::FlagFile;
use crate::source::Repository;

/// The findings of one change, and how many were left out.
#[derive(Debug, Default)]
pub struct Narrowed {
    /// The findings kept, in their order.
    pub findings: Vec<Finding>,
    /// Error findings left out (elsewhere).
    pub left_out_errors: usize,
    /// Warning findings left out (elsewhere).
    pub left_out_warnings: usize,
}

/// `./flags/a.yaml` → `flags/a.yaml`: paths compared as written by git (the `changed` set).
fn plain(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// The flags the change touched: every key defined in a `changed` file now (in `repo`) or at
/// the base (in `base`, when the base has the config), then every flag depending on one of
/// them, transitively. Dependencies are read from every environment's resolution.
pub fn touched<F: FlagFile>(
    repo: &Repository<F>,
    base: Option<&Repository<F>>,
    changed: &BTreeSet<PathBuf>,
) -> BTreeSet<String> {
    let in_changed = |r: &Repository<F>| -> Vec<String> {
        r.checked_flags()
            .filter(|f| changed.contains(&plain(&f.file)))
            .map(|f| f.key().to_owned())
            .collect()
    };
    let mut touched: BTreeSet<String> = in_changed(repo).into_iter().collect();
    touched.extend(base.map(in_changed).unwrap_or_default());
    // Reverse edges: dependency → the flags depending on it.
    let mut dependents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let environments: Vec<Option<&str>> = std::iter::once(None)
        .chain(repo.config.environments.keys().map(|k| Some(k.as_str())))
        .collect();
    for flag in repo.checked_flags() {
        for env in &environments {
            for dependency in flag.resolve(*env).0.dependencies() {
                dependents
                    .entry(dependency)
                    .or_default()
                    .insert(flag.key().to_owned());
            }
        }
    }
    let mut queue: Vec<String> = touched.iter().cloned().collect();
    while let Some(key) = queue.pop() {
        for dependent in dependents.get(&key).into_iter().flatten() {
            if touched.insert(dependent.clone()) {
                queue.push(dependent.clone());
            }
        }
    }
    touched
}

/// Keep the findings in a `changed` file or about a `touched` flag (and those about neither
/// a file nor a flag); count the others.
pub fn narrow(
    findings: Vec<Finding>,
    changed: &BTreeSet<PathBuf>,
    touched: &BTreeSet<String>,
) -> Narrowed {
    let mut out = Narrowed::default();
    for finding in findings {
        let in_file = finding
            .file
            .as_ref()
            .is_some_and(|f| changed.contains(&plain(f)));
        let on_flag = finding.flag.as_ref().is_some_and(|k| touched.contains(k));
        let nowhere = finding.file.is_none() && finding.flag.is_none();
        if in_file || on_flag || nowhere {
            out.findings.push(finding);
        } else if finding.severity == Severity::Error {
            out.left_out_errors += 1;
        } else {
            out.left_out_warnings += 1;
        }
    }
    out
}
