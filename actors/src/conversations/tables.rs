//! The store tables of conversations and messages.

use std::collections::HashSet;

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{Conversation, Message};
use crate::per_user::{Counted, UserCount, id_at};
use crate::store::{KeyLocks, Store, StoreError, StoreKey, Table, Tx, TxResult};

/// Conversation and message tables, with a write lock per conversation. Cheap to clone.
#[derive(Clone)]
pub struct ConvTables {
    /// Serializes read-modify-writes of one conversation's record.
    locks: std::sync::Arc<KeyLocks>,
    /// Conversation id -> the conversation record.
    pub conversations: Table<Uuid, Conversation>,
    /// (user id, updated at ms, conversation id): a user's conversations by recency.
    pub by_user: Table<(Uuid, i64, Uuid), ()>,
    /// (conversation id, message id v7): a conversation's messages are one ordered range.
    pub messages: Table<(Uuid, Uuid), Message>,
    /// How many conversations each user has, against `max_per_user`.
    count: UserCount,
    /// `limits.max_conversations_per_user`.
    max_per_user: u64,
}

impl ConvTables {
    /// Opens the tables in `store`; `max_per_user` caps the conversations of one user.
    pub fn open(store: &Store, max_per_user: u64) -> Result<Self, StoreError> {
        Ok(Self {
            count: UserCount::open(store, Counted::Conversations)?,
            max_per_user,
            locks: Default::default(),
            conversations: store.table("conversations")?,
            by_user: store.table("conversations_by_user")?,
            messages: store.table("messages")?,
        })
    }

    /// Stores a new conversation durably, or `LimitReached` if its user
    /// already has as many as they may keep.
    pub async fn insert_new(&self, store: &Store, conv: &Conversation) -> Result<(), CoreError> {
        let user = conv.user_id;
        {
            let _guard = self.count.lock(user);
            let n = self
                .count
                .check(user, self.max_per_user, || self.distinct_ids(user))?;
            store.transaction_unflushed(
                &[&self.conversations, &self.by_user, self.count.table()],
                |tx| {
                    tx.insert(&self.by_user, &(user, conv.updated_at, conv.id), &())?;
                    tx.insert(&self.conversations, &conv.id, conv)?;
                    self.count.set_in(tx, user, n + 1)?;
                    self.count.add_total_in(tx, 1)
                },
            )?;
        }
        store.commit().await?;
        Ok(())
    }

    /// Removes conversation `id` of `user` and its messages (durable with
    /// the next commit), counting it out once however many deletes race.
    pub fn remove(&self, store: &Store, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        let _guard = self.locks.lock(&id);
        // Messages first: a crash half-way leaves a conversation whose
        // count is repaired, never messages nobody can reach.
        self.messages.remove_prefix(&id)?;
        let _count_guard = self.count.lock(user);
        store.transaction_unflushed(
            &[&self.conversations, &self.by_user, self.count.table()],
            |tx| {
                let Some(conv) = tx.get(&self.conversations, &id)? else {
                    return Ok(());
                };
                tx.remove(&self.conversations, &id)?;
                tx.remove(&self.by_user, &(user, conv.updated_at, id))?;
                self.count.decrement_in(tx, user)?;
                self.count.add_total_in(tx, -1)
            },
        )?;
        Ok(())
    }

    /// Every user's conversations together, for the admin dashboard: one read.
    pub fn total(&self) -> Result<u64, CoreError> {
        Ok(self.count.total()?)
    }

    /// Counts every conversation once if the total was never stored (at start-up).
    pub(crate) fn ensure_total(&self) -> Result<(), CoreError> {
        Ok(self
            .count
            .ensure_total(|| self.conversations.len() as u64)?)
    }

    /// How many conversations `user` has, from the recency index: keys only,
    /// each conversation once (a crash can leave a second, stale entry).
    fn distinct_ids(&self, user: Uuid) -> Result<u64, CoreError> {
        let mut seen = HashSet::new();
        for key in self.by_user.keys_with_prefix(&user) {
            seen.insert(id_at(&key?, 24)?);
        }
        Ok(seen.len() as u64)
    }

    /// A page of `user`'s conversations, most recently updated first, and
    /// how many there are. Decodes the page's records only: the entries
    /// before it and the total come from the index keys.
    pub fn recent_page(
        &self,
        user: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Conversation>, usize), CoreError> {
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        for key in self.by_user.keys_with_prefix(&user).rev() {
            let key = key?;
            let id = id_at(&key, 24)?;
            if seen.contains(&id) {
                continue;
            }
            if seen.len() >= skip && items.len() < limit {
                let Some(conv) = self.conversations.get(&id)? else {
                    continue;
                };
                // An entry left behind by a crash mid-append: the record knows better.
                if key.get(16..24) != Some(conv.updated_at.to_key().as_slice()) {
                    continue;
                }
                items.push(conv);
            }
            seen.insert(id);
        }
        // The stored count is exact; the index may hold a phantom left by a crash.
        let total = match self.count.stored(user)? {
            Some(n) => n as usize,
            None => seen.len(),
        };
        Ok((items, total))
    }

    /// Writes `conv` with a new `updated_at`, moving its recency index entry.
    pub fn touch_in(&self, tx: &Tx<'_>, conv: &mut Conversation, now: i64) -> TxResult<()> {
        tx.remove(&self.by_user, &(conv.user_id, conv.updated_at, conv.id))?;
        conv.updated_at = now.max(conv.updated_at);
        tx.insert(
            &self.by_user,
            &(conv.user_id, conv.updated_at, conv.id),
            &(),
        )?;
        tx.insert(&self.conversations, &conv.id, conv)
    }

