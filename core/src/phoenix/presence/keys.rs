//! Presence keys in JavaScript's object order, the order phoenix.js's `Presence` reports
//! joins, leaves and `list()` in: keys that are array indices (`"0"`, `"2"`, `"10"`) first, in
//! numeric order, then every other key in the order it was first inserted. Setting a key that
//! is there keeps its place; a removed key that comes back goes last.

use alloc::collections::BTreeMap;
use alloc::string::String;

/// Where a key sorts: array indices before all other keys, by value; the others by insertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Index(u32),
    Inserted(u64),
}

/// The array index a key is to JavaScript, if any: the canonical decimal form (no sign, no
/// leading zero) of 0 to 2^32 - 2 (2^32 - 1 is the one integer that is not an index).
fn array_index(key: &str) -> Option<u32> {
    let digits = key.len();
    if digits == 0
        || digits > 10
        || !key.bytes().all(|b| b.is_ascii_digit())
        || (digits > 1 && key.starts_with('0'))
    {
        return None;
    }
    key.parse::<u32>().ok().filter(|&n| n != u32::MAX)
}

/// A map from presence key to `V`, iterated in JavaScript's object order (see the module docs).
/// Lookups, inserts and removals cost `log n`.
#[derive(Clone, Debug)]
pub struct KeyMap<V> {
    entries: BTreeMap<String, (Place, V)>,
    order: BTreeMap<Place, String>,
    /// The next insertion's place; a `u64` never runs out.
    next: u64,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        Self { entries: BTreeMap::new(), order: BTreeMap::new(), next: 0 }
    }
}

impl<V: PartialEq> PartialEq for KeyMap<V> {
    /// Equal when they hold the same keys with equal values in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: Eq> Eq for KeyMap<V> {}

impl<V> KeyMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// The value of `key`, to change in place (its place stays).
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(_, v)| v)
    }

    /// Whether `key` is there.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Keys and values, in JavaScript's object order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &V)> + '_ {
        self.order
            .values()
            .filter_map(|key| self.entries.get_key_value(key.as_str()))
            .map(|(k, (_, v))| (k.as_str(), v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        self.order.values().map(String::as_str)
    }

    /// The values, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Sets `key` to `value`, returning the old value. A key that is there keeps its place.
    pub(crate) fn insert(&mut self, key: String, value: V) -> Option<V> {
        if let Some((_, old)) = self.entries.get_mut(key.as_str()) {
            return Some(core::mem::replace(old, value));
        }
        let place = match array_index(&key) {
            Some(index) => Place::Index(index),
            None => {
                self.next += 1;
                Place::Inserted(self.next)
            }
        };
        self.order.insert(place, key.clone());
        self.entries.insert(key, (place, value));
        None
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let (place, value) = self.entries.remove(key)?;
        self.order.remove(&place);
        Some(value)
    }
}

impl<V> IntoIterator for KeyMap<V> {
    type Item = (String, V);
    type IntoIter = IntoIter<V>;

    /// Keys and values, in order.
    fn into_iter(self) -> IntoIter<V> {
        IntoIter { entries: self.entries, order: self.order.into_values() }
    }
}

/// The owning iterator of a [`KeyMap`], in its order.
#[derive(Debug)]
pub struct IntoIter<V> {
    entries: BTreeMap<String, (Place, V)>,
    order: alloc::collections::btree_map::IntoValues<Place, String>,
}

impl<V> Iterator for IntoIter<V> {
    type Item = (String, V);

    fn next(&mut self) -> Option<(String, V)> {
        let key = self.order.next()?;
        // Every ordered key has its entry: the two maps change together.
        let (_, value) = self.entries.remove(&key)?;
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn keys(m: &KeyMap<u8>) -> Vec<&str> {
        m.keys().collect()
    }

    #[test]
    fn indices_first_by_value_then_the_rest_by_insertion() {
        let mut m = KeyMap::new();
        for k in ["b", "10", "a", "2", "01", "-1", "4294967295", "4294967294", "0", "1.0"] {
            m.insert(String::from(k), 0);
        }
        assert_eq!(keys(&m), ["0", "2", "10", "4294967294", "b", "a", "01", "-1", "4294967295", "1.0"]);
    }

    #[test]
    fn a_set_key_keeps_its_place_and_a_removed_one_comes_back_last() {
        let mut m = KeyMap::new();
        for k in ["x", "y", "z"] {
            m.insert(String::from(k), 1);
        }
        assert_eq!(m.insert(String::from("x"), 2), Some(1));
        assert_eq!(keys(&m), ["x", "y", "z"]);
        assert_eq!(m.remove("x"), Some(2));
        m.insert(String::from("x"), 3);
        assert_eq!(keys(&m), ["y", "z", "x"]);
        assert_eq!(m.get("x"), Some(&3));
        let owned: Vec<(String, u8)> = m.into_iter().collect();
        assert_eq!(owned, [(String::from("y"), 1), (String::from("z"), 1), (String::from("x"), 3)]);
    }
}
