//! The key ↔ id map of one PostHog project.
//!
//! Flag-dependency properties store the target's numeric id, and ids differ between projects,
//! so the adapter resolves them here: id → key when reading, key → id when writing. The map is
//! filled by `list`, `get` and `create`, and never leaves the adapter.

use std::collections::BTreeMap;

/// Key ↔ id of the project's (not deleted) flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    by_id: BTreeMap<i64, String>,
    by_key: BTreeMap<String, i64>,
}

impl Ids {
    /// Record that `key` has `id`, replacing what either was mapped to.
    pub(crate) fn insert(&mut self, id: i64, key: &str) {
        if let Some(old_key) = self.by_id.insert(id, key.to_owned())
            && old_key != key
        {
            self.by_key.remove(&old_key);
        }
        if let Some(old_id) = self.by_key.insert(key.to_owned(), id)
            && old_id != id
        {
            self.by_id.remove(&old_id);
        }
    }

    /// Forget the flag with `id` (it was deleted).
    pub(crate) fn remove(&mut self, id: i64) {
        if let Some(key) = self.by_id.remove(&id) {
            self.by_key.remove(&key);
        }
    }

    /// The key of the flag with `id`.
    pub(crate) fn key_of(&self, id: i64) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    /// The id of the flag with `key`.
    pub(crate) fn id_of(&self, key: &str) -> Option<i64> {
        self.by_key.get(key).copied()
    }

    /// Replace the whole map.
    pub(crate) fn replace(&mut self, other: Ids) {
        *self = other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_or_reuse_leaves_no_stale_entry() {
        let mut ids = Ids::default();
        ids.insert(1, "a");
        ids.insert(1, "b");
        assert_eq!(ids.id_of("a"), None);
        assert_eq!(ids.key_of(1), Some("b"));
        ids.insert(2, "b");
        assert_eq!(ids.key_of(1), None);
        assert_eq!(ids.id_of("b"), Some(2));
        ids.remove(2);
        assert_eq!(ids.id_of("b"), None);
    }
}
