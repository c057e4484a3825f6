//! Personas and tags (API.md 3).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A reusable character: a system prompt and model settings a conversation can take on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persona {
    /// Primary key; conversations refer to it by `persona_id`.
    pub id: Uuid,
    /// The owner; only their conversations can use it.
    pub user_id: Uuid,
    /// Shown in lists; 1-255 characters.
    pub name: String,
    /// Free text shown to the user, at most 2,000 characters.
    pub description: Option<String>,
    /// Used when the conversation sets none; at most 32 KiB.
    pub system_prompt: Option<String>,
    /// Sampling temperature for its chats unless a request sets one; `None` uses the provider's.
    pub temperature: Option<f32>,
    /// Answer length cap in tokens unless a request sets one; `None` uses the provider's.
    pub max_tokens: Option<u32>,
    /// URL of its picture, at most 2,048 characters.
    pub avatar: Option<String>,
    /// Free-form labels (at most 50), listed by `GET /personas/tags`.
    pub tags: Vec<String>,
    /// A first line a client may show before the user writes; at most 2,000 characters.
    pub sample_greeting: Option<String>,
    /// The owner's on/off switch, stored and returned; the server does not act on it.
    pub is_active: bool,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

/// A user's label for grouping conversations; names are unique per user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tag {
    /// Primary key; conversations list it in `tag_ids`.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// 1-255 characters, unique among the owner's tags.
    pub name: String,
    /// Any color text the client chose (e.g. `#ff8800`), at most 255 characters; `None` for none.
    pub color: Option<String>,
    /// Unix ms when it was created.
    pub created_at: i64,
}
