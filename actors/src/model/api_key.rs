//! An API key: stored as the SHA-256 of the key, never the key itself.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An API key a user made to call the API without a session; only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    /// Primary key; also the id in `DELETE /api-keys/{id}`.
    pub id: Uuid,
    /// The user the key acts as.
    pub user_id: Uuid,
    /// The owner's label for the key, 1-255 characters.
    pub name: String,
    /// The first characters of the key (`ck_abcd`), to tell keys apart in lists.
    pub prefix: String,
    /// SHA-256 of the whole key; a presented key is hashed and compared to this.
    pub hash: [u8; 32],
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms after which the key is refused; `None` never expires.
    pub expires_at: Option<i64>,
}

impl ApiKey {
    /// Whether the key is refused at `now_ms` (Unix ms) because it has expired.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}
