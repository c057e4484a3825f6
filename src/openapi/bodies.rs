//! Schemas of request parts whose rule depends on another field or on the
//! core's job handlers, built by hand: a job's payload by its `job_type`,
//! and the free-form chat messages and parameters of a ticket.

use chorus_actors::conversations::MAX_TICKET_ATTEMPTS;
use chorus_actors::jobs::MAX_USER_PRIORITY;
use chorus_actors::jobs::handler::{MAX_ATTEMPTS, MAX_DELAY_STEPS};
use chorus_actors::model::limits;
use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};

use super::fill::{Configured, marker, raw};

/// A `text/event-stream` answer: events named as the route says, each
/// `data` a JSON object (OpenAI's stream ends with `data: [DONE]`).
pub struct SseEvents;

impl utoipa::PartialSchema for SseEvents {
    fn schema() -> RefOr<Schema> {
        RefOr::T(raw(json!({
            "description": "Server-sent events (API.md 0.5); each `data` line is JSON",
        })))
    }
}

impl utoipa::ToSchema for SseEvents {}

/// A ticket's `messages` (`conversations::ticket`): one or more objects
/// with a `role` and a string `content`.
pub fn ticket_messages() -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                "content": {"type": "string"},
            },
        },
    })
}

/// A ticket's provider or model inside a job payload: read only when it is
/// a string, so any other JSON means the default.
fn loose(what: Configured) -> Value {
    json!({"anyOf": [marker(json!({"type": "string"}), what), {"not": {"type": "string"}}]})
}

/// `POST /jobs`: one shape per job type a user may submit.
pub fn job_body() -> RefOr<Schema> {
    let delay = json!({
        "type": ["object", "null"],
        "properties": {
            "seconds": marker(json!({"type": "number", "minimum": 0, "default": 0}), Configured::DelaySeconds),
            "steps": {"type": "integer", "minimum": 1, "maximum": MAX_DELAY_STEPS, "default": 1},
            "fail": {"description": "`true` fails each attempt (for tests)"},
        },
    });
    let chat = json!({
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": ticket_messages(),
            "provider": loose(Configured::Provider),
            "model": loose(Configured::Model),
            "params": {"description": "`temperature`, `max_tokens`, `top_p`, `stop`"},
        },
    });
    let ingest = json!({
        "type": "object",
        "required": ["document_id"],
        "properties": {"document_id": {"type": "string", "format": "uuid"}},
    });
    let variants: Vec<Value> = [
        ("delay", delay, MAX_ATTEMPTS, false, "Waits `seconds`, reporting progress at each of `steps`"),
        ("chat", chat, MAX_TICKET_ATTEMPTS, true, "A stateless chat (what `POST /chat` queues)"),
        ("document.ingest", ingest, MAX_ATTEMPTS, true, "Chunks and indexes a document again"),
    ]
    .into_iter()
    .map(|(job_type, payload, attempts, needs_payload, description)| {
        let required = if needs_payload { json!(["job_type", "payload"]) } else { json!(["job_type"]) };
        json!({
            "type": "object",
            "description": description,
            "required": required,
            "properties": {
                "job_type": {"type": "string", "enum": [job_type]},
                "payload": payload,
                "priority": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_USER_PRIORITY, "default": MAX_USER_PRIORITY,
                    "description": "Higher runs first (higher values are for system jobs)."},
                "scheduled_for": {"type": ["string", "null"], "format": "date-time", "minLength": 20, "description": "RFC 3339; a later time waits as `scheduled`."},
                "idempotency_key": {"type": ["string", "null"], "minLength": 1, "maxLength": limits::NAME_CHARS},
                "max_attempts": {"type": ["integer", "null"], "minimum": 1, "maximum": attempts, "default": 3},
            },
        })
    })
    .collect();
    RefOr::T(raw(json!({ "oneOf": variants })))
}
