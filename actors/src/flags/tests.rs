//! The flags' handle: the snapshot follows durable writes, flags survive a
//! reopen, and every change leaves an audit record.

use super::*;
use crate::store::{Durability, Store, open_for_test};

fn open(dir: &std::path::Path) -> (FeatureFlags, Audit, Store) {
    let store = open_for_test(dir, Durability::Sync);
    let audit = Audit::open(store.clone()).unwrap();
    (
        FeatureFlags::open(store.clone(), audit.clone()).unwrap(),
        audit,
        store,
    )
}

/// The flags of `dir` once the last run's flusher has let go of sled's lock.
async fn reopen(dir: &std::path::Path) -> FeatureFlags {
    for _ in 0..500 {
        let config = crate::store::StoreConfig {
            path: dir.to_path_buf(),
            durability: Durability::Sync,
            cache_capacity: 8 << 20,
            flush_every_ms: 500,
        };
        if let Ok(store) = Store::open(&config) {
            let audit = Audit::open(store.clone()).unwrap();
            return FeatureFlags::open(store, audit).unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the store did not reopen");
}

fn actor() -> Actor {
    Actor {
        user_id: Uuid::now_v7(),
        ip: Some("127.0.0.1".into()),
    }
}

fn boolean(key: &str) -> FeatureFlag {
    flag::example(key, FlagType::Boolean)
}

#[tokio::test]
async fn a_change_is_seen_by_checks_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (flags, _, store) = open(dir.path());
    let admin = actor();
    let user = Uuid::now_v7();
    flags.create(&admin, boolean("beta")).await.unwrap();
    assert_eq!(
        flags.check("beta", user, Role::User).unwrap(),
        (true, Reason::Enabled)
    );
    flags
        .update(&admin, "beta", |f| f.is_enabled = false)
        .await
        .unwrap();
    assert_eq!(
        flags.check("beta", user, Role::User).unwrap(),
        (false, Reason::Disabled)
    );
    flags.create(&admin, boolean("gone")).await.unwrap();
    flags.delete(&admin, "gone").await.unwrap();
    assert!(matches!(
        flags.check("gone", user, Role::User),
        Err(CoreError::NotFound { .. })
    ));
    store.close().await.unwrap();
    drop((flags, store));

    let again = reopen(dir.path()).await;
    let (items, total) = again.page(0, 10);
    assert_eq!(total, 1);
    assert_eq!(items[0].key, "beta");
    assert!(!items[0].is_enabled);
}

#[tokio::test]
async fn a_taken_key_is_a_conflict_and_a_bad_update_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (flags, _, _store) = open(dir.path());
    let admin = actor();
    flags.create(&admin, boolean("one")).await.unwrap();
    assert!(matches!(
        flags.create(&admin, boolean("one")).await,
        Err(CoreError::Conflict(_))
    ));
    let bad = flags
        .update(&admin, "one", |f| f.flag_type = FlagType::Percentage)
        .await;
    assert!(matches!(bad, Err(CoreError::Validation { field, .. }) if field == "percentage"));
    assert_eq!(flags.get("one").unwrap().flag_type, FlagType::Boolean);
}

#[tokio::test]
async fn every_change_is_audited_with_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (flags, audit, _store) = open(dir.path());
    let admin = actor();
    flags.create(&admin, boolean("audited")).await.unwrap();
    flags
        .update(&admin, "audited", |f| {
            f.flag_type = FlagType::Percentage;
            f.percentage = Some(25.0);
        })
        .await
        .unwrap();
    flags.delete(&admin, "audited").await.unwrap();
    let records = audit.recent(10).unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "feature_flag.deleted",
            "feature_flag.updated",
            "feature_flag.created"
        ]
    );
    for r in &records {
        assert_eq!(r.actor_id, Some(admin.user_id));
        assert_eq!(r.resource_type, "feature_flag");
        assert_eq!(r.resource_id.as_deref(), Some("audited"));
        assert_eq!(r.ip_address.as_deref(), Some("127.0.0.1"));
    }
    let updated = records[1].details_json.parse().unwrap();
    assert_eq!(
        updated["changes"],
        json!({"flag_type": {"from": "boolean", "to": "percentage"},
               "percentage": {"from": null, "to": 25.0}})
    );
    let created = records[2].details_json.parse().unwrap();
    assert_eq!(created["flag_type"], "boolean");
}
