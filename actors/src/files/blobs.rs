//! `Blobs`: the object store files live in, a local directory or an S3
//! bucket (the `object_store` crate). The only module that names it.
//!
//! A local store has no presigning: chorus signs its own content URLs and
//! streams bytes through [`Blobs::write`] and [`Blobs::read`]. An S3 store
//! hands out the bucket's own presigned URLs, so bytes never pass through
//! chorus.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, Signer};
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::error::CoreError;
use crate::secret::Secret;

/// Where file bytes are kept (`files.store`).
#[derive(Debug, Clone)]
pub enum BlobStore {
    /// A directory on this machine (`files.dir`, default `<data dir>/files`).
    Local {
        /// Created owner-only if missing.
        dir: PathBuf,
    },
    /// An S3-protocol bucket (`[files.s3]`).
    S3(S3Settings),
}

/// An S3 bucket and how to reach it. Keys come from the environment only.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// The bucket's name.
    pub bucket: String,
    /// Its region, e.g. `us-east-1`.
    pub region: String,
    /// Another S3-protocol server (MinIO, moto, R2); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// `https://host/bucket/key` instead of `https://bucket.host/key`.
    pub path_style: bool,
    /// `CHORUS__FILES__S3__ACCESS_KEY_ID`; `None` falls back to `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<Secret>,
    /// `CHORUS__FILES__S3__SECRET_ACCESS_KEY`; `None` falls back to `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
}

/// What a signed URL lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Upload the object.
    Put,
    /// Download it.
    Get,
}

/// Bytes buffered per part of a local write; with [`PARTS_IN_FLIGHT`] this
/// bounds the memory one upload holds, whatever its size.
const PART_BYTES: usize = 1 << 20;
/// Parts being written to disk at once per upload.
const PARTS_IN_FLIGHT: usize = 2;
/// Bytes read from disk per chunk of a local download.
const READ_CHUNK: usize = 256 * 1024;

/// The configured store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Set for S3: the signer of presigned URLs.
    s3: Option<Arc<AmazonS3>>,
}

fn internal(what: &str, e: object_store::Error) -> CoreError {
    CoreError::Internal(format!("object store {what}: {e}"))
}

fn path(key: &str) -> Result<ObjectPath, CoreError> {
    ObjectPath::parse(key).map_err(|e| CoreError::Internal(format!("object key {key:?}: {e}")))
}

impl Blobs {
    /// Opens the store (creating a local directory if needed).
    pub fn open(config: &BlobStore) -> Result<Self, CoreError> {
        match config {
            BlobStore::Local { dir } => {
                crate::store::create_private_dir(dir)
                    .map_err(|e| CoreError::Internal(format!("files dir: {e}")))?;
                let local = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| internal("open", e))?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(local),
                    s3: None,
                })
            }
            BlobStore::S3(s3) => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.path_style);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_endpoint(endpoint);
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id.expose());
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let s3 = Arc::new(builder.build().map_err(|e| internal("open", e))?);
                Ok(Self {
                    store: s3.clone(),
                    s3: Some(s3),
                })
            }
        }
    }

    /// Whether clients talk to the store directly through presigned URLs.
    pub fn presigns(&self) -> bool {
        self.s3.is_some()
    }

    /// The store's own presigned URL for `key` (S3 only).
    pub async fn presigned_url(
        &self,
        access: Access,
        key: &str,
        ttl: Duration,
    ) -> Result<String, CoreError> {
        let Some(s3) = &self.s3 else {
            return Err(CoreError::Internal("a local store does not presign".into()));
        };
        let method = match access {
            Access::Put => Method::PUT,
            Access::Get => Method::GET,
        };
        let url = s3
            .signed_url(method, &path(key)?, ttl)
            .await
            .map_err(|e| internal("presign", e))?;
        Ok(url.to_string())
    }

    /// The object's size, or `None` if there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, CoreError> {
        match self.store.head(&path(key)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(internal("head", e)),
        }
    }

    /// Removes the object; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), CoreError> {
        match self.store.delete(&path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(internal("delete", e)),
        }
    }

    /// Streams `body` into the object, which appears only once all of it
    /// has arrived and exactly `size` bytes came (else 422 and nothing is
    /// kept). Memory held is a few parts, not the object.
    pub async fn write<S, E>(&self, key: &str, body: S, size: u64) -> Result<(), CoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self
            .store
            .put_multipart(&path(key)?)
            .await
            .map_err(|e| internal("write", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut body = std::pin::pin!(body);
        let mut seen: u64 = 0;
        let outcome = loop {
            match body.next().await {
                None if seen == size => break Ok(()),
                None => {
                    break Err(CoreError::validation(
                        "body",
                        format!("{seen} bytes sent, {size} signed"),
                    ));
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "upload body failed");
                    break Err(CoreError::validation("body", "the upload was interrupted"));
                }
                Some(Ok(chunk)) => {
                    seen += chunk.len() as u64;
                    if seen > size {
                        break Err(CoreError::validation(
                            "body",
                            format!("more than the {size} bytes signed"),
                        ));
                    }
                    if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        break Err(internal("write", e));
                    }
                    writer.put(chunk);
                }
            }
        };
        match outcome {
            Ok(()) => writer
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| internal("write", e)),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// The object's bytes as a stream, read a chunk at a time.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, CoreError>>, CoreError> {
        let got = match self.store.get(&path(key)?).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(CoreError::not_found("file", key));
            }
            Err(e) => return Err(internal("read", e)),
        };
        Ok(match got.payload {
            GetResultPayload::File(file, _) => {
                let file = tokio::fs::File::from_std(file);
                tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK)
                    .map_err(|e| CoreError::Internal(format!("object store read: {e}")))
                    .boxed()
            }
            GetResultPayload::Stream(stream) => stream.map_err(|e| internal("read", e)).boxed(),
        })
    }
}
