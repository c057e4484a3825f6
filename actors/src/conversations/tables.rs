//! The store tables of conversations and messages.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{Conversation, Message};
use crate::per_user::{Counted, UserCount, id_at};
use crate::store::{KeyLocks, Store, StoreError, Table, Tx, TxResult};

use super::recency::Recency;

/// The stored recency index that [`Recency`] replaced, dropped at open.
const OLD_RECENCY_TREE: &str = "conversations_by_user";

/// Conversation and message tables, with a write lock per conversation. Cheap to clone.
#[derive(Clone)]
pub struct ConvTables {
    /// Serializes read-modify-writes of one conversation's record.
    locks: Arc<KeyLocks>,
    /// Conversation id -> the conversation record.
    pub conversations: Table<Uuid, Conversation>,
    /// A user's conversations by recency, made from the records.
    recency: Arc<Recency>,
    /// (conversation id, message id v7): a conversation's messages are one ordered range.
    pub messages: Table<(Uuid, Uuid), Message>,
    /// How many conversations each user has, against `max_per_user`.
    count: UserCount,
    /// `limits.max_conversations_per_user`.
    max_per_user: u64,
}

impl ConvTables {
    /// Opens the tables in `store`; `max_per_user` caps the conversations of one user.
    /// Builds the recency view from the records (one pass over them).
    pub fn open(store: &Store, max_per_user: u64) -> Result<Self, StoreError> {
        let conversations = store.table("conversations")?;
        store.drop_table(OLD_RECENCY_TREE)?;
        Ok(Self {
            count: UserCount::open(store, Counted::Conversations)?,
            max_per_user,
            locks: Default::default(),
            recency: Arc::new(Recency::load(&conversations)?),
            conversations,
            messages: store.table("messages")?,
        })
    }

