//! Plugin state (API.md 8): JSON a client-side plugin keeps per user, page
//! and key, optionally until an expiry time.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonText;

/// How the plugin means its state to be kept. Stored and returned; the
/// server treats every strategy alike (only `ttl_expires_at` ends a state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateStrategy {
    /// Kept until deleted.
    Persistent,
    /// For one client session.
    Session,
    /// Not meant to be kept.
    None,
    /// The plugin's own rule.
    Custom,
}

impl StateStrategy {
    /// Every strategy.
    pub const ALL: [StateStrategy; 4] = [
        StateStrategy::Persistent,
        StateStrategy::Session,
        StateStrategy::None,
        StateStrategy::Custom,
    ];

    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            StateStrategy::Persistent => "persistent",
            StateStrategy::Session => "session",
            StateStrategy::None => "none",
            StateStrategy::Custom => "custom",
        }
    }

    /// The strategy named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One plugin's state for one user (and page and key, if given).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginState {
    /// Primary key.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The plugin it belongs to.
    pub plugin_id: String,
    /// The page it belongs to, if any.
    pub page_id: Option<String>,
    /// The plugin's name for it, if it keeps several.
    pub state_key: Option<String>,
    /// How the plugin means it to be kept.
    pub strategy: StateStrategy,
    /// A JSON object, at most 256 KiB serialized.
    pub state_data: JsonText,
    /// Unix ms after which it is gone (invisible, then swept); `None` for never.
    pub expires_at: Option<i64>,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

impl PluginState {
    /// Whether it has expired at `now` (Unix ms).
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}
