//! Conversations and their messages.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonText;
use crate::llm::{MessageRole, TokenUsage};

/// A user's chat thread: its settings and a count of its messages (stored apart).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    /// Primary key; messages and generation locks are keyed by it.
    pub id: Uuid,
    /// The owner; only they can read or chat in it.
    pub user_id: Uuid,
    /// Shown in lists; 1-255 characters.
    pub title: String,
    /// The persona whose prompt and model settings apply; `None` for none.
    pub persona_id: Option<Uuid>,
    /// Provider to chat with unless a request names one; `None` for the configured default.
    pub provider: Option<String>,
    /// Model to chat with unless a request names one; `None` for the provider's default.
    pub model: Option<String>,
    /// Overrides the persona's system prompt when set and non-empty; at most 32 KiB.
    pub system_prompt: Option<String>,
    /// Free-form JSON object, kept as text (bincode cannot hold `Value`).
    pub metadata_json: JsonText,
    /// Ids of the owner's tags attached to it, in the order they were added.
    pub tag_ids: Vec<Uuid>,
    /// How many messages it holds; kept in step with the message table (repaired at start-up).
    pub message_count: u64,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms of the last change or message; lists are ordered by it, newest first.
    pub updated_at: i64,
    /// The owner's project it belongs to; `None` for none. Added in record
    /// version 2: a version-1 record reads as `None` (see `store::codec`).
    pub project_id: Option<Uuid>,
}

/// How a message came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// The generation ended normally (or the message was written whole by a client).
    Complete,
    /// The generation was cancelled; `content` is what was generated until then.
    Cancelled,
    /// The provider failed mid-answer; `content` is what arrived before.
    Failed,
}

impl MessageStatus {
    /// The lower-case name used in JSON (`complete`, `cancelled`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Cancelled => "cancelled",
            MessageStatus::Failed => "failed",
        }
    }
}

/// One message of a conversation, as stored and as sent back to the model as history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Primary key (a v7 UUID); the assistant's is announced in the `start` event.
    pub id: Uuid,
    /// The conversation it belongs to.
    pub conversation_id: Uuid,
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text, 1-100000 characters (an answer cut short keeps what arrived).
    pub content: String,
    /// JSON object as text; for an answer, its `provider`, `model` and `finish_reason`.
    pub metadata_json: JsonText,
    /// Tokens the generation used; `Some` on assistant answers, `None` on messages a client wrote.
    pub usage: Option<TokenUsage>,
    /// Whether the answer finished, was cancelled or failed part-way.
    pub status: MessageStatus,
    /// Unix ms when it was stored; orders the history.
    pub created_at: i64,
}
