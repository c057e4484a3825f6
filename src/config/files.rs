//! `[files]`: where uploaded files live and what they may be.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chorus_actors::files::{BlobStore, FilesConfig, S3Settings};
use serde::{Deserialize, Serialize};

use super::Secret;

/// `files.store`: which object store holds the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStoreKind {
    Local,
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    pub store: FileStoreKind,
    /// Local store's directory; empty means `<data_dir>/files`.
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub max_bytes_per_user: u64,
    pub pending_ttl_s: u64,
    pub url_ttl_s: u64,
    pub s3: S3Section,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    pub bucket: String,
    pub region: String,
    /// Empty: AWS itself.
    pub endpoint: String,
    pub path_style: bool,
    /// From `CHORUS__FILES__S3__ACCESS_KEY_ID` only (or `AWS_ACCESS_KEY_ID`).
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// From `CHORUS__FILES__S3__SECRET_ACCESS_KEY` only (or `AWS_SECRET_ACCESS_KEY`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
}

impl FilesSection {
    /// The core's view, with the local directory resolved against `data_dir`.
    pub fn core(&self, data_dir: &Path) -> FilesConfig {
        let store = match self.store {
            FileStoreKind::Local => BlobStore::Local {
                dir: if self.dir.as_os_str().is_empty() {
                    data_dir.join("files")
                } else {
                    self.dir.clone()
                },
            },
            FileStoreKind::S3 => BlobStore::S3(S3Settings {
                bucket: self.s3.bucket.clone(),
                region: self.s3.region.clone(),
                endpoint: (!self.s3.endpoint.is_empty()).then(|| self.s3.endpoint.clone()),
                path_style: self.s3.path_style,
                access_key_id: self.s3.access_key_id.clone(),
                secret_access_key: self.s3.secret_access_key.clone(),
            }),
        };
        FilesConfig {
            store,
            max_bytes: self.max_bytes,
            max_bytes_per_user: self.max_bytes_per_user,
            pending_ttl: Duration::from_secs(self.pending_ttl_s),
            url_ttl: Duration::from_secs(self.url_ttl_s),
        }
    }

    /// The rules serde cannot express: a bucket for S3, positive lifetimes.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.store == FileStoreKind::S3 && self.s3.bucket.is_empty() {
            return Err(("files.s3.bucket", "required when files.store = \"s3\""));
        }
        if self.url_ttl_s == 0 {
            return Err(("files.url_ttl_s", "must be greater than 0"));
        }
        if self.pending_ttl_s == 0 {
            return Err(("files.pending_ttl_s", "must be greater than 0"));
        }
        Ok(())
    }
}
