//! A login session: what a refresh token family belongs to.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// SHA-256 of the refresh token that is valid now.
    pub refresh_hash: [u8; 32],
    /// Hashes of refresh tokens already rotated away; presenting one means
    /// the family leaked, and the whole session is revoked.
    pub spent_hashes: Vec<[u8; 32]>,
    pub refresh_expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Session {
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.refresh_expires_at > now_ms
    }
}
