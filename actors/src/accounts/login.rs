//! Login, refresh, logout and the session list; password and username changes.

use std::sync::Arc;

use uuid::Uuid;

use super::throttle::FailureThrottle;
use super::{Accounts, Tables, passwords, secrets, validate};
use crate::accounts::actor::{RefreshRefused, SessionMsg};
use crate::error::CoreError;
use crate::model::{Session, User, limits, now_ms};
use crate::store::Tx;

/// Where a login comes from, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct LoginContext {
    /// The client's `User-Agent`, kept to 512 characters; `None` if absent.
    pub user_agent: Option<String>,
    /// The client address as the edge resolved it; `None` if unknown.
    pub ip: Option<String>,
}

/// A successful login or refresh. No `Debug`: it holds a refresh token.
#[derive(Clone)]
pub struct LoginOutcome {
    /// The account logged in, as cached.
    pub user: Arc<User>,
    /// The session opened or refreshed, with its new refresh token's hash.
    pub session: Session,
    /// Shown to the client once; only its hash is stored.
    pub refresh_token: String,
}

/// The one message for a wrong email and a wrong password (no account enumeration).
const BAD_CREDENTIALS: &str = "invalid email or password";

/// The answer while an account is locked by its failed sign-ins.
const LOCKED: &str = "too many failed sign-ins for this account; try again later";

