//! Admin operations on users (API.md 10, first bullet) and the CLI's.

use std::sync::Arc;

use uuid::Uuid;

use super::{Accounts, Tables, validate};
use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::model::{Role, User};

/// A page of users, newest first.
pub struct UserPage {
    /// The users of this page, as cached.
    pub items: Vec<Arc<User>>,
    /// How many users match the search in all.
    pub total: usize,
}

/// What an admin may change. `monthly_token_allowance: Some(None)` makes
/// the user unlimited.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    /// The new role; `None` keeps it. Admin roles are a superadmin's to give.
    pub role: Option<Role>,
    /// `false` deactivates the user and revokes their sessions; `None` keeps it.
    pub is_active: Option<bool>,
    /// Tokens per month; `Some(None)` is unlimited, `None` keeps it.
    pub monthly_token_allowance: Option<Option<u64>>,
}

impl Accounts {
    /// Users whose username, email or full name contains `search` (any case).
    pub fn list_users(
        &self,
        search: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> Result<UserPage, CoreError> {
        let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        let mut items = Vec::new();
        let mut total = 0;
        for item in self.tables.users.iter().rev() {
            let (_, user) = item?;
            let hit = needle.as_deref().is_none_or(|n| {
                user.username.contains(n)
                    || user.email.contains(n)
                    || user
                        .full_name
                        .as_deref()
                        .is_some_and(|f| f.to_lowercase().contains(n))
            });
            if hit {
                if total >= skip && items.len() < limit {
                    items.push(self.user(user.id)?);
                }
                total += 1;
            }
        }
        Ok(UserPage { items, total })
    }

    /// Applies an admin's `patch` to user `id`, with the role rules of API.md 10.
    pub async fn update_user(
        &self,
        actor: &User,
        id: Uuid,
        patch: UserPatch,
        ip: Option<String>,
    ) -> Result<Arc<User>, CoreError> {
        validate::allowance(
            "monthly_token_allowance",
            patch.monthly_token_allowance.flatten(),
        )?;
        let target = self.user(id)?;
        check_may_change(actor, &target, &patch)?;
        let saved = self
            .write_user(id, |u, _| {
                if let Some(role) = patch.role {
                    u.role = role;
                }
                if let Some(active) = patch.is_active {
                    u.is_active = active;
                }
                if let Some(allowance) = patch.monthly_token_allowance {
                    u.monthly_token_allowance = allowance;
                }
                Ok(())
            })
            .await?;
        if saved.role != target.role {
            self.audit_user_change(
                Some(actor),
                &saved,
                "user.role_changed",
                serde_json::json!({"from": target.role, "to": saved.role}),
                ip.clone(),
            )
            .await;
        }
        if saved.monthly_token_allowance != target.monthly_token_allowance {
            let details = serde_json::json!({"from": target.monthly_token_allowance, "to": saved.monthly_token_allowance});
            self.audit_user_change(
                Some(actor),
                &saved,
                "user.allowance_changed",
                details,
                ip.clone(),
            )
            .await;
        }
        if saved.is_active != target.is_active {
            let action = if saved.is_active {
                "user.activated"
            } else {
                "user.deactivated"
            };
            self.audit_user_change(Some(actor), &saved, action, serde_json::json!({}), ip)
                .await;
        }
        if let Some(notifications) = self.notifier.get() {
            notifications.account_changed(&target, &saved).await;
        }
        if !saved.is_active {
            self.revocations.emit(super::Revoked::User(id));
            self.revoke_sessions_of(id, None).await?;
        }
        Ok(saved)
    }

    /// `actor` is `None` for the command line, which has no acting user.
    async fn audit_user_change(
        &self,
        actor: Option<&User>,
        user: &User,
        action: &str,
        details: serde_json::Value,
        ip: Option<String>,
    ) {
        let event = AuditEvent {
            actor_id: actor.map(|a| a.id),
            action,
            resource_type: "user",
            resource_id: Some(user.id.to_string()),
            details,
            ip_address: ip,
        };
        self.audit.record_or_log(event).await;
    }

    /// `chorus admin set-role`: sets a role with no acting user (the
    /// operator of a stopped server's data dir).
    pub async fn set_role_by_email(&self, email: &str, role: Role) -> Result<Arc<User>, CoreError> {
        let email = validate::email(email)?;
        let user = self
            .user_by_email(&email)?
            .ok_or_else(|| CoreError::not_found("user", &email))?;
        let saved = self
            .write_user(user.id, |u, _| {
                u.role = role;
                Ok(())
            })
            .await?;
        if saved.role != user.role {
            // No acting user: the record says the command line did it.
            let details = serde_json::json!({"from": user.role, "to": saved.role, "via": "cli"});
            self.audit_user_change(None, &saved, "user.role_changed", details, None)
                .await;
            if let Some(notifications) = self.notifier.get() {
                notifications.account_changed(&user, &saved).await;
            }
        }
        Ok(saved)
    }

    /// Number of users (walks the index; for the admin dashboard).
    pub fn user_count(&self) -> usize {
        self.tables.users.len()
    }

    /// The tables (for the CLI's existence checks).
    pub fn tables(&self) -> &Tables {
        &self.tables
    }
}

/// The role rules: only a superadmin grants or removes admin roles, or
/// touches an admin's account; nobody changes their own role or deactivates
/// themselves (so the last superadmin cannot lock everyone out).
fn check_may_change(actor: &User, target: &User, patch: &UserPatch) -> Result<(), CoreError> {
    let changes_role = patch.role.is_some_and(|r| r != target.role);
    if actor.id == target.id && (changes_role || patch.is_active == Some(false)) {
        return Err(CoreError::Conflict(
            "you cannot change your own role or deactivate yourself".into(),
        ));
    }
    let touches_admin_role =
        changes_role && (target.role.is_admin() || patch.role.is_some_and(Role::is_admin));
    if (touches_admin_role || target.role.is_admin()) && actor.role != Role::Superadmin {
        return Err(CoreError::Forbidden(
            "only a superadmin may change admin roles or admin accounts".into(),
        ));
    }
    Ok(())
}
