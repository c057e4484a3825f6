//! Documents made from uploaded files (`POST /documents` with `{"file_id"}`):
//! the file must be the user's, uploaded, and text (`.txt` or `.md`, a
//! `text/*` type). Its ingestion streams the object a segment at a time
//! (about [`SEGMENT_BYTES`], cut at a paragraph break), so a large file
//! never sits in memory whole.

use futures::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::{Documents, Source};
use crate::error::CoreError;
use crate::files::Files;
use crate::jobs::Jobs;
use crate::model::{Document, FileRecord, FileStatus, Job};

/// About how much text is chunked and indexed at a time.
const SEGMENT_BYTES: usize = 1 << 20;

/// Only `.txt` and `.md` files of a text type become documents (else 415).
fn check_text_file(file: &FileRecord) -> Result<(), CoreError> {
    let name = file.filename.to_lowercase();
    let media = file.content_type.to_lowercase();
    let text_name = name.ends_with(".txt") || name.ends_with(".md");
    let text_type = media.starts_with("text/");
    if text_name && text_type {
        Ok(())
    } else {
        Err(CoreError::UnsupportedType(
            "only .txt and .md files of a text/* type become documents".into(),
        ))
    }
}

/// Where to end a segment of `buf`: after the last paragraph break (else
/// line break) in its first `target` bytes, or at a character boundary.
fn cut_point(buf: &[u8], target: usize) -> usize {
    let head = &buf[..target.min(buf.len())];
    let half = head.len() / 2;
    if let Some(at) = head
        .windows(2)
        .rposition(|w| w == b"\n\n")
        .filter(|&at| at >= half)
    {
        return at + 2;
    }
    if let Some(at) = head
        .iter()
        .rposition(|&b| b == b'\n')
        .filter(|&at| at >= half)
    {
        return at + 1;
    }
    // Never inside a UTF-8 sequence: back up over continuation bytes.
    let mut at = head.len();
    while at > 0 && at < buf.len() && (buf[at] & 0xC0) == 0x80 {
        at -= 1;
    }
    if at == 0 { head.len() } else { at }
}

impl Documents {
    /// Lets documents be made from (and read from) `files`; the core calls it once.
    pub fn attach_files(&self, files: Files) {
        let _ = self.inner.files.set(files);
    }

    fn files(&self) -> Result<&Files, CoreError> {
        self.inner
            .files
            .get()
            .ok_or_else(|| CoreError::Unavailable("files".into()))
    }

    /// Makes a document of the user's uploaded text file and queues its
    /// ingestion. Another user's file: 404; not text: 415; not uploaded: 409.
    pub async fn submit_file(
        &self,
        jobs: &Jobs,
        user_id: Uuid,
        file_id: Uuid,
    ) -> Result<(Document, Job), CoreError> {
        let file = self.files()?.get(user_id, file_id)?;
        // The state first: a pending file of any type is 409 until confirmed.
        if file.status != FileStatus::Uploaded {
            return Err(CoreError::Conflict(
                "the file has not been confirmed yet".into(),
            ));
        }
        check_text_file(&file)?;
        let source = Source::File {
            id: file.id,
            size: file.size,
        };
        self.submit_from(jobs, user_id, &file.filename, source, None)
            .await
    }

    /// Streams the file into chunks and the index, segment by segment,
    /// then records the outcome on the document.
    pub(super) async fn ingest_file(
        &self,
        user: Uuid,
        id: Uuid,
        file: Uuid,
    ) -> Result<Value, String> {
        let outcome = self.stream_segments(user, id, file).await;
        let docs = self.clone();
        tokio::task::spawn_blocking(move || docs.end_segments(id, outcome))
            .await
            .map_err(|_| "the ingestion crashed".to_string())?
    }

    async fn stream_segments(&self, user: Uuid, id: Uuid, file: Uuid) -> Result<u32, String> {
        let public = |e: CoreError| e.public_message();
        let (_, mut bytes) = self
            .files()
            .map_err(public)?
            .open_uploaded(user, file)
            .await
            .map_err(public)?;
        self.blocking(move |d| d.begin_segments(id)).await?;
        let mut buf: Vec<u8> = Vec::with_capacity(SEGMENT_BYTES + READ_SLACK);
        let mut next = 0u32;
        loop {
            let read = bytes.next().await.transpose().map_err(public)?;
            let done = read.is_none();
            if let Some(data) = read {
                buf.extend_from_slice(&data);
            }
            while buf.len() >= SEGMENT_BYTES || (done && !buf.is_empty()) {
                let cut = if buf.len() >= SEGMENT_BYTES {
                    cut_point(&buf, SEGMENT_BYTES)
                } else {
                    buf.len()
                };
                let segment: Vec<u8> = buf.drain(..cut).collect();
                let text = String::from_utf8(segment)
                    .map_err(|_| "the file is not UTF-8 text".to_string())?;
                let first = next;
                next = self
                    .blocking(move |d| d.add_segment(user, id, first, &text))
                    .await?;
            }
            if done {
                return Ok(next);
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Documents) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, String> {
        let docs = self.clone();
        tokio::task::spawn_blocking(move || work(&docs))
            .await
            .map_err(|_| "the ingestion crashed".to_string())?
            .map_err(|e| e.public_message())
    }
}

/// Room for one read beyond a segment, so the buffer does not regrow.
const READ_SLACK: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::cut_point;

    #[test]
    fn a_segment_ends_at_a_paragraph_then_a_line_then_a_character() {
        let text = b"aaaa\n\nbbbb\ncccc";
        assert_eq!(cut_point(text, 12), 11, "the line break past the half");
        assert_eq!(cut_point(text, 8), 6, "the paragraph break");
        let utf8 = "ééééé".as_bytes();
        let at = cut_point(utf8, 5);
        assert!(std::str::from_utf8(&utf8[..at]).is_ok(), "cut at {at}");
        assert!(at > 0);
    }
}
