//! The same-run baseline of the performance targets: a bare axum 0.8 server
//! with a `GET /live` answering JSON and a `POST /append` that inserts the
//! body into sled and waits for a one-flusher group commit. No auth, no
//! validation, no ids, no records: what the hardware and the crates give
//! before chorus does any work of its own.
//!
//! It runs as its own process (the bench executable started again with
//! `CHORUS_BENCH_BARE_DIR` set), so its CPU time is read apart from the
//! load generator's and the server's. Every bench that uses it calls
//! [`serve_if_asked`] first thing in `main`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

const DIR_VAR: &str = "CHORUS_BENCH_BARE_DIR";

/// The bare server started as a child process. Killed when dropped.
pub struct Bare {
    pub child: std::process::Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bare {
    /// Starts the bare server on 127.0.0.1:0 with a fresh sled dir.
    pub fn start() -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env(DIR_VAR, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the bare server did not start")
            .to_string();
        Self {
            child,
            base: format!("http://{addr}"),
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// In the child process: serves the bare server forever. In the bench
/// itself: returns at once.
pub fn serve_if_asked() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .open()
            .unwrap();
        let commit = start_flusher(db.clone());
        let next = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .route(
                "/live",
                get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/append",
                post(move |body: Bytes| {
                    let (db, commit, next) = (db.clone(), commit.clone(), next.clone());
                    async move {
                        let key = next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
                        db.insert(key, body.as_ref()).unwrap();
                        let (tx, rx) = oneshot::channel();
                        commit.send(tx).unwrap();
                        rx.await.unwrap();
                        StatusCode::CREATED
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
    std::process::exit(0);
}

/// One thread flushes for every writer waiting: the group commit.
fn start_flusher(db: sled::Db) -> mpsc::UnboundedSender<oneshot::Sender<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    std::thread::spawn(move || {
        while let Some(first) = rx.blocking_recv() {
            let mut waiters = vec![first];
            while let Ok(w) = rx.try_recv() {
                waiters.push(w);
            }
            db.flush().unwrap();
            for w in waiters {
                let _ = w.send(());
            }
        }
    });
    tx
}
