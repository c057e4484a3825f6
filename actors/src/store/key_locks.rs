//! Striped locks for read-modify-write of single records without a sled
//! transaction. sled's transactions (and batches) take a process-wide write
//! lock and roll its log buffer: at 64 concurrent writers they reach a
//! fifth of the rate of plain inserts. Hot paths therefore update a record
//! under one of these locks and commit afterwards.

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

/// 256 striped mutexes; a key hashes to one, so unrelated keys may share a stripe.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    /// Holds the stripe of `key`. Never hold it across an `.await`.
    pub fn lock<K: Hash>(&self, key: &K) -> MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() as usize) % STRIPES;
        self.stripes[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}
