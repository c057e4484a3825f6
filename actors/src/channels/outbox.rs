//! A connection's bounded outbound queue. Publishers `try_send` into it and
//! never wait; a full queue closes that one connection as a slow consumer.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Close code and reason for a client that let its queue fill.
pub const SLOW_CONSUMER: (u16, &str) = (1008, "slow consumer");

/// Why and how a connection is being closed: set once, seen by its writer.
#[derive(Debug, Default)]
pub struct CloseSignal {
    token: CancellationToken,
    reason: OnceLock<(u16, &'static str)>,
}

impl CloseSignal {
    /// Asks the writer to close with `code` and `reason`; the first call wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.token.cancel();
    }

    /// Whether closing was asked for; the socket may still be open while its writer finishes.
    pub fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once [`CloseSignal::close`] was called.
    pub async fn closed(&self) {
        self.token.cancelled().await;
    }

    /// The close code and reason, if closing.
    pub fn reason(&self) -> Option<(u16, &'static str)> {
        self.reason.get().copied()
    }
}

/// The sending side of one connection's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The connection this queue belongs to.
    pub conn: u64,
    tx: mpsc::Sender<Bytes>,
    close: Arc<CloseSignal>,
}

/// The receiving side, owned by the connection's writer task.
pub struct OutboxRx {
    /// The queued frames, each one JSON text frame, in order.
    pub frames: mpsc::Receiver<Bytes>,
    /// Set when the connection must close; the writer then sends the close frame.
    pub close: Arc<CloseSignal>,
}

impl Outbox {
    /// A queue of `capacity` frames for connection `conn`.
    pub fn new(conn: u64, capacity: usize) -> (Outbox, OutboxRx) {
        Self::with_close(conn, capacity, Arc::new(CloseSignal::default()))
    }

    /// [`Outbox::new`] closed through an existing `close` signal (the one
    /// revocation and expiry use).
    pub fn with_close(conn: u64, capacity: usize, close: Arc<CloseSignal>) -> (Outbox, OutboxRx) {
        let (tx, frames) = mpsc::channel(capacity.max(1));
        let outbox = Outbox {
            conn,
            tx,
            close: close.clone(),
        };
        (outbox, OutboxRx { frames, close })
    }

    /// Queues one frame (a JSON text). False if the connection is closing;
    /// a full queue starts closing it with 1008.
    pub fn push(&self, frame: Bytes) -> bool {
        if self.close.is_closed() {
            return false;
        }
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("chorus_ws_slow_consumers_total").increment(1);
                self.close.close(SLOW_CONSUMER.0, SLOW_CONSUMER.1);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the connection's writer to close with `code`.
    pub fn close(&self, code: u16, reason: &'static str) {
        self.close.close(code, reason);
    }

    /// Whether the connection is closing: new frames are dropped.
    pub fn is_closed(&self) -> bool {
        self.close.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_closes_the_connection_as_a_slow_consumer() {
        let (outbox, rx) = Outbox::new(1, 2);
        assert!(outbox.push(Bytes::from_static(b"{}")));
        assert!(outbox.push(Bytes::from_static(b"{}")));
        assert!(!outbox.push(Bytes::from_static(b"{}")));
        assert_eq!(rx.close.reason(), Some(SLOW_CONSUMER));
        // Closing: nothing more is queued.
        assert!(!outbox.push(Bytes::from_static(b"{}")));
        assert_eq!(rx.frames.len(), 2);
    }
}
