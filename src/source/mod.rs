//! Reads the desired state: `flagops.yaml` and every flag file it points at.
//!
//! This is the only stage that touches the repository's files. It walks the flag
//! directories in a stable order, parses YAML with locations (`yaml`), checks each document
//! against the generated schema and builds `FlagSpec`s. Problems become `Finding`s; nothing
//! here panics on bad input.

pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSetBuilder};

use crate::config::{BackendKind, CONFIG_FILE, Config};
use crate::finding::{Finding, Related, Span};
use crate::model::FlagSpec;
use crate::schema;
use yaml::Locations;

/// Largest flag or config file read (bytes).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A flag document that passed the schema.
#[derive(Debug, Clone)]
pub struct LoadedFlag {
    /// The flag as written.
    pub spec: FlagSpec,
    /// Its file, relative to the repository directory.
    pub file: PathBuf,
    /// Where each node of its document is.
    pub locations: Locations,
}

impl LoadedFlag {
    /// The span of the value at `pointer` in this flag's document.
    pub fn span(&self, pointer: &str) -> Option<Span> {
        self.locations.value(pointer)
    }
}

/// The loaded repository: config plus every flag that could be read.
#[derive(Debug, Clone)]
pub struct Repository {
    /// The directory paths are relative to (the config file's directory).
    pub root: PathBuf,
    /// The config file, relative to `root` when inside it.
    pub config_file: PathBuf,
    /// The config.
    pub config: Config,
    /// Flags that passed the schema, first occurrence of each key only, in file order.
    pub flags: Vec<LoadedFlag>,
    /// How many flag files were read.
    pub files: usize,
    /// Keys of flag documents that failed the schema: they exist, so references to them are
    /// not reported as missing, but they cannot be checked further.
    pub invalid_keys: BTreeSet<String>,
    /// Everything wrong with the flag files.
    pub findings: Vec<Finding>,
}

impl Repository {
    /// The flag with `key`.
    pub fn flag(&self, key: &str) -> Option<&LoadedFlag> {
        self.flags.iter().find(|f| f.spec.key == key)
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

/// Read a file with the size limit and UTF-8 check; problems become one finding.
fn read_text(path: &Path, shown: &Path) -> Result<String, Box<Finding>> {
    let unreadable = |e: std::io::Error| {
        Box::new(Finding::error("io", format!("cannot read file: {e}")).in_file(shown))
    };
    let meta = fs::metadata(path).map_err(unreadable)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Box::new(
            Finding::error(
                "file-too-large",
                format!(
                    "file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                    meta.len()
                ),
            )
            .in_file(shown)
            .help("split it into one file per flag"),
        ));
    }
    let bytes = fs::read(path).map_err(unreadable)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Box::new(
            Finding::error("not-utf8", "file is not valid UTF-8")
                .in_file(shown)
                .at(Some(Span::point(line, column)))
                .help("save the file as UTF-8"),
        )
    })
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
                    pointer = format!("{pointer}/{}", yaml::escape_pointer(key));
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
        Box::new(f)
    })
}

/// Find and read the config: `file` if given, else `flagops.yaml` in `dir`.
pub fn load_config(
    dir: &Path,
    file: Option<&Path>,
) -> Result<(PathBuf, PathBuf, Config), ConfigError> {
    let path = match file {
        Some(f) if f.is_absolute() => f.to_path_buf(),
        Some(f) => dir.join(f),
        None => dir.join(CONFIG_FILE),
    };
    if !path.is_file() {
        return Err(if file.is_some() {
            ConfigError::MissingFile(path)
        } else {
            ConfigError::NotFound(dir.to_path_buf())
        });
    }
    let root = path
        .parent()
        .map_or_else(|| dir.to_path_buf(), Path::to_path_buf);
    let shown = path
        .strip_prefix(&root)
        .map_or_else(|_| path.clone(), Path::to_path_buf);
    let invalid = |findings| ConfigError::Invalid {
        file: shown.clone(),
        root: root.clone(),
        findings,
    };
    let text = read_text(&path, &shown).map_err(|f| invalid(vec![*f]))?;
    let parsed = yaml::parse(&text);
    let mut findings = yaml_findings(&parsed, &shown);
    if !findings.is_empty() {
        return Err(invalid(findings));
    }
    let mut documents = parsed.documents.into_iter().filter(|d| !d.value.is_null());
    let Some(doc) = documents.next() else {
        return Err(invalid(vec![
            Finding::error("empty-file", "config file is empty")
                .in_file(&shown)
                .help("write at least `backend: posthog` (or `backend: local`)"),
        ]));
    };
    if let Some(extra) = documents.next() {
        return Err(invalid(vec![
            Finding::error(
                "config",
                "config file holds more than one YAML document; only one is read",
            )
            .in_file(&shown)
            .at(extra.locations.value(""))
            .help("merge the documents into one or remove the `---` separator"),
        ]));
    }
    findings = pasted_keys(&doc.value, &shown);
    if findings.is_empty() {
        findings = schema::check(schema::Kind::Config, &doc.value, &doc.locations, &shown);
    }
    if !findings.is_empty() {
        return Err(invalid(findings));
    }
    let config: Config =
        deserialize(&doc.value, &doc.locations, &shown).map_err(|f| invalid(vec![*f]))?;
    let findings = check_config(&config, &doc.locations, &shown);
    if !findings.is_empty() {
        return Err(invalid(findings));
    }
    Ok((root, shown, config))
}

