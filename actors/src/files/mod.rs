//! Files (API.md 8): objects in the configured store (a local directory or
//! an S3 bucket), announced with `upload-url`, uploaded by the client
//! straight to a signed URL, then confirmed. Pending files never confirmed
//! are swept after `files.pending_ttl_s`; a deleted file's object is removed
//! by an internal `file.delete` job, retried until it is gone.

mod blobs;
mod delete;
mod records;
mod signing;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream};
use serde_json::json;
use uuid::Uuid;

pub use blobs::{Access, BlobStore, Blobs, S3Settings};
pub use delete::DeleteObject;
use records::Records;
use signing::UrlSigner;

use crate::error::CoreError;
use crate::jobs::{Jobs, NewJob};
use crate::model::{FileRecord, FileStatus, limits, now_ms};
use crate::store::Store;

/// The internal job type that removes a deleted file's object.
pub const DELETE_JOB: &str = "file.delete";

/// Where files live and what they may be (`[files]` in the configuration).
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// The object store.
    pub store: BlobStore,
    /// The largest file (`files.max_bytes`); larger is 413 at `upload-url`.
    pub max_bytes: u64,
    /// Bytes of pending and uploaded files one user may hold; over it `upload-url` is 429.
    pub max_bytes_per_user: u64,
    /// How long an unconfirmed upload is kept before the sweeper removes it.
    pub pending_ttl: Duration,
    /// How long a signed URL stays valid.
    pub url_ttl: Duration,
}

/// What a client announces at `upload-url`.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Its name, 1-255 characters (metadata only).
    pub filename: String,
    /// Its media type, e.g. `text/markdown`.
    pub content_type: String,
    /// Its exact size in bytes.
    pub size: u64,
}

/// Where a signed URL points.
#[derive(Debug, Clone)]
pub enum Link {
    /// chorus's own content route (local store); the edge writes the URL.
    Local {
        /// The file.
        id: Uuid,
        /// Unix seconds after which the URL is refused.
        expires: i64,
        /// The hex HMAC of the URL.
        sig: String,
    },
    /// The object store's own presigned URL (S3).
    Remote(String),
}

/// A signed URL and how long it lives.
#[derive(Debug, Clone)]
pub struct SignedLink {
    /// The URL.
    pub link: Link,
    /// Seconds it stays valid (`files.url_ttl_s`).
    pub expires_in: u64,
}

/// Every user's files. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    inner: Arc<Inner>,
}

struct Inner {
    records: Records,
    blobs: Blobs,
    signer: UrlSigner,
    config: FilesConfig,
}

/// What `content_type` must look like (also the OpenAPI `pattern`): a
/// type of token characters, `/`, then visible ASCII (parameters too).
pub const MEDIA_TYPE_PATTERN: &str = "^[A-Za-z0-9!#$&^_.+-]+/[!-~][ -~]*$";

fn token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b)
}

fn check_content_type(value: &str) -> Result<(), CoreError> {
    let ok = value.len() <= limits::NAME_CHARS
        && value.split_once('/').is_some_and(|(kind, rest)| {
            !kind.is_empty()
                && kind.bytes().all(token)
                && rest.bytes().next().is_some_and(|b| b.is_ascii_graphic())
                && rest.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        });
    if ok {
        Ok(())
    } else {
        Err(CoreError::validation(
            "content_type",
            "a media type such as text/plain, at most 255 characters",
        ))
    }
}

fn now_s() -> i64 {
    now_ms() / 1000
}

impl Files {
    /// Opens the tables and the object store; makes the URL key on first start.
    pub async fn open(store: &Store, config: FilesConfig) -> Result<Self, CoreError> {
        let records = Records::open(store)?;
        let signer = UrlSigner::new(&records.url_key().await?)?;
        Ok(Self {
            inner: Arc::new(Inner {
                blobs: Blobs::open(&config.store)?,
                records,
                signer,
                config,
            }),
        })
    }

