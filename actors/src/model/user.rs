//! A user account.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user may do. Ordered: a higher role includes the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
    Superadmin,
}

impl Role {
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
    pub id: Uuid,
    pub username: String,
    /// Lower-cased.
    pub email: String,
    pub full_name: Option<String>,
    pub avatar_url: Option<String>,
    pub role: Role,
    pub is_active: bool,
    /// argon2id PHC string; `None` for accounts made by OIDC login only.
    pub password_hash: Option<String>,
    /// Tokens per calendar month; `None` = unlimited.
    pub monthly_token_allowance: Option<u64>,
    pub created_at: i64,
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
