//! Projects (API.md 8): a user's folders for conversations and documents.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A named group of the owner's conversations and documents. Deleting one
/// is soft: the record stays with `deleted_at` set, and is gone from every
/// read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    /// Primary key; conversations and documents refer to it by `project_id`.
    pub id: Uuid,
    /// The owner; only they can read it or subscribe to `project:{id}`.
    pub user_id: Uuid,
    /// Shown in lists; 1-255 characters.
    pub name: String,
    /// Free text, at most 2,000 characters; `None` for none.
    pub description: Option<String>,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
    /// Unix ms when it was deleted; `None` while it is live.
    pub deleted_at: Option<i64>,
}

/// A message sent through the public contact form (API.md 8).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContactSubmission {
    /// Primary key (a v7 UUID, so the table's key order is the arrival order).
    pub id: Uuid,
    /// What the sender is told: `CNT-` and 8 characters.
    pub reference_id: String,
    /// The sender's name.
    pub name: String,
    /// The sender's address, lower-cased.
    pub email: String,
    /// What they wrote.
    pub message: String,
    /// Optional subject line.
    pub subject: Option<String>,
    /// Optional phone number, as typed.
    pub phone: Option<String>,
    /// Optional company name.
    pub company: Option<String>,
    /// A JSON object of the form's other fields, as text.
    pub extra_fields_json: super::JsonText,
    /// Which page or form it came from, as the client says.
    pub source: Option<String>,
    /// The client address it came from (for abuse reports).
    pub ip: Option<String>,
    /// Unix ms when it arrived.
    pub created_at: i64,
}
