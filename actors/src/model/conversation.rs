//! Conversations and their messages.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::llm::{MessageRole, TokenUsage};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub persona_id: Option<Uuid>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    /// Free-form JSON object, kept as text (bincode cannot hold `Value`).
    pub metadata_json: String,
    pub tag_ids: Vec<Uuid>,
    pub message_count: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a message came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Complete,
    /// The generation was cancelled; `content` is what was generated until then.
    Cancelled,
    /// The provider failed mid-answer; `content` is what arrived before.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Cancelled => "cancelled",
            MessageStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: MessageRole,
    pub content: String,
    pub metadata_json: String,
    pub usage: Option<TokenUsage>,
    pub status: MessageStatus,
    pub created_at: i64,
}
