//! Accounts: users, login sessions, API keys and the admin operations on
//! them. Sessions are `SessionActor`s; everything the per-request hot path
//! needs (users, revoked sessions) is also held in memory so that
//! checking a credential takes no mailbox round trip.

pub(crate) mod actor;
mod admin;
mod api_keys;
mod counts;
mod impersonation;
mod login;
mod oidc;
mod passwords;
pub mod revocations;
pub mod secrets;
mod tables;
#[cfg(test)]
mod tests;
mod throttle;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use uuid::Uuid;

use crate::accounts::actor::SessionActor;
use crate::audit::Audit;
use crate::error::CoreError;
use crate::model::{Role, User, limits, now_ms};
use crate::store::{Store, Tx};
use crate::supervisor::{Supervisor, SupervisorConfig};
use throttle::FailureThrottle;

pub use admin::{UserPage, UserPatch};
pub use api_keys::NewApiKey;
pub use counts::UserFigures;
pub use impersonation::{Impersonation, MAX_REASON_CHARS};
pub use login::{LoginContext, LoginOutcome};
pub use oidc::OidcClaims;
pub use revocations::{Revocations, Revoked};
pub use tables::Tables;

/// Clock leeway allowed when access tokens are verified, and then some.
const REVOCATION_SLACK_MS: i64 = 60_000;

/// Forgets revocations whose access tokens have all expired, every minute.
fn spawn_revocation_pruner(revoked: Arc<DashMap<Uuid, i64>>, access_ttl: Duration) {
    let weak = Arc::downgrade(&revoked);
    drop(revoked);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            // The accounts service is gone: stop.
            let Some(revoked) = weak.upgrade() else {
                return;
            };
            let cutoff = now_ms() - access_ttl.as_millis() as i64 - REVOCATION_SLACK_MS;
            revoked.retain(|_, at| *at > cutoff);
        }
    });
}

/// Limits of the accounts service.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// How long an access token (JWT) is valid; revocations are kept this long.
    pub access_ttl: Duration,
    /// How long a refresh token is valid; each refresh starts it again.
    pub refresh_ttl: Duration,
    /// Monthly token allowance of new users; `None` = unlimited.
    pub default_allowance: Option<u64>,
    /// API keys one user may hold (`limits.max_api_keys_per_user`).
    pub max_api_keys: u64,
    /// Failed sign-ins on one account within `failed_login_window` after
    /// which it refuses sign-ins from anywhere (429); 0 = no limit.
    pub max_failed_logins: u32,
    /// How long failed sign-ins count towards the lock-out.
    pub failed_login_window: Duration,
}

/// Stripes of the per-user write lock.
const USER_LOCKS: usize = 64;

/// The fields of a new account. No `Debug`: it holds a password.
#[derive(Clone)]
pub struct NewUser {
    /// 3-32 characters of `[a-z0-9_-]`; unique.
    pub username: String,
    /// A plausible address, stored lower-cased; unique.
    pub email: String,
    /// The plain password, 8-256 characters; only its argon2id hash is stored.
    pub password: String,
    /// Display name, at most 255 characters; `None` for none.
    pub full_name: Option<String>,
    /// `None`: `superadmin` for the very first account, `user` after that.
    pub role: Option<Role>,
}

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    tables: Tables,
    config: Arc<AccountsConfig>,
    audit: Audit,
    sessions: Supervisor<SessionActor>,
    /// Users by id: the hot path reads the current role and active flag here.
    users: Arc<DashMap<Uuid, Arc<User>>>,
    /// Sessions revoked within the access-token lifetime: an access token
    /// naming one of them is refused.
    revoked: Arc<DashMap<Uuid, i64>>,
    /// When each session last reported activity (unix ms), to throttle touches.
    touched: Arc<DashMap<Uuid, i64>>,
    /// Failed sign-ins per account, for the per-account lock-out.
    failures: Arc<FailureThrottle>,
    /// Striped per-user locks: a user's write and its cache update happen
    /// under one, so racing writes leave the cache equal to the store.
    user_locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    /// Announces dead credentials, so live sockets opened with them end.
    revocations: Revocations,
    /// Where role and allowance changes are told to the user (filled by `Core`).
    notifier: crate::notifications::Notifier,
}

