//! A user account.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user may do. Ordered: a higher role includes the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Uses their own resources only.
    User,
    /// May also use the admin routes (users, jobs, usage, audit log).
    Admin,
    /// The only role that may grant admin roles or change admins; the first account's by default.
    Superadmin,
}

impl Role {
    /// The lower-case name used in JSON and in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Superadmin => "superadmin",
        }
    }

    /// Parses `user`, `admin` or `superadmin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "superadmin" => Some(Role::Superadmin),
            _ => None,
        }
    }

    /// Whether this role may use the admin routes.
    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }
}

/// A stored account. The edge's view type has no `password_hash`, and
/// `Debug` redacts it, so it never reaches a response or a log.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    /// Primary key; the `sub` of the user's tokens.
    pub id: Uuid,
    /// Unique login name.
    pub username: String,
    /// Lower-cased.
    pub email: String,
    /// Display name; `None` if never given.
    pub full_name: Option<String>,
    /// URL of the user's picture; `None` if never given.
    pub avatar_url: Option<String>,
    /// What they may do; checked on every admin route.
    pub role: Role,
    /// `false` once deactivated: logins, refreshes, keys and sockets are refused.
    pub is_active: bool,
    /// argon2id PHC string; `None` for accounts made by OIDC login only.
    pub password_hash: Option<String>,
    /// Tokens per calendar month; `None` = unlimited.
    pub monthly_token_allowance: Option<u64>,
    /// Unix ms when the account was made.
    pub created_at: i64,
    /// Unix ms of the last change to the account.
    pub updated_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}
