//! Impersonation (API.md 10): an admin acts as a plain user for at most an
//! hour, to see what they see. It is a login session of the target like any
//! other, so the revocation machinery (the in-memory revoked set, closing
//! the sockets and streams opened with it) ends it; its refresh token is
//! made and thrown away, so it can never be refreshed. Who impersonates
//! whom, and why, is kept beside it and in the audit log.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Accounts, LoginContext};
use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::model::{User, now_ms};

/// The longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Who impersonates whom, kept under the session's id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImpersonationRecord {
    /// The admin acting.
    pub admin_id: Uuid,
    /// The user acted as (the session's user).
    pub target_id: Uuid,
    /// Why, as the admin gave it.
    pub reason: String,
    /// Unix ms of the start and of the token's expiry.
    pub started_at: i64,
    pub expires_at: i64,
}

/// A started impersonation: its session and the two users.
#[derive(Debug, Clone)]
pub struct Impersonation {
    /// The session its token names (`sid`).
    pub session_id: Uuid,
    /// The user acted as.
    pub target: Arc<User>,
    /// Unix ms when its token expires.
    pub expires_at: i64,
}

impl Accounts {
    fn impersonations(&self) -> Result<crate::store::Table<Uuid, ImpersonationRecord>, CoreError> {
        Ok(self.store.table("impersonations")?)
    }

    /// Starts `admin`'s impersonation of `target_id` for `ttl`: 404 for an
    /// unknown user, 403 for an admin or superadmin, 409 for a deactivated
    /// one, 422 without a reason of 1-500 characters. Audited
    /// `impersonation.started`; an audit failure undoes it.
    pub async fn start_impersonation(
        &self,
        admin: &User,
        target_id: Uuid,
        reason: &str,
        ttl: Duration,
        ctx: LoginContext,
    ) -> Result<Impersonation, CoreError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(CoreError::validation(
                "reason",
                format!("1-{MAX_REASON_CHARS} characters"),
            ));
        }
        let target = self.user(target_id)?;
        if target.role.is_admin() {
            return Err(CoreError::Forbidden(
                "admins and superadmins cannot be impersonated".into(),
            ));
        }
        if !target.is_active {
            return Err(CoreError::Conflict(
                "the user is deactivated; activate them first".into(),
            ));
        }
        let ip = ctx.ip.clone();
        let expires_at = now_ms() + ttl.as_millis() as i64;
        // Its refresh token is never shown, and the session ends with the token.
        let opened = self
            .open_session_until(target.clone(), ctx, expires_at)
            .await?;
        let record = ImpersonationRecord {
            admin_id: admin.id,
            target_id,
            reason: reason.to_string(),
            started_at: now_ms(),
            expires_at,
        };
        let sid = opened.session.id;
        self.impersonations()?.insert(&sid, &record)?;
        let started = self
            .audit
            .record(AuditEvent {
                actor_id: Some(admin.id),
                action: "impersonation.started",
                resource_type: "user",
                resource_id: Some(target_id.to_string()),
                details: serde_json::json!({
                    "admin_id": admin.id,
                    "impersonated_user_id": target_id,
                    "reason": reason,
                    "session_id": sid,
                }),
                ip_address: ip,
            })
            .await;
        if let Err(e) = started {
            // Never an impersonation that the log does not show.
            self.revoke_session(sid).await?;
            return Err(e);
        }
        Ok(Impersonation {
            session_id: sid,
            target,
            expires_at,
        })
    }

    /// Ends impersonation session `sid` of `admin_id`: revokes it (its token
    /// is refused from now on, its sockets close) and audits
    /// `impersonation.stopped` with the reason it was started for.
    pub async fn stop_impersonation(
        &self,
        admin_id: Uuid,
        sid: Uuid,
        ip: Option<String>,
    ) -> Result<(), CoreError> {
        let record = self
            .impersonations()?
            .get(&sid)?
            .filter(|r| r.admin_id == admin_id)
            .ok_or_else(|| CoreError::not_found("impersonation", sid))?;
        self.revoke_session(sid).await?;
        let event = AuditEvent {
            actor_id: Some(admin_id),
            action: "impersonation.stopped",
            resource_type: "user",
            resource_id: Some(record.target_id.to_string()),
            details: serde_json::json!({
                "admin_id": admin_id,
                "impersonated_user_id": record.target_id,
                "reason": record.reason,
                "session_id": sid,
            }),
            ip_address: ip,
        };
        self.audit.record_or_log(event).await;
        Ok(())
    }

    /// Whether impersonation session `sid` of `admin_id` may still be used:
    /// its record names that admin and its session is live. Read from the
    /// store, not only the revoked set, because an impersonation token can
    /// outlive the set's memory of a revocation (kept for one access-token
    /// lifetime).
    pub fn impersonation_live(&self, sid: Uuid, admin_id: Uuid) -> Result<bool, CoreError> {
        let named = self
            .impersonations()?
            .get(&sid)?
            .is_some_and(|r| r.admin_id == admin_id);
        let live = self
            .tables
            .sessions
            .get(&sid)?
            .is_some_and(|s| s.is_live(now_ms()));
        Ok(named && live)
    }
}
