//! Reading `flagops.yaml`: found, size-limited, parsed with locations, checked against the
//! config schema and then against what the schema cannot say (each backend's settings, globs,
//! pasted secrets, hosts, the service's ignorable fields). Every problem is a located finding;
//! a config with any is a `ConfigError` (exit 2).

use std::fs;
use std::path::{Path, PathBuf};

use globset::Glob;

use super::discover::{self, link_inside};
use super::yaml::{self, Locations};
use super::{ConfigError, deserialize, read_text, yaml_findings};
use crate::config::{BackendKind, CONFIG_FILE, Config};
use crate::finding::Finding;
use crate::model::FlagFile;
use crate::schema;

/// Find and read the config: `file` if given, else `flagops.yaml` in `dir`.
pub fn load_config(
    dir: &Path,
    file: Option<&Path>,
) -> Result<(PathBuf, PathBuf, Config), ConfigError> {
    read_config(dir, file).map(|(root, shown, config, _)| (root, shown, config))
}

/// `load_config`, with where each node of the config is (for findings about `flags` entries).
pub(super) fn read_config(
    dir: &Path,
    file: Option<&Path>,
) -> Result<(PathBuf, PathBuf, Config, Locations), ConfigError> {
    let path = match file {
        Some(f) if f.is_absolute() => f.to_path_buf(),
        Some(f) => dir.join(f),
        None => dir.join(CONFIG_FILE),
    };
    let Ok(meta) = fs::metadata(&path) else {
        return Err(if file.is_some() {
            ConfigError::MissingFile(path)
        } else {
            ConfigError::NotFound(dir.to_path_buf())
        });
    };
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
    if !meta.is_file() {
        // Never opened: a FIFO (`--config /dev/stdin`) would wait forever.
        return Err(invalid(vec![
            Finding::error(
                "not-a-file",
                format!(
                    "the config is {}, not a file; not read",
                    discover::kind_words(meta.file_type())
                ),
            )
            .in_file(&shown),
        ]));
    }
    // `flagops.yaml` found in the directory (not named with `--config`) may be a link, but
    // not to a file outside that directory: a pull request could otherwise point it at a
    // credentials file, whose lines the findings would quote.
    if file.is_none() && fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        link_inside(&path, &shown, &[&root]).map_err(|f| invalid(vec![*f]))?;
    }
    let text =
        read_text(&path, &shown, false, &mut Vec::new(), &mut 0).map_err(|f| invalid(vec![*f]))?;
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
    findings = pasted_keys(&doc.value, &doc.locations, &shown);
    if findings.is_empty() {
        let hosts = host_findings(&doc.value, &doc.locations, &shown);
        // The schema's `^https?://` pattern would repeat a rejected host whole, password
        // included: the host check says it without the secret parts.
        findings = schema::check(schema::Kind::Config, &doc.value, &doc.locations, &shown);
        findings.retain(|f| !hosts.iter().any(|h| h.field == f.field));
        findings.extend(hosts);
        crate::finding::normalize(&mut findings);
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
    Ok((root, shown, config, doc.locations))
}

/// The config's environments as written (none when `environments` is not a mapping).
fn environments(value: &serde_json::Value) -> impl Iterator<Item = (&String, &serde_json::Value)> {
    value
        .get("environments")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
}

/// Environments whose `api_key_env` holds what looks like a PostHog key instead of a
/// variable name. Checked before anything else, and located without ever drawing the line
/// holding the key.
fn pasted_keys(value: &serde_json::Value, locations: &Locations, file: &Path) -> Vec<Finding> {
    environments(value)
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
            .at(locations.value(&format!(
                "/environments/{}/api_key_env",
                crate::util::escape_pointer(name)
            )))
            .concealing_source()
            .field(format!("environments.{name}.api_key_env"))
            .help(
                "revoke that key, export a new one as e.g. `POSTHOG_API_KEY` and write \
                 `api_key_env: POSTHOG_API_KEY`",
            )
        })
        .collect()
}

/// Environments whose `host` is a string but not a usable API origin (`config::host_problem`),
/// located at the value and shown without a user name, password, query or fragment
/// (`config::shown_host`).
fn host_findings(value: &serde_json::Value, locations: &Locations, file: &Path) -> Vec<Finding> {
    environments(value)
        .filter_map(|(name, env)| {
            let host = env.get("host")?.as_str()?;
            let backend = value.get("backend").and_then(serde_json::Value::as_str);
            let problem = crate::config::host_problem(host, backend.unwrap_or_default())?;
            let pointer = format!("/environments/{}/host", crate::util::escape_pointer(name));
            Some(
                Finding::error(
                    "config",
                    format!("`host` `{}` {problem}", crate::config::shown_host(host)),
                )
                .in_file(file)
                .at(locations.value(&pointer))
                .field(schema::field_path(&pointer))
                .concealing_source(),
            )
        })
        .collect()
}

/// Most `flags` entries a config may list: each is a walk of its directory, so a config of
/// 200,000 globs would keep `validate` busy for minutes.
pub const MAX_FLAG_ENTRIES: usize = 1_000;

