//! Evaluation of one flag for one user: a pure function of the flag, the
//! user's id and role, so it reads nothing and can be tested alone.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::flag::{FeatureFlag, FlagType};
use crate::model::Role;

/// Buckets a percentage rollout divides users into: 0.01 % each.
pub const BUCKETS: u64 = 10_000;

/// Why a flag is on or off for a user (the `reason` of a check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `is_enabled` is false: off for everyone, whatever the type.
    Disabled,
    /// A `boolean` flag that is on: on for everyone.
    Enabled,
    /// The user's bucket is under the rollout percentage.
    Percentage,
    /// The user's bucket is at or over the rollout percentage.
    PercentageExcluded,
    /// The user is in `user_ids`.
    UserList,
    /// The user is not in `user_ids`.
    NotInUserList,
    /// The user's role is in `roles`.
    Role,
    /// The user's role is not in `roles`.
    RoleExcluded,
}

impl Reason {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::Enabled => "enabled",
            Reason::Percentage => "percentage",
            Reason::PercentageExcluded => "percentage_excluded",
            Reason::UserList => "user_list",
            Reason::NotInUserList => "not_in_user_list",
            Reason::Role => "role",
            Reason::RoleExcluded => "role_excluded",
        }
    }
}

/// The user's bucket of flag `key`, in `0..BUCKETS`: the first eight bytes
/// of SHA-256(`"{key}:{user_id}"`), big-endian, modulo 10,000. The same on
/// every run, machine and version; different flags split users differently.
pub fn bucket(key: &str, user_id: Uuid) -> u64 {
    let digest = Sha256::digest(format!("{key}:{}", user_id.hyphenated()));
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head) % BUCKETS
}

/// Whether `flag` is on for the user `user_id` of role `role`, and why.
pub fn evaluate(flag: &FeatureFlag, user_id: Uuid, role: Role) -> (bool, Reason) {
    if !flag.is_enabled {
        return (false, Reason::Disabled);
    }
    match flag.flag_type {
        FlagType::Boolean => (true, Reason::Enabled),
        FlagType::Percentage => {
            // 12.34 % covers buckets 0..1234.
            let cut = (flag.percentage.unwrap_or(0.0) * 100.0).round() as u64;
            if bucket(&flag.key, user_id) < cut {
                (true, Reason::Percentage)
            } else {
                (false, Reason::PercentageExcluded)
            }
        }
        FlagType::UserList if flag.user_ids.contains(&user_id) => (true, Reason::UserList),
        FlagType::UserList => (false, Reason::NotInUserList),
        FlagType::RoleBased if flag.roles.contains(&role) => (true, Reason::Role),
        FlagType::RoleBased => (false, Reason::RoleExcluded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(flag_type: FlagType) -> FeatureFlag {
        FeatureFlag {
            percentage: Some(30.0),
            roles: vec![Role::Admin],
            ..crate::flags::flag::example("rollout", flag_type)
        }
    }

    #[test]
    fn thirty_percent_of_ten_thousand_users_is_thirty_percent_give_or_take_two() {
        let f = flag(FlagType::Percentage);
        let users: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
        let on = users
            .iter()
            .filter(|u| evaluate(&f, **u, Role::User).0)
            .count();
        assert!((2_800..=3_200).contains(&on), "{on} of 10000 users");
        for u in &users[..100] {
            assert_eq!(evaluate(&f, *u, Role::User), evaluate(&f, *u, Role::User));
        }
    }

    #[test]
    fn the_bucket_is_a_fixed_function_of_key_and_user() {
        // A pinned value: a change of hash would move every user's rollout.
        let user = Uuid::parse_str("0190a5d2-7c4e-7000-8000-000000000001").unwrap();
        let b = bucket("rollout", user);
        assert_eq!(b, bucket("rollout", user));
        let digest = Sha256::digest(b"rollout:0190a5d2-7c4e-7000-8000-000000000001");
        let head = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(b, head % BUCKETS);
        assert!(b < BUCKETS);
    }

    #[test]
    fn zero_and_hundred_percent_are_nobody_and_everybody() {
        let mut f = flag(FlagType::Percentage);
        let users: Vec<Uuid> = (0..500).map(|_| Uuid::new_v4()).collect();
        f.percentage = Some(0.0);
        assert!(users.iter().all(|u| !evaluate(&f, *u, Role::User).0));
        f.percentage = Some(100.0);
        assert!(
            users
                .iter()
                .all(|u| evaluate(&f, *u, Role::User) == (true, Reason::Percentage))
        );
    }

    #[test]
    fn each_type_gives_its_reasons_and_disabled_wins() {
        let user = Uuid::now_v7();
        assert_eq!(
            evaluate(&flag(FlagType::Boolean), user, Role::User),
            (true, Reason::Enabled)
        );
        let mut list = flag(FlagType::UserList);
        assert_eq!(
            evaluate(&list, user, Role::User),
            (false, Reason::NotInUserList)
        );
        list.user_ids.push(user);
        assert_eq!(evaluate(&list, user, Role::User), (true, Reason::UserList));
        let roles = flag(FlagType::RoleBased);
        assert_eq!(evaluate(&roles, user, Role::Admin), (true, Reason::Role));
        assert_eq!(
            evaluate(&roles, user, Role::Superadmin),
            (false, Reason::RoleExcluded)
        );
        for t in FlagType::ALL {
            let mut off = flag(t);
            off.is_enabled = false;
            off.user_ids.push(user);
            assert_eq!(evaluate(&off, user, Role::Admin), (false, Reason::Disabled));
        }
    }
}
