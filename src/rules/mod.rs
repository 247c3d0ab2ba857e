//! Semantic rules: what the schema cannot say.
//!
//! Pure. Every flag is resolved for the base and for each configured environment; rules run
//! on each resolution and a problem that only an environment has is reported with that
//! environment's name. Repository-wide rules (missing references, cycles, enabled flags that
//! depend on disabled ones, unknown environments) run on the same resolutions.
//!
//! Errors are what PostHog rejects (including the cross-field checks it is rolling out, such
//! as payload and variant-override keys and which properties a grouping allows) or what can
//! never take effect as written; warnings are what PostHog accepts and rewrites, or ignores
//! harmlessly (tag case, a value on `is_set`, an empty file). The README lists every rule.
//!
//! The rules about one flag on its own are the vendor's (`FlagRules`; PostHog's in
//! `model::rules`); the repository-wide ones are here.

pub mod changed;
mod problem;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::finding::{self, Finding, Related, Severity};
use crate::graph::{DependencyGraph, format_cycle};
use crate::model::{FlagFile, Origins};
use crate::schema::{closest, field_path};
use crate::source::{LoadedFlag, Repository};

pub use problem::{FlagRules, Problem};

/// What the rules need of a vendor's model: its file format and its rules about one flag.
pub trait Checked: FlagFile + FlagRules {}

impl<F: FlagFile + FlagRules> Checked for F {}

struct Resolved<'a, F: FlagFile> {
    /// The flag for the resolution's environment: the base's own when it has no override
    /// there.
    flag: Cow<'a, F>,
    origins: Origins,
    loaded: &'a LoadedFlag<F>,
}

impl<F: FlagFile> Resolved<'_, F> {
    fn finding(
        &self,
        severity: Severity,
        code: &'static str,
        pointer: &str,
        message: String,
    ) -> Finding {
        let pointer = self.origins.resolve(pointer);
        let f = match severity {
            Severity::Error => Finding::error(code, message),
            Severity::Warning => Finding::warning(code, message),
        };
        f.in_file(&self.loaded.file)
            .at(self.loaded.locations.value(&pointer))
            .for_flag(self.flag.key().to_owned())
            .field(field_path(&pointer))
    }
}

/// Every flag of one resolution, and the keys that exist but are not in it.
struct Resolution<'a, F: FlagFile> {
    flags: BTreeMap<String, Resolved<'a, F>>,
    /// Keys of flags that exist but cannot be checked here: references to them are not
    /// reported as missing.
    unchecked: BTreeSet<String>,
    /// Flag files that could not be read or parsed completely.
    unread: &'a [std::path::PathBuf],
}

/// Resolve every flag for one environment (`None`: the base). With `partial`, the checkable
/// rest of the flags with schema errors too (`validate`); a flag whose override for `env` is
/// broken is then left out of that environment, as unchecked.
///
/// With `base` (the base's resolution, same `partial`), a flag without an override for `env`
/// is borrowed from it instead of being resolved again.
fn resolve<'a, F: FlagFile>(
    repo: &'a Repository<F>,
    env: Option<&str>,
    partial: bool,
    base: Option<&'a Resolution<'a, F>>,
) -> Resolution<'a, F> {
    let mut unchecked = repo.invalid_keys.clone();
    let mut flags = BTreeMap::new();
    let loaded = if partial {
        repo.checked_flags().collect::<Vec<_>>()
    } else {
        repo.flags.iter().collect()
    };
    for loaded in loaded {
        if env.is_some_and(|e| loaded.broken.environments.contains(e)) {
            unchecked.insert(loaded.key().to_owned());
            continue;
        }
        if let (Some(env), Some(base)) = (env, base)
            && !loaded.overrides.contains_key(env)
            && let Some(same) = base
                .flags
                .get(loaded.key())
                .filter(|r| std::ptr::eq(r.loaded, loaded))
        {
            flags.insert(
                loaded.key().to_owned(),
                Resolved {
                    flag: Cow::Borrowed(&*same.flag),
                    origins: same.origins.clone(),
                    loaded,
                },
            );
            continue;
        }
        let (flag, origins) = loaded.resolve(env);
        flags.insert(
            flag.key().to_owned(),
            Resolved {
                flag: Cow::Owned(flag),
                origins,
                loaded,
            },
        );
    }
    Resolution {
        flags,
        unchecked,
        unread: &repo.unread,
    }
}

