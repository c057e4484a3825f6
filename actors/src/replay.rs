//! A generation's event stream: every event goes into a replay log with a
//! sequence number and out through a broadcast. Listeners read the log from
//! where they are, then follow live; a listener that lags re-reads the log,
//! so nobody misses an event and a slow listener never slows the model.

use std::sync::Arc;
use std::sync::Mutex;

use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One event, serialized once for every listener.
#[derive(Debug, Clone)]
pub struct GenEvent {
    /// 1-based position in the generation's stream (the SSE `id:`).
    pub seq: u64,
    /// `start`, `token`, `done` or `error` (the SSE `event:`).
    pub name: &'static str,
    /// The JSON payload (the SSE `data:`).
    pub data: Arc<str>,
}

impl GenEvent {
    /// Whether this event ends the stream (`done` or `error`).
    pub fn is_terminal(&self) -> bool {
        matches!(self.name, "done" | "error")
    }
}

/// How a generation's first moments went: what a request waits for before
/// it commits to a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    /// Neither a first token nor a failure yet.
    Pending,
    /// The provider produced its first token (or finished).
    Streaming,
    /// It failed before the first token: code, message, upstream status.
    Failed {
        /// The API.md error code, e.g. `EXTERNAL_SERVICE_ERROR` or `GATEWAY_TIMEOUT`.
        code: &'static str,
        /// Client-safe text of the failure.
        message: String,
        /// The provider's HTTP status, when the failure was one (for the error's `details`).
        upstream_status: Option<u16>,
        /// Whether the provider stopped answering, rather than answering badly.
        timeout: bool,
    },
}

/// One generation, running or finished: its replay log, live broadcast, cancel switch and opening.
pub struct Generation {
    /// The id of the assistant message being generated.
    pub message_id: Uuid,
    /// The id of the user's message that asked for it; nil for stateless completions.
    pub user_message_id: Uuid,
    /// The conversation it answers in; `None` for stateless completions, which store nothing.
    pub conversation_id: Option<Uuid>,
    /// The usage kind of a stateless generation: `completion` or `openai`.
    pub kind: &'static str,
    /// Cancelled to stop it; the task then keeps what was generated and ends with `done`.
    pub cancel: CancellationToken,
    log: Mutex<Vec<GenEvent>>,
    live: broadcast::Sender<GenEvent>,
    opening: watch::Sender<Opening>,
}

impl Generation {
    /// A conversation chat's generation (usage kind `chat`), not yet opened.
    pub fn new(
        message_id: Uuid,
        user_message_id: Uuid,
        conversation_id: Option<Uuid>,
    ) -> Arc<Self> {
        Self::with_kind(message_id, user_message_id, conversation_id, "chat")
    }

    /// A generation whose usage is recorded as `kind`.
    pub fn with_kind(
        message_id: Uuid,
        user_message_id: Uuid,
        conversation_id: Option<Uuid>,
        kind: &'static str,
    ) -> Arc<Self> {
        let (live, _) = broadcast::channel(256);
        Arc::new(Self {
            message_id,
            user_message_id,
            conversation_id,
            kind,
            cancel: CancellationToken::new(),
            log: Mutex::new(Vec::with_capacity(64)),
            live,
            opening: watch::channel(Opening::Pending).0,
        })
    }

