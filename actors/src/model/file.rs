//! Files (API.md 8): the record of an object in the configured store.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Whether a file's bytes have been confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// An upload URL was handed out; the bytes are not confirmed yet (the
    /// sweeper removes it after `files.pending_ttl_s`).
    Pending,
    /// `confirm` saw the object with the announced size.
    Uploaded,
}

impl FileStatus {
    /// The lower-case name used in JSON (`pending`, `uploaded`).
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Pending => "pending",
            FileStatus::Uploaded => "uploaded",
        }
    }
}

/// A user's file: what was announced at `upload-url`, and where it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    /// Primary key; also the object's name in the store.
    pub id: Uuid,
    /// The owner; another user's file is `NotFound`.
    pub user_id: Uuid,
    /// The client's name for it (metadata only; never a path on disk).
    pub filename: String,
    /// The announced media type, served back on download.
    pub content_type: String,
    /// The announced size in bytes; the upload must match it exactly.
    pub size: u64,
    /// Pending until confirmed.
    pub status: FileStatus,
    /// Unix ms when the upload URL was made.
    pub created_at: i64,
    /// Unix ms when it was confirmed.
    pub uploaded_at: Option<i64>,
}

impl FileRecord {
    /// The object's key in the store: `<user id>/<file id>`.
    pub fn object_key(&self) -> String {
        format!("{}/{}", self.user_id, self.id)
    }
}
