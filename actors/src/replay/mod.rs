//! A generation's event stream: every event goes into a replay log with a
//! sequence number and out through a broadcast. Listeners read the log from
//! where they are, then follow live; a listener that lags re-reads the log,
//! so nobody misses an event and a slow listener never slows the model.

mod event;

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

use futures::Stream;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::ErrorKind;
use crate::usage::CallKind;
pub use event::{Finished, GenData, GenEvent, Started, sse_frame};

/// Events the live broadcast holds for a listener that has not read them.
const LIVE_CAPACITY: usize = 64;

/// How a generation's first moments went: what a request waits for before
/// it commits to a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    /// Neither a first token nor a failure yet.
    Pending,
    /// The provider produced its first token (or finished).
    Streaming,
    /// It failed before the first token.
    Failed {
        /// What kind of failure (its code and status).
        kind: ErrorKind,
        /// Safe to show the client.
        message: String,
        /// The provider's HTTP status, if it answered one.
        upstream_status: Option<u16>,
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
    /// What its query log records it as.
    pub kind: CallKind,
    /// Cancelled to stop it; the task then keeps what was generated and ends with `done`.
    pub cancel: CancellationToken,
    log: Mutex<Vec<GenEvent>>,
    live: broadcast::Sender<GenEvent>,
    opening: watch::Sender<Opening>,
    /// Woken once, by the terminal event: what [`Generation::finished`]
    /// waits on, so a waiter for the whole answer is not woken per token.
    ended: tokio::sync::Notify,
    upstream: Mutex<Upstream>,
}

/// When the provider call of a generation started and ended (the
/// `upstream` and `queue` of an answer's `Server-Timing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upstream {
    /// The provider call was made (the first, if a fallback took over).
    pub started: Option<Instant>,
    /// The provider's answer ended (its last delta, or its failure).
    pub ended: Option<Instant>,
}

impl Generation {
    /// A conversation chat's generation (usage kind `chat`), not yet opened.
    pub fn new(
        message_id: Uuid,
        user_message_id: Uuid,
        conversation_id: Option<Uuid>,
    ) -> Arc<Self> {
        Self::with_kind(message_id, user_message_id, conversation_id, CallKind::Chat)
    }

    /// A generation whose usage is recorded as `kind`.
    pub fn with_kind(
        message_id: Uuid,
        user_message_id: Uuid,
        conversation_id: Option<Uuid>,
        kind: CallKind,
    ) -> Arc<Self> {
        // A listener more than this far behind re-reads the log; each slot
        // is allocated (and zeroed) with every generation.
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Arc::new(Self {
            message_id,
            user_message_id,
            conversation_id,
            kind,
            cancel: CancellationToken::new(),
            log: Mutex::new(Vec::with_capacity(64)),
            live,
            opening: watch::channel(Opening::Pending).0,
            ended: tokio::sync::Notify::new(),
            upstream: Mutex::new(Upstream::default()),
        })
    }

    /// Notes that the provider call starts now.
    pub fn upstream_started(&self) {
        self.upstream_mut().started = Some(Instant::now());
    }

    /// Notes that the provider's answer ended now.
    pub fn upstream_ended(&self) {
        self.upstream_mut().ended = Some(Instant::now());
    }

    /// When the provider call started and ended, so far.
    pub fn upstream(&self) -> Upstream {
        *self.upstream_mut()
    }

    fn upstream_mut(&self) -> std::sync::MutexGuard<'_, Upstream> {
        self.upstream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event to the log and tells every live listener.
    pub fn push(&self, data: GenData) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let event = GenEvent::new(log.len() as u64 + 1, data);
        log.push(event.clone());
        // No listener is no error: the generation goes on and is persisted.
        let terminal = event.is_terminal();
        let seq = event.seq();
        let _ = self.live.send(event);
        drop(log);
        if terminal {
            self.ended.notify_waiters();
        }
        seq
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

