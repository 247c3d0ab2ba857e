//! `backend: local`: the live state is a JSON file in the repository directory.
//!
//! The embedded default: no account needed, and a strict backend for tests. It keeps flags of
//! any flag model that says how it is stored and what its service refuses ([`LocalModel`];
//! PostHog's `Flag` by default) and follows PostHog's rules: numeric ids, `version` 1 on
//! create and +1 on every write, a stale version is refused (`Conflict`), deletes are soft
//! (the flag is kept with `deleted: true` and hidden from the list; the same key can be
//! created again), keys are unique among live flags, an enabled flag's (evaluation)
//! dependencies must exist and be enabled, a flag that enabled flags depend on can be neither
//! disabled nor deleted, and cycles are refused. On write it stores what the service stores
//! (`LocalModel::as_stored`; PostHog's is with its model).
//!
//! The file holds one independent state per environment (as separate PostHog projects
//! would be), each with the cohorts and group types flags may name, when it declares them
//! (`cohorts: [{id, name, deleted?, behavioral?, includes?}]`, `group_types: [{index, name}]`,
//! written by hand: flagops never changes them); a write that references a cohort the
//! declared list lacks, or that PostHog would refuse, is refused (`LocalModel::catalogue_refusal`). It is pretty, sorted JSON (environments by name, flags by key, then id) so
//! that it diffs well in git, and it is replaced atomically (a temporary file in the same
//! directory, then a rename). A missing file is an empty state. Every read-modify-write holds
//! an exclusive lock on the empty sibling file `<state>.lock`, so two flagops processes on one
//! state file wait for each other instead of losing writes.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod checks;

use self::checks::{check_write, enabled_dependents, find_current, invalid};
use super::{Backend, BackendError, BackendResult, Capabilities, LiveFlag, LiveState, Token};
use crate::model::VendorFlag;
use crate::model::catalogue::{Catalogue, Cohort, GroupType, Needs};
use crate::util::Unread;
use crate::vendor::posthog::{Flag, FlagSpec};

/// What the local backend needs from a flag model besides [`VendorFlag`]: the form the state
/// file keeps it in, what the service keeps of a write, and what the service refuses.
pub trait LocalModel: VendorFlag + Send + Sync {
    /// The flag as the state file keeps it (PostHog: the file format, `FlagSpec`).
    type Stored: Clone + PartialEq + Debug + Serialize + DeserializeOwned + Send + Sync;

    /// The stored form of the flag.
    fn to_stored(&self) -> Self::Stored;

    /// The flag a stored form holds.
    fn from_stored(stored: &Self::Stored) -> Self;

    /// What the service keeps of a write of this flag. By default the flag itself.
    #[must_use]
    fn as_stored(&self) -> Self {
        self.clone()
    }

    /// Why the service refuses to store this flag on its own (an invalid key, contradictory
    /// fields), if it does; dependencies are checked by the backend.
    fn refusal(&self) -> Option<&'static str> {
        None
    }

    /// Why the service refuses this flag given the environment's catalogue (a cohort that
    /// does not exist, was deleted or has behavioural filters; a name left unresolved), if it
    /// does. By default never.
    fn catalogue_refusal(&self, _catalogue: &Catalogue) -> Option<String> {
        None
    }
}

/// The version of the state file format.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Largest state file read (bytes), as much as the answers of one PostHog list.
pub const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

/// The default state file, relative to the config file's directory.
pub const DEFAULT_STATE_FILE: &str = ".flagops/state.json";

/// The state file's content: one independent state per environment, like separate projects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile<S = FlagSpec> {
    /// Always [`STATE_FORMAT_VERSION`].
    pub format_version: u32,
    /// Each environment's flags, by environment name.
    #[serde(default = "BTreeMap::new")]
    pub environments: BTreeMap<String, EnvironmentState<S>>,
}

impl<S> Default for StateFile<S> {
    fn default() -> Self {
        StateFile {
            format_version: STATE_FORMAT_VERSION,
            environments: BTreeMap::new(),
        }
    }
}

