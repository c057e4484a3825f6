//! A feature flag as stored, and the checks every write passes: the key's
//! slug rule and, per `flag_type`, the fields evaluation needs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{Role, limits};

/// Longest key, in characters (`[a-z0-9._-]`, starting with a letter or digit).
pub const KEY_CHARS: usize = 64;
/// Most user ids one `user_list` flag may name.
pub const MAX_USER_IDS: usize = 1_000;

/// How a flag decides for one user once it is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlagType {
    /// On for everyone.
    Boolean,
    /// On for a stable `percentage` of users (a hash of key and user id).
    Percentage,
    /// On for the users in `user_ids`.
    UserList,
    /// On for users whose role is in `roles`.
    RoleBased,
}

impl FlagType {
    /// Every type, in the order API.md lists them.
    pub const ALL: [FlagType; 4] = [
        FlagType::Boolean,
        FlagType::Percentage,
        FlagType::UserList,
        FlagType::RoleBased,
    ];

    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::Percentage => "percentage",
            FlagType::UserList => "user_list",
            FlagType::RoleBased => "role_based",
        }
    }

    /// The type named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One feature flag (API.md 10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureFlag {
    /// The slug clients and code name it by; never changes.
    pub key: String,
    /// What operators see.
    pub name: String,
    /// Why the flag exists.
    pub description: Option<String>,
    /// How it decides once enabled.
    pub flag_type: FlagType,
    /// Off overrides every rule: the kill switch.
    pub is_enabled: bool,
    /// `percentage` flags: the share of users it is on for, 0-100.
    pub percentage: Option<f64>,
    /// `user_list` flags: who it is on for (kept, unused, under other types).
    pub user_ids: Vec<Uuid>,
    /// `role_based` flags: the roles it is on for.
    pub roles: Vec<Role>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

/// Checks `key`: 1-64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn check_key(key: &str) -> Result<(), CoreError> {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = key
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !rest_ok || key.len() > KEY_CHARS {
        return Err(CoreError::validation(
            "key",
            format!("1-{KEY_CHARS} of a-z 0-9 . _ -, starting with a letter or digit"),
        ));
    }
    Ok(())
}

impl FeatureFlag {
    /// Checks every field, and that the fields its type needs are set:
    /// `percentage` (0-100) for `percentage`, one or more `user_ids` for
    /// `user_list`, one or more `roles` for `role_based`. 422 naming the field.
    pub fn check(&self) -> Result<(), CoreError> {
        check_key(&self.key)?;
        limits::name("name", &self.name)?;
        limits::chars(
            "description",
            self.description.as_deref(),
            limits::TEXT_CHARS,
        )?;
        if let Some(p) = self.percentage
            && !(p.is_finite() && (0.0..=100.0).contains(&p))
        {
            return Err(CoreError::validation("percentage", "must be 0-100"));
        }
        if self.user_ids.len() > MAX_USER_IDS {
            return Err(CoreError::validation(
                "user_ids",
                format!("at most {MAX_USER_IDS} ids"),
            ));
        }
        match self.flag_type {
            FlagType::Percentage if self.percentage.is_none() => Err(CoreError::validation(
                "percentage",
                "required for flag_type percentage",
            )),
            FlagType::UserList if self.user_ids.is_empty() => Err(CoreError::validation(
                "user_ids",
                "one or more user ids are required for flag_type user_list",
            )),
            FlagType::RoleBased if self.roles.is_empty() => Err(CoreError::validation(
                "roles",
                "one or more roles are required for flag_type role_based",
            )),
            _ => Ok(()),
        }
    }

    /// Drops repeated user ids and roles, keeping the first of each.
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.user_ids.retain(|id| seen.insert(*id));
        let mut roles = Vec::new();
        for r in std::mem::take(&mut self.roles) {
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        self.roles = roles;
    }
}

/// A flag of `flag_type` with no rule fields set, for the tests.
#[cfg(test)]
pub(crate) fn example(key: &str, flag_type: FlagType) -> FeatureFlag {
    FeatureFlag {
        key: key.into(),
        name: "A flag".into(),
        description: None,
        flag_type,
        is_enabled: true,
        percentage: None,
        user_ids: vec![],
        roles: vec![],
        created_at: 0,
        updated_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(flag_type: FlagType) -> FeatureFlag {
        example("new-ui", flag_type)
    }

    fn field(r: Result<(), CoreError>) -> String {
        match r {
            Err(CoreError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn keys_are_slugs_of_at_most_64_characters() {
        for good in ["a", "new-ui", "checkout.v2_beta", &"x".repeat(64)] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "New", "a b", "ü", &"x".repeat(65)] {
            assert_eq!(field(check_key(bad)), "key", "{bad}");
        }
    }

    #[test]
    fn each_type_needs_its_own_field() {
        assert!(flag(FlagType::Boolean).check().is_ok());
        assert_eq!(field(flag(FlagType::Percentage).check()), "percentage");
        assert_eq!(field(flag(FlagType::UserList).check()), "user_ids");
        assert_eq!(field(flag(FlagType::RoleBased).check()), "roles");
        let mut p = flag(FlagType::Percentage);
        for bad in [-0.1, 100.5, f64::NAN] {
            p.percentage = Some(bad);
            assert_eq!(field(p.check()), "percentage");
        }
        p.percentage = Some(100.0);
        assert!(p.check().is_ok());
    }

    #[test]
    fn dedup_keeps_the_first_of_each() {
        let mut f = flag(FlagType::UserList);
        let id = Uuid::now_v7();
        f.user_ids = vec![id, id];
        // The cap is on the ids as sent (the schema's `maxItems`), repeats included.
        let mut many = flag(FlagType::Boolean);
        many.user_ids = vec![id; MAX_USER_IDS + 1];
        assert_eq!(field(many.check()), "user_ids");
        f.roles = vec![Role::Admin, Role::User, Role::Admin];
        f.dedup();
        assert_eq!(f.user_ids, vec![id]);
        assert_eq!(f.roles, vec![Role::Admin, Role::User]);
    }
}