/// An environment setting's name and whether it is set.
type Setting<'a> = (&'a str, bool);

/// Rules the config schema cannot express.
fn check_config(config: &Config, locations: &Locations, file: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let entries = config.flags.entries().len();
    if entries > MAX_FLAG_ENTRIES {
        findings.push(
            Finding::error(
                "config",
                format!(
                    "`flags` lists {} entries; the limit is {}",
                    crate::finding::thousands(entries),
                    crate::finding::thousands(MAX_FLAG_ENTRIES)
                ),
            )
            .in_file(file)
            .at(locations.value("/flags"))
            .field("flags")
            .help("name the directories that hold flag files, or use a glob such as `flags/**/*.yaml`"),
        );
    }
    if config.emulate.is_some() && config.backend != BackendKind::Local {
        findings.push(
            Finding::error(
                "config",
                format!(
                    "`emulate` is a setting of the local backend, not of `{}`",
                    config.backend.as_str()
                ),
            )
            .in_file(file)
            .at(locations.value("/emulate"))
            .field("emulate")
            .help("remove it: the service itself decides its flags' rules"),
        );
    }
    if let Some(state) = &config.state
        && (state.trim().is_empty() || state.ends_with(['/', '\\']))
    {
        findings.push(
            Finding::error("config", "`state` must name a file, not a directory")
                .in_file(file)
                .at(locations.value("/state"))
                .field("state")
                .help("write e.g. `state: .flagops/state.json`, or leave it out for that default"),
        );
    }
    for (name, env) in &config.environments {
        let base = format!("/environments/{}", crate::util::escape_pointer(name));
        let at = |field: &str| {
            let p = if field.is_empty() {
                base.clone()
            } else {
                format!("{base}/{field}")
            };
            (locations.value(&p), schema::field_path(&p))
        };
        // What each backend needs, and the settings of the other backends.
        let (required, foreign): (&[Setting], &[Setting]) = match config.backend {
            BackendKind::Posthog => (
                &[
                    ("host", env.host.is_some()),
                    ("project_id", env.project_id.is_some()),
                    ("api_key_env", env.api_key_env.is_some()),
                ],
                &[
                    ("region", env.region.is_some()),
                    ("workspace_id", env.workspace_id.is_some()),
                    ("username_env", env.username_env.is_some()),
                    ("secret_env", env.secret_env.is_some()),
                    ("hard_delete", env.hard_delete),
                ],
            ),
            BackendKind::Mixpanel => (
                &[
                    ("project_id", env.project_id.is_some()),
                    ("username_env", env.username_env.is_some()),
                    ("secret_env", env.secret_env.is_some()),
                ],
                &[("api_key_env", env.api_key_env.is_some())],
            ),
            BackendKind::Local => (&[], &[]),
        };
        let backend = config.backend.as_str();
        for (field, _) in required.iter().filter(|(_, present)| !present) {
            let (span, path) = at("");
            findings.push(
                Finding::error(
                    "config",
                    format!("environment `{name}` needs `{field}` for the {backend} backend"),
                )
                .in_file(file)
                .at(span)
                .field(path),
            );
        }
        for (field, _) in foreign.iter().filter(|(_, present)| *present) {
            let (span, path) = at(field);
            findings.push(
                Finding::error(
                    "config",
                    format!("`{field}` of environment `{name}` is not a setting of the {backend} backend"),
                )
                .in_file(file)
                .at(span)
                .field(path)
                .help("remove it, or check `backend`"),
            );
        }
        if config.backend == BackendKind::Mixpanel && env.host.is_some() && env.region.is_some() {
            let (span, path) = at("region");
            findings.push(
                Finding::error(
                    "config",
                    format!("environment `{name}` sets both `host` and `region`; the host decides where requests go"),
                )
                .in_file(file)
                .at(span)
                .field(path)
                .help("keep one of them"),
            );
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

/// `ignore` entries naming a field the service's flags cannot keep (`VendorFlag::ignorable_fields`).
pub(super) fn ignore_findings<F: FlagFile>(
    config: &Config,
    locations: &Locations,
    file: &Path,
) -> Vec<Finding> {
    let allowed = F::ignorable_fields();
    let mut findings = Vec::new();
    for (name, env) in &config.environments {
        for (i, field) in env.ignore.iter().enumerate() {
            if allowed.contains(&field.as_str()) {
                continue;
            }
            let pointer = format!(
                "/environments/{}/ignore/{i}",
                crate::util::escape_pointer(name)
            );
            findings.push(
                Finding::error(
                    "config",
                    format!(
                        "`{field}` is not a field {} flags can ignore; one of: {}",
                        F::NAME,
                        allowed.join(", ")
                    ),
                )
                .in_file(file)
                .at(locations.value(&pointer))
                .field(schema::field_path(&pointer))
                .help(
                    "fields that other fields depend on cannot be ignored: a mix of live and \
                     repository values could be a flag nobody reviewed",
                ),
            );
        }
    }
    findings
}
