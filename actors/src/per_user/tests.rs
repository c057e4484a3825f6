//! Unit tests of the per-user counts: racing creates, counting old records, index pages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

fn open(dir: &std::path::Path) -> Store {
    crate::store::open_for_test(dir, crate::store::Durability::Relaxed)
}

/// One create as the services do it: lock, check, write record and count.
/// `on_recount` runs after a first count was taken from the index.
fn create(
    store: &Store,
    count: &UserCount,
    index: &Table<(Uuid, Uuid), ()>,
    user: Uuid,
    max: u64,
    on_recount: &(dyn Fn() + Sync),
) -> Result<(), CoreError> {
    let _guard = count.lock(user);
    let n = count.check(user, max, || {
        let n = index_len(index, user)?;
        on_recount();
        Ok(n)
    })?;
    store.transaction_unflushed(&[index, count.table()], |tx| {
        tx.insert(index, &(user, Uuid::now_v7()), &())?;
        count.set_in(tx, user, n + 1)
    })?;
    Ok(())
}

#[tokio::test]
async fn threads_creating_at_once_never_pass_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let count = UserCount::open(&store, Counted::Tags).unwrap();
    let index: Table<(Uuid, Uuid), ()> = store.table("things_by_user").unwrap();
    let user = Uuid::now_v7();
    // Each thread waits (a bounded time) inside the first count until all
    // sixteen are there: without the user's lock they would all read 0 and
    // all create; with it, the first gives up waiting and the others queue.
    let arrived = AtomicUsize::new(0);
    let gather = || {
        arrived.fetch_add(1, Ordering::SeqCst);
        let give_up = Instant::now() + Duration::from_millis(200);
        while arrived.load(Ordering::SeqCst) < 16 && Instant::now() < give_up {
            std::thread::yield_now();
        }
    };
    let made: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| create(&store, &count, &index, user, 5, &gather).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .sum()
    });
    assert_eq!(made, 5);
    assert_eq!(index_len(&index, user).unwrap(), 5);
    assert_eq!(count.stored(user).unwrap(), Some(5));
    match create(&store, &count, &index, user, 5, &|| {}) {
        Err(CoreError::LimitReached { resource, limit }) => {
            assert_eq!((resource, limit), ("tags", 5));
        }
        other => panic!("expected LimitReached, got {other:?}"),
    }
}

#[tokio::test]
async fn records_made_before_counts_existed_are_counted_from_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let count = UserCount::open(&store, Counted::Personas).unwrap();
    let index: Table<(Uuid, Uuid), ()> = store.table("things_by_user").unwrap();
    let user = Uuid::now_v7();
    for _ in 0..3 {
        index.insert(&(user, Uuid::now_v7()), &()).unwrap();
    }
    assert!(create(&store, &count, &index, user, 3, &|| {}).is_err());
    assert_eq!(count.stored(user).unwrap(), Some(3));
    assert!(create(&store, &count, &index, user, 4, &|| {}).is_ok());
    assert_eq!(count.stored(user).unwrap(), Some(4));
}

#[tokio::test]
async fn a_page_of_an_index_names_only_its_ids_and_counts_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let index: Table<(Uuid, Uuid), ()> = store.table("things_by_user").unwrap();
    let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
    for id in &ids {
        index.insert(&(user, *id), &()).unwrap();
        index.insert(&(other, Uuid::now_v7()), &()).unwrap();
    }
    assert_eq!(
        index_page(&index, user, 2, 3, false).unwrap(),
        (ids[2..5].to_vec(), 7)
    );
    let newest: Vec<Uuid> = ids.iter().rev().take(2).copied().collect();
    assert_eq!(index_page(&index, user, 0, 2, true).unwrap(), (newest, 7));
    assert_eq!(index_page(&index, user, 10, 2, true).unwrap(), (vec![], 7));
}
