//! The store tables of accounts and their indexes.

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{ApiKey, Session, User};
use crate::per_user::{Counted, UserCount};
use crate::store::{Store, StoreError, Table, Tx, TxResult};

/// The store tables of accounts: users, sessions, API keys and their indexes.
#[derive(Clone)]
pub struct Tables {
    /// User id -> the account.
    pub users: Table<Uuid, User>,
    /// Lower-cased email -> user id.
    pub by_email: Table<str, Uuid>,
    /// Username -> user id.
    pub by_username: Table<str, Uuid>,
    /// `first_user` marker: who got the superadmin role.
    pub meta: Table<str, String>,
    /// Session id -> the session, revoked ones included.
    pub sessions: Table<Uuid, Session>,
    /// (user id, session id): a user's sessions as one key range.
    pub sessions_by_user: Table<(Uuid, Uuid), ()>,
    /// (revoked at ms, session id): recent revocations, read at start-up.
    pub revocations: Table<(i64, Uuid), ()>,
    /// Key id -> the API key (its hash, never the key).
    pub api_keys: Table<Uuid, ApiKey>,
    /// SHA-256 of a key -> key id.
    pub api_keys_by_hash: Table<[u8], Uuid>,
    /// (user id, key id).
    pub api_keys_by_user: Table<(Uuid, Uuid), ()>,
    /// How many API keys each user holds, against the cap.
    pub api_key_count: UserCount,
    /// OIDC identity (`oidc_identity(iss, sub)`) -> the account it signs in to.
    pub oidc_identities: Table<str, Uuid>,
    /// Account -> its OIDC identity: an account is bound to one identity.
    pub oidc_bound: Table<Uuid, String>,
    /// The counts of accounts (`counts.rs`), written with each account write.
    pub totals: Table<str, super::counts::UserTotals>,
}

impl Tables {
    /// Opens the account tables in `store`.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            users: store.table("users")?,
            by_email: store.table("users_by_email")?,
            by_username: store.table("users_by_username")?,
            meta: store.table("accounts_meta")?,
            sessions: store.table("sessions")?,
            sessions_by_user: store.table("sessions_by_user")?,
            revocations: store.table("session_revocations")?,
            api_keys: store.table("api_keys")?,
            api_keys_by_hash: store.table("api_keys_by_hash")?,
            api_keys_by_user: store.table("api_keys_by_user")?,
            api_key_count: UserCount::open(store, Counted::ApiKeys)?,
            oidc_identities: store.table("oidc_identities")?,
            oidc_bound: store.table("oidc_bound")?,
            totals: store.table("account_totals")?,
        })
    }

    /// The key of an OIDC identity: issuer and subject, unambiguously joined.
    pub fn oidc_identity(iss: &str, sub: &str) -> String {
        format!("{}:{iss}{sub}", iss.len())
    }

    /// Points a unique index entry at `owner`, or aborts with 409 if another owner has it.
    pub fn claim_unique(
        tx: &Tx<'_>,
        index: &Table<str, Uuid>,
        value: &str,
        owner: Uuid,
        field: &str,
    ) -> TxResult<()> {
        match tx.get(index, value)? {
            Some(existing) if existing != owner => {
                Tx::abort(StoreError::Conflict(format!("{field} already taken")))
            }
            _ => tx.insert(index, value, &owner),
        }
    }

    /// (revoked at, session id) of sessions revoked at or after `since_ms`.
    pub fn revoked_since(&self, since_ms: i64) -> Result<Vec<(i64, Uuid)>, CoreError> {
        let mut out = Vec::new();
        for item in self.revocations.range_from(&(since_ms, Uuid::nil())) {
            let (key, ()) = item?;
            let at = key
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(|b| (u64::from_be_bytes(b) ^ (1 << 63)) as i64);
            let id = key.get(8..24).and_then(|b| Uuid::from_slice(b).ok());
            if let (Some(at), Some(id)) = (at, id) {
                out.push((at, id));
            }
        }
        Ok(out)
    }

    /// The ids in a `(owner, id)` index, oldest first.
    pub fn ids_of(index: &Table<(Uuid, Uuid), ()>, owner: Uuid) -> Result<Vec<Uuid>, CoreError> {
        index
            .scan_prefix(&owner)
            .map(|item| {
                let (key, ()) = item?;
                key.get(16..32)
                    .and_then(|b| Uuid::from_slice(b).ok())
                    .ok_or_else(|| CoreError::Internal("bad index key".into()))
            })
            .collect()
    }
}
