//! Reads the desired state: `flagops.yaml` and every flag file it points at.
//!
//! This is the only stage that touches the repository's files. It lists the flag files
//! (`discover`), parses YAML with locations (`yaml`), checks each document against the
//! generated schema and builds the vendor's documents (`model::FlagFile::Spec`); a document with schema errors still yields the
//! rest of its flag (`broken`), for the rules. Problems become `Finding`s; nothing here panics
//! on bad input, and the size of a repository is bounded (bytes and flags).

mod broken;
mod config;
mod discover;
pub mod git;
mod read;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{CONFIG_FILE, Config};
use crate::finding::{Finding, Related, Span};
use crate::model::FlagFile;
use crate::model::format::ENVIRONMENTS;
use crate::schema;
use crate::vendor::posthog::Flag;
pub use broken::Broken;
pub use config::{MAX_FLAG_ENTRIES, load_config};
use config::{ignore_findings, read_config};
use discover::{Discovered, discover, not_a_file};
use read::read_text;
use yaml::Locations;

/// Largest flag or config file read (bytes).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest total size of the flag files of one repository (bytes); over it none is read.
pub const MAX_REPOSITORY_BYTES: u64 = 32 * 1024 * 1024;
/// Most flags one repository may define; the flags past it are not loaded.
pub const MAX_FLAGS: usize = 10_000;
pub use yaml::MAX_REPOSITORY_NODES;

/// A flag document that passed the schema, or the checkable rest of one that did not, in the
/// file format of the vendor's model `F`.
#[derive(Debug, Clone)]
pub struct LoadedFlag<F: FlagFile = Flag> {
    /// The flag as written (without its broken parts, if any).
    pub spec: F::Spec,
    /// Its file, relative to the repository directory.
    pub file: PathBuf,
    /// Where each node of its document is.
    pub locations: Locations,
    /// The parts of the document left out because they broke the schema (empty for a
    /// valid flag).
    pub broken: Broken,
    /// Each environment's override as written (its broken parts left out), by environment
    /// name: read once here, so that resolving a flag for an environment it does not override
    /// costs no conversion of the document.
    pub overrides: BTreeMap<String, serde_json::Value>,
}

impl<F: FlagFile> LoadedFlag<F> {
    /// The flag's key.
    pub fn key(&self) -> &str {
        F::spec_key(&self.spec)
    }

    /// The flag for `environment` (`None`: the base), and where each field was written.
    pub fn resolve(&self, environment: Option<&str>) -> (F, crate::model::Origins) {
        match environment.and_then(|env| self.overrides.get_key_value(env)) {
            Some((env, over)) => {
                let (spec, origins) = crate::model::format::apply_override(&self.spec, env, over);
                (F::from_spec(&spec), origins)
            }
            None => (F::from_spec(&self.spec), crate::model::Origins::default()),
        }
    }

    /// The span of the value at `pointer` in this flag's document.
    pub fn span(&self, pointer: &str) -> Option<Span> {
        self.locations.value(pointer)
    }
}

/// The loaded repository: config plus every flag that could be read, in the file format of
/// the vendor's model `F`.
#[derive(Debug, Clone)]
pub struct Repository<F: FlagFile = Flag> {
    /// The directory paths are relative to (the config file's directory).
    pub root: PathBuf,
    /// The config file, relative to `root` when inside it.
    pub config_file: PathBuf,
    /// The config.
    pub config: Config,
    /// Flags that passed the schema, first occurrence of each key only, in file order.
    pub flags: Vec<LoadedFlag<F>>,
    /// Flags that did not pass the schema but whose key is readable, with their broken parts
    /// left out (first occurrence of each key only): `validate` still checks the rest. Never
    /// planned or drawn.
    pub partial: Vec<LoadedFlag<F>>,
    /// How many flag files were read.
    pub files: usize,
    /// Keys of flag documents that failed the schema or could not be parsed: they exist, so
    /// references to them are not reported as missing (their checkable parts are in
    /// `partial`).
    pub invalid_keys: BTreeSet<String>,
    /// Flag files that could not be read or parsed completely: they may define flags no
    /// one can see.
    pub unread: Vec<PathBuf>,
    /// Everything wrong with the flag files.
    pub findings: Vec<Finding>,
}

impl<F: FlagFile> Repository<F> {
    /// The flag with `key`.
    pub fn flag(&self, key: &str) -> Option<&LoadedFlag<F>> {
        self.flags.iter().find(|f| f.key() == key)
    }

    /// Every flag `validate` checks: the valid ones, then the rest of the broken ones.
    pub fn checked_flags(&self) -> impl Iterator<Item = &LoadedFlag<F>> {
        self.flags.iter().chain(&self.partial)
    }

