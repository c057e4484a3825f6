//! A generation's event stream: every event goes into a replay log with a
//! sequence number and out through a broadcast. Listeners read the log from
//! where they are, then follow live; a listener that lags re-reads the log,
//! so nobody misses an event and a slow listener never slows the model.

use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use futures::Stream;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::ErrorKind;
use crate::llm::TokenUsage;
use crate::usage::CallKind;

/// What happened in a generation, typed (API.md 4.1's SSE events).
#[derive(Debug, Clone, PartialEq)]
pub enum GenData {
    /// The generation began: which messages, provider and model.
    Start(Started),
    /// One piece of the answer, in order.
    Token(String),
    /// The answer is complete (and stored, in a conversation).
    Done(Box<Finished>),
    /// The generation was cancelled; the partial answer is kept. Sent as
    /// `done` with `"cancelled": true`.
    Cancelled(Box<Finished>),
    /// The generation failed; what was generated so far is kept as `failed`.
    Error(ErrorKind, String),
}

/// The `start` event's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Started {
    /// The assistant message being generated.
    pub message_id: Uuid,
    /// The user's message it answers (none for a stateless generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_message_id: Option<Uuid>,
    /// The provider that answers (the fallback's name once it took over).
    pub provider: String,
    /// The model that answers.
    pub model: String,
}

/// How a generation ended: the `done` event's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The assistant message.
    pub message_id: Uuid,
    /// The whole answer.
    pub full_response: String,
    /// Tokens used, as the provider reported them or estimated.
    pub usage: TokenUsage,
    /// The provider's reason (`stop`, `length`), or `cancelled`.
    pub finish_reason: String,
}

impl GenData {
    /// The SSE `event:` name (a WebSocket message's `chat.<name>`).
    pub fn name(&self) -> &'static str {
        match self {
            GenData::Start(_) => "start",
            GenData::Token(_) => "token",
            GenData::Done(_) | GenData::Cancelled(_) => "done",
            GenData::Error(..) => "error",
        }
    }

    /// `done` or `error`: nothing follows it.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            GenData::Done(_) | GenData::Cancelled(_) | GenData::Error(..)
        )
    }

    /// The JSON payload (the SSE `data:`).
    fn payload(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Token<'a> {
            token: &'a str,
        }
        #[derive(Serialize)]
        struct Done<'a> {
            message_id: Uuid,
            full_response: &'a str,
            usage: serde_json::Value,
            finish_reason: &'a str,
            cancelled: bool,
        }
        #[derive(Serialize)]
        struct Error<'a> {
            code: ErrorKind,
            message: &'a str,
        }
        fn done(f: &Finished, cancelled: bool) -> Done<'_> {
            Done {
                message_id: f.message_id,
                full_response: &f.full_response,
                usage: f.usage.to_json(),
                finish_reason: &f.finish_reason,
                cancelled,
            }
        }
        let json = match self {
            GenData::Start(started) => serde_json::to_vec(started),
            GenData::Token(token) => serde_json::to_vec(&Token { token }),
            GenData::Done(f) => serde_json::to_vec(&done(f, false)),
            GenData::Cancelled(f) => serde_json::to_vec(&done(f, true)),
            GenData::Error(code, message) => serde_json::to_vec(&Error {
                code: *code,
                message,
            }),
        };
        // Plain structs of strings and numbers always serialize.
        json.unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// One event of a generation with its sequence number, serialized once
/// when it is pushed: every listener (SSE responses, the WebSocket
/// forwarder) shares the same bytes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GenEvent(Arc<Frame>);

#[derive(Debug)]
struct Frame {
    seq: u64,
    data: GenData,
    payload: Bytes,
    sse: Bytes,
}

impl GenEvent {
    fn new(seq: u64, data: GenData) -> Self {
        let payload = Bytes::from(data.payload());
        let sse = sse_frame(data.name(), seq, &payload);
        GenEvent(Arc::new(Frame {
            seq,
            data,
            payload,
            sse,
        }))
    }

    /// 1-based position in the generation's stream (the SSE `id:`).
    pub fn seq(&self) -> u64 {
        self.0.seq
    }

    /// What happened.
    pub fn data(&self) -> &GenData {
        &self.0.data
    }

    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        self.0.data.name()
    }

    /// The JSON payload, serialized once.
    pub fn payload(&self) -> &Bytes {
        &self.0.payload
    }

    /// The whole SSE frame (`event:`, `id:`, `data:`), serialized once.
    pub fn sse(&self) -> Bytes {
        self.0.sse.clone()
    }

    /// `done` or `error`: nothing follows it.
    pub fn is_terminal(&self) -> bool {
        self.0.data.is_terminal()
    }
}

/// One SSE frame: `event: <name>`, `id: <seq>`, `data: <json>` (JSON has no
/// raw line breaks, so one `data:` line holds it).
pub fn sse_frame(name: &str, seq: u64, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + name.len() + 32);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\nid: ");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

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
    pub fn push(&self, data: GenData) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let event = GenEvent::new(log.len() as u64 + 1, data);
        log.push(event.clone());
        // No listener is no error: the generation goes on and is persisted.
        let _ = self.live.send(event.clone());
        event.seq()
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
                if event.seq() > self.last {
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
                self.pending = log
                    .iter()
                    .filter(|e| e.seq() > self.last)
                    .cloned()
                    .collect();
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
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
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
