//! API keys (API.md 2.4): shown once, stored as a SHA-256 hash, accepted
//! as a bearer token anywhere an access token is, revocable at once.

use std::sync::Arc;

use uuid::Uuid;

use super::{Accounts, secrets};
use crate::error::CoreError;
use crate::model::{ApiKey, User, limits, now_ms};
use crate::per_user::{index_len, index_page};

/// A freshly made key: the record and, this once, the key itself. No
/// `Debug`: it holds the key.
#[derive(Clone)]
pub struct NewApiKey {
    /// The stored record: id, name, prefix and the key's hash.
    pub record: ApiKey,
    /// The whole key (`ck_` and 43 characters); shown to the client now and never again.
    pub key: String,
}

impl Accounts {
    /// Makes key `name` for `user_id`, expiring at `expires_at` (Unix ms) or never; 429 over cap.
    pub async fn create_api_key(
        &self,
        user_id: Uuid,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<NewApiKey, CoreError> {
        let name = name.trim();
        limits::name("name", name)?;
        let now = now_ms();
        if expires_at.is_some_and(|t| t <= now) {
            return Err(CoreError::validation("expires_at", "must be in the future"));
        }
        let key = secrets::api_key();
        let record = ApiKey {
            id: Uuid::now_v7(),
            user_id,
            name: name.to_string(),
            prefix: key.chars().take(10).collect(),
            hash: secrets::sha256(&key),
            created_at: now,
            expires_at,
        };
        let t = &self.tables;
        let count = &t.api_key_count;
        {
            let _guard = count.lock(user_id);
            let n = count.check(user_id, self.config.max_api_keys, || {
                index_len(&t.api_keys_by_user, user_id)
            })?;
            self.store.transaction_unflushed(
                &[
                    &t.api_keys,
                    &t.api_keys_by_hash,
                    &t.api_keys_by_user,
                    count.table(),
                ],
                |tx| {
                    tx.insert(&t.api_keys, &record.id, &record)?;
                    tx.insert(&t.api_keys_by_hash, record.hash.as_slice(), &record.id)?;
                    tx.insert(&t.api_keys_by_user, &(user_id, record.id), &())?;
                    count.set_in(tx, user_id, n + 1)
                },
            )?;
        }
        self.store.commit().await?;
        Ok(NewApiKey { record, key })
    }

    /// `user_id`'s keys, newest first (at most the cap).
    pub fn api_keys(&self, user_id: Uuid) -> Result<Vec<ApiKey>, CoreError> {
        let (ids, _) = index_page(&self.tables.api_keys_by_user, user_id, 0, usize::MAX, true)?;
        ids.iter()
            .filter_map(|id| self.tables.api_keys.get(id).transpose())
            .map(|r| r.map_err(CoreError::from))
            .collect()
    }

    /// Deletes one of `user_id`'s keys; it is refused from this moment on.
    pub async fn delete_api_key(&self, user_id: Uuid, id: Uuid) -> Result<(), CoreError> {
        let record = self
            .tables
            .api_keys
            .get(&id)?
            .filter(|k| k.user_id == user_id)
            .ok_or_else(|| CoreError::not_found("api_key", id))?;
        let t = &self.tables;
        let count = &t.api_key_count;
        {
            let _guard = count.lock(user_id);
            self.store.transaction_unflushed(
                &[
                    &t.api_keys,
                    &t.api_keys_by_hash,
                    &t.api_keys_by_user,
                    count.table(),
                ],
                |tx| {
                    if tx.get(&t.api_keys, &id)?.is_none() {
                        return Ok(());
                    }
                    tx.remove(&t.api_keys, &id)?;
                    tx.remove(&t.api_keys_by_hash, record.hash.as_slice())?;
                    tx.remove(&t.api_keys_by_user, &(user_id, id))?;
                    count.decrement_in(tx, user_id)
                },
            )?;
        }
        self.store.commit().await?;
        self.revocations.emit(super::Revoked::ApiKey {
            user: user_id,
            key: id,
        });
        Ok(())
    }

    /// The active user an API key belongs to. Two store reads, no cache, so
    /// a deleted key is refused by the very next request.
    pub fn authenticate_api_key(&self, key: &str) -> Result<Arc<User>, CoreError> {
        self.authenticate_api_key_id(key).map(|(user, _)| user)
    }

    /// [`Accounts::authenticate_api_key`], with the key's id (what a socket
    /// opened with it is closed by when the key is deleted).
    pub fn authenticate_api_key_id(&self, key: &str) -> Result<(Arc<User>, Uuid), CoreError> {
        let invalid = || CoreError::unauthenticated("invalid", "invalid API key");
        let hash = secrets::sha256(key);
        let id = self
            .tables
            .api_keys_by_hash
            .get(hash.as_slice())?
            .ok_or_else(invalid)?;
        let record = self.tables.api_keys.get(&id)?.ok_or_else(invalid)?;
        if record.is_expired(now_ms()) {
            return Err(CoreError::unauthenticated("expired", "API key expired"));
        }
        let user = self.user(record.user_id)?;
        if !user.is_active {
            return Err(CoreError::unauthenticated(
                "revoked",
                "account is deactivated",
            ));
        }
        Ok((user, id))
    }
}
