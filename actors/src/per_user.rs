//! A user's records as a whole: how many there are, and one page of them.
//!
//! Counts are kept in the store next to the records they count, so that a
//! create checks the user's cap with one read instead of a scan of the
//! user's records.
//!
//! Every create and delete of a counted kind holds the user's lock from the
//! check to the end of its (unflushed) transaction, and writes the count in
//! that same transaction: concurrent creates cannot pass the cap together,
//! and a crash cannot leave a count that disagrees with the records. A user
//! whose count was never stored (data written before counts existed) is
//! counted once from the records' per-user index, under the same lock.

use std::sync::{Arc, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::CoreError;
use crate::store::{KeyLocks, Store, StoreError, StoreKey, Table, Tx, TxResult};

/// The kinds of records counted per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Conversations (`limits.max_conversations_per_user`).
    Conversations,
    /// Personas (`limits.max_personas_per_user`).
    Personas,
    /// Tags (`limits.max_tags_per_user`).
    Tags,
    /// API keys (`limits.max_api_keys_per_user`).
    ApiKeys,
    /// Documents (`limits.max_documents_per_user`).
    Documents,
    /// Live projects (`limits.max_projects_per_user`).
    Projects,
    /// Plugin states (`limits.max_plugin_states_per_user`).
    PluginStates,
    /// User- and page-scope setting values (`limits.max_setting_instances_per_user`).
    SettingInstances,
}

impl Counted {
    /// The stored tag of the kind (part of the count's key; never reuse one).
    fn code(self) -> u32 {
        match self {
            Counted::Conversations => 1,
            Counted::Personas => 2,
            Counted::Tags => 3,
            Counted::ApiKeys => 4,
            Counted::Documents => 5,
            Counted::Projects => 6,
            Counted::PluginStates => 7,
            Counted::SettingInstances => 8,
        }
    }

    /// The plural the error message and `details.resource` use.
    pub fn resource(self) -> &'static str {
        match self {
            Counted::Conversations => "conversations",
            Counted::Personas => "personas",
            Counted::Tags => "tags",
            Counted::ApiKeys => "api_keys",
            Counted::Documents => "documents",
            Counted::Projects => "projects",
            Counted::PluginStates => "plugin_states",
            Counted::SettingInstances => "setting_instances",
        }
    }
}

/// The count of one kind of record, for every user. Cheap to clone.
#[derive(Clone)]
pub struct UserCount {
    /// (user id, kind code) -> how many records the user has. One tree for
    /// every kind, so a transaction names it once.
    table: Table<(Uuid, u32), u64>,
    kind: Counted,
    /// Serializes the creates and deletes of one user's records of this kind.
    locks: Arc<KeyLocks>,
}

impl UserCount {
    /// Open one per kind and share its clones: the locks are the handle's
    /// own, so a second handle of the same kind would not exclude the first.
    pub fn open(store: &Store, kind: Counted) -> Result<Self, StoreError> {
        Ok(Self {
            table: store.table("user_counts")?,
            kind,
            locks: Default::default(),
        })
    }

    /// The table to name in a transaction that calls [`UserCount::set_in`]
    /// or [`UserCount::decrement_in`].
    pub fn table(&self) -> &Table<(Uuid, u32), u64> {
        &self.table
    }