/// Run every rule over the repository.
pub fn check<F: Checked>(repo: &Repository<F>) -> Vec<Finding> {
    check_keeping(repo, None).0
}

/// Run every rule over the repository; with `keep`, also give each flag of `repo.flags`
/// resolved for that environment, in their order: the flags the rules resolved, moved out
/// of their resolutions instead of being resolved again.
fn check_keeping<F: Checked>(repo: &Repository<F>, keep: Option<&str>) -> (Vec<Finding>, Vec<F>) {
    let mut findings = check_environment_names(repo);
    findings.extend(check_null_overrides(repo));
    let mut base_keys = BTreeSet::new();
    let base = resolve(repo, None, true, None);
    // The kept environment's own flags (those it overrides).
    let mut kept: BTreeMap<String, F> = BTreeMap::new();
    let mut envs: Vec<Option<&str>> = vec![None];
    envs.extend(repo.config.environments.keys().map(|k| Some(k.as_str())));
    for env in envs {
        // An environment that no flag overrides (and that no flag is left out of) resolves
        // to the base's flags themselves: its findings would all be the base's, which are
        // reported once.
        if let Some(name) = env
            && !repo
                .checked_flags()
                .any(|l| l.overrides.contains_key(name) || l.broken.environments.contains(name))
        {
            continue;
        }
        let own = env.map(|_| resolve(repo, env, true, Some(&base)));
        let resolution = own.as_ref().unwrap_or(&base);
        let mut found = check_flags(&resolution.flags);
        found.extend(check_references(resolution));
        found.extend(check_cycles(&resolution.flags));
        if let Some(own) = own
            && env == keep
        {
            kept = own
                .flags
                .into_iter()
                .filter_map(|(key, r)| match r.flag {
                    Cow::Owned(flag) => Some((key, flag)),
                    Cow::Borrowed(_) => None,
                })
                .collect();
        }
        for mut f in found {
            let id = (f.code, f.file.clone(), f.field.clone(), f.message.clone());
            match env {
                None => {
                    base_keys.insert(id);
                }
                Some(name) => {
                    if base_keys.contains(&id) {
                        continue;
                    }
                    f.message = format!("{} (environment `{name}`)", f.message);
                }
            }
            findings.push(f);
        }
    }
    finding::normalize(&mut findings);
    let Some(env) = keep else {
        return (findings, Vec::new());
    };
    // The base's flags are its own (`Cow::Owned`): moved, not copied.
    let mut base = base.flags;
    let flags = repo
        .flags
        .iter()
        .map(|loaded| {
            kept.remove(loaded.key())
                .or_else(|| base.remove(loaded.key()).map(|r| r.flag.into_owned()))
                // Left out of the resolutions (a broken override): resolved here.
                .unwrap_or_else(|| loaded.resolve(Some(env)).0)
        })
        .collect();
    (findings, flags)
}

fn check_environment_names<F: FlagFile>(repo: &Repository<F>) -> Vec<Finding> {
    let known: Vec<String> = repo.config.environments.keys().cloned().collect();
    let mut findings = Vec::new();
    for loaded in repo.checked_flags() {
        for name in loaded.overrides.keys() {
            if known.contains(name) {
                continue;
            }
            let pointer = format!("/environments/{}", crate::util::escape_pointer(name));
            let mut f = Finding::error(
                "unknown-environment",
                format!(
                    "environment `{name}` is not defined in `{}`",
                    repo.config_file.display()
                ),
            )
            .in_file(&loaded.file)
            .at(loaded.locations.key(&pointer))
            .for_flag(loaded.key().to_owned())
            .field(field_path(&pointer));
            f = match closest(name, &known) {
                Some(best) => f.help(format!("did you mean `{best}`?")),
                None if known.is_empty() => f.help("the config defines no environments"),
                None => f.help(format!("defined environments: {}", known.join(", "))),
            };
            findings.push(f);
        }
    }
    findings
}