    /// How many flags the repository defines: every distinct key read, valid or not (a
    /// document whose `key` cannot be read is not counted: it names no flag).
    pub fn flag_count(&self) -> usize {
        let keys: BTreeSet<&str> = self
            .checked_flags()
            .map(LoadedFlag::key)
            .chain(self.invalid_keys.iter().map(String::as_str))
            .collect();
        keys.len()
    }
}

/// Why the config could not be used. Always exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file.
    #[error("no `{CONFIG_FILE}` in `{}`", .0.display())]
    NotFound(PathBuf),
    /// The config file given with `--config` does not exist.
    #[error("config file `{}` does not exist", .0.display())]
    MissingFile(PathBuf),
    /// The file exists but is unusable; the findings say why.
    #[error("`{}` is not a valid flagops config", .file.display())]
    Invalid {
        /// The config file, relative to `root`.
        file: PathBuf,
        /// The directory holding the config file, which the findings' paths are relative to.
        root: PathBuf,
        /// What is wrong.
        findings: Vec<Finding>,
    },
}

fn yaml_findings(parsed: &yaml::Parsed, shown: &Path) -> Vec<Finding> {
    parsed
        .errors
        .iter()
        .map(|e| {
            let mut f = Finding::error(e.code, e.message.clone())
                .in_file(shown)
                .at(e.span);
            if let Some(help) = e.help {
                f = f.help(help);
            }
            if let Some((span, message)) = &e.related {
                f = f.related(Related {
                    file: shown.to_path_buf(),
                    span: Some(*span),
                    message: message.clone(),
                });
            }
            f
        })
        .collect()
}

/// Build the typed value of a document that passed the schema. JSON Schema and serde agree
/// except where the schema cannot tell (an integer field written `1.0` or past 64 bits is an
/// integer to JSON Schema); such a failure still becomes a located finding.
fn deserialize<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    locations: &Locations,
    file: &Path,
) -> Result<T, Box<Finding>> {
    deserialize_at(value, locations, file).map_err(|(_, f)| f)
}

/// `deserialize`, the error with the JSON pointer of the value it is about.
fn deserialize_at<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    locations: &Locations,
    file: &Path,
) -> Result<T, (String, Box<Finding>)> {
    // The plain path first: tracking the path costs time on every flag of a large repository.
    if let Ok(typed) = T::deserialize(value) {
        return Ok(typed);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut pointer = String::new();
        for segment in e.path() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    pointer = format!("{pointer}/{index}");
                }
                serde_path_to_error::Segment::Map { key } => {
                    pointer = format!("{pointer}/{}", crate::util::escape_pointer(key));
                }
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        let mut f = Finding::error("schema", e.inner().to_string())
            .in_file(file)
            .at(locations.value(&pointer))
            .field(schema::field_path(&pointer));
        if let Some(serde_json::Value::Number(n)) = value.pointer(&pointer)
            && n.is_f64()
        {
            f.message = format!("`{n}` has the wrong type (expected integer)");
            let whole = n
                .as_f64()
                .is_some_and(|x| x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0);
            f = f.help(if whole {
                "write it without a decimal point"
            } else {
                "write a whole number that fits in 64 bits"
            });
        }
        (pointer, Box::new(f))
    })
}

/// What one flag file held.
#[derive(Debug)]
pub struct FileContents<F: FlagFile = Flag> {
    /// Documents that passed the schema.
    pub flags: Vec<LoadedFlag<F>>,
    /// Documents that did not, with a readable key: their checkable rest.
    pub partial: Vec<LoadedFlag<F>>,
    /// Keys of documents that did not pass the schema or could not be parsed.
    pub invalid_keys: Vec<String>,
    /// Every problem.
    pub findings: Vec<Finding>,
    /// The YAML could not be parsed completely: documents (and flags) may be missing.
    pub incomplete: bool,
    /// YAML nodes built.
    pub nodes: usize,
    /// The repository's node budget ran out in this file.
    pub budget_spent: bool,
}

impl<F: FlagFile> Default for FileContents<F> {
    fn default() -> Self {
        FileContents {
            flags: Vec::new(),
            partial: Vec::new(),
            invalid_keys: Vec::new(),
            findings: Vec::new(),
            incomplete: false,
            nodes: 0,
            budget_spent: false,
        }
    }
}

/// Most times a document's broken parts are left out one by one before giving up on it (each
/// time removes a part, so a document has fewer rounds than fields).
const MAX_LEAVE_OUT_ROUNDS: usize = 64;

/// Parse one flag file into flag documents; every problem becomes a finding.
pub fn load_file<F: FlagFile>(text: &str, shown: &Path) -> FileContents<F> {
    load_file_within(&Arc::from(text), shown, usize::MAX)
}

