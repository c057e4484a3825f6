//! Notifications against a real store: the per-user cap, reads, and the
//! once-a-month quota notices.

use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::channels::ChannelsConfig;
use crate::model::Role;

fn notifications() -> (Notifications, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Relaxed);
    let channels = Channels::new(ChannelsConfig {
        history: 10,
        history_ttl: Duration::from_secs(300),
        history_max_bytes: 1 << 20,
        max_rooms_per_user: 10,
    });
    (Notifications::open(store, channels).unwrap(), dir)
}

fn kinds(page: &NotificationPage) -> Vec<&'static str> {
    page.items.iter().map(|n| n.kind.as_str()).collect()
}

#[tokio::test]
async fn a_user_keeps_the_newest_notifications_up_to_the_cap_newest_first() {
    let (n, _dir) = notifications();
    let ada = Uuid::now_v7();
    let first = n
        .push(ada, Notice::role_changed(Role::User, Role::Admin))
        .unwrap();
    for _ in 0..KEPT_PER_USER {
        n.push(ada, Notice::quota(false, 80, 100, "2026-12"))
            .unwrap();
    }
    let page = n.list(ada, false, 0, 5).unwrap();
    assert_eq!(page.total, KEPT_PER_USER as usize);
    assert_eq!(page.unread, KEPT_PER_USER as usize);
    assert_eq!(kinds(&page), vec!["quota.warning"; 5]);
    assert!(
        n.tables.get(ada, first.id).unwrap().is_none(),
        "the oldest went"
    );
    let ids: Vec<_> = page.items.iter().map(|i| i.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
}

#[tokio::test]
async fn marking_read_is_per_user_and_read_all_counts_what_it_changed() {
    let (n, _dir) = notifications();
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let a1 = n
        .push(ada, Notice::allowance_changed(None, Some(10)))
        .unwrap();
    n.push(ada, Notice::role_changed(Role::User, Role::Admin))
        .unwrap();
    let b1 = n
        .push(bob, Notice::role_changed(Role::User, Role::Admin))
        .unwrap();
    assert!(matches!(
        n.mark_read(ada, b1.id).await,
        Err(CoreError::NotFound { .. })
    ));
    let read = n.mark_read(ada, a1.id).await.unwrap();
    let at = read.read_at.unwrap();
    assert_eq!(
        n.mark_read(ada, a1.id).await.unwrap().read_at,
        Some(at),
        "again: unchanged"
    );
    let unread = n.list(ada, true, 0, 20).unwrap();
    assert_eq!((unread.total, unread.unread), (1, 1));
    assert_eq!(kinds(&unread), vec!["account.role_changed"]);
    assert_eq!(n.mark_all_read(ada).await.unwrap(), 1);
    assert_eq!(n.mark_all_read(ada).await.unwrap(), 0);
    let all = n.list(ada, false, 0, 20).unwrap();
    assert_eq!((all.total, all.unread), (2, 0));
    assert_eq!(
        n.list(bob, false, 0, 20).unwrap().unread,
        1,
        "bob's untouched"
    );
}

#[tokio::test]
async fn quota_notices_go_out_once_each_per_month() {
    let (n, _dir) = notifications();
    let ada = Uuid::now_v7();
    n.quota_used(ada, 202612, 79, 100);
    assert_eq!(n.list(ada, false, 0, 20).unwrap().total, 0, "under 80%");
    n.quota_used(ada, 202612, 80, 100);
    n.quota_used(ada, 202612, 95, 100);
    n.quota_used(ada, 202612, 100, 100);
    n.quota_used(ada, 202612, 140, 100);
    let page = n.list(ada, false, 0, 20).unwrap();
    assert_eq!(kinds(&page), vec!["quota.exceeded", "quota.warning"]);
    assert_eq!(
        page.items[0].data_json.parse().unwrap()["period"],
        "2026-12"
    );
    // A new month starts again; passing 100% at once sends no late warning.
    n.quota_used(ada, 202701, 150, 100);
    n.quota_used(ada, 202701, 90, 100);
    let page = n.list(ada, false, 0, 20).unwrap();
    assert_eq!(kinds(&page)[0], "quota.exceeded");
    assert_eq!(page.total, 3);
}

#[tokio::test]
async fn the_json_view_has_the_contract_fields() {
    let (n, _dir) = notifications();
    let ada = Uuid::now_v7();
    let sent = n
        .push(ada, Notice::allowance_changed(Some(5), None))
        .unwrap();
    let view = to_json(&sent).unwrap();
    assert_eq!(view["kind"], "account.allowance_changed");
    assert_eq!(view["read"], false);
    assert!(view["read_at"].is_null());
    assert_eq!(view["data"]["from"], 5);
    assert!(view["data"]["to"].is_null());
    assert!(view["created_at"].as_str().unwrap().ends_with('Z'));
}
