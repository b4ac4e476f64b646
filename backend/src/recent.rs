//! Values read lately, each used for a short time before it is read again: the sessions every
//! page reads, the navigation's count. Bounded: past `kept` entries, those no longer fresh are
//! dropped, and if that is not enough, all of them.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A map from keys to values with the time each was stored.
pub struct Recent<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    kept: usize,
}

impl<K: Hash + Eq, V: Clone> Recent<K, V> {
    /// An empty map that keeps about `kept` entries.
    pub fn new(kept: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            kept,
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value under `key` if it was stored less than `fresh_for` ago and `usable` accepts it.
    pub fn get<Q>(&self, key: &Q, fresh_for: Duration, usable: impl Fn(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries()
            .get(key)
            .filter(|(at, value)| at.elapsed() < fresh_for && usable(value))
            .map(|(_, value)| value.clone())
    }

    /// Stores `value` under `key` now; entries older than `fresh_for` make room when full.
    pub fn put(&self, key: K, value: V, fresh_for: Duration) {
        let mut entries = self.entries();
        if entries.len() >= self.kept {
            entries.retain(|_, (at, _)| at.elapsed() < fresh_for);
            if entries.len() >= self.kept {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets `key`.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries().remove(key);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_used_while_fresh_and_usable() {
        let recent = Recent::new(10);
        recent.put("a", 1, Duration::from_secs(60));
        assert_eq!(recent.get("a", Duration::from_secs(60), |_| true), Some(1));
        assert_eq!(recent.get("a", Duration::ZERO, |_| true), None, "stale");
        assert_eq!(recent.get("a", Duration::from_secs(60), |v| *v > 1), None);
        recent.remove("a");
        assert_eq!(recent.get("a", Duration::from_secs(60), |_| true), None);
    }

    #[test]
    fn a_full_map_makes_room() {
        let recent = Recent::new(2);
        recent.put("a", 1, Duration::from_secs(60));
        recent.put("b", 2, Duration::from_secs(60));
        recent.put("c", 3, Duration::from_secs(60));
        assert_eq!(recent.get("c", Duration::from_secs(60), |_| true), Some(3));
        assert!(recent.entries().len() <= 2);
    }
}
