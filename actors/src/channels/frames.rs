//! The server -> client messages of the WebSocket protocol (API.md 6), each
//! serialized once into the bytes of one text frame.

use bytes::Bytes;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ErrorKind;

/// Now as RFC 3339 with milliseconds, the format of every timestamp we send.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn frame(value: Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// Adds `ref` to a reply when the client sent one.
fn with_ref(mut value: Value, reference: Option<&Value>) -> Bytes {
    if let (Some(r), Some(object)) = (reference, value.as_object_mut()) {
        object.insert("ref".into(), r.clone());
    }
    frame(value)
}

/// The first frame on a socket: the user, the connection's id and the server's time.
pub fn connected(user_id: Uuid, connection_id: u64) -> Bytes {
    frame(json!({
        "type": "connected",
        "data": {
            "user_id": user_id,
            "connection_id": connection_id.to_string(),
            "server_time": timestamp(),
        }
    }))
}

/// Confirms a subscription; `recovered` (only with `since`): whether the replay is whole.
pub fn subscribed(channel: &str, recovered: Option<bool>, reference: Option<&Value>) -> Bytes {
    let mut value = json!({ "type": "subscribed", "channel": channel });
    if let Some(recovered) = recovered {
        value["recovered"] = recovered.into();
    }
    with_ref(value, reference)
}

/// Confirms an unsubscribe.
pub fn unsubscribed(channel: &str, reference: Option<&Value>) -> Bytes {
    with_ref(
        json!({ "type": "unsubscribed", "channel": channel }),
        reference,
    )
}

/// A message broadcast in `channel` with its id there; `sender_id` is `None` for the server.
pub fn channel_message(channel: &str, data: &Value, sender_id: Option<Uuid>, id: u64) -> Bytes {
    frame(json!({
        "type": "channel_message",
        "channel": channel,
        "data": data,
        "sender_id": sender_id,
        "timestamp": timestamp(),
        "id": id.to_string(),
    }))
}

/// A notification to one user from the server (e.g. a job finished).
pub fn notification(data: &Value) -> Bytes {
    frame(json!({ "type": "notification", "data": data }))
}

/// A change to one of the user's jobs: `job` is `{id, status, progress_percent}`.
pub fn job_update(job: &Value) -> Bytes {
    frame(json!({ "type": "job.update", "job": job }))
}

/// Who is in a `room:` channel now, sent after a join or leave.
pub fn presence(channel: &str, users: &[Uuid]) -> Bytes {
    frame(json!({ "type": "presence", "channel": channel, "users": users }))
}

/// An `error` message with its API.md code, echoing the request's `ref`.
pub fn error(code: ErrorKind, message: &str, reference: Option<&Value>) -> Bytes {
    with_ref(
        json!({ "type": "error", "code": code, "message": message }),
        reference,
    )
}

/// The reply to a client `ping`.
pub fn pong(reference: Option<&Value>) -> Bytes {
    with_ref(json!({ "type": "pong" }), reference)
}

/// The answer to an accepted `auth` message: when the new token expires
/// (`null` for an API key, which does not).
pub fn authenticated(expires_at: Option<i64>, reference: Option<&Value>) -> Bytes {
    let expires_at = expires_at
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    with_ref(
        json!({ "type": "authenticated", "expires_at": expires_at }),
        reference,
    )
}

/// A generation event as `chat.<name>`: the SSE payload's fields plus
/// `type` and `conversation_id`, spliced without re-parsing the payload.
pub fn chat_event(name: &str, conversation_id: Uuid, data: &[u8]) -> Bytes {
    let head = format!(r#"{{"type":"chat.{name}","conversation_id":"{conversation_id}""#);
    // A payload is a compact JSON object: `{` then its fields, or `{}`.
    let rest = data.strip_prefix(b"{").unwrap_or(b"}");
    let mut out = Vec::with_capacity(head.len() + rest.len() + 1);
    out.extend_from_slice(head.as_bytes());
    if !rest.starts_with(b"}") {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn chat_events_carry_the_payload_fields() {
        let id = Uuid::now_v7();
        let v = parse(&chat_event("token", id, br#"{"token":"hi"}"#));
        assert_eq!(v["type"], "chat.token");
        assert_eq!(v["conversation_id"], id.to_string());
        assert_eq!(v["token"], "hi");
        let v = parse(&chat_event("done", id, b"{}"));
        assert_eq!(v["type"], "chat.done");
    }

    #[test]
    fn replies_echo_the_ref() {
        let r = json!(7);
        assert_eq!(parse(&pong(Some(&r)))["ref"], 7);
        assert!(parse(&pong(None)).get("ref").is_none());
        let v = parse(&error(ErrorKind::BadRequest, "no", Some(&json!("a"))));
        assert_eq!(
            (v["code"].as_str(), v["ref"].as_str()),
            (Some(ErrorKind::BadRequest.code()), Some("a"))
        );
    }
}