/// `field: null` in an override reads like "remove it", but an override can only replace a
/// field: the base value stays.
fn check_null_overrides<F: FlagFile>(repo: &Repository<F>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for loaded in repo.checked_flags() {
        for (name, given) in &loaded.overrides {
            let prefix = format!("/environments/{}", crate::util::escape_pointer(name));
            let nulls = given
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| v.is_null());
            for (field, _) in nulls {
                let pointer = format!("{prefix}/{}", crate::util::escape_pointer(field));
                // A key left out for a schema error is not a `null`.
                if loaded.broken.covers(&pointer) {
                    continue;
                }
                findings.push(
                    Finding::warning(
                        "ignored-override",
                        format!(
                            "`{field}: null` in environment `{name}` does not remove the base \
                             value; an override can only replace a field"
                        ),
                    )
                    .in_file(&loaded.file)
                    .at(loaded.locations.key(&pointer))
                    .for_flag(loaded.key().to_owned())
                    .field(field_path(&pointer))
                    .help(format!(
                        "write the value `{field}` should have in `{name}`, or remove the line"
                    )),
                );
            }
        }
    }
    findings
}

fn check_flags<F: Checked>(resolved: &BTreeMap<String, Resolved<'_, F>>) -> Vec<Finding> {
    // A flag whose fields other flags' rules read were left out (schema errors) cannot
    // answer them.
    let known: BTreeMap<&str, &F> = resolved
        .iter()
        .filter(|(_, r)| {
            !F::read_by_references()
                .iter()
                .any(|field| r.loaded.broken.fields.contains(*field))
        })
        .map(|(k, r)| (k.as_str(), &*r.flag))
        .collect();
    let mut findings = Vec::new();
    for r in resolved.values() {
        let broken = &r.loaded.broken;
        for problem in r.flag.problems(&known) {
            let needs_broken = F::needs(problem.code)
                .iter()
                .any(|field| broken.fields.contains(*field));
            if needs_broken || broken.covers(&r.origins.resolve(&problem.pointer)) {
                continue;
            }
            let mut f = r.finding(
                problem.severity,
                problem.code,
                &problem.pointer,
                problem.message,
            );
            if problem.on_key {
                f.span = r.loaded.locations.key(&r.origins.resolve(&problem.pointer));
            }
            if let Some(help) = problem.help {
                f = f.help(help);
            }
            findings.push(f);
        }
    }
    findings
}

fn check_references<F: Checked>(resolution: &Resolution<'_, F>) -> Vec<Finding> {
    let resolved = &resolution.flags;
    // Suggestions come only from keys that were read.
    let keys: Vec<String> = resolved
        .keys()
        .chain(&resolution.unchecked)
        .cloned()
        .collect();
    let mut findings = Vec::new();
    for r in resolved.values() {
        for reference in r.flag.references() {
            if reference.target == r.flag.key() {
                continue; // a self-reference is a cycle of one
            }
            match resolved.get(&reference.target) {
                None if resolution.unchecked.contains(&reference.target) => {}
                None => {
                    let mut f = r.finding(
                        Severity::Error,
                        "missing-flag",
                        &reference.pointer,
                        format!(
                            "`{}` depends on `{}`, which is not defined in the repository",
                            r.flag.key(),
                            reference.target
                        ),
                    );
                    let unread = resolution.unread.iter().find(|file| {
                        file.file_stem()
                            .is_some_and(|stem| stem == reference.target.as_str())
                    });
                    if let Some(file) = unread {
                        f = f.help(format!(
                            "`{}` could not be read and may define it; fix that file first",
                            file.display()
                        ));
                    } else if let Some(best) = closest(&reference.target, &keys) {
                        f = f.help(format!("did you mean `{best}`?"));
                    }
                    findings.push(f);
                }
                // Only what the flag's evaluation needs counts. A left-out state field
                // (schema error) says nothing about either flag.
                Some(target)
                    if r.flag.is_enabled()
                        && !target.flag.is_enabled()
                        && F::evaluates(&reference)
                        && !F::state_fields().iter().any(|field| {
                            r.loaded.broken.fields.contains(*field)
                                || target.loaded.broken.fields.contains(*field)
                        }) =>
                {
                    let (field, state) = target.flag.off();
                    findings.push(
                        r.finding(
                            Severity::Error,
                            "disabled-dependency",
                            &reference.pointer,
                            format!(
                                "`{}` is enabled but depends on `{}`, which is {state}",
                                r.flag.key(),
                                reference.target
                            ),
                        )
                        .help("enable the dependency, disable this flag, or remove the dependency")
                        .related(Related {
                            file: target.loaded.file.clone(),
                            span: target
                                .loaded
                                .locations
                                .value(&target.origins.pointer(field, "")),
                            message: format!("`{}` is {state} here", reference.target),
                        }),
                    );
                }
                Some(_) => {}
            }
        }
    }
    findings
}

