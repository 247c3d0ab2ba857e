//! Importing one environment into a file that other environments read too.
//!
//! A flag file's base is what every environment starts from and `environments.<name>`
//! replaces top-level fields for one environment (`FlagSpec::resolve`). Rewriting the file
//! from environment E's live flag would change what every other environment resolves to, so
//! [`merge`] keeps the base as written and puts into E's override exactly the top-level
//! fields where E's resolution differs from live (compared as a plan compares them,
//! `plan::differences`), replacing the override's existing value of those fields:
//!
//! - fields the model reads together (`FlagFile::read_together`) are written together;
//! - an override cannot remove a base value (`field: null` is ignored), so when E lacks a
//!   field whose absence an override cannot express (`FlagFile::absence_needs_base`) but the
//!   base has one, the base value moves into the override of every other environment that
//!   does not already override the field, and leaves the base; so do the base fields that
//!   would not be valid without it (`FlagFile::needs_in_base`), and E's override gets live's
//!   value of each;
//! - an override field equal to the base value is dropped (it resolves the same), and an
//!   override left empty is removed;
//! - fields an environment `ignore`s are left as written.
//!
//! The result is checked, never assumed: E must resolve to live with no difference, and every
//! other environment (of the config or of the file) must resolve to exactly the flag it
//! resolved to before; otherwise the file is refused with the reason.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::model::{FlagFile, format};
use crate::plan::to_value;

/// The top-level fields where `file` resolved for `env` differs from `live`, compared as a
/// plan compares them, without the fields in `ignored`. Empty when they are in sync.
pub fn differing_fields<F: FlagFile>(
    file: &F::Spec,
    env: &str,
    live: &F,
    ignored: &[&str],
) -> BTreeSet<String> {
    let (resolved, _) = format::resolve::<F>(file, Some(env));
    crate::plan::differences(&resolved, live)
        .into_iter()
        .filter_map(|change| to_value(&change.field).as_str().map(str::to_owned))
        .filter(|field| !ignored.contains(&field.as_str()))
        .collect()
}

/// `file` changed so that it resolves for `env` to `live` while every environment in
/// `others` (and every other environment the file overrides) resolves exactly as before (see
/// the module documentation). `file` itself when it is already in sync. The error says why
/// no such file was found.
pub fn merge<F: FlagFile>(
    file: &F::Spec,
    env: &str,
    live: &F,
    others: &BTreeSet<String>,
    ignored: &[&str],
) -> Result<F::Spec, String> {
    let mut fields = differing_fields(file, env, live, ignored);
    if fields.is_empty() {
        return Ok(file.clone());
    }
    F::read_together(&mut fields);
    let target = object(&live.file_form());
    let explicit = object(&live.normalized());
    let absence_needs_base = F::absence_needs_base();
    let mut doc = object(file);
    let mut environments = match doc.remove("environments") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut mine = match environments.remove(env) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut other_names: BTreeSet<String> = others.clone();
    other_names.extend(environments.keys().cloned());
    other_names.remove(env);

    let value_of = |field: &str| match target.get(field).filter(|v| !v.is_null()) {
        Some(value) => Some(value.clone()),
        None if absence_needs_base.contains(&field) => None,
        None => explicit.get(field).filter(|v| !v.is_null()).cloned(),
    };
    // Base fields to move into the other environments' overrides: those `env` must not have,
    // and what would no longer be valid in the base without them (`FlagFile::needs_in_base`).
    let mut move_out: BTreeSet<String> = fields
        .iter()
        .filter(|f| {
            absence_needs_base.contains(&f.as_str())
                && value_of(f).is_none()
                && doc.contains_key(*f)
        })
        .cloned()
        .collect();
    // What is not valid in the base without a field moved out moves out with it.
    let mut queue: Vec<String> = move_out.iter().cloned().collect();
    while let Some(field) = queue.pop() {
        for needed in F::needs_in_base(&field) {
            if move_out.insert((*needed).to_owned()) {
                queue.push((*needed).to_owned());
            }
        }
    }
    move_out.retain(|f| doc.contains_key(f));
    fields.extend(move_out.iter().cloned());
    F::read_together(&mut fields);

    for field in &fields {
        let field = field.as_str();
        if move_out.contains(field)
            && let Some(old) = doc.remove(field)
        {
            for name in &other_names {
                let entry = environments
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(over) = entry
                    && !over.contains_key(field)
                {
                    over.insert(field.to_owned(), old.clone());
                }
            }
        }
        match value_of(field) {
            Some(value) => mine.insert(field.to_owned(), value),
            None => mine.remove(field),
        };
    }
    for field in &fields {
        if mine.get(field).is_some() && mine.get(field) == doc.get(field) {
            mine.remove(field);
        }
    }
    if !mine.is_empty() {
        environments.insert(env.to_owned(), Value::Object(mine));
    }
    if !environments.is_empty() {
        doc.insert("environments".to_owned(), Value::Object(environments));
    }
    let merged: F::Spec = serde_json::from_value(Value::Object(doc))
        .map_err(|e| format!("the merged flag is not a flag ({e})"))?;

    let left = differing_fields::<F>(&merged, env, live, ignored);
    if !left.is_empty() {
        return Err(format!(
            "its overrides cannot express `{env}`'s {}",
            left.into_iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut names = other_names;
    names.extend(F::overrides(&merged).into_keys());
    names.remove(env);
    for name in &names {
        let (after, _) = format::resolve::<F>(&merged, Some(name));
        let (before, _) = format::resolve::<F>(file, Some(name));
        if after != before {
            return Err(format!(
                "importing `{env}` would change what `{name}` resolves to"
            ));
        }
    }
    Ok(merged)
}

/// What to write into the existing file of `live`, which holds `written`: `None` (the file
/// stays as it is) when it already resolves for `env` to the live flag; the canonical form
/// when no other environment reads it (the config has only `env` and the file no overrides;
/// its `depends_on` and the fields `env` ignores kept as written); else [`merge`]. `Err` says why the file cannot be written.
pub fn existing_file<F: FlagFile>(
    written: &F::Spec,
    live: &F,
    env: &str,
    config: &Config,
) -> Result<Option<F::Spec>, String> {
    let ignored: Vec<&str> = config
        .environments
        .get(env)
        .map(|e| e.ignore.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if differing_fields(written, env, live, &ignored).is_empty() {
        return Ok(None);
    }
    let others: BTreeSet<String> = config
        .environments
        .keys()
        .filter(|name| *name != env)
        .cloned()
        .collect();
    if others.is_empty() && F::overrides(written).is_empty() {
        // `depends_on` (no service stores it) and the fields the environment ignores are the
        // repository's: kept as written.
        let mut spec = object(&live.file_form());
        let written_fields = object(written);
        for field in ignored.iter().copied().chain(["depends_on"]) {
            match written_fields.get(field) {
                Some(value) => spec.insert(field.to_owned(), value.clone()),
                None => spec.remove(field),
            };
        }
        return serde_json::from_value(Value::Object(spec))
            .map(Some)
            .map_err(|e| format!("the imported flag is not a flag ({e})"));
    }
    merge(written, env, live, &others, &ignored).map(Some)
}

fn object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests;