    /// Appends an event to the log and tells every live listener.
    pub fn push(&self, name: &'static str, data: Value) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let event = GenEvent {
            seq: log.len() as u64 + 1,
            name,
            data: Arc::from(data.to_string()),
        };
        log.push(event.clone());
        // No listener is no error: the generation goes on and is persisted.
        let _ = self.live.send(event.clone());
        event.seq
    }

    /// Marks the first token (or an early failure); wakes whoever waits in [`Generation::opened`].
    pub fn set_opening(&self, opening: Opening) {
        self.opening.send_if_modified(|current| {
            if *current == Opening::Pending {
                *current = opening;
                true
            } else {
                false
            }
        });
    }

    /// Waits until the generation streams or has failed before streaming.
    pub async fn opened(&self) -> Opening {
        let mut rx = self.opening.subscribe();
        match rx.wait_for(|o| *o != Opening::Pending).await {
            Ok(o) => o.clone(),
            Err(_) => Opening::Streaming,
        }
    }

    /// Whether the terminal event has been pushed.
    pub fn is_finished(&self) -> bool {
        self.log
            .lock()
            .map(|log| log.last().is_some_and(GenEvent::is_terminal))
            .unwrap_or(true)
    }

    /// Every event after `after`, then the live ones, ending after the
    /// terminal event.
    pub fn listen(self: &Arc<Self>, after: u64) -> impl Stream<Item = GenEvent> + Send + 'static {
        let generation = self.clone();
        let (backlog, rx) = {
            let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            // Subscribing under the log lock: nothing pushed in between is missed.
            let rx = self.live.subscribe();
            let backlog: Vec<GenEvent> = log.iter().filter(|e| e.seq > after).cloned().collect();
            (backlog, rx)
        };
        let state = Listener {
            generation,
            pending: backlog.into(),
            rx,
            last: after,
            done: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            let event = s.next().await?;
            Some((event, s))
        })
    }

    /// Waits for the terminal event (`done` or `error`) and answers it.
    pub async fn finished(self: &Arc<Self>) -> Option<GenEvent> {
        use futures::StreamExt;
        let mut events = std::pin::pin!(self.listen(0));
        while let Some(event) = events.next().await {
            if event.is_terminal() {
                return Some(event);
            }
        }
        None
    }

    /// Every event logged so far (for tests and non-streamed answers).
    pub fn events(&self) -> Vec<GenEvent> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

struct Listener {
    generation: Arc<Generation>,
    pending: std::collections::VecDeque<GenEvent>,
    rx: broadcast::Receiver<GenEvent>,
    /// The last seq handed out: events at or below it are never repeated.
    last: u64,
    done: bool,
}

impl Listener {
    async fn next(&mut self) -> Option<GenEvent> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                if event.seq > self.last {
                    return Some(self.hand_out(event));
                }
                continue;
            }
            if self.generation.is_finished() {
                // Everything is in the log: hand out what is left after
                // `last`, or end (a client resuming at or past the end).
                let log = self
                    .generation
                    .log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                self.pending = log.iter().filter(|e| e.seq > self.last).cloned().collect();
                if self.pending.is_empty() {
                    return None;
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(event) if event.seq > self.last => return Some(self.hand_out(event)),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the broadcast: catch up from the log.
                    let log = self
                        .generation
                        .log
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    self.pending = log.iter().filter(|e| e.seq > self.last).cloned().collect();
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    fn hand_out(&mut self, event: GenEvent) -> GenEvent {
        self.last = event.seq;
        self.done = event.is_terminal();
        event
    }
}

/// The payload of a `token` event.
pub fn token_event(token: &str) -> Value {
    json!({ "token": token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn generation() -> Arc<Generation> {
        Generation::new(Uuid::now_v7(), Uuid::now_v7(), None)
    }

    #[tokio::test]
    async fn a_late_listener_replays_then_follows_live() {
        let g = generation();
        g.push("start", json!({}));
        g.push("token", token_event("a"));
        let listener = g.listen(0);
        let g2 = g.clone();
        let producer = tokio::spawn(async move {
            for t in ["b", "c"] {
                g2.push("token", token_event(t));
                tokio::task::yield_now().await;
            }
            g2.push("done", json!({}));
        });
        let seqs: Vec<u64> = listener.map(|e| e.seq).collect().await;
        producer.await.unwrap();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn resuming_after_a_seq_gives_every_later_event_once() {
        let g = generation();
        for i in 0..10 {
            g.push("token", token_event(&i.to_string()));
        }
        g.push("done", json!({}));
        let seqs: Vec<u64> = g.listen(4).map(|e| e.seq).collect().await;
        assert_eq!(seqs, (5..=11).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_lagging_listener_rereads_the_log_and_misses_nothing() {
        let g = generation();
        let listener = g.listen(0);
        // Far more than the broadcast holds, before the listener reads anything.
        for i in 0..2000 {
            g.push("token", token_event(&i.to_string()));
        }
        g.push("done", json!({}));
        let seqs: Vec<u64> = listener.map(|e| e.seq).collect().await;
        assert_eq!(seqs, (1..=2001).collect::<Vec<_>>());
    }
}