/// `load_file`, building at most `budget` YAML nodes (see `yaml::parse_within`). The flags
/// keep `text` to locate their nodes when a finding needs it (see `yaml::Locations`).
fn load_file_within<F: FlagFile>(text: &Arc<str>, shown: &Path, budget: usize) -> FileContents<F> {
    let parsed = yaml::parse_lazily(text, budget);
    let mut out = FileContents {
        findings: yaml_findings(&parsed, shown),
        invalid_keys: parsed.dropped_keys.clone(),
        incomplete: !parsed.errors.is_empty(),
        nodes: parsed.nodes,
        budget_spent: parsed.errors.iter().any(|e| e.code == yaml::BUDGET_SPENT),
        ..FileContents::default()
    };
    if parsed.errors.is_empty() && parsed.documents.iter().all(|d| d.value.is_null()) {
        out.findings.push(
            Finding::warning("empty-file", "file contains no flag definition")
                .in_file(shown)
                .help("add a flag or delete the file"),
        );
    }
    for doc in parsed.documents {
        if doc.value.is_null() {
            continue;
        }
        if !doc.value.is_object() {
            out.findings.push(
                Finding::error(
                    "schema",
                    "a flag document must be a mapping with at least `key`",
                )
                .in_file(shown)
                .at(doc.locations.value(""))
                .help("write one flag per document (`key: …` and its fields); separate flags with `---`"),
            );
            continue;
        }
        load_document(doc, shown, &mut out);
    }
    out
}

