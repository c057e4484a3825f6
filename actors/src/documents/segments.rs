//! The store side of an ingestion from a file: each step is one
//! segment's work under the document's lock (blocking); `from_file.rs`
//! streams the segments and calls these in order.

use serde_json::{Value, json};
use uuid::Uuid;

use super::{Documents, chunk};
use crate::error::CoreError;
use crate::model::DocumentStatus;

/// The steps of an ingestion from a file, each one segment's work under
/// the document's lock (blocking; `from_file.rs` streams the segments).
impl Documents {
    /// The file a document is read from, if it was made from one.
    pub(super) fn source_file(&self, id: Uuid) -> Result<Option<Uuid>, CoreError> {
        Ok(self.inner.sources.get(&id)?)
    }

    /// Clears what an earlier attempt left: chunks and index entries.
    pub(super) fn begin_segments(&self, id: Uuid) -> Result<(), CoreError> {
        let inner = &self.inner;
        let _held = inner.locks.lock(&id);
        inner.chunks.remove_prefix(&id)?;
        inner.index.remove(id)
    }

    /// Chunks one segment of text and stores and indexes its chunks as
    /// `first..`; answers the next chunk's index. `NotFound` once deleted.
    pub(super) fn add_segment(
        &self,
        user: Uuid,
        id: Uuid,
        first: u32,
        text: &str,
    ) -> Result<u32, CoreError> {
        let inner = &self.inner;
        let chunks = chunk(text, inner.config.chunk_chars, inner.config.chunk_overlap);
        let _held = inner.locks.lock(&id);
        if inner.docs.get(&id)?.is_none() {
            return Err(CoreError::not_found("document", id));
        }
        for (i, c) in chunks.iter().enumerate() {
            inner.chunks.insert(&(id, first + i as u32), c)?;
        }
        inner.index.append(user, id, first, &chunks)?;
        Ok(first + chunks.len() as u32)
    }

    /// Records the outcome: `Ready` with `chunk_count` chunks, or `Failed`.
    pub(super) fn end_segments(
        &self,
        id: Uuid,
        outcome: Result<u32, String>,
    ) -> Result<Value, String> {
        let inner = &self.inner;
        let failed = |e: CoreError| e.public_message();
        let _held = inner.locks.lock(&id);
        let mut doc = inner
            .docs
            .get(&id)
            .map_err(|e| failed(e.into()))?
            .ok_or("the document was deleted")?;
        match &outcome {
            Ok(count) => {
                doc.status = DocumentStatus::Ready;
                doc.chunk_count = *count;
                doc.error = None;
            }
            Err(e) => {
                doc.status = DocumentStatus::Failed;
                doc.error = Some(e.clone());
            }
        }
        inner.docs.insert(&id, &doc).map_err(|e| failed(e.into()))?;
        outcome.map(|count| json!({ "document_id": id, "chunk_count": count }))
    }
}