    /// Stores a new conversation durably, or `LimitReached` if its user
    /// already has as many as they may keep.
    pub async fn insert_new(&self, store: &Store, conv: &Conversation) -> Result<(), CoreError> {
        let user = conv.user_id;
        {
            let _guard = self.count.lock(user);
            let n =
                self.count.check(
                    user,
                    self.max_per_user,
                    || Ok(self.recency.len(user) as u64),
                )?;
            store.transaction_unflushed(&[&self.conversations, self.count.table()], |tx| {
                tx.insert(&self.conversations, &conv.id, conv)?;
                self.count.set_in(tx, user, n + 1)?;
                self.count.add_total_in(tx, 1)
            })?;
            self.recency.put(user, conv.updated_at, conv.id);
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
        let removed =
            store.transaction_unflushed(&[&self.conversations, self.count.table()], |tx| {
                let Some(conv) = tx.get(&self.conversations, &id)? else {
                    return Ok(None);
                };
                tx.remove(&self.conversations, &id)?;
                self.count.decrement_in(tx, user)?;
                self.count.add_total_in(tx, -1)?;
                Ok(Some(conv.updated_at))
            })?;
        if let Some(updated_at) = removed {
            self.recency.remove(user, updated_at, id);
        }
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

    /// A page of `user`'s conversations, most recently updated first, and
    /// how many there are. Decodes the page's records only.
    pub fn recent_page(
        &self,
        user: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Conversation>, usize), CoreError> {
        let mut items = Vec::new();
        for id in self.recency.page(user, skip, limit) {
            // Gone between the page and the read: a delete raced the list.
            if let Some(conv) = self.conversations.get(&id)? {
                items.push(conv);
            }
        }
        Ok((items, self.recency.len(user)))
    }

    /// Every conversation id of `user`, most recently updated first.
    pub fn ids_by_recency(&self, user: Uuid) -> Vec<Uuid> {
        self.recency.page(user, 0, usize::MAX)
    }

    /// Writes `conv` with a new `updated_at` in `tx`. The caller holds the
    /// record's lock and tells [`ConvTables::moved`] once `tx` is done.
    pub fn touch_in(&self, tx: &Tx<'_>, conv: &mut Conversation, now: i64) -> TxResult<()> {
        conv.updated_at = now.max(conv.updated_at);
        tx.insert(&self.conversations, &conv.id, conv)
    }

    /// Conversation `conv`, updated at `old` before, was written: it moves
    /// in the recency view. Called under the record's lock.
    pub fn moved(&self, conv: &Conversation, old: i64) {
        self.recency
            .moved(conv.user_id, old, conv.updated_at, conv.id);
    }

    /// Appends `message` durably, with the conversation's count and recency.
    ///
    /// No sled transaction here (see `KeyLocks`): the conversation's stripe
    /// lock serializes the read-modify-write, and the writes are ordered so
    /// that a crash between them leaves nothing a reader trips on: the
    /// message first (what the caller is told about), then the record. A
    /// stale count is repaired by [`ConvTables::repair_count`].
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
            self.conversations.insert(&conv.id, &conv)?;
            self.moved(&conv, old);
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

    fn conversation(user: Uuid, at: i64) -> Conversation {
        Conversation {
            id: Uuid::now_v7(),
            user_id: user,
            title: "t".into(),
            persona_id: None,
            provider: None,
            model: None,
            system_prompt: None,
            metadata_json: crate::model::JsonText::empty_object(),
            tag_ids: Vec::new(),
            message_count: 0,
            created_at: at,
            updated_at: at,
            project_id: None,
        }
    }

    fn message(conversation_id: Uuid, at: i64) -> Message {
        Message {
            id: Uuid::now_v7(),
            conversation_id,
            role: crate::model::MessageRole::User,
            content: "hi".into(),
            metadata_json: crate::model::JsonText::empty_object(),
            usage: None,
            status: crate::model::MessageStatus::Complete,
            created_at: at,
        }
    }

    fn ids(page: (Vec<Conversation>, usize)) -> (Vec<Uuid>, usize) {
        (page.0.iter().map(|c| c.id).collect(), page.1)
    }

    #[tokio::test]
    async fn the_recency_order_is_made_again_from_the_records_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Sync);
        let old_index = store
            .table::<(Uuid, i64, Uuid), ()>(OLD_RECENCY_TREE)
            .unwrap();
        old_index
            .insert(&(Uuid::nil(), 1, Uuid::nil()), &())
            .unwrap();
        let tables = ConvTables::open(&store, 100).unwrap();
        let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
        let convs: Vec<Conversation> = (0..3).map(|at| conversation(user, at)).collect();
        for conv in convs.iter().chain([&conversation(other, 50)]) {
            tables.insert_new(&store, conv).await.unwrap();
        }
        tables
            .append(&store, &message(convs[0].id, 100))
            .await
            .unwrap();
        tables.remove(&store, user, convs[1].id).unwrap();
        let want = (vec![convs[0].id, convs[2].id], 2);
        assert_eq!(ids(tables.recent_page(user, 0, 10).unwrap()), want);
        assert_eq!(
            ids(tables.recent_page(user, 1, 10).unwrap()),
            (vec![convs[2].id], 2)
        );

        let reopened = ConvTables::open(&store, 100).unwrap();
        assert_eq!(ids(reopened.recent_page(user, 0, 10).unwrap()), want);
        assert_eq!(reopened.recent_page(other, 0, 10).unwrap().1, 1);
        let old_index = store
            .table::<(Uuid, i64, Uuid), ()>(OLD_RECENCY_TREE)
            .unwrap();
        assert!(old_index.is_empty(), "the stored index is dropped");
    }

    #[tokio::test]
    async fn counts_left_stale_by_a_crash_are_repaired_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Sync);
        let tables = ConvTables::open(&store, 100).unwrap();
        let user = Uuid::now_v7();
        let mut ids = Vec::new();
        for stale in [0u64, 5] {
            let conv = Conversation {
                message_count: stale,
                ..conversation(user, now_ms())
            };
            tables.conversations.insert(&conv.id, &conv).unwrap();
            for _ in 0..2 {
                let message = message(conv.id, now_ms());
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
