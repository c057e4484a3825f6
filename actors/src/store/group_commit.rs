//! Group commit: one flusher task makes every queued write durable with a
//! single `flush`, then wakes all of its waiters.
//!
//! Only this task ever flushes the database: concurrent `flush_async` calls
//! deadlock in sled 0.34 (sled issue #1308), and one flush per batch is what
//! lets durable throughput grow with the number of writers.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// A handle to the flusher task. Cloning it is cheap; the task ends when the
/// last handle is dropped.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the flusher on the current tokio runtime.
    pub(crate) fn start(db: sled::Db) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_flusher(Arc::new(db), rx));
        Self { queue }
    }

    /// Resolves once everything written before the call is on disk.
    pub(crate) async fn wait_durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(tx).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run_flusher(db: Arc<sled::Db>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, 4096).await > 0 {
        let db = db.clone();
        // `flush` blocks on the disk; keep it off the async workers.
        let result = tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Io(e.to_string()))
            .and_then(|r| r.map(drop).map_err(StoreError::from));
        metrics::histogram!("chorus_store_commit_batch").record(batch.len() as f64);
        for waiter in batch.drain(..) {
            // A waiter that gave up (its request was dropped) is no error.
            let _ = waiter.send(result.clone());
        }
    }
}