impl Accounts {
    /// Loads recent revocations, then starts the session actors and the revocation pruner.
    pub async fn start(
        store: Store,
        audit: Audit,
        config: AccountsConfig,
        actors: SupervisorConfig,
    ) -> Result<Self, CoreError> {
        let tables = Tables::open(&store)?;
        counts::ensure(&tables)?;
        let revoked: Arc<DashMap<Uuid, i64>> = Arc::new(DashMap::new());
        // Sessions revoked recently enough that their access tokens may still
        // be live (with the verifier's clock leeway on top).
        let since = now_ms() - config.access_ttl.as_millis() as i64 - REVOCATION_SLACK_MS;
        for (at, sid) in tables.revoked_since(since)? {
            revoked.insert(sid, at);
        }
        spawn_revocation_pruner(revoked.clone(), config.access_ttl);
        let revocations = Revocations::default();
        let actor = SessionActor::new(
            store.clone(),
            tables.clone(),
            revoked.clone(),
            config.refresh_ttl,
            revocations.clone(),
        );
        let sessions = Supervisor::start(actor, actors).await?;
        let failures = FailureThrottle::new(config.max_failed_logins, config.failed_login_window);
        Ok(Self {
            store,
            tables,
            config: Arc::new(config),
            audit,
            sessions,
            users: Arc::new(DashMap::new()),
            revoked,
            touched: Arc::new(DashMap::new()),
            failures: Arc::new(failures),
            user_locks: Arc::new((0..USER_LOCKS).map(|_| Default::default()).collect()),
            revocations,
            notifier: Default::default(),
        })
    }

    /// The slot `Core` fills with the notifications, for role and allowance changes.
    pub fn notifier(&self) -> &crate::notifications::Notifier {
        &self.notifier
    }

    /// Where revoked sessions, API keys and users are announced.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// The limits it was started with (token lifetimes, allowance, caps, lock-out).
    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    /// The session supervisor (for readiness and shutdown).
    pub(crate) fn sessions(&self) -> &Supervisor<SessionActor> {
        &self.sessions
    }

    /// Creates an account (API.md 2.1 rules; 409 on a taken email or username).
    pub async fn register(&self, new: NewUser) -> Result<Arc<User>, CoreError> {
        validate::username(&new.username)?;
        let email = validate::email(&new.email)?;
        validate::password("password", &new.password)?;
        validate::text("full_name", &new.full_name, limits::NAME_CHARS)?;
        let password_hash = passwords::hash(new.password).await?;
        let now = now_ms();
        let user = User {
            id: Uuid::now_v7(),
            username: new.username,
            email,
            full_name: new.full_name,
            avatar_url: None,
            role: new.role.unwrap_or(Role::User),
            is_active: true,
            password_hash: Some(password_hash),
            monthly_token_allowance: self.config.default_allowance,
            created_at: now,
            updated_at: now,
        };
        self.insert_user(user, new.role.is_none(), None).await
    }

    /// Writes a new user and its indexes in one transaction. With
    /// `first_is_superadmin`, the first account ever made becomes superadmin.
    /// With `oidc_identity`, the account is bound to that OIDC identity.
    async fn insert_user(
        &self,
        user: User,
        first_is_superadmin: bool,
        oidc_identity: Option<&str>,
    ) -> Result<Arc<User>, CoreError> {
        let t = &self.tables;
        let tables: [&dyn crate::store::TableRef; 7] = [
            &t.users,
            &t.by_email,
            &t.by_username,
            &t.meta,
            &t.oidc_identities,
            &t.oidc_bound,
            &t.totals,
        ];
        let user = self
            .store
            .transaction(&tables, |tx| {
                let mut user = user.clone();
                Tables::claim_unique(tx, &t.by_email, &user.email, user.id, "email")?;
                Tables::claim_unique(tx, &t.by_username, &user.username, user.id, "username")?;
                if tx.get(&t.meta, "first_user")?.is_none() {
                    tx.insert(&t.meta, "first_user", &user.id.to_string())?;
                    if first_is_superadmin {
                        user.role = Role::Superadmin;
                    }
                }
                if let Some(identity) = oidc_identity {
                    Tables::claim_unique(tx, &t.oidc_identities, identity, user.id, "identity")?;
                    tx.insert(&t.oidc_bound, &user.id, &identity.to_string())?;
                }
                tx.insert(&t.users, &user.id, &user)?;
                counts::created_in(tx, &t.totals, &user)?;
                Ok(user)
            })
            .await?;
        Ok(self.cache_user(user))
    }