/// Check one flag document against the schema and build its flag: whole when it passes,
/// else without its broken parts (when its key is readable), so the rules still see the rest.
fn load_document<F: FlagFile>(doc: yaml::Document, shown: &Path, out: &mut FileContents<F>) {
    let yaml::Document {
        mut value,
        locations,
    } = doc;
    let key = value
        .get("key")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let mut broken = Broken::default();
    let mut usable = key.is_some();
    // The parts holding a violation: at most one per top-level field, condition and
    // environment, however many violations there are.
    let mut parts = BTreeSet::new();
    let problems = schema::violations(
        schema::Kind::Flag(F::schema()),
        &value,
        &locations,
        shown,
        &mut |p| {
            parts.insert(Broken::part(p, F::item_lists()));
        },
    );
    let valid = problems.is_empty();
    out.findings.extend(problems);
    for part in parts {
        // A readable key is kept as written (its pattern or length is reported above).
        if part != "/key" && !broken.leave_out(&mut value, &part, F::item_lists()) {
            usable = false;
        }
    }
    let mut spec = None;
    let mut rounds = 0;
    while usable && spec.is_none() && rounds < MAX_LEAVE_OUT_ROUNDS {
        rounds += 1;
        match deserialize_at::<F::Spec>(&value, &locations, shown) {
            Ok(s) => spec = Some(s),
            Err((pointer, f)) => {
                out.findings.push(match &key {
                    Some(key) => f.for_flag(key.clone()),
                    None => *f,
                });
                usable = broken.leave_out(&mut value, &pointer, F::item_lists());
            }
        }
    }
    let complete = valid && broken.is_empty();
    if !complete && let Some(key) = &key {
        out.invalid_keys.push(key.clone());
    }
    let Some(spec) = spec else { return };
    let overrides = match value
        .as_object_mut()
        .and_then(|doc| doc.remove(ENVIRONMENTS))
    {
        Some(serde_json::Value::Object(envs)) => envs.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    let loaded = LoadedFlag {
        spec,
        file: shown.to_path_buf(),
        locations,
        broken,
        overrides,
    };
    if complete {
        out.flags.push(loaded);
    } else {
        out.partial.push(loaded);
    }
}

/// The finding for flag files that total more than [`MAX_REPOSITORY_BYTES`]: their sizes as
/// listed, symlinks followed (looked up only then: each file is otherwise sized as it is read).
fn repository_too_large(files: &[(PathBuf, bool)], config_file: &Path) -> Finding {
    let total: u64 = files
        .iter()
        .filter_map(|(path, _)| fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum();
    Finding::error(
        "repository-too-large",
        format!(
            "the {} flag files total {} bytes; the limit is {} bytes (32 MiB) per repository, \
             so none was loaded",
            crate::finding::thousands(files.len()),
            crate::finding::thousands(usize::try_from(total).unwrap_or(usize::MAX)),
            crate::finding::thousands(usize::try_from(MAX_REPOSITORY_BYTES).unwrap_or(usize::MAX)),
        ),
    )
    .in_file(config_file)
    .help("split the flags into several repositories, each with its own config")
}

/// Load the repository: config, then every flag file. Config problems are an error (exit 2);
/// flag problems are findings in the result.
pub fn load<F: FlagFile>(
    dir: &Path,
    config_file: Option<&Path>,
) -> Result<Repository<F>, ConfigError> {
    let (root, config_file, config, locations) = read_config(dir, config_file)?;
    let ignored = ignore_findings::<F>(&config, &locations, &config_file);
    if !ignored.is_empty() {
        return Err(ConfigError::Invalid {
            file: config_file,
            root,
            findings: ignored,
        });
    }
    let Discovered {
        files,
        config: entry_findings,
        skipped,
    } = discover(&root, &config, &locations);
    // Problems with the `flags` entries belong to the config file.
    let mut findings: Vec<Finding> = entry_findings
        .into_iter()
        .map(|f| f.in_file(&config_file))
        .collect();
    if findings
        .iter()
        .any(|f| f.severity == crate::finding::Severity::Error)
    {
        return Err(ConfigError::Invalid {
            file: config_file,
            root,
            findings,
        });
    }
    findings.extend(skipped);
    let mut flags: Vec<LoadedFlag<F>> = Vec::with_capacity(files.len());
    let mut partial: Vec<LoadedFlag<F>> = Vec::new();
    // Where each key was first defined: its file, and where in it (located only when a
    // second definition is found).
    let mut first_seen: BTreeMap<String, (PathBuf, Locations)> = BTreeMap::new();
    let mut invalid_keys = BTreeSet::new();
    let mut unread = Vec::new();
    let mut read = 0;
    let mut nodes_left = MAX_REPOSITORY_NODES;
    // What the flag files so far count against the repository's limit, in bytes, and the
    // buffer each file is read into.
    let mut bytes: u64 = 0;
    let mut buf = Vec::new();
    let before_files = findings.len();
    'files: for (path, checked) in &files {
        read += 1;
        let shown = path.strip_prefix(&root).unwrap_or(path).to_path_buf();
        let text = read_text(path, &shown, *checked, &mut buf, &mut bytes);
        // A file counts whether or not it could be used (one not UTF-8, one over the file
        // limit): the limit bounds what is read, as when the sizes were added up first.
        if bytes > MAX_REPOSITORY_BYTES {
            // None is loaded: what the files read so far said is dropped with them.
            findings.truncate(before_files);
            findings.push(repository_too_large(&files, &config_file));
            return Ok(Repository {
                root,
                config_file,
                config,
                flags: Vec::new(),
                partial: Vec::new(),
                files: 0,
                invalid_keys: BTreeSet::new(),
                unread: Vec::new(),
                findings,
            });
        }
        let text = match text {
            Ok(text) => text,
            Err(f) => {
                findings.push(*f);
                unread.push(shown);
                continue;
            }
        };
        let contents = load_file_within(&text, &shown, nodes_left);
        nodes_left = nodes_left.saturating_sub(contents.nodes);
        let budget_spent = contents.budget_spent;
        findings.extend(contents.findings);
        invalid_keys.extend(contents.invalid_keys);
        if contents.incomplete {
            unread.push(shown.clone());
        }
        let valid = contents.flags.into_iter().map(|f| (f, true));
        let broken = contents.partial.into_iter().map(|f| (f, false));
        let mut in_file: Vec<(LoadedFlag<F>, bool)> = valid.chain(broken).collect();
        // In document order, so that the second definition is the one reported.
        in_file.sort_by_key(|(f, _)| f.locations.document());
        for (flag, is_valid) in in_file {
            if let Some((first_file, first)) = first_seen.get(flag.key()) {
                findings.push(
                    Finding::error(
                        "duplicate-flag",
                        format!("flag key `{}` is defined twice", flag.key()),
                    )
                    .in_file(&flag.file)
                    .at(flag.locations.value("/key"))
                    .for_flag(flag.key().to_owned())
                    .field("key")
                    .related(Related {
                        file: first_file.clone(),
                        span: first.value("/key"),
                        message: "first defined here".into(),
                    }),
                );
                continue;
            }
            if first_seen.len() == MAX_FLAGS {
                findings.push(
                    Finding::error(
                        "too-many-flags",
                        format!(
                            "the repository defines more than {} flags (the limit); this flag, \
                             the rest of this file and {} later file{} were not loaded",
                            crate::finding::thousands(MAX_FLAGS),
                            crate::finding::thousands(files.len() - read),
                            if files.len() - read == 1 { "" } else { "s" },
                        ),
                    )
                    .in_file(&flag.file)
                    .at(flag.locations.value("/key"))
                    .for_flag(flag.key().to_owned())
                    .help("split the flags into several repositories, each with its own config"),
                );
                break 'files;
            }
            first_seen.insert(
                flag.key().to_owned(),
                (flag.file.clone(), flag.locations.clone()),
            );
            if is_valid {
                flags.push(flag);
            } else {
                partial.push(flag);
            }
        }
        if budget_spent {
            break;
        }
    }
    Ok(Repository {
        root,
        config_file,
        config,
        flags,
        partial,
        files: read,
        invalid_keys,
        unread,
        findings,
    })
}