    /// Appends `message` durably, with the conversation's count and recency.
    ///
    /// No sled transaction here (see `KeyLocks`): the conversation's stripe
    /// lock serializes the read-modify-write, and the writes are ordered so
    /// that a crash between them leaves nothing a reader trips on: the
    /// message first (what the caller is told about), then the new recency
    /// entry, the record, and last the removal of the old entry. A stale
    /// count is repaired by [`ConvTables::repair_count`]; a stale recency
    /// entry is skipped by the list, which checks it against the record.
    pub async fn append(
        &self,
        store: &Store,
        message: &Message,
    ) -> Result<Conversation, StoreError> {
        self.append_by(store, message, None)
            .await?
            .ok_or_else(|| StoreError::Conflict("conversation was deleted".into()))
    }

    /// [`ConvTables::append`] on behalf of `owner` when given: `None`
    /// (nothing written) if the conversation is gone or is not theirs. The
    /// ownership check reads the record the append reads anyway.
    pub async fn append_by(
        &self,
        store: &Store,
        message: &Message,
        owner: Option<Uuid>,
    ) -> Result<Option<Conversation>, StoreError> {
        let conv = {
            let _guard = self.locks.lock(&message.conversation_id);
            let found = self.conversations.get(&message.conversation_id)?;
            let Some(mut conv) = found.filter(|c| owner.is_none_or(|o| c.user_id == o)) else {
                return Ok(None);
            };
            self.messages
                .insert(&(message.conversation_id, message.id), message)?;
            let old = conv.updated_at;
            conv.message_count += 1;
            conv.updated_at = message.created_at.max(old);
            self.by_user
                .insert(&(conv.user_id, conv.updated_at, conv.id), &())?;
            self.conversations.insert(&conv.id, &conv)?;
            if old != conv.updated_at {
                self.by_user.remove(&(conv.user_id, old, conv.id))?;
            }
            conv
        };
        store.commit().await?;
        Ok(Some(conv))
    }

    /// The stripe lock of one conversation's record: every writer of the
    /// record holds it, transactions included (they do not see the lock
    /// otherwise). Never hold it across an `.await`.
    pub fn lock(&self, conversation: &Uuid) -> std::sync::MutexGuard<'_, ()> {
        self.locks.lock(conversation)
    }

    /// Sets the stored message count to the number of messages there are
    /// (after a crash between a message and its count).
    pub fn repair_count(&self, conversation: Uuid) -> Result<(), StoreError> {
        let _guard = self.locks.lock(&conversation);
        let Some(mut conv) = self.conversations.get(&conversation)? else {
            return Ok(());
        };
        let actual = self.messages.scan_prefix(&conversation).count() as u64;
        if actual != conv.message_count {
            tracing::warn!(%conversation, stored = conv.message_count, actual, "repairing a message count");
            conv.message_count = actual;
            self.conversations.insert(&conv.id, &conv)?;
        }
        Ok(())
    }

    /// Repairs the count of every conversation; run once at start after a
    /// crash (see [`Store::opened_after_crash`]), never per activation.
    pub fn repair_all_counts(&self) -> Result<usize, StoreError> {
        let mut seen = 0;
        for entry in self.conversations.iter() {
            let (key, _) = entry?;
            let id =
                Uuid::from_slice(&key).map_err(|_| StoreError::Codec("conversation id".into()))?;
            self.repair_count(id)?;
            seen += 1;
        }
        Ok(seen)
    }

    /// Messages `skip..skip + limit` of a conversation, oldest first. The
    /// messages before the page are passed by key, never decoded.
    pub fn messages_page(
        &self,
        conversation: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<Message>, CoreError> {
        let mut out = Vec::with_capacity(limit.min(100));
        for key in self
            .messages
            .keys_with_prefix(&conversation)
            .skip(skip)
            .take(limit)
        {
            let id = id_at(&key?, 16)?;
            if let Some(m) = self.messages.get(&(conversation, id))? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The last `n` messages of a conversation, oldest first.
    pub fn recent_messages(
        &self,
        conversation: Uuid,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let mut out: Vec<Message> = self
            .messages
            .scan_prefix(&conversation)
            .rev()
            .take(n)
            .map(|r| r.map(|(_, m)| m))
            .collect::<Result<_, _>>()?;
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_ms;

    #[tokio::test]
    async fn counts_left_stale_by_a_crash_are_repaired_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Sync);
        let tables = ConvTables::open(&store, 100).unwrap();
        let user = Uuid::now_v7();
        let mut ids = Vec::new();
        for stale in [0u64, 5] {
            let conv = Conversation {
                id: Uuid::now_v7(),
                user_id: user,
                title: "t".into(),
                persona_id: None,
                provider: None,
                model: None,
                system_prompt: None,
                metadata_json: crate::model::JsonText::empty_object(),
                tag_ids: Vec::new(),
                message_count: stale,
                created_at: now_ms(),
                updated_at: now_ms(),
                project_id: None,
            };
            tables.conversations.insert(&conv.id, &conv).unwrap();
            for _ in 0..2 {
                let message = Message {
                    id: Uuid::now_v7(),
                    conversation_id: conv.id,
                    role: crate::model::MessageRole::User,
                    content: "hi".into(),
                    metadata_json: crate::model::JsonText::empty_object(),
                    usage: None,
                    status: crate::model::MessageStatus::Complete,
                    created_at: now_ms(),
                };
                tables
                    .messages
                    .insert(&(conv.id, message.id), &message)
                    .unwrap();
            }
            ids.push(conv.id);
        }
        assert_eq!(tables.repair_all_counts().unwrap(), 2);
        for id in ids {
            assert_eq!(
                tables
                    .conversations
                    .get(&id)
                    .unwrap()
                    .unwrap()
                    .message_count,
                2
            );
        }
    }
}