    /// Puts what was just written in the cache. Only writers (under the
    /// user's lock, in commit order) overwrite an entry.
    fn cache_user(&self, user: User) -> Arc<User> {
        let user = Arc::new(user);
        self.users.insert(user.id, user.clone());
        user
    }

    /// The user with `id`, from memory when possible.
    pub fn user(&self, id: Uuid) -> Result<Arc<User>, CoreError> {
        if let Some(user) = self.users.get(&id) {
            return Ok(user.clone());
        }
        let user = self
            .tables
            .users
            .get(&id)?
            .ok_or_else(|| CoreError::not_found("user", id))?;
        // A writer may have cached a newer record since this read: keep it.
        Ok(self
            .users
            .entry(id)
            .or_insert_with(|| Arc::new(user))
            .clone())
    }

    fn user_lock(&self, id: Uuid) -> &tokio::sync::Mutex<()> {
        let stripe = (id.as_u128() % self.user_locks.len().max(1) as u128) as usize;
        &self.user_locks[stripe]
    }

    /// The user with `email` (any case), if any.
    pub fn user_by_email(&self, email: &str) -> Result<Option<Arc<User>>, CoreError> {
        match self.tables.by_email.get(&email.trim().to_lowercase())? {
            Some(id) => self.user(id).map(Some),
            None => Ok(None),
        }
    }

    /// Changes user `id` inside one transaction: `change` sees the stored
    /// record (never a stale copy) and may touch the indexes through `tx`.
    /// The cache gets what is on disk after the commit.
    async fn write_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut User, &Tx<'_>) -> crate::store::TxResult<()>,
    ) -> Result<Arc<User>, CoreError> {
        let t = &self.tables;
        // Held until the cache has this write: a racing writer that commits
        // later cannot have its record overwritten by this older one.
        let _guard = self.user_lock(id).lock().await;
        self.store
            .transaction(&[&t.users, &t.by_username, &t.by_email, &t.totals], |tx| {
                let Some(mut user) = tx.get(&t.users, &id)? else {
                    return Tx::abort(crate::store::StoreError::Conflict("user vanished".into()));
                };
                let was_active = user.is_active;
                change(&mut user, tx)?;
                if user.is_active != was_active {
                    counts::activity_in(tx, &t.totals, user.is_active)?;
                }
                user.updated_at = now_ms();
                tx.insert(&t.users, &id, &user)
            })
            .await?;
        let fresh = t
            .users
            .get(&id)?
            .ok_or_else(|| CoreError::not_found("user", id))?;
        Ok(self.cache_user(fresh))
    }

    /// Records that session `sid` was used; reaches its actor at most once a minute.
    pub fn note_activity(&self, sid: Uuid) {
        const EVERY_MS: i64 = 60_000;
        let now = now_ms();
        let due = match self.touched.get(&sid) {
            Some(last) => now - *last >= EVERY_MS,
            None => true,
        };
        if due {
            if self.touched.len() > 100_000 {
                self.touched.clear();
            }
            self.touched.insert(sid, now);
            let sessions = self.sessions.clone();
            tokio::spawn(async move {
                let _ = sessions
                    .cast(&sid, crate::accounts::actor::SessionMsg::Touch)
                    .await;
            });
        }
    }

    /// Whether an access token of session `sid` must be refused.
    pub fn is_revoked(&self, sid: Uuid) -> bool {
        self.revoked.contains_key(&sid)
    }
}
