//! `Table<K, V>`: one sled tree holding one record type, with typed keys and values.

use std::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

use super::{StoreError, StoreKey, codec};

/// One tree of the store. Writes through a table are not durable on their
/// own: follow them with [`super::Store::commit`] (or use
/// [`super::Store::transaction`], which commits).
pub struct Table<K: ?Sized, V> {
    pub(crate) tree: sled::Tree,
    _types: PhantomData<fn(&K) -> V>,
}

impl<K: ?Sized, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        Self {
            tree: self.tree.clone(),
            _types: PhantomData,
        }
    }
}

impl<K: StoreKey + ?Sized, V: Serialize + DeserializeOwned> Table<K, V> {
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self {
            tree,
            _types: PhantomData,
        }
    }

    /// The record under `key`, if any.
    pub fn get(&self, key: &K) -> Result<Option<V>, StoreError> {
        self.tree
            .get(key.to_key())?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }

    /// Writes (or replaces) the record under `key`.
    pub fn insert(&self, key: &K, value: &V) -> Result<(), StoreError> {
        self.tree.insert(key.to_key(), codec::encode(value)?)?;
        Ok(())
    }

    /// Removes the record under `key`, returning it.
    pub fn remove(&self, key: &K) -> Result<Option<V>, StoreError> {
        self.tree
            .remove(key.to_key())?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }

    /// Whether a record exists under `key`.
    pub fn contains(&self, key: &K) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(key.to_key())?)
    }

    /// Every record whose key starts with `prefix`, in key order.
    pub fn scan_prefix<P: StoreKey + ?Sized>(
        &self,
        prefix: &P,
    ) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, V), StoreError>> + use<K, V, P> {
        self.tree.scan_prefix(prefix.to_key()).map(decode_pair)
    }

    /// The keys that start with `prefix`, in key order, without decoding
    /// any record: what counts and pages walk past.
    pub fn keys_with_prefix<P: StoreKey + ?Sized>(
        &self,
        prefix: &P,
    ) -> impl DoubleEndedIterator<Item = Result<Vec<u8>, StoreError>> + use<K, V, P> {
        self.tree
            .scan_prefix(prefix.to_key())
            .keys()
            .map(|k| Ok(k?.to_vec()))
    }

    /// Removes every record whose key starts with `prefix`; returns how many.
    pub fn remove_prefix<P: StoreKey + ?Sized>(&self, prefix: &P) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for key in self.tree.scan_prefix(prefix.to_key()).keys() {
            batch.remove(key?);
            n += 1;
        }
        self.tree.apply_batch(batch)?;
        Ok(n)
    }

    /// Every record with a key at or after `start`, in key order.
    pub fn range_from<S: StoreKey + ?Sized>(
        &self,
        start: &S,
    ) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, V), StoreError>> + use<K, V, S> {
        self.tree.range(start.to_key()..).map(decode_pair)
    }

    /// Every record in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, V), StoreError>> {
        self.tree.iter().map(decode_pair)
    }

    /// Number of records (walks the tree: not for hot paths).
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether the table holds no record.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

fn decode_pair<V: DeserializeOwned>(
    item: sled::Result<(sled::IVec, sled::IVec)>,
) -> Result<(Vec<u8>, V), StoreError> {
    let (k, v) = item?;
    Ok((k.to_vec(), codec::decode(&v)?))
}
