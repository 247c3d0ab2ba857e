//! Import: the live flags of one environment → canonical flag files.
//!
//! Runs the pipeline backwards: a backend's `LiveState` (already translated into `model::Flag`,
//! dependencies by key) becomes one YAML document per flag, in the form a person would write and
//! `source` reads back. Pure: [`select`] decides which flags can be imported, [`canonical`]
//! turns a flag into its file form and [`render`] writes the text. `cli::import` reads the live
//! state, decides where files go and writes them.
//!
//! The file form is the model's (`model::FlagFile::file_form`: its canonical form, defaults
//! left out, a few things folded back for readability). Planning right after an import
//! therefore shows no change: the plan normalizes both sides and normalizing is idempotent.
//!
//! A file that already exists and that other environments read is not rewritten from the live
//! flag but merged ([`merge`]); [`comments`] finds what a rewrite would drop.

pub mod comments;
pub mod merge;

use globset::GlobMatcher;
use serde_saphyr::ser_options;

use crate::backend::LiveState;
use crate::model::{FlagFile, VendorFlag};
use crate::source;

/// A live flag that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The flag key.
    pub key: String,
    /// Why, one clause, lower-case start (`it uses …`, `it depends on …`).
    pub reason: String,
}

/// The flags an import writes and the ones it leaves out, each sorted by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection<F> {
    /// Flags that can be written, as read.
    pub flags: Vec<F>,
    /// Flags the model cannot represent.
    pub skipped: Vec<Skipped>,
}

pub use crate::model::is_valid_key;

/// The live flags matching `filter` (all when `None`), split into importable and skipped.
///
/// Skipped: flags the backend could not translate (`LiveState::unsupported`, e.g. PostHog's
/// `filters.version` 2), flags whose key is not a valid flagops key, and flags depending on a
/// flag that is not live (the adapter names such a target `#<id>`): writing them would lose
/// or invent something.
pub fn select<F: VendorFlag>(live: &LiveState<F>, filter: Option<&GlobMatcher>) -> Selection<F> {
    let wanted = |key: &str| filter.is_none_or(|f| f.is_match(key));
    let mut selection = Selection {
        flags: Vec::new(),
        skipped: Vec::new(),
    };
    for unsupported in live.unsupported.iter().filter(|u| wanted(&u.key)) {
        selection.skipped.push(Skipped {
            key: unsupported.key.clone(),
            reason: unsupported.reason.clone(),
        });
    }
    for live_flag in live.flags.iter().filter(|f| wanted(f.flag.key())) {
        let flag = &live_flag.flag;
        if !F::is_valid_key(flag.key()) {
            selection.skipped.push(Skipped {
                key: flag.key().to_owned(),
                reason: format!("its key is not a valid flagops key ({})", F::key_rule()),
            });
            continue;
        }
        let dangling: Vec<String> = flag
            .dependencies()
            .into_iter()
            .filter(|target| !F::is_valid_key(target))
            .collect();
        if !dangling.is_empty() {
            let targets = dangling
                .iter()
                .map(
                    |t| match t.strip_prefix(crate::backend::posthog::MISSING_TARGET_PREFIX) {
                        Some(id) => format!("flag id {id}"),
                        None => format!("`{t}`"),
                    },
                )
                .collect::<Vec<_>>()
                .join(", ");
            selection.skipped.push(Skipped {
                key: flag.key().to_owned(),
                reason: format!(
                    "it depends on {targets}, which is not a live flag (deleted?); fix the condition in the service first"
                ),
            });
            continue;
        }
        selection.flags.push(flag.clone());
    }
    selection.flags.sort_by(|a, b| a.key().cmp(b.key()));
    selection.skipped.sort_by(|a, b| a.key.cmp(&b.key));
    selection
}

/// Longest file name written: most file systems allow 255 bytes, PostHog keys may have 400.
const MAX_FILE_NAME: usize = 255;

/// The name of a new file for flag `key` in a directory whose entries are `taken` (lower-cased
/// name → name), which records the choice. `<key>.yaml`, unless that is longer than a file
/// system allows, differs only in case from a name already there (one file on macOS and
/// Windows), or the key holds characters a file name must not (a service whose keys may hold
/// any text, such as Mixpanel's): then the key's first 200 characters, each such character
/// as `_`, and 8 hex digits of its SHA-256.
pub fn file_name(key: &str, taken: &mut std::collections::BTreeMap<String, String>) -> String {
    let plain = format!("{key}.yaml");
    let clash = taken
        .get(&plain.to_lowercase())
        .is_some_and(|name| *name != plain);
    let name = if plain.len() <= MAX_FILE_NAME && !clash && is_valid_key(key) {
        plain
    } else {
        let digest = crate::util::sha256(key.as_bytes());
        let hex = digest.trim_start_matches("sha256:");
        let prefix: String = key
            .chars()
            .take(200)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{prefix}-{}.yaml", &hex[..8])
    };
    taken.insert(name.to_lowercase(), name.clone());
    name
}

/// The file form of a live flag (see the module documentation).
pub fn canonical<F: FlagFile>(flag: &F) -> F::Spec {
    flag.file_form()
}

/// The YAML text of one flag file: the schema modeline (`schema_path` relative to the file),
/// then the document, keys in field order, strings quoted where YAML would read them as
/// something else, multi-line strings as double-quoted escapes (never block scalars, whose
/// trailing spaces editors strip), block lists indented under their key.
pub fn render<F: FlagFile>(spec: &F::Spec, schema_path: &str) -> Result<String, String> {
    let options = ser_options! {
        indent_step: 2,
        compact_list_indent: false,
        prefer_block_scalars: false,
    };
    let body = serde_saphyr::to_string_with_options(spec, options)
        .map_err(|e| format!("cannot write flag `{}` as YAML: {e}", F::spec_key(spec)))?;
    let mut text = format!("# yaml-language-server: $schema={schema_path}\n{body}");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Read `text` back with flagops' loader and check it is exactly `spec`: one document that
/// passes the flag schema and deserializes to the same value. Returns the problem otherwise.
pub fn check_round_trip<F: FlagFile>(
    text: &str,
    spec: &F::Spec,
    shown: &std::path::Path,
) -> Result<(), String> {
    let contents = source::load_file::<F>(text, shown);
    if let Some(finding) = contents.findings.first() {
        return Err(format!(
            "the written file would not load: {}",
            finding.message
        ));
    }
    match contents.flags.as_slice() {
        [one] if one.spec == *spec => Ok(()),
        [one] => Err(format!(
            "the written file reads back differently (as `{}`)",
            one.key()
        )),
        _ => Err("the written file does not hold exactly one flag".to_owned()),
    }
}

/// A relative path from directory `from` to `to` (both absolute and lexically normal), with
/// `/` separators: what a modeline needs.
pub fn relative_path(from: &std::path::Path, to: &std::path::Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// `path` with `.` and `..` components resolved lexically (no file system access).
pub fn lexical_normal(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests;