/// Environments whose `api_key_env` holds what looks like a PostHog key instead of a
/// variable name. Checked before anything else, and reported without a location, so that no
/// rendering ever draws the line holding the key.
fn pasted_keys(value: &serde_json::Value, file: &Path) -> Vec<Finding> {
    let Some(environments) = value
        .get("environments")
        .and_then(serde_json::Value::as_object)
    else {
        return Vec::new();
    };
    environments
        .iter()
        .filter(|(_, env)| {
            env.get("api_key_env")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|v| ["phx_", "phc_", "phs_"].iter().any(|p| v.starts_with(p)))
        })
        .map(|(name, _)| {
            Finding::error(
                "config",
                format!(
                    "`api_key_env` of environment `{name}` looks like a PostHog API key; it must \
                     be the name of the environment variable that holds the key"
                ),
            )
            .in_file(file)
            .field(format!("environments.{name}.api_key_env"))
            .help(
                "revoke that key, export a new one as e.g. `POSTHOG_API_KEY` and write \
                 `api_key_env: POSTHOG_API_KEY`",
            )
        })
        .collect()
}

/// Rules the config schema cannot express.
fn check_config(config: &Config, locations: &Locations, file: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (name, env) in &config.environments {
        let base = format!("/environments/{}", yaml::escape_pointer(name));
        let at = |field: &str| {
            let p = if field.is_empty() {
                base.clone()
            } else {
                format!("{base}/{field}")
            };
            (locations.value(&p), schema::field_path(&p))
        };
        if config.backend == BackendKind::Posthog {
            for (field, present) in [
                ("host", env.host.is_some()),
                ("project_id", env.project_id.is_some()),
                ("api_key_env", env.api_key_env.is_some()),
            ] {
                if !present {
                    let (span, path) = at("");
                    findings.push(
                        Finding::error(
                            "config",
                            format!("environment `{name}` needs `{field}` for the posthog backend"),
                        )
                        .in_file(file)
                        .at(span)
                        .field(path),
                    );
                }
            }
        }
        for (i, pattern) in env.protect.iter().enumerate() {
            if let Err(e) = Glob::new(pattern) {
                let (span, path) = at(&format!("protect/{i}"));
                findings.push(
                    Finding::error("config", format!("invalid glob `{pattern}`: {}", e.kind()))
                        .in_file(file)
                        .at(span)
                        .field(path),
                );
            }
        }
    }
    findings
}

/// List the flag files the config points at, sorted, without duplicates.
fn discover(root: &Path, config: &Config) -> (Vec<PathBuf>, Vec<Finding>) {
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for entry in config.flags.entries() {
        let is_glob = entry.contains(GLOB_CHARS);
        if is_glob {
            // The components before the first one with a wildcard name the directory to walk
            // (`../shared`, `./flags`, or the config's own); the rest is matched below it.
            let (base, pattern) = split_glob(entry);
            let dir = root.join(base);
            let matcher = match Glob::new(pattern) {
                Ok(g) => GlobSetBuilder::new().add(g).build(),
                Err(e) => {
                    findings.push(Finding::error(
                        "config",
                        format!("invalid glob `{entry}` in `flags`: {}", e.kind()),
                    ));
                    continue;
                }
            };
            let Ok(matcher) = matcher else { continue };
            let before = files.len();
            for file in walk_yaml(root, &dir) {
                let rel = file.strip_prefix(&dir).unwrap_or(&file);
                if matcher.is_match(rel) {
                    files.push(file);
                }
            }
            if files.len() == before {
                findings.push(Finding::warning(
                    "no-files",
                    format!("`flags` entry `{entry}` matches no file"),
                ));
            }
        } else {
            let path = root.join(entry);
            if path.is_dir() {
                let found = walk_yaml(root, &path);
                if found.is_empty() {
                    findings.push(Finding::warning(
                        "no-files",
                        format!("`flags` entry `{entry}` holds no `*.yaml` or `*.yml` file"),
                    ));
                }
                files.extend(found);
            } else if path.is_file() {
                files.push(path);
            } else {
                findings.push(Finding::error(
                    "config",
                    format!("`flags` entry `{entry}` does not exist"),
                ));
            }
        }
    }
    files.sort();
    files.dedup();
    (files, findings)
}