    /// The object store (for the `file.delete` handler).
    pub fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    /// Announces an upload: stores a pending file under the user's quota
    /// and answers it with its upload URL. Over `files.max_bytes`: 413.
    pub async fn create_upload(
        &self,
        user_id: Uuid,
        new: NewFile,
    ) -> Result<(FileRecord, SignedLink), CoreError> {
        let filename = new.filename.trim();
        limits::name("filename", filename)?;
        check_content_type(&new.content_type)?;
        let config = &self.inner.config;
        if new.size > config.max_bytes {
            // `files.max_bytes`.
            return Err(CoreError::TooLarge {
                field: "size".into(),
                limit: config.max_bytes,
            });
        }
        let file = FileRecord {
            id: Uuid::now_v7(),
            user_id,
            filename: filename.to_string(),
            content_type: new.content_type,
            size: new.size,
            status: FileStatus::Pending,
            created_at: now_ms(),
            uploaded_at: None,
        };
        self.inner
            .records
            .insert_pending(&file, config.max_bytes_per_user)
            .await?;
        let link = self.link(Access::Put, &file).await?;
        Ok((file, link))
    }

    /// `user_id`'s file `id`, or `NotFound`.
    pub fn get(&self, user_id: Uuid, id: Uuid) -> Result<FileRecord, CoreError> {
        match self.inner.records.get(id)? {
            Some(file) if file.user_id == user_id => Ok(file),
            _ => Err(CoreError::not_found("file", id)),
        }
    }

    /// A page of `user_id`'s files, newest first, and how many there are.
    pub fn list(
        &self,
        user_id: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<FileRecord>, usize), CoreError> {
        self.inner.records.page(user_id, skip, limit)
    }

    /// Checks the object is there with the announced size (else 409) and
    /// marks the file uploaded. Confirming twice answers the same file.
    pub async fn confirm(&self, user_id: Uuid, id: Uuid) -> Result<FileRecord, CoreError> {
        let file = self.get(user_id, id)?;
        if file.status == FileStatus::Uploaded {
            return Ok(file);
        }
        match self.inner.blobs.size(&file.object_key()).await? {
            None => Err(CoreError::Conflict(
                "the file has not been uploaded yet".into(),
            )),
            Some(size) if size != file.size => Err(CoreError::Conflict(format!(
                "the uploaded object has {size} bytes, {} were announced",
                file.size
            ))),
            Some(_) => self.inner.records.mark_uploaded(id).await,
        }
    }

    /// A signed download URL of an uploaded file (a pending one is 409).
    pub async fn download_link(&self, user_id: Uuid, id: Uuid) -> Result<SignedLink, CoreError> {
        let file = self.get(user_id, id)?;
        if file.status != FileStatus::Uploaded {
            return Err(CoreError::Conflict(
                "the file has not been confirmed yet".into(),
            ));
        }
        self.link(Access::Get, &file).await
    }

    async fn link(&self, access: Access, file: &FileRecord) -> Result<SignedLink, CoreError> {
        let ttl = self.inner.config.url_ttl;
        let link = if self.inner.blobs.presigns() {
            let url = self
                .inner
                .blobs
                .presigned_url(access, &file.object_key(), ttl)
                .await?;
            Link::Remote(url)
        } else {
            let expires = now_s() + ttl.as_secs() as i64;
            Link::Local {
                id: file.id,
                expires,
                sig: self.inner.signer.sign(access, file.id, expires, file.size),
            }
        };
        Ok(SignedLink {
            link,
            expires_in: ttl.as_secs(),
        })
    }

    /// Deletes the record at once (its bytes leave the quota) and queues the
    /// object's removal as a system job.
    pub async fn delete(&self, jobs: &Jobs, user_id: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.get(user_id, id)?;
        if let Some(file) = self.inner.records.remove(id, false).await? {
            queue_object_delete(jobs, &file).await;
        }
        Ok(())
    }

    /// The file a local content URL names, once its signature for `access`
    /// checks out (403 if not; 404 for no such file or a store that
    /// presigns its own URLs).
    fn signed_file(
        &self,
        access: Access,
        id: Uuid,
        expires: i64,
        sig: &str,
    ) -> Result<FileRecord, CoreError> {
        let file = match self.inner.records.get(id)? {
            Some(file) if !self.inner.blobs.presigns() => file,
            _ => return Err(CoreError::not_found("file", id)),
        };
        let signer = &self.inner.signer;
        signer.verify(access, id, expires, file.size, sig, now_s())?;
        Ok(file)
    }