/// The flags of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentState<S = FlagSpec> {
    /// The id the next created flag gets.
    pub next_id: u64,
    /// Every flag, deleted ones included, sorted by key then id.
    pub flags: Vec<StoredFlag<S>>,
    /// The cohorts flags may name (written by hand, like a project's); absent: unknown, so
    /// cohort ids are taken as written and cohort names cannot be resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<Vec<Cohort>>,
    /// The group types flags may name; absent: unknown, like `cohorts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_types: Option<Vec<GroupType>>,
}

impl<S> Default for EnvironmentState<S> {
    fn default() -> Self {
        EnvironmentState {
            next_id: 1,
            flags: Vec::new(),
            cohorts: None,
            group_types: None,
        }
    }
}

/// One flag as the file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredFlag<S = FlagSpec> {
    /// Numeric id, never reused.
    pub id: u64,
    /// 1 on create, +1 per write.
    pub version: i64,
    /// Soft-deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The flag in its stored form (PostHog: its file form, defaults left out),
    /// dependencies by key.
    pub flag: S,
}

impl<S> StoredFlag<S> {
    fn resolved<F: LocalModel<Stored = S>>(&self) -> F {
        F::from_stored(&self.flag)
    }

    fn live<F: LocalModel<Stored = S>>(&self) -> LiveFlag<F> {
        LiveFlag {
            id: self.id.to_string(),
            flag: self.resolved(),
            token: Some(Token::Number(self.version)),
        }
    }
}

/// Walks a JSON document and fails on the first object holding one key twice, at its place.
struct UniqueKeys;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueKeys)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key `{key}`"
                )));
            }
            map.next_value_seed(UniqueKeys)?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// What no sequence of writes can produce in a state file (it was edited by hand): two flags
/// with one id, an id not below `next_id`, a version below 1, two live flags with one key.
/// Any of them would make a later write reuse an id or pick one of two flags silently.
fn inconsistency<F: LocalModel>(state: &StateFile<F::Stored>) -> Option<String> {
    for (name, env) in &state.environments {
        let mut ids = std::collections::BTreeSet::new();
        let mut live_keys = std::collections::BTreeSet::new();
        for stored in &env.flags {
            let flag: F = stored.resolved();
            let key = flag.key().to_owned();
            if !ids.insert(stored.id) {
                return Some(format!(
                    "environment `{name}` has two flags with id {}",
                    stored.id
                ));
            }
            if stored.id >= env.next_id {
                return Some(format!(
                    "environment `{name}`: flag `{key}` has id {}, not below `next_id` {}",
                    stored.id, env.next_id
                ));
            }
            if stored.version < 1 {
                return Some(format!(
                    "environment `{name}`: flag `{key}` has version {}; versions start at 1",
                    stored.version
                ));
            }
            if !stored.deleted && !live_keys.insert(key.clone()) {
                return Some(format!(
                    "environment `{name}` has two live flags with key `{key}`"
                ));
            }
        }
    }
    None
}

/// The local backend: one environment of a state file, flags in the model `F`.
#[derive(Debug)]
pub struct LocalBackend<F = Flag> {
    path: PathBuf,
    environment: String,
    // Serializes read-modify-write cycles within this process.
    lock: Mutex<()>,
    model: PhantomData<fn() -> F>,
}

impl LocalBackend {
    /// A backend over `environment` in the state file at `path` (which need not exist yet),
    /// for PostHog's flags.
    pub fn new(path: impl Into<PathBuf>, environment: impl Into<String>) -> Self {
        Self::of_model(path, environment)
    }
}

impl<F: LocalModel> LocalBackend<F> {
    /// A backend over `environment` in the state file at `path` for flags of the model `F`.
    pub fn of_model(path: impl Into<PathBuf>, environment: impl Into<String>) -> Self {
        LocalBackend {
            path: path.into(),
            environment: environment.into(),
            lock: Mutex::new(()),
            model: PhantomData,
        }
    }

