//! A login session: what a refresh token family belongs to.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A login on one device: it holds the hash of its current refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Primary key; the `sid` claim of its access tokens and the prefix of its refresh tokens.
    pub id: Uuid,
    /// The user logged in.
    pub user_id: Uuid,
    /// Unix ms of the login.
    pub created_at: i64,
    /// Unix ms of the last refresh or authenticated request (noted at most once a minute).
    pub last_seen_at: i64,
    /// The client's `User-Agent` at login, cut to 512 characters.
    pub user_agent: Option<String>,
    /// The client address at login, when the edge knows it.
    pub ip: Option<String>,
    /// SHA-256 of the refresh token that is valid now.
    pub refresh_hash: [u8; 32],
    /// Hashes of refresh tokens already rotated away; presenting one means
    /// the family leaked, and the whole session is revoked.
    pub spent_hashes: Vec<[u8; 32]>,
    /// Unix ms after which the refresh token is refused; moved forward on each refresh.
    pub refresh_expires_at: i64,
    /// Unix ms of logout or revocation; `None` while the session may still be used.
    pub revoked_at: Option<i64>,
}

impl Session {
    /// Whether it can still be refreshed at `now_ms` (Unix ms): not revoked and not expired.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.refresh_expires_at > now_ms
    }
}