    /// Whether any event (its `start`) has been pushed: a chat refused
    /// before it started has none.
    pub fn started(&self) -> bool {
        self.log.lock().map(|log| !log.is_empty()).unwrap_or(true)
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
            let backlog: Vec<GenEvent> = log.iter().filter(|e| e.seq() > after).cloned().collect();
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

    /// Waits for the terminal event (`done`, `cancelled` or `error`) and
    /// answers it. Woken once, when it is pushed, not per token.
    pub async fn finished(&self) -> Option<GenEvent> {
        loop {
            let ended = self.ended.notified();
            let mut ended = std::pin::pin!(ended);
            // Registered before the log is read: a terminal event pushed
            // in between wakes it.
            ended.as_mut().enable();
            if let Some(end) = self.terminal() {
                return Some(end);
            }
            ended.await;
        }
    }

    /// The terminal event, if it has been pushed.
    fn terminal(&self) -> Option<GenEvent> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.last().filter(|e| e.is_terminal()).cloned()
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
                if event.seq() > self.last {
                    return Some(self.hand_out(event));
                }
                continue;
            }
            if self.generation.is_finished() {
                // Everything is in the log: hand out what is left after
                // `last`, or end (a client resuming at or past the end).
                self.reread();
                if self.pending.is_empty() {
                    return None;
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(event) if event.seq() > self.last => return Some(self.hand_out(event)),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the broadcast: catch up from the log.
                    self.reread();
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Takes every logged event after `last` as the pending ones.
    fn reread(&mut self) {
        let log = self
            .generation
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.pending = log
            .iter()
            .filter(|e| e.seq() > self.last)
            .cloned()
            .collect();
    }

    fn hand_out(&mut self, event: GenEvent) -> GenEvent {
        self.last = event.seq();
        self.done = event.is_terminal();
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::TokenUsage;
    use futures::StreamExt;

    fn generation() -> Arc<Generation> {
        Generation::new(Uuid::now_v7(), Uuid::now_v7(), None)
    }

    fn done() -> GenData {
        GenData::Done(Box::new(Finished {
            message_id: Uuid::nil(),
            full_response: "x".into(),
            usage: TokenUsage::default(),
            finish_reason: "stop".into(),
        }))
    }

    #[test]
    fn an_event_is_serialized_once_into_its_sse_frame() {
        let g = generation();
        g.push(GenData::Token("a \"quoted\"\nline".into()));
        g.push(GenData::Error(ErrorKind::GatewayTimeout, "slow".into()));
        let events = g.events();
        assert_eq!(
            &events[0].sse()[..],
            b"event: token\nid: 1\ndata: {\"token\":\"a \\\"quoted\\\"\\nline\"}\n\n"
        );
        let code = ErrorKind::GatewayTimeout.code();
        assert_eq!(
            &events[1].payload()[..],
            format!(r#"{{"code":"{code}","message":"slow"}}"#).as_bytes()
        );
        assert!(events[1].is_terminal());
        // Clones share the frame: nothing is serialized per listener.
        assert_eq!(events[0].sse().as_ptr(), g.events()[0].sse().as_ptr());
    }

    #[tokio::test]
    async fn a_late_listener_replays_then_follows_live() {
        let g = generation();
        g.push(GenData::Token("a".into()));
        g.push(GenData::Token("b".into()));
        let listener = g.listen(0);
        let g2 = g.clone();
        let producer = tokio::spawn(async move {
            for t in ["c", "d"] {
                g2.push(GenData::Token(t.into()));
                tokio::task::yield_now().await;
            }
            g2.push(done());
        });
        let seqs: Vec<u64> = listener.map(|e| e.seq()).collect().await;
        producer.await.unwrap();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn resuming_after_a_seq_gives_every_later_event_once() {
        let g = generation();
        for i in 0..10 {
            g.push(GenData::Token(i.to_string()));
        }
        g.push(done());
        let seqs: Vec<u64> = g.listen(4).map(|e| e.seq()).collect().await;
        assert_eq!(seqs, (5..=11).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_lagging_listener_rereads_the_log_and_misses_nothing() {
        let g = generation();
        let listener = g.listen(0);
        // Far more than the broadcast holds, before the listener reads anything.
        for i in 0..2000 {
            g.push(GenData::Token(i.to_string()));
        }
        g.push(done());
        let seqs: Vec<u64> = listener.map(|e| e.seq()).collect().await;
        assert_eq!(seqs, (1..=2001).collect::<Vec<_>>());
    }
}