fn check_cycles<F: FlagFile>(resolved: &BTreeMap<String, Resolved<'_, F>>) -> Vec<Finding> {
    let graph = DependencyGraph::new(
        resolved
            .iter()
            .map(|(k, r)| (k.clone(), r.flag.dependencies())),
    );
    let mut findings = Vec::new();
    for cycle in graph.cycles() {
        let (Some(first), Some(next)) = (cycle.first(), cycle.get(1)) else {
            continue;
        };
        let Some(r) = resolved.get(first) else {
            continue;
        };
        let pointer = r
            .flag
            .references()
            .into_iter()
            .find(|reference| &reference.target == next)
            .map_or_else(|| "/key".to_owned(), |reference| reference.pointer);
        let mut f = r
            .finding(
                Severity::Error,
                "cycle",
                &pointer,
                format!("dependency cycle: {}", format_cycle(&cycle)),
            )
            .help("remove one of the dependencies to break the cycle");
        // Each other member is shown where it depends on the next one, so that every edge
        // of the cycle — and every file — is named.
        for pair in cycle[1..].windows(2) {
            let (member, next) = (&pair[0], &pair[1]);
            if let Some(m) = resolved.get(member) {
                let edge = m
                    .flag
                    .references()
                    .into_iter()
                    .find(|reference| &reference.target == next)
                    .map(|reference| m.origins.resolve(&reference.pointer));
                f = f.related(Related {
                    file: m.loaded.file.clone(),
                    span: edge.as_deref().and_then(|p| m.loaded.locations.value(p)),
                    message: format!("`{member}` depends on `{next}` here"),
                });
            }
        }
        findings.push(f);
    }
    findings
}

/// The dependency problems of one resolution (`None`: the base): missing flags and cycles,
/// sorted. What `graph` needs to know before it can order the flags it draws.
pub fn check_dependencies<F: Checked>(repo: &Repository<F>, env: Option<&str>) -> Vec<Finding> {
    let resolution = resolve(repo, env, false, None);
    let mut findings: Vec<Finding> = check_references(&resolution)
        .into_iter()
        .filter(|f| f.code == "missing-flag")
        .collect();
    findings.extend(check_cycles(&resolution.flags));
    finding::normalize(&mut findings);
    findings
}

/// Every finding of a repository, as shown: loading, schema and rules, sorted, at most
/// `finding::MAX_PER_FILE` per file and `finding::MAX_PER_RUN` in all (the rest counted in a
/// `finding-limit` finding).
pub fn validate<F: Checked>(repo: &Repository<F>) -> Vec<Finding> {
    report(repo).findings
}

/// [`validate`], and each flag of `repo.flags` resolved for `env`, in their order (what the
/// rules resolved, not resolved again).
pub fn validate_for<F: Checked>(repo: &Repository<F>, env: &str) -> (Vec<Finding>, Vec<F>) {
    let (found, flags) = check_keeping(repo, Some(env));
    (shown(repo, found).findings, flags)
}

/// The findings `validate` shows and the totals before the limits.
#[derive(Debug)]
pub struct Report {
    /// The findings shown (see `validate`).
    pub findings: Vec<Finding>,
    /// Error findings, including those not shown.
    pub errors: usize,
    /// Warning findings, including those not shown.
    pub warnings: usize,
}

/// Every finding of a repository and its totals.
pub fn report<F: Checked>(repo: &Repository<F>) -> Report {
    shown(repo, check(repo))
}

/// The repository's own findings and the rules' `found`, as [`report`] gives them.
fn shown<F: FlagFile>(repo: &Repository<F>, found: Vec<Finding>) -> Report {
    let mut all = repo.findings.clone();
    all.extend(found);
    finding::normalize(&mut all);
    let (errors, warnings) = finding::count(&all);
    Report {
        findings: finding::limit(all),
        errors,
        warnings,
    }
}

#[cfg(test)]
mod tests;
