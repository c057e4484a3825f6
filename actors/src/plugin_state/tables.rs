//! The plugin states' store operations: the only code that touches their tables.
//!
//! - `plugin_states`: id -> state;
//! - `plugin_state_refs`: (user, "plugin\0page\0key") -> [`StateRef`]: one
//!   state per user, plugin, page and key; lists and stats read it alone
//!   (the id, expiry and size are in it), so no state is decoded but the
//!   page's;
//! - `plugin_state_expiry`: (expires at, id) -> user: the sweeper reads
//!   only what has expired.
//!
//! Every write of a user's states holds the user's lock of the per-user
//! count, so checks made under it (duplicates, the cap) stay true until
//! the write's transaction.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CoreError;
use crate::model::PluginState;
use crate::per_user::{Counted, UserCount, id_at, index_len};
use crate::store::{Store, Table, Tx, TxResult};

/// What the unique key of a state points at.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StateRef {
    /// The state.
    pub id: Uuid,
    /// Its expiry, Unix ms.
    pub expires_at: Option<i64>,
    /// Its `state_data`, serialized.
    pub bytes: u64,
}

impl StateRef {
    fn of(s: &PluginState) -> Self {
        Self {
            id: s.id,
            expires_at: s.expires_at,
            bytes: s.state_data.as_str().len() as u64,
        }
    }

    /// Whether it has expired at `now`.
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// A state's unique key within its user's.
pub fn state_key(plugin: &str, page: Option<&str>, key: Option<&str>) -> String {
    format!("{plugin}\0{}\0{}", page.unwrap_or(""), key.unwrap_or(""))
}

fn key_of(s: &PluginState) -> (Uuid, String) {
    (
        s.user_id,
        state_key(&s.plugin_id, s.page_id.as_deref(), s.state_key.as_deref()),
    )
}

/// One entry of a user's refs: plugin id, page id ("" for none), and the ref.
pub type RefEntry = (String, String, StateRef);

/// The plugin states' tables. Cheap to clone.
#[derive(Clone)]
pub struct StateTables {
    store: Store,
    states: Table<Uuid, PluginState>,
    refs: Table<(Uuid, String), StateRef>,
    expiry: Table<(i64, Uuid), Uuid>,
    count: UserCount,
}

impl StateTables {
    /// Opens the tables.
    pub fn open(store: Store) -> Result<Self, CoreError> {
        Ok(Self {
            states: store.table("plugin_states")?,
            refs: store.table("plugin_state_refs")?,
            expiry: store.table("plugin_state_expiry")?,
            count: UserCount::open(&store, Counted::PluginStates)?,
            store,
        })
    }

    /// State `id`, expired or not.
    pub fn get(&self, id: Uuid) -> Result<Option<PluginState>, CoreError> {
        Ok(self.states.get(&id)?)
    }

    /// The user's refs (of `plugin` only, if given), keys and refs only.
    pub fn refs(&self, user: Uuid, plugin: Option<&str>) -> Result<Vec<RefEntry>, CoreError> {
        let prefix = plugin.map(|p| format!("{p}\0")).unwrap_or_default();
        let mut out = Vec::new();
        for entry in self.refs.scan_prefix(&(user, prefix)) {
            let (key, r) = entry?;
            let text = String::from_utf8_lossy(key.get(16..).unwrap_or_default()).into_owned();
            let mut parts = text.split('\0');
            let plugin = parts.next().unwrap_or_default().to_string();
            let page = parts.next().unwrap_or_default().to_string();
            out.push((plugin, page, r));
        }
        Ok(out)
    }

    /// Writes every one of `states` (all the user's, all new ids) in one
    /// transaction, or none: each that would duplicate a live state (or an
    /// earlier one of the batch) is listed by index instead. An expired
    /// state in the way is replaced. `cap` bounds the user's count.
    pub async fn create(
        &self,
        user: Uuid,
        states: &[PluginState],
        cap: u64,
        now: i64,
    ) -> Result<Vec<usize>, CoreError> {
        {
            let _guard = self.count.lock(user);
            let mut seen = HashSet::new();
            let mut duplicates = Vec::new();
            let mut replaced = Vec::new();
            for (i, s) in states.iter().enumerate() {
                let key = key_of(s);
                match self.refs.get(&key)? {
                    Some(r) if r.expired_at(now) => replaced.push(r.id),
                    Some(_) => duplicates.push(i),
                    None => {}
                }
                if !seen.insert(key) && !duplicates.contains(&i) {
                    duplicates.push(i);
                }
            }
            if !duplicates.is_empty() {
                return Ok(duplicates);
            }
            let n = self
                .count
                .check(user, cap, || index_len(&self.refs, user))?;
            let after = (n + states.len() as u64).saturating_sub(replaced.len() as u64);
            if after > cap {
                return Err(CoreError::LimitReached {
                    resource: Counted::PluginStates.resource(),
                    limit: cap,
                });
            }
            self.store.transaction_unflushed(
                &[&self.states, &self.refs, &self.expiry, self.count.table()],
                |tx| {
                    for id in &replaced {
                        self.remove_in(tx, *id)?;
                    }
                    for s in states {
                        self.write_in(tx, s)?;
                    }
                    self.count.set_in(tx, user, after)
                },
            )?;
        }
        self.store.commit().await?;
        Ok(Vec::new())
    }

