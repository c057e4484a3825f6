//! Unit tests of the store: durability, transactions, scans, schema, probe, crash marker.

use super::*;

fn config(dir: &Path, durability: Durability) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        durability,
        cache_capacity: 16 << 20,
        flush_every_ms: 500,
    }
}

#[tokio::test]
async fn a_committed_record_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&config(dir.path(), Durability::Sync)).unwrap();
        let t: Table<u64, String> = store.table("things").unwrap();
        t.insert(&1, &"one".to_string()).unwrap();
        store.commit().await.unwrap();
    }
    // sled releases its lock when the last handle is dropped; the flusher holds one.
    let store = wait_open(dir.path()).await;
    let t: Table<u64, String> = store.table("things").unwrap();
    assert_eq!(t.get(&1).unwrap().as_deref(), Some("one"));
}

async fn wait_open(dir: &Path) -> Store {
    try_open(dir).await.expect("store did not reopen")
}

/// Opens the store once the previous handle's background threads have let
/// go of sled's file lock (an I/O error until then).
async fn try_open(dir: &Path) -> Result<Store, StoreError> {
    let mut result = Store::open(&config(dir, Durability::Sync));
    for _ in 0..300 {
        match &result {
            Err(StoreError::Io(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                result = Store::open(&config(dir, Durability::Sync));
            }
            _ => break,
        }
    }
    result
}

#[tokio::test]
async fn a_transaction_writes_record_and_index_or_neither() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path(), Durability::Sync)).unwrap();
    let users: Table<u64, String> = store.table("users").unwrap();
    let by_email: Table<str, u64> = store.table("users_by_email").unwrap();

    let insert = |id: u64, email: &'static str| {
        let (users, by_email) = (users.clone(), by_email.clone());
        let store = store.clone();
        async move {
            store
                .transaction(&[&users, &by_email], |tx| {
                    if tx.get(&by_email, email)?.is_some() {
                        return Tx::abort(StoreError::Conflict("email taken".into()));
                    }
                    tx.insert(&users, &id, &email.to_string())?;
                    tx.insert(&by_email, email, &id)?;
                    Ok(id)
                })
                .await
        }
    };
    assert_eq!(insert(1, "a@x.io").await.unwrap(), 1);
    let dup = insert(2, "a@x.io").await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert!(
        users.get(&2).unwrap().is_none(),
        "aborted record must not exist"
    );
    assert_eq!(by_email.get("a@x.io").unwrap(), Some(1));
}

#[tokio::test]
async fn prefix_scans_return_one_owner_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path(), Durability::Relaxed)).unwrap();
    let t: Table<(u64, u64), u64> = store.table("msgs").unwrap();
    for owner in [1u64, 2] {
        for seq in [3u64, 1, 2] {
            t.insert(&(owner, seq), &(owner * 10 + seq)).unwrap();
        }
    }
    let got: Vec<u64> = t.scan_prefix(&1u64).map(|r| r.unwrap().1).collect();
    assert_eq!(got, vec![11, 12, 13]);
    assert_eq!(t.remove_prefix(&1u64).unwrap(), 3);
    assert_eq!(t.scan_prefix(&1u64).count(), 0);
    assert_eq!(t.scan_prefix(&2u64).count(), 3);
}

#[tokio::test]
async fn a_data_dir_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = try_open(dir.path()).await.err();
    assert!(
        matches!(err, Some(StoreError::SchemaTooNew { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_ready_probe_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path(), Durability::Sync)).unwrap();
    store.probe().await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_store_left_open_by_a_crash_is_known_as_such_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&config(dir.path(), Durability::Sync)).unwrap();
        assert!(
            !store.opened_after_crash(),
            "a new store had no previous run"
        );
        // Dropped without close: what a kill leaves behind.
    }
    {
        let store = wait_open(dir.path()).await;
        assert!(store.opened_after_crash());
        store.close().await.unwrap();
    }
    let store = wait_open(dir.path()).await;
    assert!(
        !store.opened_after_crash(),
        "a clean close was taken for a crash"
    );
}

#[tokio::test]
async fn a_version_1_data_dir_opens_and_its_records_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let id = 42u64;
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", &1u32.to_be_bytes()).unwrap();
        // A record as version 1 wrote it: its version byte, then bincode.
        let mut record = vec![1u8];
        record.extend(bincode::serialize(&(7u64, "seven".to_string())).unwrap());
        db.open_tree("old")
            .unwrap()
            .insert(id.to_key(), record)
            .unwrap();
        db.flush().unwrap();
    }
    let store = try_open(dir.path()).await.unwrap();
    let old: Table<u64, (u64, String, Option<u64>)> = store.table("old").unwrap();
    assert_eq!(old.get(&id).unwrap(), Some((7, "seven".into(), None)));
    let meta = store.inner.db.open_tree("meta").unwrap();
    let found = meta.get("schema_version").unwrap();
    assert_eq!(found.as_deref(), Some(&SCHEMA_VERSION.to_be_bytes()[..]));
    store.close().await.unwrap();
}
