//! The audit log's store side: filters and totals, retention on records
//! made old, bursts of failed sign-ins.

use uuid::Uuid;

use super::*;

fn open() -> (tempfile::TempDir, Audit) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Relaxed);
    (dir, Audit::open(store).unwrap())
}

fn event(actor: Option<Uuid>, action: &str, kind: &str) -> AuditEvent<'static> {
    AuditEvent {
        actor_id: actor,
        action: Box::leak(action.to_string().into_boxed_str()),
        resource_type: Box::leak(kind.to_string().into_boxed_str()),
        resource_id: None,
        details: serde_json::json!({}),
        ip_address: None,
    }
}

fn filter(actor: Option<Uuid>, action: Option<&str>, kind: Option<&str>) -> AuditFilter {
    AuditFilter {
        actor_id: actor,
        action: action.map(str::to_string),
        resource_type: kind.map(str::to_string),
    }
}

#[tokio::test]
async fn filters_combine_and_totals_count_every_match() {
    let (_dir, audit) = open();
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    for i in 0..5 {
        audit
            .record(event(Some(ada), "admin.request", "users"))
            .await
            .unwrap();
        audit
            .record(event(Some(bob), "admin.request", "jobs"))
            .await
            .unwrap();
        if i % 2 == 0 {
            audit
                .record(event(Some(ada), "user.role_changed", "user"))
                .await
                .unwrap();
        }
    }
    // A prefix of an action is not that action.
    audit
        .record(event(None, "admin.requests", "users"))
        .await
        .unwrap();
    let total = |f: AuditFilter| audit.list(&f, 0, 100).unwrap().total;
    assert_eq!(total(filter(None, None, None)), 14);
    assert_eq!(total(filter(Some(ada), None, None)), 8);
    assert_eq!(total(filter(None, Some("admin.request"), None)), 10);
    assert_eq!(total(filter(Some(ada), Some("admin.request"), None)), 5);
    assert_eq!(total(filter(None, None, Some("users"))), 6);
    assert_eq!(total(filter(None, Some("admin.request"), Some("jobs"))), 5);
    assert_eq!(total(filter(Some(ada), None, Some("jobs"))), 0);
    let page = audit.list(&filter(Some(ada), None, None), 1, 2).unwrap();
    assert_eq!((page.total, page.items.len()), (8, 2));
    let newest = audit.list(&filter(None, None, None), 0, 1).unwrap();
    assert_eq!(newest.items[0].action, "admin.requests", "newest first");
}

#[tokio::test]
async fn retention_removes_only_records_older_than_the_cutoff_with_their_indexes() {
    let (_dir, audit) = open();
    let ada = Uuid::now_v7();
    let now = now_ms();
    let day = 86_400_000;
    for age_days in [400, 366, 10, 0] {
        let e = event(Some(ada), "user.deactivated", "user");
        audit.record_at(e, now - age_days * day).await.unwrap();
    }
    let removed = audit.prune_before(now - 365 * day).await.unwrap();
    assert_eq!(removed, 2);
    let left = audit.list(&filter(None, None, None), 0, 100).unwrap();
    assert_eq!(left.total, 2);
    assert!(left.items.iter().all(|r| r.created_at > now - 365 * day));
    let by_actor = audit.list(&filter(Some(ada), None, None), 0, 100).unwrap();
    let by_action = audit.list(&filter(None, Some("user.deactivated"), None), 0, 100);
    assert_eq!(
        (by_actor.total, by_action.unwrap().total),
        (2, 2),
        "indexes pruned too"
    );
    assert_eq!(audit.prune_before(now - 365 * day).await.unwrap(), 0);
}

#[tokio::test]
async fn a_burst_of_failures_is_one_record_once_quiet() {
    let (_dir, audit) = open();
    let user = Uuid::now_v7();
    let t0 = 1_800_000_000_000;
    for i in 0..5 {
        audit.login_failed(
            "ada@x.io",
            Some(user),
            Some(format!("10.0.0.{}", i % 2)),
            t0 + i * 100,
        );
    }
    audit.login_failed("nobody@x.io", None, None, t0);
    // Still noisy: nothing closes.
    assert_eq!(audit.close_login_bursts(t0 + 500, 1000, false).await, 0);
    assert_eq!(audit.close_login_bursts(t0 + 1400, 1000, false).await, 2);
    let records = audit.recent(10).unwrap();
    let ada = records
        .iter()
        .find(|r| r.actor_id == Some(user))
        .expect("ada's burst");
    let details = ada.details_json.parse().unwrap();
    assert_eq!(details["count"], 5);
    assert_eq!(
        details["ip_addresses"],
        serde_json::json!(["10.0.0.0", "10.0.0.1"])
    );
    assert_eq!(details["first_at"], "2027-01-15T08:00:00.000Z");
    assert_eq!(details["last_at"], "2027-01-15T08:00:00.400Z");
    assert_eq!(ada.action, LOGIN_FAILED);
    assert_eq!(audit.close_login_bursts(t0 + 9999, 1000, true).await, 0);
}

#[tokio::test]
async fn a_steady_burst_still_closes_after_its_longest_span() {
    let (_dir, audit) = open();
    let t0 = 1_800_000_000_000;
    let minute = 60_000;
    for i in 0..16 {
        audit.login_failed("ada@x.io", None, None, t0 + i * minute);
    }
    assert_eq!(
        audit
            .close_login_bursts(t0 + 15 * minute, 10 * minute, false)
            .await,
        1
    );
    let details = audit.recent(1).unwrap()[0].details_json.parse().unwrap();
    assert_eq!(details["count"], 16);
}
