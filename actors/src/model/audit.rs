//! An audit record: who did what to which resource.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: Uuid,
    /// The acting user; `None` for anonymous actions (a failed login).
    pub actor_id: Option<Uuid>,
    /// e.g. `auth.login_failed`, `user.role_changed`, `user.deactivated`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// Free-form JSON, kept as text (bincode cannot hold `serde_json::Value`).
    pub details_json: String,
    pub ip_address: Option<String>,
    pub created_at: i64,
}
