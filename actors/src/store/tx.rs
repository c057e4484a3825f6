//! Transactions over several tables: a record and its index entries are
//! written together or not at all.

use serde::{Serialize, de::DeserializeOwned};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{StoreError, StoreKey, Table, codec};

/// The view of the tables inside one transaction. Tables must be among those
/// passed to [`super::Store::transaction`].
pub struct Tx<'a> {
    pub(crate) trees: &'a [TransactionalTree],
    pub(crate) names: &'a [sled::IVec],
}

/// Why a transaction closure stopped: its own error (the transaction is
/// rolled back and the error returned) or a store failure.
pub type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl Tx<'_> {
    fn tree<K: ?Sized, V>(&self, table: &Table<K, V>) -> TxResult<&TransactionalTree> {
        let name = table.tree.name();
        self.names
            .iter()
            .position(|n| *n == name)
            .map(|i| &self.trees[i])
            .ok_or_else(|| {
                ConflictableTransactionError::Abort(StoreError::Codec(
                    "table not part of this transaction".into(),
                ))
            })
    }

    /// Reads a record inside the transaction (sees the transaction's own writes).
    pub fn get<K: StoreKey + ?Sized, V: Serialize + DeserializeOwned>(
        &self,
        table: &Table<K, V>,
        key: &K,
    ) -> TxResult<Option<V>> {
        match self.tree(table)?.get(key.to_key())? {
            Some(bytes) => Ok(Some(
                codec::decode(&bytes).map_err(ConflictableTransactionError::Abort)?,
            )),
            None => Ok(None),
        }
    }

    /// Writes a record inside the transaction.
    pub fn insert<K: StoreKey + ?Sized, V: Serialize + DeserializeOwned>(
        &self,
        table: &Table<K, V>,
        key: &K,
        value: &V,
    ) -> TxResult<()> {
        let bytes = codec::encode(value).map_err(ConflictableTransactionError::Abort)?;
        self.tree(table)?.insert(key.to_key(), bytes)?;
        Ok(())
    }

    /// Removes a record inside the transaction.
    pub fn remove<K: StoreKey + ?Sized, V: Serialize + DeserializeOwned>(
        &self,
        table: &Table<K, V>,
        key: &K,
    ) -> TxResult<()> {
        self.tree(table)?.remove(key.to_key())?;
        Ok(())
    }

    /// Rolls the transaction back with `err`.
    pub fn abort<T>(err: StoreError) -> TxResult<T> {
        Err(ConflictableTransactionError::Abort(err))
    }
}