    /// The user's lock: hold it from [`UserCount::check`] until the
    /// transaction that writes the count has returned. Never across an `.await`.
    pub fn lock(&self, user: Uuid) -> MutexGuard<'_, ()> {
        self.locks.lock(&(user, self.kind.code()))
    }

    /// The user's count, if one more record fits under `max`; otherwise
    /// [`CoreError::LimitReached`]. `recount` counts the records from their
    /// index the first time (and only then). Call it holding the user's lock.
    pub fn check(
        &self,
        user: Uuid,
        max: u64,
        recount: impl FnOnce() -> Result<u64, CoreError>,
    ) -> Result<u64, CoreError> {
        let n = match self.table.get(&self.key(user))? {
            Some(n) => n,
            None => {
                let n = recount()?;
                self.table.insert(&self.key(user), &n)?;
                n
            }
        };
        if n >= max {
            return Err(CoreError::LimitReached {
                resource: self.kind.resource(),
                limit: max,
            });
        }
        Ok(n)
    }

    /// Stores `n` as the user's count, inside the create's transaction.
    pub fn set_in(&self, tx: &Tx<'_>, user: Uuid, n: u64) -> TxResult<()> {
        tx.insert(&self.table, &self.key(user), &n)
    }

    /// Counts one record less, inside the delete's transaction. The caller
    /// must have seen the record there in that transaction, so that two
    /// deletes of one record count it once. A count never stored is left
    /// alone: the first check counts the index, which the delete updates.
    pub fn decrement_in(&self, tx: &Tx<'_>, user: Uuid) -> TxResult<()> {
        match tx.get(&self.table, &self.key(user))? {
            Some(n) => tx.insert(&self.table, &self.key(user), &n.saturating_sub(1)),
            None => Ok(()),
        }
    }

    /// The user's stored count, if any (for a page's `total`).
    pub fn stored(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        self.table.get(&self.key(user))
    }

    fn key(&self, user: Uuid) -> (Uuid, u32) {
        (user, self.kind.code())
    }

    /// The key of every user's records of this kind together (no user has the max id).
    fn total_key(&self) -> (Uuid, u32) {
        (Uuid::max(), self.kind.code())
    }

    /// Moves the count of every user's records by `delta`, inside the
    /// create's or delete's transaction. Left alone until
    /// [`UserCount::ensure_total`] has stored it.
    pub fn add_total_in(&self, tx: &Tx<'_>, delta: i64) -> TxResult<()> {
        match tx.get(&self.table, &self.total_key())? {
            Some(n) => {
                let n = n.saturating_add_signed(delta);
                tx.insert(&self.table, &self.total_key(), &n)
            }
            None => Ok(()),
        }
    }

    /// Stores the count of every user's records, from `count`, if none is
    /// stored yet. Call at start-up, before any create or delete.
    pub fn ensure_total(&self, count: impl FnOnce() -> u64) -> Result<(), StoreError> {
        if self.table.get(&self.total_key())?.is_none() {
            self.table.insert(&self.total_key(), &count())?;
        }
        Ok(())
    }

    /// Every user's records of this kind, as counted by [`UserCount::add_total_in`].
    pub fn total(&self) -> Result<u64, StoreError> {
        Ok(self.table.get(&self.total_key())?.unwrap_or(0))
    }
}

/// How many entries an `(owner, ...)` index holds for `owner`. Reads keys
/// only: no record is decoded.
pub fn index_len<K, V>(index: &Table<K, V>, owner: Uuid) -> Result<u64, CoreError>
where
    K: StoreKey + ?Sized,
    V: Serialize + DeserializeOwned,
{
    let mut n = 0;
    for key in index.keys_with_prefix(&owner) {
        key?;
        n += 1;
    }
    Ok(n)
}

/// The ids at positions `skip..skip + limit` of an `(owner, id)` index
/// (oldest first, or newest first with `newest_first`), and how many
/// entries it holds in all. Reads keys only, so a page of a long list
/// decodes the page's records and nothing else.
pub fn index_page<V>(
    index: &Table<(Uuid, Uuid), V>,
    owner: Uuid,
    skip: usize,
    limit: usize,
    newest_first: bool,
) -> Result<(Vec<Uuid>, usize), CoreError>
where
    V: Serialize + DeserializeOwned,
{
    let keys = index.keys_with_prefix(&owner);
    let keys: Box<dyn Iterator<Item = _>> = if newest_first {
        Box::new(keys.rev())
    } else {
        Box::new(keys)
    };
    let mut ids = Vec::with_capacity(limit.min(100));
    let mut total = 0;
    for key in keys {
        let key = key?;
        if total >= skip && ids.len() < limit {
            ids.push(id_at(&key, 16)?);
        }
        total += 1;
    }
    Ok((ids, total))
}

/// A page of `owner`'s records, newest first, through their `(owner, id)`
/// index, and how many there are: only the page's records are read (a
/// record gone since its index entry was written is skipped).
pub fn records_page<I, V>(
    index: &Table<(Uuid, Uuid), I>,
    records: &Table<Uuid, V>,
    owner: Uuid,
    skip: usize,
    limit: usize,
) -> Result<(Vec<V>, usize), CoreError>
where
    I: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    let (ids, total) = index_page(index, owner, skip, limit, true)?;
    let mut page = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(record) = records.get(&id)? {
            page.push(record);
        }
    }
    Ok((page, total))
}

/// The UUID at byte `at` of a stored key.
pub fn id_at(key: &[u8], at: usize) -> Result<Uuid, CoreError> {
    key.get(at..at + 16)
        .and_then(|b| Uuid::from_slice(b).ok())
        .ok_or_else(|| CoreError::Internal("bad index key".into()))
}

#[cfg(test)]
mod tests;
