use super::*;
use crate::store::{Durability, StoreConfig};

fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        path: dir.to_path_buf(),
        durability: Durability::Relaxed,
        cache_capacity: 8 << 20,
        flush_every_ms: 500,
    })
    .unwrap()
}

/// One create as the services do it: lock, check, write record and count.
fn create(
    store: &Store,
    count: &UserCount,
    index: &Table<(Uuid, Uuid), ()>,
    user: Uuid,
    max: u64,
) -> Result<(), CoreError> {
    let _guard = count.lock(user);
    let n = count.check(user, max, || index_len(index, user))?;
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
    let made: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| create(&store, &count, &index, user, 5).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .sum()
    });
    assert_eq!(made, 5);
    assert_eq!(index_len(&index, user).unwrap(), 5);
    assert_eq!(count.stored(user).unwrap(), Some(5));
    match create(&store, &count, &index, user, 5) {
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
    assert!(create(&store, &count, &index, user, 3).is_err());
    assert_eq!(count.stored(user).unwrap(), Some(3));
    assert!(create(&store, &count, &index, user, 4).is_ok());
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
