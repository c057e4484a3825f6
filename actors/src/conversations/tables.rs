//! The store tables of conversations and messages.

use uuid::Uuid;

use crate::model::{Conversation, Message};
use crate::store::{Store, StoreError, Table, Tx, TxResult};

#[derive(Clone)]
pub struct ConvTables {
    pub conversations: Table<Uuid, Conversation>,
    /// (user id, updated at ms, conversation id): a user's conversations by recency.
    pub by_user: Table<(Uuid, i64, Uuid), ()>,
    /// (conversation id, message id v7): a conversation's messages are one ordered range.
    pub messages: Table<(Uuid, Uuid), Message>,
}

impl ConvTables {
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            conversations: store.table("conversations")?,
            by_user: store.table("conversations_by_user")?,
            messages: store.table("messages")?,
        })
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

    /// Appends `message` to its conversation (count and recency too), in `tx`.
    pub fn append_in(&self, tx: &Tx<'_>, message: &Message) -> TxResult<Conversation> {
        let Some(mut conv) = tx.get(&self.conversations, &message.conversation_id)? else {
            return Tx::abort(StoreError::Conflict("conversation was deleted".into()));
        };
        tx.insert(
            &self.messages,
            &(message.conversation_id, message.id),
            message,
        )?;
        conv.message_count += 1;
        self.touch_in(tx, &mut conv, message.created_at)?;
        Ok(conv)
    }

    /// Appends `message` durably.
    pub async fn append(
        &self,
        store: &Store,
        message: &Message,
    ) -> Result<Conversation, StoreError> {
        store
            .transaction(
                &[&self.conversations, &self.by_user, &self.messages],
                |tx| self.append_in(tx, message),
            )
            .await
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
