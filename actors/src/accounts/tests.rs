//! Faults inside the accounts service that no HTTP client can provoke.

use std::sync::Arc;
use std::time::Duration;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    accounts: Accounts,
    audit: Audit,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Relaxed);
    let audit = Audit::open(store.clone()).unwrap();
    let config = AccountsConfig {
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(3600),
        default_allowance: None,
        max_api_keys: 50,
        max_failed_logins: 10,
        failed_login_window: Duration::from_secs(900),
    };
    let actors = SupervisorConfig {
        max_restarts: 3,
        restart_window: Duration::from_secs(60),
        idle_timeout: None,
        call_timeout: Duration::from_secs(5),
    };
    let accounts = Accounts::start(store, audit.clone(), config, actors)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        accounts,
        audit,
    }
}

async fn user(accounts: &Accounts, name: &str) -> Arc<User> {
    accounts
        .register(NewUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            password: format!("password-{name}"),
            full_name: None,
            role: None,
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_role_and_activation_changes_leave_the_cache_equal_to_the_store() {
    let f = fixture().await;
    let admin = user(&f.accounts, "root").await;
    let target = user(&f.accounts, "target").await.id;
    for round in 0..1000 {
        // A cold cache, as after a restart: readers fill it while admins write.
        f.accounts.users.remove(&target);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (accounts, admin) = (f.accounts.clone(), admin.clone());
            tasks.push(tokio::spawn(async move {
                let patch = UserPatch {
                    role: Some(if i % 2 == 0 { Role::Admin } else { Role::User }),
                    is_active: Some(i % 3 != 0),
                    monthly_token_allowance: None,
                };
                accounts
                    .update_user(&admin, target, patch, None)
                    .await
                    .map(drop)
            }));
            let accounts = f.accounts.clone();
            tasks.push(tokio::spawn(async move { accounts.user(target).map(drop) }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let cached = f.accounts.user(target).unwrap();
        let stored = f.accounts.tables.users.get(&target).unwrap().unwrap();
        assert_eq!(
            (cached.role, cached.is_active, cached.updated_at),
            (stored.role, stored.is_active, stored.updated_at),
            "round {round}: the cache kept a stale user"
        );
    }
}

#[tokio::test]
async fn a_failed_login_whose_audit_write_fails_is_counted_and_still_refused() {
    let f = fixture().await;
    user(&f.accounts, "ada").await;
    f.audit.fail_writes();
    let refused = f
        .accounts
        .login("ada@example.com", "wrong-password", LoginContext::default())
        .await;
    assert!(matches!(refused, Err(CoreError::Unauthenticated { .. })));
    // The burst's one record is written when it closes.
    assert_eq!(f.audit.close_login_bursts(now_ms(), 0, true).await, 1);
    assert_eq!(
        f.audit.lost_records(),
        1,
        "the lost audit record was hidden"
    );
}