/// Characters that make a `flags` entry a glob.
const GLOB_CHARS: [char; 4] = ['*', '?', '[', '{'];

/// Split a glob into its literal leading directory and the pattern below it:
/// `../shared/**/*.yaml` → (`../shared`, `**/*.yaml`); `*.yaml` → (``, `*.yaml`).
fn split_glob(entry: &str) -> (&str, &str) {
    let mut literal = 0;
    for (i, _) in entry.match_indices('/') {
        if entry[..i].contains(GLOB_CHARS) {
            break;
        }
        literal = i + 1;
    }
    (&entry[..literal], &entry[literal..])
}

fn walk_yaml(root: &Path, dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with('.'))
        })
        .filter_map(Result::ok)
        // A symlink to a file is read; symlinked directories are not followed (no loops).
        .filter(|e| e.file_type().is_file() || (e.path_is_symlink() && e.path().is_file()))
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                && p.file_name()
                    .is_some_and(|n| n != CONFIG_FILE || p.parent() != Some(root))
        })
        .collect()
}

/// What one flag file held.
#[derive(Debug, Default)]
pub struct FileContents {
    /// Documents that passed the schema.
    pub flags: Vec<LoadedFlag>,
    /// Keys of documents that did not.
    pub invalid_keys: Vec<String>,
    /// Every problem.
    pub findings: Vec<Finding>,
}

/// Parse one flag file into flag documents; every problem becomes a finding.
pub fn load_file(text: &str, shown: &Path) -> FileContents {
    let parsed = yaml::parse(text);
    let mut findings = yaml_findings(&parsed, shown);
    let mut flags = Vec::new();
    let mut invalid_keys = parsed.dropped_keys.clone();
    if parsed.errors.is_empty() && parsed.documents.iter().all(|d| d.value.is_null()) {
        findings.push(
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
            findings.push(
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
        let problems = schema::check(schema::Kind::Flag, &doc.value, &doc.locations, shown);
        if !problems.is_empty() {
            findings.extend(problems);
            if let Some(key) = doc.value.get("key").and_then(serde_json::Value::as_str) {
                invalid_keys.push(key.to_owned());
            }
            continue;
        }
        match deserialize::<FlagSpec>(&doc.value, &doc.locations, shown) {
            Ok(spec) => flags.push(LoadedFlag {
                spec,
                file: shown.to_path_buf(),
                locations: doc.locations,
            }),
            Err(f) => match doc.value.get("key").and_then(serde_json::Value::as_str) {
                Some(key) => {
                    findings.push(f.for_flag(key));
                    invalid_keys.push(key.to_owned());
                }
                None => findings.push(*f),
            },
        }
    }
    FileContents {
        flags,
        invalid_keys,
        findings,
    }
}

/// Load the repository: config, then every flag file. Config problems are an error (exit 2);
/// flag problems are findings in the result.
pub fn load(dir: &Path, config_file: Option<&Path>) -> Result<Repository, ConfigError> {
    let (root, config_file, config) = load_config(dir, config_file)?;
    let (files, findings) = discover(&root, &config);
    // Problems with the `flags` entries belong to the config file.
    let mut findings: Vec<Finding> = findings
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
    let mut flags: Vec<LoadedFlag> = Vec::new();
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut invalid_keys = BTreeSet::new();
    for path in &files {
        let shown = path.strip_prefix(&root).unwrap_or(path).to_path_buf();
        let text = match read_text(path, &shown) {
            Ok(text) => text,
            Err(f) => {
                findings.push(*f);
                continue;
            }
        };
        let contents = load_file(&text, &shown);
        findings.extend(contents.findings);
        invalid_keys.extend(contents.invalid_keys);
        for flag in contents.flags {
            if let Some(&i) = first_seen.get(&flag.spec.key) {
                let first = &flags[i];
                findings.push(
                    Finding::error(
                        "duplicate-flag",
                        format!("flag key `{}` is defined twice", flag.spec.key),
                    )
                    .in_file(&flag.file)
                    .at(flag.locations.value("/key"))
                    .for_flag(flag.spec.key.clone())
                    .field("key")
                    .related(Related {
                        file: first.file.clone(),
                        span: first.locations.value("/key"),
                        message: "first defined here".into(),
                    }),
                );
                continue;
            }
            first_seen.insert(flag.spec.key.clone(), flags.len());
            flags.push(flag);
        }
    }
    Ok(Repository {
        root,
        config_file,
        config,
        flags,
        files: files.len(),
        invalid_keys,
        findings,
    })
}
