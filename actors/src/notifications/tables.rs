//! The notification tables, and the only file that touches them:
//! `(user, id)` records (v7 ids, so a user's list is one prefix scan,
//! newest first from the end), an `(user, id)` index of the unread ones,
//! and the `(user, month, level)` marks that make a quota notice once a
//! month. Writes here are plain inserts under the user's stripe lock; the
//! callers commit.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::notice::NoticeKind;
use crate::error::CoreError;
use crate::model::JsonText;
use crate::per_user::{id_at, index_len, index_page};
use crate::store::{KeyLocks, Store, Table};

/// Notifications kept per user: the oldest go when a new one passes it.
pub const KEPT_PER_USER: u64 = 200;

/// One stored notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// A v7 UUID: key order is arrival order.
    pub id: Uuid,
    /// Whose it is; nobody else reads or marks it.
    pub user_id: Uuid,
    /// Which trigger made it.
    pub kind: NoticeKind,
    /// One line for a list or a toast.
    pub title: String,
    /// A sentence or two for a person.
    pub body: String,
    /// The trigger's ids and figures, a JSON object kept as text.
    pub data_json: JsonText,
    /// Unix ms when it was made.
    pub created_at: i64,
    /// Unix ms when the user marked it read; `None` while unread.
    pub read_at: Option<i64>,
}

/// The three tables. Cheap to clone.
#[derive(Clone)]
pub struct Tables {
    records: Table<(Uuid, Uuid), Notification>,
    unread: Table<(Uuid, Uuid), ()>,
    /// (user, `yyyymm`, level): this quota notice went out this month.
    marks: Table<(Uuid, u32, u32), ()>,
    /// Serializes one user's read-modify-writes (insert and trim, marks).
    pub locks: std::sync::Arc<KeyLocks>,
}

impl Tables {
    /// Opens (or makes) the tables in `store`.
    pub fn open(store: &Store) -> Result<Self, CoreError> {
        Ok(Self {
            records: store.table("notifications")?,
            unread: store.table("notifications_unread")?,
            marks: store.table("notification_marks")?,
            locks: Default::default(),
        })
    }

    /// Adds `n` as unread and drops the user's oldest past
    /// [`KEPT_PER_USER`]. The caller holds the user's lock.
    pub fn insert_locked(&self, n: &Notification) -> Result<(), CoreError> {
        self.records.insert(&(n.user_id, n.id), n)?;
        self.unread.insert(&(n.user_id, n.id), &())?;
        let kept = index_len(&self.records, n.user_id)?;
        let extra = kept.saturating_sub(KEPT_PER_USER) as usize;
        let (oldest, _) = index_page(&self.records, n.user_id, 0, extra, false)?;
        for id in oldest {
            self.records.remove(&(n.user_id, id))?;
            self.unread.remove(&(n.user_id, id))?;
        }
        Ok(())
    }

    /// The user's notification `id`, if it is theirs.
    pub fn get(&self, user: Uuid, id: Uuid) -> Result<Option<Notification>, CoreError> {
        Ok(self.records.get(&(user, id))?)
    }

    /// Marks `n` read now (it was unread). The caller holds the user's lock.
    pub fn mark_read_locked(&self, n: &mut Notification, now: i64) -> Result<(), CoreError> {
        n.read_at = Some(now);
        self.records.insert(&(n.user_id, n.id), n)?;
        self.unread.remove(&(n.user_id, n.id))?;
        Ok(())
    }

    /// The ids of the user's unread notifications, oldest first.
    pub fn unread_ids(&self, user: Uuid) -> Result<Vec<Uuid>, CoreError> {
        self.unread
            .keys_with_prefix(&user)
            .map(|key| id_at(&key?, 16))
            .collect()
    }

    /// A page of the user's notifications (only unread ones with
    /// `unread_only`), newest first, with the list's total and the
    /// user's unread count.
    pub fn page(
        &self,
        user: Uuid,
        unread_only: bool,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Notification>, usize, usize), CoreError> {
        let (ids, total) = if unread_only {
            index_page(&self.unread, user, skip, limit, true)?
        } else {
            index_page(&self.records, user, skip, limit, true)?
        };
        let unread = if unread_only {
            total
        } else {
            index_len(&self.unread, user)? as usize
        };
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            // Trimmed since its key was read: skipped.
            if let Some(n) = self.records.get(&(user, id))? {
                items.push(n);
            }
        }
        Ok((items, total, unread))
    }

    /// Sets the `(user, month, level)` mark; answers whether it was new.
    /// The caller holds the user's lock.
    pub fn mark_once_locked(&self, user: Uuid, month: u32, level: u32) -> Result<bool, CoreError> {
        let key = (user, month, level);
        if self.marks.contains(&key)? {
            return Ok(false);
        }
        self.marks.insert(&key, &())?;
        Ok(true)
    }
}
