//! Accounts of OIDC sign-ins (API.md 2.1), bound to the identity that made
//! them: an issuer and a subject, never the email alone. Another issuer, or
//! another subject of the same issuer, that asserts the same email gets no
//! way into the account.

use std::sync::Arc;

use uuid::Uuid;

use super::{Accounts, Tables, secrets, validate};
use crate::error::CoreError;
use crate::model::{User, now_ms};

/// Who an ID token says the user is, once its signature has been checked.
#[derive(Debug, Clone)]
pub struct OidcClaims {
    /// The issuer (`iss`) that signed the ID token.
    pub iss: String,
    /// The subject (`sub`): the user's id at that issuer; with `iss`, what the account is bound to.
    pub sub: String,
    /// The email the issuer asserts; used for a new account and lower-cased.
    pub email: String,
    /// The display name it asserts, if any; a new account's full name.
    pub name: Option<String>,
    /// URL of the user's picture, if any; kept only if it is an `http(s)` URL.
    pub picture: Option<String>,
}

fn taken() -> CoreError {
    CoreError::unauthenticated("invalid", "an account with this email signs in another way")
}

impl Accounts {
    /// The account bound to the identity of `claims`, made on its first
    /// sign-in with a username derived from the email.
    pub async fn user_for_oidc(&self, claims: OidcClaims) -> Result<Arc<User>, CoreError> {
        let identity = Tables::oidc_identity(&claims.iss, &claims.sub);
        if let Some(id) = self.tables.oidc_identities.get(identity.as_str())? {
            return self.user(id);
        }
        let email = validate::email(&claims.email)?;
        if let Some(user) = self.user_by_email(&email)? {
            return self.bind_legacy(user, &identity).await;
        }
        let picture = claims
            .picture
            .filter(|p| validate::http_url("picture", p).is_ok());
        let base = username_base(&email);
        let now = now_ms();
        for attempt in 0..20u32 {
            let username = match attempt {
                0 => base.clone(),
                _ => format!(
                    "{base}-{}",
                    &secrets::random_secret()[..6]
                        .to_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "x")
                ),
            };
            let user = User {
                id: Uuid::now_v7(),
                username,
                email: email.clone(),
                full_name: claims.name.clone(),
                avatar_url: picture.clone(),
                role: crate::model::Role::User,
                is_active: true,
                password_hash: None,
                monthly_token_allowance: self.config.default_allowance,
                created_at: now,
                updated_at: now,
            };
            match self.insert_user(user, true, Some(&identity)).await {
                Err(CoreError::Conflict(m)) if m.starts_with("username") => continue,
                // A concurrent first sign-in won the race: for this same
                // identity, that account is the one; for another, refused.
                Err(CoreError::Conflict(_)) => {
                    return match self.tables.oidc_identities.get(identity.as_str())? {
                        Some(id) => self.user(id),
                        None => Err(taken()),
                    };
                }
                other => return other,
            }
        }
        Err(CoreError::Conflict("could not find a free username".into()))
    }

    /// An account that already has this email. One with a password, or one
    /// bound to another identity, is refused. One made by an OIDC sign-in
    /// before accounts were bound (no identity on record) is bound to this
    /// identity now, once: from then on only it signs in.
    async fn bind_legacy(&self, user: Arc<User>, identity: &str) -> Result<Arc<User>, CoreError> {
        if user.password_hash.is_some() || self.tables.oidc_bound.contains(&user.id)? {
            return Err(taken());
        }
        let t = &self.tables;
        let bound = self
            .store
            .transaction(&[&t.oidc_identities, &t.oidc_bound], |tx| {
                if tx.get(&t.oidc_bound, &user.id)?.is_some() {
                    return Ok(false);
                }
                Tables::claim_unique(tx, &t.oidc_identities, identity, user.id, "identity")?;
                tx.insert(&t.oidc_bound, &user.id, &identity.to_string())?;
                Ok(true)
            })
            .await?;
        if bound { Ok(user) } else { Err(taken()) }
    }
}

/// A username from the local part of `email`: `[a-z0-9_-]`, 3-24 characters.
fn username_base(email: &str) -> String {
    let base: String = email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .take(24)
        .collect();
    if base.len() < 3 {
        format!("user{base}")
    } else {
        base
    }
}
