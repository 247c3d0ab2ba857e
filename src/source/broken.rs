//! The parts of a flag document left out because they broke the schema, so that the rules
//! can still check the rest of the flag.

use std::collections::BTreeSet;

use crate::model::format::ENVIRONMENTS;

/// The parts of a flag document left out of its `spec` because they broke the schema. The
/// rest is still checked; the rules that need a left-out part are skipped for that flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Broken {
    /// Top-level fields removed.
    pub fields: BTreeSet<String>,
    /// Items of the model's item lists (`FlagFile::item_lists`) replaced by an empty
    /// stand-in (which no rule reports on): the list's name and the item's index.
    pub items: BTreeSet<(String, usize)>,
    /// Environment overrides removed: the flag is left out of those environments' checks.
    pub environments: BTreeSet<String>,
}

impl Broken {
    /// Nothing was left out.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.items.is_empty() && self.environments.is_empty()
    }

    /// Whether the document node at `pointer` lies in a part left out.
    pub fn covers(&self, pointer: &str) -> bool {
        let mut segments = pointer.split('/').skip(1);
        let Some(first) = segments.next() else {
            return false;
        };
        let first = unescape_pointer(first);
        let second = segments.next().map(unescape_pointer);
        let index = second.as_deref().and_then(|s| s.parse::<usize>().ok());
        self.fields.contains(&first)
            || index.is_some_and(|i| self.items.contains(&(first.clone(), i)))
            || (first == ENVIRONMENTS
                && second.is_some_and(|name| self.environments.contains(&name)))
    }

    /// The part of a document holding `pointer`: an item of one of `item_lists`, an
    /// environment override, or a top-level field (`/rules/2`, `/environments/prod`,
    /// `/name`); `` for the document.
    pub(super) fn part(pointer: &str, item_lists: &[&str]) -> String {
        let segments: Vec<&str> = pointer.split('/').skip(1).take(2).collect();
        match segments.as_slice() {
            [first, second] if *first == ENVIRONMENTS || item_lists.contains(first) => {
                format!("/{first}/{second}")
            }
            [first, ..] => format!("/{first}"),
            [] => String::new(),
        }
    }

    /// Leave the part of `value` holding `pointer` out: an item of one of `item_lists`
    /// becomes `{}` (the whole list goes when that is not enough), an environment override or
    /// any other top-level field is removed. `false` when the part is the document itself or
    /// its `key`, which cannot be left out.
    pub(super) fn leave_out(
        &mut self,
        value: &mut serde_json::Value,
        pointer: &str,
        item_lists: &[&str],
    ) -> bool {
        let mut segments = pointer.split('/').skip(1).map(unescape_pointer);
        let Some(first) = segments.next() else {
            return false;
        };
        let Some(root) = value.as_object_mut() else {
            return false;
        };
        let second = segments.next();
        match first.as_str() {
            "key" => return false,
            ENVIRONMENTS => {
                if let (Some(name), Some(map)) = (
                    second,
                    root.get_mut(ENVIRONMENTS)
                        .and_then(serde_json::Value::as_object_mut),
                ) && map.remove(&name).is_some()
                {
                    self.environments.insert(name);
                    return true;
                }
            }
            list if item_lists.contains(&list) => {
                let index = second.and_then(|s| s.parse::<usize>().ok());
                if let (Some(i), Some(items)) = (
                    index,
                    root.get_mut(list).and_then(serde_json::Value::as_array_mut),
                ) && let Some(item) = items.get_mut(i)
                    && self.items.insert((first.clone(), i))
                {
                    *item = serde_json::Value::Object(serde_json::Map::new());
                    return true;
                }
            }
            _ => {}
        }
        root.remove(&first);
        self.fields.insert(first);
        true
    }
}

/// The key a JSON pointer segment names (RFC 6901).
fn unescape_pointer(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}
