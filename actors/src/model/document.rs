//! Uploaded documents (API.md 7) and their chunks.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a document is in its ingestion: searchable only once `Ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// Uploaded; its `document.ingest` job has not finished yet.
    Processing,
    /// Chunked and indexed; chat retrieval can use it.
    Ready,
    /// Ingestion gave up; `Document::error` says why.
    Failed,
}

impl DocumentStatus {
    /// The lower-case name used in JSON (`processing`, `ready`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Processing => "processing",
            DocumentStatus::Ready => "ready",
            DocumentStatus::Failed => "failed",
        }
    }
}

/// A user's uploaded text file, chunked and indexed for chat retrieval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Primary key; chunks and index entries are keyed by it.
    pub id: Uuid,
    /// The owner; only their conversations retrieve from it.
    pub user_id: Uuid,
    /// Shown in lists; 1-255 characters.
    pub title: String,
    /// Whether ingestion is running, done or failed.
    pub status: DocumentStatus,
    /// Size of the uploaded text in bytes.
    pub size_bytes: u64,
    /// Chunks it was split into; 0 until ingestion is done.
    pub chunk_count: u32,
    /// Why ingestion failed; `None` unless the status is `Failed`.
    pub error: Option<String>,
    /// The `document.ingest` job that indexes it.
    pub job_id: Option<Uuid>,
    /// Unix ms when it was uploaded.
    pub created_at: i64,
    /// The owner's project it belongs to; `None` for none. Added in record
    /// version 2: a version-1 record reads as `None` (see `store::codec`).
    pub project_id: Option<Uuid>,
}
