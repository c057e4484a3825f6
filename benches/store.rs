//! Durable appends per second through the store, with 1, 8 and 64
//! concurrent writers, under `sync` (group commit) and `relaxed`.
//!
//! Run: `cargo bench --bench store` (CHORUS_BENCH_SECS sets the seconds per cell, default 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chorus_actors::store::{Durability, Store, StoreConfig, Table, TableRef};
use hdrhistogram::Histogram;

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    owner: uuid::Uuid,
    body: String,
    at: i64,
}

struct Cell {
    rate: f64,
    p50_us: u64,
    p99_us: u64,
}

/// How each append writes.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// One insert, then commit.
    One,
    /// A record and an index entry as two inserts, then commit.
    Two,
    /// The same two in one sled transaction (which commits).
    Transaction,
}

async fn run(durability: Durability, writers: usize, secs: u64, shape: Shape) -> Cell {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig {
        path: dir.path().to_path_buf(),
        durability,
        cache_capacity: 256 << 20,
        flush_every_ms: 500,
    })
    .unwrap();
    let table: Table<(uuid::Uuid, uuid::Uuid), Record> = store.table("messages").unwrap();
    let index: Table<(uuid::Uuid, uuid::Uuid), u64> = store.table("index").unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (store, table, index, done) =
                (store.clone(), table.clone(), index.clone(), done.clone());
            tokio::spawn(async move {
                let owner = uuid::Uuid::now_v7();
                let mut hist = Histogram::<u64>::new(3).unwrap();
                while Instant::now() < stop_at {
                    let t = Instant::now();
                    let record = Record {
                        owner,
                        body: "a message of a typical length, around a hundred bytes or so, as chat messages go".into(),
                        at: 0,
                    };
                    let key = (owner, uuid::Uuid::now_v7());
                    match shape {
                        Shape::One | Shape::Two => {
                            table.insert(&key, &record).unwrap();
                            if shape == Shape::Two {
                                index.insert(&key, &1).unwrap();
                            }
                            store.commit().await.unwrap();
                        }
                        Shape::Transaction => {
                            let tables: [&dyn TableRef; 2] = [&table, &index];
                            store
                                .transaction(&tables, |tx| {
                                    tx.insert(&table, &key, &record)?;
                                    tx.insert(&index, &key, &1)
                                })
                                .await
                                .unwrap();
                        }
                    }
                    hist.record(t.elapsed().as_micros() as u64).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
                hist
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        all.add(t.await.unwrap()).unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    Cell {
        rate: done.load(Ordering::Relaxed) as f64 / elapsed,
        p50_us: all.value_at_quantile(0.5),
        p99_us: all.value_at_quantile(0.99),
    }
}

fn main() {
    let secs: u64 = std::env::var("CHORUS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("store bench: durable appends (insert + commit), {secs} s per cell");
    println!(
        "{:<9} {:>8} {:>14} {:>10} {:>10}",
        "durability", "writers", "appends/s", "p50 us", "p99 us"
    );
    let mut sync_rates = Vec::new();
    for durability in [Durability::Sync, Durability::Relaxed] {
        for writers in [1, 8, 64] {
            let cell = rt.block_on(run(durability, writers, secs, Shape::One));
            println!(
                "{:<9} {:>8} {:>14.0} {:>10} {:>10}",
                format!("{durability:?}").to_lowercase(),
                writers,
                cell.rate,
                cell.p50_us,
                cell.p99_us
            );
            if durability == Durability::Sync {
                sync_rates.push(cell.rate);
            }
        }
    }
    // Why hot paths avoid sled transactions: the same record + index entry.
    // (Last: once a transaction has run, sled guards every operation.)
    for (shape, label) in [
        (Shape::Two, "two inserts"),
        (Shape::Transaction, "one transaction"),
    ] {
        let cell = rt.block_on(run(Durability::Sync, 64, secs, shape));
        println!(
            "{:<9} {:>8} {:>14.0} {:>10} {:>10}   record + index as {label}",
            "sync", 64, cell.rate, cell.p50_us, cell.p99_us
        );
    }
    let gain = sync_rates[2] / sync_rates[0];
    println!(
        "group commit: sync with 64 writers = {gain:.1}x sync with 1 writer (target >= 10x): {}",
        if gain >= 10.0 { "PASS" } else { "FAIL" }
    );
}
