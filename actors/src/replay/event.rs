//! A generation's events, typed ([`GenData`]) and serialized once into
//! the bytes every listener shares ([`GenEvent`]).

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ErrorKind;
use crate::llm::TokenUsage;

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
    pub(super) fn new(seq: u64, data: GenData) -> Self {
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
