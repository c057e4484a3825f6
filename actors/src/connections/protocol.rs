//! The client -> server messages of the WebSocket protocol (API.md 6).

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{CoreError, ErrorKind};

/// One message a client sent, with the `ref` it wants echoed.
#[derive(Debug)]
pub struct Incoming {
    /// The frame's `ref` value, any JSON, echoed on the reply or error; `None` if absent.
    pub reference: Option<Value>,
    /// What the client asked for.
    pub msg: ClientMsg,
}

/// A client -> server WebSocket message, told apart by its `type` (API.md 6).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Join a channel, first replaying kept messages after `since`.
    Subscribe {
        /// The channel name, e.g. `room:lobby` or `conversation:{id}`.
        channel: String,
        /// The last channel message id the client saw; `None` for live messages only.
        since: Option<MessageId>,
    },
    /// Leave a channel.
    Unsubscribe {
        /// The channel name, as subscribed.
        channel: String,
    },
    /// Broadcast `data` to a channel's subscribers (the sender must be one).
    Message {
        /// The channel name, as subscribed.
        channel: String,
        /// Any JSON, passed on as is; `null` when absent.
        #[serde(default)]
        data: Value,
    },
    /// Start a generation in a conversation, streamed as `chat.*` to its channel.
    Chat {
        /// The conversation to chat in; it must be the user's.
        conversation_id: Uuid,
        /// The user's message, 1-100,000 characters.
        content: String,
        /// Provider to use instead of the conversation's; `None` keeps it.
        provider: Option<String>,
        /// Model to use instead of the conversation's; `None` keeps it.
        model: Option<String>,
    },
    /// Stop the generation running in a conversation.
    Cancel {
        /// The conversation whose generation to stop.
        conversation_id: Uuid,
    },
    /// Ask for a `pong`.
    Ping {},
    /// A fresh access token, before the socket's current one expires.
    Auth {
        /// The new access token (a JWT), checked like the one the socket opened with.
        token: String,
    },
}

const TYPES: [&str; 7] = [
    "subscribe",
    "unsubscribe",
    "message",
    "chat",
    "cancel",
    "ping",
    "auth",
];

/// A channel message id: sent as a string, accepted as a string or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageId {
    /// The id as a JSON number.
    Number(u64),
    /// The id as a decimal string, as the server sends it.
    Text(String),
}

impl MessageId {
    /// The numeric id; a string that is not a number is a `since` validation error.
    pub fn value(&self) -> Result<u64, CoreError> {
        match self {
            MessageId::Number(n) => Ok(*n),
            MessageId::Text(s) => s
                .parse()
                .map_err(|_| CoreError::validation("since", "a message id")),
        }
    }
}

/// Why a frame could not be read: the error code and the `ref`, if any.
#[derive(Debug)]
pub struct Refused {
    /// What kind of refusal (its code).
    pub code: ErrorKind,
    /// Safe to show the client.
    pub message: String,
    /// The frame's `ref`, when it was JSON with one, to echo in the `error`.
    pub reference: Option<Value>,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Incoming, Refused> {
    let value: Value = serde_json::from_str(text).map_err(|e| Refused {
        code: ErrorKind::BadRequest,
        message: format!("not JSON: {e}"),
        reference: None,
    })?;
    let reference = value.get("ref").cloned();
    let refuse = |code, message: String| Refused {
        code,
        message,
        reference: reference.clone(),
    };
    let Some(kind) = value.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return Err(refuse(
            ErrorKind::BadRequest,
            "a JSON object with a string `type`".into(),
        ));
    };
    if !TYPES.contains(&kind.as_str()) {
        return Err(refuse(
            ErrorKind::BadRequest,
            format!("unknown message type `{kind}`"),
        ));
    }
    let msg = serde_json::from_value(value)
        .map_err(|e| refuse(ErrorKind::Validation, format!("{kind}: {e}")))?;
    Ok(Incoming { reference, msg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_and_keeps_the_ref() {
        let m = parse(r#"{"type":"subscribe","channel":"room:a","since":"12","ref":1}"#).unwrap();
        assert_eq!(m.reference, Some(Value::from(1)));
        match m.msg {
            ClientMsg::Subscribe { channel, since } => {
                assert_eq!(channel, "room:a");
                assert_eq!(since.unwrap().value().unwrap(), 12);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"type":"ping"}"#).unwrap().msg,
            ClientMsg::Ping {}
        ));
        assert!(matches!(
            parse(r#"{"type":"auth","token":"t"}"#).unwrap().msg,
            ClientMsg::Auth { token } if token == "t"
        ));
    }

    #[test]
    fn refuses_bad_json_unknown_types_and_missing_fields() {
        assert_eq!(parse("{nope").unwrap_err().code, ErrorKind::BadRequest);
        assert_eq!(parse("[1]").unwrap_err().code, ErrorKind::BadRequest);
        let e = parse(r#"{"type":"dance","ref":"x"}"#).unwrap_err();
        assert_eq!(
            (e.code, e.reference),
            (ErrorKind::BadRequest, Some(Value::from("x")))
        );
        let e = parse(r#"{"type":"chat","content":"hi"}"#).unwrap_err();
        assert_eq!(e.code, ErrorKind::Validation);
        assert!(e.message.contains("conversation_id"), "{}", e.message);
    }
}