impl Accounts {
    /// Checks email and password and opens a session.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ctx: LoginContext,
    ) -> Result<LoginOutcome, CoreError> {
        let account = FailureThrottle::key(email);
        // Before the hash: a locked account costs no argon2 time either.
        self.check_not_locked(&account)?;
        let user = self.user_by_email(email)?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        if !passwords::verify(password.to_string(), hash).await? {
            let now = now_ms();
            self.failures.record_failure(&account, now);
            // One audit record per burst of failures, written when it closes.
            self.audit
                .login_failed(&account, user.as_ref().map(|u| u.id), ctx.ip.clone(), now);
            return Err(CoreError::unauthenticated("invalid", BAD_CREDENTIALS));
        }
        let user = user.ok_or_else(|| CoreError::unauthenticated("invalid", BAD_CREDENTIALS))?;
        self.failures.clear(&account);
        self.open_session(user, ctx).await
    }

    /// 429 while `account` is locked by its failed sign-ins.
    fn check_not_locked(&self, account: &str) -> Result<(), CoreError> {
        match self.failures.locked(account, now_ms()) {
            Some(retry_after_s) => {
                metrics::counter!("chorus_login_locked_total").increment(1);
                Err(CoreError::RateLimited {
                    retry_after_s,
                    message: LOCKED,
                })
            }
            None => Ok(()),
        }
    }

    /// Opens a session for a user whose identity was already proven (password or OIDC).
    pub async fn open_session(
        &self,
        user: Arc<User>,
        ctx: LoginContext,
    ) -> Result<LoginOutcome, CoreError> {
        let until = now_ms() + self.config.refresh_ttl.as_millis() as i64;
        self.open_session_until(user, ctx, until).await
    }

    /// [`Accounts::open_session`] whose refresh token expires at `until` (unix ms).
    pub(super) async fn open_session_until(
        &self,
        user: Arc<User>,
        ctx: LoginContext,
        until: i64,
    ) -> Result<LoginOutcome, CoreError> {
        if !user.is_active {
            return Err(CoreError::unauthenticated(
                "invalid",
                "account is deactivated",
            ));
        }
        let now = now_ms();
        let id = Uuid::now_v7();
        let refresh_token = secrets::refresh_token(id);
        let session = Session {
            id,
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            user_agent: ctx.user_agent.map(|ua| ua.chars().take(512).collect()),
            ip: ctx.ip,
            refresh_hash: secrets::sha256(&refresh_token),
            spent_hashes: Vec::new(),
            refresh_expires_at: until,
            revoked_at: None,
        };
        let t = &self.tables;
        self.store
            .transaction(&[&t.sessions, &t.sessions_by_user], |tx| {
                tx.insert(&t.sessions, &session.id, &session)?;
                tx.insert(&t.sessions_by_user, &(user.id, session.id), &())
            })
            .await?;
        Ok(LoginOutcome {
            user,
            session,
            refresh_token,
        })
    }

    /// Rotates a refresh token. A spent one revokes its whole session.
    pub async fn refresh(&self, token: &str) -> Result<LoginOutcome, CoreError> {
        let invalid = || CoreError::unauthenticated("invalid", "invalid refresh token");
        let sid = secrets::refresh_session(token).ok_or_else(invalid)?;
        let hash = secrets::sha256(token);
        let answer = match self
            .sessions
            .call(&sid, |reply| SessionMsg::Refresh(hash, reply))
            .await
        {
            Ok(answer) => answer,
            Err(CoreError::NotFound { .. }) => return Err(invalid()),
            Err(e) => return Err(e),
        };
        let (session, refresh_token) = match answer {
            Ok(rotated) => rotated,
            Err(RefreshRefused::Reused) => {
                return Err(CoreError::unauthenticated(
                    "revoked",
                    "refresh token already used; the session is revoked",
                ));
            }
            Err(RefreshRefused::Invalid) => return Err(invalid()),
        };
        let user = self.user(session.user_id)?;
        if !user.is_active {
            return Err(CoreError::unauthenticated(
                "invalid",
                "account is deactivated",
            ));
        }
        Ok(LoginOutcome {
            user,
            session,
            refresh_token,
        })
    }

    /// Revokes session `sid` at once.
    pub async fn revoke_session(&self, sid: Uuid) -> Result<(), CoreError> {
        self.sessions.call(&sid, SessionMsg::Revoke).await?
    }

    /// Revokes one of `user_id`'s sessions; another user's session is 404.
    pub async fn revoke_own_session(&self, user_id: Uuid, sid: Uuid) -> Result<(), CoreError> {
        if !self.tables.sessions_by_user.contains(&(user_id, sid))? {
            return Err(CoreError::not_found("session", sid));
        }
        self.revoke_session(sid).await
    }

    /// Revokes every live session of `user_id` except `keep`.
    pub async fn revoke_sessions_of(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
    ) -> Result<usize, CoreError> {
        let mut n = 0;
        for session in self.sessions_of(user_id)? {
            if Some(session.id) != keep && session.revoked_at.is_none() {
                self.revoke_session(session.id).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every session of `user_id` that is still live, newest first.
    pub fn live_sessions(&self, user_id: Uuid) -> Result<Vec<Session>, CoreError> {
        let now = now_ms();
        let mut live: Vec<Session> = self
            .sessions_of(user_id)?
            .into_iter()
            .filter(|s| s.is_live(now))
            .collect();
        live.reverse();
        Ok(live)
    }

    fn sessions_of(&self, user_id: Uuid) -> Result<Vec<Session>, CoreError> {
        Tables::ids_of(&self.tables.sessions_by_user, user_id)?
            .into_iter()
            .filter_map(|sid| self.tables.sessions.get(&sid).transpose())
            .map(|r| r.map_err(CoreError::from))
            .collect()
    }

    /// Changes the password and revokes every other session of the user,
    /// and its API keys unless `keep_api_keys`. A wrong current password
    /// counts towards the account's lock-out like a failed sign-in.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current_sid: Option<Uuid>,
        current: &str,
        new: &str,
        keep_api_keys: bool,
    ) -> Result<(), CoreError> {
        validate::password("new_password", new)?;
        let user = self.user(user_id)?;
        let account = FailureThrottle::key(&user.email);
        self.check_not_locked(&account)?;
        if !passwords::verify(current.to_string(), user.password_hash.clone()).await? {
            self.failures.record_failure(&account, now_ms());
            return Err(CoreError::unauthenticated(
                "invalid",
                "current password is wrong",
            ));
        }
        let hash = passwords::hash(new.to_string()).await?;
        self.write_user(user_id, |u, _| {
            u.password_hash = Some(hash.clone());
            Ok(())
        })
        .await?;
        self.revoke_sessions_of(user_id, current_sid).await?;
        if !keep_api_keys {
            // One by one, so each deletion has every effect of DELETE /api-keys/{id}.
            for key in self.api_keys(user_id)? {
                self.delete_api_key(user_id, key.id).await?;
            }
        }
        Ok(())
    }

    /// Renames the user; 409 if the name is taken.
    pub async fn change_username(
        &self,
        user_id: Uuid,
        username: &str,
    ) -> Result<Arc<User>, CoreError> {
        validate::username(username)?;
        let user = self.user(user_id)?;
        if user.username == username {
            return Ok(user);
        }
        let by_username = self.tables.by_username.clone();
        self.write_user(user_id, move |u, tx: &Tx<'_>| {
            Tables::claim_unique(tx, &by_username, username, user_id, "username")?;
            tx.remove(&by_username, u.username.as_str())?;
            u.username = username.to_string();
            Ok(())
        })
        .await
    }

    /// Updates the profile fields of API.md 2.3.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        full_name: Option<String>,
        avatar_url: Option<String>,
    ) -> Result<Arc<User>, CoreError> {
        validate::text("full_name", &full_name, limits::NAME_CHARS)?;
        validate::text("avatar_url", &avatar_url, limits::URL_CHARS)?;
        if let Some(url) = avatar_url.as_deref().filter(|u| !u.is_empty()) {
            validate::http_url("avatar_url", url)?;
        }
        // An empty string removes the avatar.
        let avatar_url = avatar_url.map(|u| Some(u).filter(|u| !u.is_empty()));
        self.write_user(user_id, |u, _| {
            if full_name.is_some() {
                u.full_name = full_name.clone();
            }
            if let Some(avatar_url) = &avatar_url {
                u.avatar_url = avatar_url.clone();
            }
            Ok(())
        })
        .await
    }
}