    fn write_in(&self, tx: &Tx<'_>, s: &PluginState) -> TxResult<()> {
        tx.insert(&self.states, &s.id, s)?;
        tx.insert(&self.refs, &key_of(s), &StateRef::of(s))?;
        if let Some(t) = s.expires_at {
            tx.insert(&self.expiry, &(t, s.id), &s.user_id)?;
        }
        Ok(())
    }

    /// Removes state `id` and its entries; false if it was gone. The
    /// count is the caller's to change.
    fn remove_in(&self, tx: &Tx<'_>, id: Uuid) -> TxResult<bool> {
        let Some(s) = tx.get(&self.states, &id)? else {
            return Ok(false);
        };
        tx.remove(&self.states, &id)?;
        tx.remove(&self.refs, &key_of(&s))?;
        if let Some(t) = s.expires_at {
            tx.remove(&self.expiry, &(t, id))?;
        }
        Ok(true)
    }

    /// Replaces the stored `old` with `new` (same id and user); false if
    /// the new key is taken by another live state.
    pub async fn replace(
        &self,
        old: &PluginState,
        new: &PluginState,
        now: i64,
    ) -> Result<bool, CoreError> {
        let user = new.user_id;
        {
            let _guard = self.count.lock(user);
            let mut in_the_way = None;
            if key_of(old) != key_of(new) {
                match self.refs.get(&key_of(new))? {
                    Some(r) if r.expired_at(now) => in_the_way = Some(r.id),
                    Some(_) => return Ok(false),
                    None => {}
                }
            }
            let done = self.store.transaction_unflushed(
                &[&self.states, &self.refs, &self.expiry, self.count.table()],
                |tx| {
                    if !self.remove_in(tx, old.id)? {
                        return Ok(false);
                    }
                    if let Some(id) = in_the_way
                        && self.remove_in(tx, id)?
                    {
                        self.count.decrement_in(tx, user)?;
                    }
                    self.write_in(tx, new)?;
                    Ok(true)
                },
            )?;
            if !done {
                return Err(CoreError::not_found("plugin state", new.id));
            }
        }
        self.store.commit().await?;
        Ok(true)
    }

    /// Removes state `id` of `user` if `only_expired` is false or it has
    /// expired at `now` (unflushed); whether it did.
    fn remove(&self, user: Uuid, id: Uuid, only_expired: Option<i64>) -> Result<bool, CoreError> {
        let _guard = self.count.lock(user);
        Ok(self.store.transaction_unflushed(
            &[&self.states, &self.refs, &self.expiry, self.count.table()],
            |tx| {
                match tx.get(&self.states, &id)? {
                    Some(s) if s.user_id == user => {
                        if only_expired.is_some_and(|now| !s.expired_at(now)) {
                            return Ok(false);
                        }
                    }
                    _ => return Ok(false),
                }
                self.remove_in(tx, id)?;
                self.count.decrement_in(tx, user)?;
                Ok(true)
            },
        )?)
    }

    /// Removes an expiry entry whose state is gone or expires at another
    /// time, so that it cannot hold the head of the index.
    fn drop_stale_expiry(&self, at: i64, id: Uuid) -> Result<(), CoreError> {
        self.store
            .transaction_unflushed(&[&self.states, &self.expiry], |tx| {
                match tx.get(&self.states, &id)? {
                    Some(s) if s.expires_at == Some(at) => Ok(()),
                    _ => tx.remove(&self.expiry, &(at, id)),
                }
            })?;
        Ok(())
    }

    /// Deletes state `id` of `user`; false if it was gone.
    pub async fn delete(&self, user: Uuid, id: Uuid) -> Result<bool, CoreError> {
        let removed = self.remove(user, id, None)?;
        self.store.commit().await?;
        Ok(removed)
    }

    /// Deletes `user`'s expired states; how many.
    pub async fn delete_expired_of(&self, user: Uuid, now: i64) -> Result<u64, CoreError> {
        let mut n = 0;
        for (_, _, r) in self.refs(user, None)? {
            if r.expired_at(now) && self.remove(user, r.id, Some(now))? {
                n += 1;
            }
        }
        self.store.commit().await?;
        Ok(n)
    }

    /// Deletes up to `max` expired states of any user, reading the expiry
    /// index only up to `now`; how many.
    pub async fn sweep(&self, now: i64, max: usize) -> Result<u64, CoreError> {
        let mut due = Vec::new();
        for entry in self.expiry.range_from(&(i64::MIN, Uuid::nil())) {
            let (key, user) = entry?;
            let at = key
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(|b| (u64::from_be_bytes(b) ^ (1 << 63)) as i64)
                .ok_or_else(|| CoreError::Internal("bad expiry key".into()))?;
            if at > now || due.len() >= max {
                break;
            }
            due.push((at, user, id_at(&key, 8)?));
        }
        let mut n = 0;
        for (at, user, id) in due {
            if self.remove(user, id, Some(now))? {
                n += 1;
            } else {
                self.drop_stale_expiry(at, id)?;
            }
        }
        if n > 0 {
            self.store.commit().await?;
        }
        Ok(n)
    }
}
