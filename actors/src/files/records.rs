//! The file records and every read and write of their tables (the one
//! file that touches them): the per-user index, the pending set the
//! sweeper reads, and each user's bytes (pending plus uploaded) against
//! `files.max_bytes_per_user`.

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{FileRecord, FileStatus, now_ms};
use crate::per_user::records_page;
use crate::store::{KeyLocks, Store, StoreError, Table, Tx};

/// The file tables. Cheap to clone (the tables are handles).
#[derive(Clone)]
pub(super) struct Records {
    store: Store,
    files: Table<Uuid, FileRecord>,
    /// (user, file id) -> (): the user's files, newest first by id.
    by_user: Table<(Uuid, Uuid), ()>,
    /// File id -> created_at (Unix ms) of every pending file, for the sweeper.
    pending: Table<Uuid, i64>,
    /// User -> bytes of their pending and uploaded files.
    used: Table<Uuid, u64>,
    /// Server-wide values: the content-URL key.
    meta: Table<str, String>,
    /// Serializes one user's quota check with the write it guards.
    locks: std::sync::Arc<KeyLocks>,
}

/// The key of the content-URL signing key in `file_meta`.
const URL_KEY: &str = "url_key";

impl Records {
    pub(super) fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            files: store.table("files")?,
            by_user: store.table("files_by_user")?,
            pending: store.table("files_pending")?,
            used: store.table("file_bytes_by_user")?,
            meta: store.table("file_meta")?,
            locks: Default::default(),
            store: store.clone(),
        })
    }

    /// The content-URL key, made (32 random bytes) and stored durably the first time.
    pub(super) async fn url_key(&self) -> Result<Vec<u8>, CoreError> {
        if let Some(key) = self.meta.get(URL_KEY)? {
            return Ok(key.into_bytes());
        }
        let key = crate::accounts::secrets::random_secret();
        self.meta.insert(URL_KEY, &key)?;
        self.store.commit().await?;
        Ok(key.into_bytes())
    }

    /// Stores a new pending file if the user's bytes stay within `quota`;
    /// else `LimitReached` (429 QUOTA_EXCEEDED). Durable when it returns.
    pub(super) async fn insert_pending(
        &self,
        file: &FileRecord,
        quota: u64,
    ) -> Result<(), CoreError> {
        let user = file.user_id;
        {
            let _guard = self.locks.lock(&user);
            let used = self.used.get(&user)?.unwrap_or(0);
            if used.saturating_add(file.size) > quota {
                return Err(CoreError::LimitReached {
                    resource: "bytes of files",
                    limit: quota,
                });
            }
            self.store.transaction_unflushed(
                &[&self.files, &self.by_user, &self.pending, &self.used],
                |tx| {
                    tx.insert(&self.files, &file.id, file)?;
                    tx.insert(&self.by_user, &(user, file.id), &())?;
                    tx.insert(&self.pending, &file.id, &file.created_at)?;
                    tx.insert(&self.used, &user, &(used + file.size))
                },
            )?;
        }
        self.store.commit().await?;
        Ok(())
    }

    /// The file `id`, whoever owns it.
    pub(super) fn get(&self, id: Uuid) -> Result<Option<FileRecord>, CoreError> {
        Ok(self.files.get(&id)?)
    }

    /// A page of `user`'s files, newest first, and how many there are.
    pub(super) fn page(
        &self,
        user: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<FileRecord>, usize), CoreError> {
        records_page(&self.by_user, &self.files, user, skip, limit)
    }

    /// Marks a pending file uploaded (durably); `NotFound` if it is gone,
    /// and an uploaded one is answered as it is.
    pub(super) async fn mark_uploaded(&self, id: Uuid) -> Result<FileRecord, CoreError> {
        let at = now_ms();
        let file = self
            .store
            .transaction(&[&self.files, &self.pending], |tx| {
                let Some(mut file) = tx.get(&self.files, &id)? else {
                    return Ok(None);
                };
                if file.status == FileStatus::Pending {
                    file.status = FileStatus::Uploaded;
                    file.uploaded_at = Some(at);
                    tx.insert(&self.files, &id, &file)?;
                    tx.remove(&self.pending, &id)?;
                }
                Ok(Some(file))
            })
            .await?;
        file.ok_or_else(|| CoreError::not_found("file", id))
    }

    /// Removes the record (and its bytes from the owner's total) at once,
    /// durably; answers it, or `None` if it was already gone (or, with
    /// `only_pending`, was confirmed in the meantime).
    pub(super) async fn remove(
        &self,
        id: Uuid,
        only_pending: bool,
    ) -> Result<Option<FileRecord>, CoreError> {
        let Some(file) = self.files.get(&id)? else {
            return Ok(None);
        };
        let user = file.user_id;
        let removed = {
            let _guard = self.locks.lock(&user);
            self.store.transaction_unflushed(
                &[&self.files, &self.by_user, &self.pending, &self.used],
                |tx| self.remove_in(tx, id, user, only_pending),
            )?
        };
        self.store.commit().await?;
        Ok(removed)
    }

    fn remove_in(
        &self,
        tx: &Tx<'_>,
        id: Uuid,
        user: Uuid,
        only_pending: bool,
    ) -> crate::store::TxResult<Option<FileRecord>> {
        let Some(file) = tx.get(&self.files, &id)? else {
            return Ok(None);
        };
        if only_pending && file.status != FileStatus::Pending {
            return Ok(None);
        }
        tx.remove(&self.files, &id)?;
        tx.remove(&self.by_user, &(user, id))?;
        tx.remove(&self.pending, &id)?;
        let used: u64 = tx.get(&self.used, &user)?.unwrap_or(0);
        tx.insert(&self.used, &user, &used.saturating_sub(file.size))?;
        Ok(Some(file))
    }

    /// Pending files made before `cutoff` (Unix ms).
    pub(super) fn pending_before(&self, cutoff: i64) -> Result<Vec<Uuid>, CoreError> {
        let mut stale = Vec::new();
        for entry in self.pending.iter() {
            let (key, created_at) = entry?;
            if created_at < cutoff {
                stale.push(crate::per_user::id_at(&key, 0)?);
            }
        }
        Ok(stale)
    }
}