    /// `PUT` to a local upload URL: checks the signature and streams `body`
    /// into the store; exactly the signed size must arrive (422 otherwise;
    /// a `Content-Length` that differs is refused before any byte is read).
    pub async fn receive<S, E>(
        &self,
        id: Uuid,
        expires: i64,
        sig: &str,
        content_length: Option<u64>,
        body: S,
    ) -> Result<(), CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let file = self.signed_file(Access::Put, id, expires, sig)?;
        if file.status != FileStatus::Pending {
            return Err(CoreError::Conflict("the file was already uploaded".into()));
        }
        if let Some(length) = content_length.filter(|&n| n != file.size) {
            return Err(CoreError::validation(
                "body",
                format!("Content-Length is {length}, {} signed", file.size),
            ));
        }
        let key = file.object_key();
        self.inner.blobs.write(&key, body, file.size).await?;
        // Deleted (or swept) while it was arriving: nothing may keep it.
        if self.inner.records.get(id)?.is_none() {
            self.inner.blobs.delete(&key).await?;
            return Err(CoreError::not_found("file", id));
        }
        Ok(())
    }

    /// `GET` of a local download URL: the file and its bytes, streamed.
    pub async fn serve(
        &self,
        id: Uuid,
        expires: i64,
        sig: &str,
    ) -> Result<(FileRecord, BoxStream<'static, Result<Bytes, CoreError>>), CoreError> {
        let file = self.signed_file(Access::Get, id, expires, sig)?;
        if file.status != FileStatus::Uploaded {
            return Err(CoreError::not_found("file", id));
        }
        let bytes = self.inner.blobs.read(&file.object_key()).await?;
        Ok((file, bytes))
    }

    /// `user_id`'s uploaded file and a stream of its bytes (for ingestion).
    pub async fn open_uploaded(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<(FileRecord, BoxStream<'static, Result<Bytes, CoreError>>), CoreError> {
        let file = self.get(user_id, id)?;
        if file.status != FileStatus::Uploaded {
            return Err(CoreError::Conflict(
                "the file has not been confirmed yet".into(),
            ));
        }
        let bytes = self.inner.blobs.read(&file.object_key()).await?;
        Ok((file, bytes))
    }

    /// Removes pending files older than `files.pending_ttl_s`, and queues
    /// their objects' removal; answers how many it removed.
    pub async fn sweep(&self, jobs: &Jobs) -> Result<usize, CoreError> {
        let ttl = self.inner.config.pending_ttl.as_millis() as i64;
        let stale = self.inner.records.pending_before(now_ms() - ttl)?;
        let mut removed = 0;
        for id in stale {
            if let Some(file) = self.inner.records.remove(id, true).await? {
                queue_object_delete(jobs, &file).await;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Sweeps every half `pending_ttl` (at least every minute, at most
    /// every 200 ms) until dropped; spawn it on the core's `Background`.
    pub async fn sweep_forever(self, jobs: Jobs) {
        let half = self.inner.config.pending_ttl / 2;
        let period = half.clamp(Duration::from_millis(200), Duration::from_secs(60));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.sweep(&jobs).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "swept unconfirmed uploads"),
                Err(e) => tracing::warn!(error = %e, "file sweep failed"),
            }
        }
    }
}

/// Queues the removal of `file`'s object; a job that cannot be made is
/// logged (the object stays behind, the record is already gone).
async fn queue_object_delete(jobs: &Jobs, file: &FileRecord) {
    let job = NewJob {
        job_type: DELETE_JOB.into(),
        payload: json!({ "key": file.object_key() }),
        priority: 3,
        scheduled_for: None,
        idempotency_key: None,
        max_attempts: 20,
    };
    if let Err(e) = jobs.create_system(job).await {
        tracing::warn!(file = %file.id, error = %e, "could not queue the object's removal");
    }
}
