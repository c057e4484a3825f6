//! An audit record: who did what to which resource.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonText;

/// One entry of the admin audit log (API.md `GET /admin/audit-logs`); never changed once written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Primary key (a v7 UUID, so ids sort by time).
    pub id: Uuid,
    /// The acting user; `None` for anonymous actions (a failed login).
    pub actor_id: Option<Uuid>,
    /// e.g. `auth.login_failed`, `user.role_changed`, `user.deactivated`.
    pub action: String,
    /// The kind of thing acted on, e.g. `user` or `session`.
    pub resource_type: String,
    /// The acted-on record's id as text; `None` when the action has no single target.
    pub resource_id: Option<String>,
    /// Free-form JSON, kept as text (bincode cannot hold `serde_json::Value`).
    pub details_json: JsonText,
    /// The client address the request came from, when the edge knows it.
    pub ip_address: Option<String>,
    /// Unix ms when the action happened.
    pub created_at: i64,
}
