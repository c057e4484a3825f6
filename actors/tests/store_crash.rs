//! Crash test: a writer process is SIGKILLed at a random moment; every write
//! it had reported as acknowledged must be there when the store reopens.
//!
//! The writer is this same test binary, re-run with an environment variable
//! that turns `crash_child_writer` into the writer loop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chorus_actors::store::{Durability, Store, StoreConfig, Table};
use rand::Rng;

const CHILD_DIR: &str = "CHORUS_CRASH_CHILD_DIR";
const WRITERS: u64 = 8;
const ROUNDS: usize = 20;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        durability: Durability::Sync,
        cache_capacity: 16 << 20,
        flush_every_ms: 500,
    }
}

/// The writer: a no-op unless started by `acknowledged_writes_survive_kill_9`.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = Store::open(&config(Path::new(&dir))).unwrap();
        let table: Table<(u64, u64), u64> = store.table("acks").unwrap();
        let writers = (0..WRITERS).map(|w| {
            let (store, table) = (store.clone(), table.clone());
            tokio::spawn(async move {
                for seq in 0u64.. {
                    table.insert(&(w, seq), &(w ^ seq)).unwrap();
                    store.commit().await.unwrap();
                    // Only now is the write acknowledged.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {w} {seq}").unwrap();
                    out.flush().unwrap();
                }
            })
        });
        futures::future::join_all(writers).await;
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::rng();
    let mut total = 0;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let acked = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn({
            let acked = acked.clone();
            move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut parts = line
                        .strip_prefix("ACK ")
                        .into_iter()
                        .flat_map(|l| l.split(' '));
                    if let (Some(w), Some(s)) = (parts.next(), parts.next()) {
                        acked
                            .lock()
                            .unwrap()
                            .push((w.parse().unwrap(), s.parse().unwrap()));
                    }
                }
            }
        });

        // Kill at a random point: after a random number of acknowledged writes.
        let kill_after = rng.random_range(1..3000);
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < kill_after {
            assert!(Instant::now() < deadline, "writer made no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap(); // every line written before the kill

        let acked = acked.lock().unwrap().clone();
        rt.block_on(async {
            let store = Store::open(&config(dir.path())).unwrap();
            let table: Table<(u64, u64), u64> = store.table("acks").unwrap();
            for (w, seq) in &acked {
                assert_eq!(
                    table.get(&(*w, *seq)).unwrap(),
                    Some(w ^ seq),
                    "round {round}: acknowledged write ({w}, {seq}) lost"
                );
            }
        });
        total += acked.len();
    }
    println!("{ROUNDS} kills, {total} acknowledged writes, none lost");
}
