//! Group commit: one flusher thread makes every queued write durable with a
//! single `flush`, then wakes all of its waiters.
//!
//! Under `sync`, once the store is open, only this thread flushes the
//! database (sled's own periodic flush is off; `Store::open` flushes
//! itself, before any writer exists): concurrent `flush_async` calls
//! deadlock in sled 0.34 (sled issue #1308), and one flush per batch is
//! what lets durable throughput grow with the number of writers. Under
//! `relaxed`, sled's periodic flush runs too, and this thread serves only
//! `close`.
//!
//! The flusher is a dedicated OS thread, not a task on tokio's blocking
//! pool: that pool also runs password hashing and other CPU work, and a
//! commit must never wait in line behind it (every durable write, login
//! and readiness check waits on this flush).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// Waiters served by one flush at most (the rest go in the next batch).
const MAX_BATCH: usize = 4096;

/// A handle to the flusher thread. Cloning it is cheap; the thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the flusher on its own thread.
    pub(crate) fn start(db: sled::Db) -> Result<Self, StoreError> {
        let (queue, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("chorus-flusher".into())
            .spawn(move || run_flusher(Arc::new(db), rx))
            .map_err(|e| StoreError::Io(format!("cannot start the flusher thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Resolves once everything written before the call is on disk.
    /// Traced (while traces are exported) as a `store.commit` span: the
    /// wait for the flush that makes this writer's batch durable.
    pub(crate) async fn wait_durable(&self) -> Result<(), StoreError> {
        let span = tracing::info_span!(
            target: crate::trace_context::TARGET,
            "store.commit",
            db.system.name = "sled",
        );
        let (tx, rx) = oneshot::channel();
        self.queue.send(tx).map_err(|_| StoreError::Closed)?;
        rx.instrument(span).await.map_err(|_| StoreError::Closed)?
    }
}

/// Blocks on the queue, flushes once per batch of waiters, until every
/// handle is gone.
fn run_flusher(db: Arc<sled::Db>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut batch = Vec::with_capacity(64);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(waiter) => batch.push(waiter),
                Err(_) => break,
            }
        }
        let result = db.flush().map(drop).map_err(StoreError::from);
        metrics::histogram!("chorus_store_commit_batch").record(batch.len() as f64);
        for waiter in batch.drain(..) {
            // A waiter that gave up (its request was dropped) is no error.
            let _ = waiter.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Every blocking thread of the runtime is busy (as when logins
    /// saturate password hashing): a commit must still become durable.
    #[test]
    fn a_flush_is_not_starved_while_the_blocking_pool_is_saturated() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let commits = GroupCommit::start(db.clone()).unwrap();
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (started, running) = oneshot::channel();
            // Occupies the only blocking thread until the test lets go.
            let hog = tokio::task::spawn_blocking(move || {
                let _ = started.send(());
                let _ = held.recv_timeout(Duration::from_secs(30));
            });
            running.await.unwrap();
            db.insert("k", "v").unwrap();
            let flushed =
                tokio::time::timeout(Duration::from_secs(10), commits.wait_durable()).await;
            release.send(()).unwrap();
            hog.await.unwrap();
            assert!(
                matches!(flushed, Ok(Ok(()))),
                "the commit waited behind the blocking pool"
            );
        });
    }
}