    /// This backend's environment as stored (empty when it was never written).
    pub fn environment_state(&self) -> BackendResult<EnvironmentState<F::Stored>> {
        Ok(self
            .read()?
            .environments
            .remove(&self.environment)
            .unwrap_or_default())
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A counter of the (hand-edited) state file is at its largest value and cannot grow.
    fn exhausted(&self, counter: &str) -> BackendError {
        BackendError::Io(format!(
            "the state file `{}` is not valid: `{counter}` is at its largest value and cannot grow",
            self.path.display()
        ))
    }

    /// Read the whole file; a missing file is an empty state. Only a regular file of at most
    /// [`MAX_STATE_BYTES`] is read: a FIFO or device (`/dev/zero`) would block or never end.
    pub fn read(&self) -> BackendResult<StateFile<F::Stored>> {
        let unreadable = |e: &dyn std::fmt::Display| {
            BackendError::Io(format!(
                "cannot read the state file `{}`: {e}",
                self.path.display()
            ))
        };
        let text = match crate::util::read_bounded(&self.path, MAX_STATE_BYTES) {
            Ok(text) => text,
            Err(Unread::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StateFile::default());
            }
            Err(Unread::Io(e)) => return Err(unreadable(&e)),
            Err(Unread::NotAFile) => return Err(unreadable(&"it is not a regular file")),
            Err(Unread::TooLarge) => {
                return Err(unreadable(&format!(
                    "it is larger than {MAX_STATE_BYTES} bytes (256 MiB)"
                )));
            }
        };
        // serde keeps the last of two equal keys of a map (two `environments.production`,
        // two entries of one object) silently: refused first, like a duplicate field.
        let mut unique = serde_json::Deserializer::from_str(&text);
        let state: StateFile<F::Stored> =
            serde::de::DeserializeSeed::deserialize(UniqueKeys, &mut unique)
                .and_then(|()| serde_json::from_str(&text))
                .map_err(|e| {
                    // serde_json's message ends with its own `at line L column C`; said once here.
                    let message = e.to_string();
                    let place = format!(" at line {} column {}", e.line(), e.column());
                    BackendError::Io(format!(
                        "the state file `{}` is not valid: {} (line {}, column {})",
                        self.path.display(),
                        crate::util::without_type_names(
                            message.strip_suffix(&place).unwrap_or(&message)
                        ),
                        e.line(),
                        e.column().max(1)
                    ))
                })?;
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(BackendError::Io(format!(
                "the state file `{}` has format version {}; this flagops reads version {STATE_FORMAT_VERSION}",
                self.path.display(),
                state.format_version
            )));
        }
        if let Some(problem) = inconsistency::<F>(&state) {
            return Err(BackendError::Io(format!(
                "the state file `{}` is not valid: {problem}",
                self.path.display()
            )));
        }
        Ok(state)
    }

    /// Replace the file atomically with `state` (sorted, pretty JSON).
    pub fn write(&self, state: &StateFile<F::Stored>) -> BackendResult<()> {
        let mut state = state.clone();
        for env in state.environments.values_mut() {
            env.flags.sort_by_cached_key(|f| {
                let flag: F = f.resolved();
                (flag.key().to_owned(), f.id)
            });
        }
        let io = |what: &str, e: &dyn std::fmt::Display| {
            BackendError::Io(format!(
                "cannot {what} the state file `{}`: {e}",
                self.path.display()
            ))
        };
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("create the directory of", &e))?;
        let mut text = serde_json::to_string_pretty(&state).map_err(|e| io("encode", &e))?;
        text.push('\n');
        let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| io("write", &e))?;
        std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(|e| io("write", &e))?;
        temp.as_file().sync_all().map_err(|e| io("write", &e))?;
        temp.persist(&self.path)
            .map_err(|e| io("replace", &e.error))?;
        Ok(())
    }

    /// Open and exclusively lock `<state file>.lock`, waiting for another process holding it.
    fn lock_file(&self) -> BackendResult<std::fs::File> {
        let mut name = self
            .path
            .file_name()
            .map(std::ffi::OsStr::to_os_string)
            .unwrap_or_default();
        name.push(".lock");
        let path = self.path.with_file_name(name);
        let io = |e: std::io::Error| {
            BackendError::Io(format!(
                "cannot lock the state file `{}`: {e}",
                self.path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Opening a FIFO to write would wait for a reader forever.
        if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(io(std::io::Error::other(format!(
                "`{}` is not a regular file",
                path.display()
            ))));
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    fn modify<T>(
        &self,
        change: impl FnOnce(&mut EnvironmentState<F::Stored>) -> BackendResult<T>,
    ) -> BackendResult<T> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Other processes (a second flagops in another terminal) are kept out by an
        // exclusive lock on a sibling file, held across the read-modify-write.
        let _file_lock = self.lock_file()?;
        let mut state = self.read()?;
        let out = change(
            state
                .environments
                .entry(self.environment.clone())
                .or_default(),
        )?;
        self.write(&state)?;
        Ok(out)
    }

    fn list_now(&self) -> BackendResult<LiveState<F>> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = self.environment_state()?;
        let mut flags: Vec<LiveFlag<F>> = state
            .flags
            .iter()
            .filter(|f| !f.deleted)
            .map(StoredFlag::live)
            .collect();
        flags.sort_by(|a, b| a.flag.key().cmp(b.flag.key()));
        Ok(LiveState {
            flags,
            unsupported: Vec::new(),
        })
    }
}

impl<F: LocalModel> Backend for LocalBackend<F> {
    type Flag = F;

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            flag_dependencies: true,
            versioned: true,
            rate_limit: None,
        }
    }

    async fn list(&self) -> BackendResult<LiveState<F>> {
        self.list_now()
    }

    /// The environment's catalogue as the state file declares it.
    async fn catalogue(&self, needs: &Needs) -> BackendResult<Catalogue> {
        let state = self.environment_state()?;
        Ok(Catalogue {
            cohorts: state.cohorts.filter(|_| needs.cohorts),
            group_types: state.group_types.filter(|_| needs.group_types),
        })
    }

    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag<F>>> {
        Ok(self
            .list_now()?
            .flags
            .into_iter()
            .find(|f| f.flag.key() == key))
    }

    async fn create(&self, flag: &F) -> BackendResult<LiveFlag<F>> {
        self.modify(|state| {
            let flag = flag.as_stored();
            check_write(state, None, &flag)?;
            let stored = StoredFlag {
                id: state.next_id,
                version: 1,
                deleted: false,
                flag: flag.to_stored(),
            };
            state.next_id = state
                .next_id
                .checked_add(1)
                .ok_or_else(|| self.exhausted("next_id"))?;
            let live = stored.live();
            state.flags.push(stored);
            Ok(live)
        })
    }

    async fn update(&self, live: &LiveFlag<F>, desired: &F) -> BackendResult<LiveFlag<F>> {
        self.modify(|state| {
            let id = find_current(state, live)?.id;
            let flag = desired.as_stored();
            check_write(state, Some(id), &flag)?;
            let stored = find_current(state, live)?;
            stored.version = stored
                .version
                .checked_add(1)
                .ok_or_else(|| self.exhausted("version"))?;
            stored.flag = flag.to_stored();
            Ok(stored.live())
        })
    }

    async fn delete(&self, live: &LiveFlag<F>) -> BackendResult<()> {
        self.modify(|state| {
            let id = find_current(state, live)?.id;
            let key = live.flag.key().to_owned();
            let others: Vec<F> = state
                .flags
                .iter()
                .filter(|f| !f.deleted && f.id != id)
                .map(StoredFlag::resolved)
                .collect();
            let dependents = enabled_dependents(&others, &key);
            if !dependents.is_empty() {
                return Err(invalid(
                    &key,
                    format!(
                        "cannot delete this flag because enabled flags depend on it: {}",
                        dependents.join(", ")
                    ),
                ));
            }
            let stored = find_current(state, live)?;
            stored.version = stored
                .version
                .checked_add(1)
                .ok_or_else(|| self.exhausted("version"))?;
            stored.deleted = true;
            Ok(())
        })
    }
}
