//! The error answers of the document: the envelope schema (API.md 0.1), and
//! every status each operation can answer, each with that schema.
//!
//! Three sources list statuses, each where the behaviour is decided:
//! - the handler's own `responses(..)` (404, 409, a quota's 429, a
//!   provider's 502...), with a description of when;
//! - the layer a route group gets in `routes/mod.rs` ([`answers`]: 401 and
//!   403 of the signed-in guard, 429 of a rate class);
//! - the request's shape, here ([`complete`]): every operation reads its
//!   JSON body with `extract::Json` and its parameters with
//!   `extract::{Path, Query}`, whose rejections are known, and any route
//!   can fail inside (500) or be refused at the connection cap (503).
//!
//! [`complete`] then gives every error answer the envelope as its body, and
//! every answer a description.

use serde_json::json;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{Content, OpenApi, RefOr, Response, Schema};

use crate::error::ErrorKind;

/// The envelope's schema name in `components.schemas`.
const ENVELOPE: &str = "Error";
/// The OpenAI-shaped error of `/v1` (API.md 9).
const OPENAI_ENVELOPE: &str = "OpenAiError";

/// What a part of the edge can answer, besides the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The signed-in guard (`auth::guard`): 401 without a valid credential, 403 for a cookie
    /// sent by a foreign origin on an unsafe method, 429 over the rate class.
    SignedIn,
    /// The per-IP guard: 429 over the rate class.
    PerIp,
}

/// Adds the statuses `layer` answers to every operation of `doc` (a route
/// group's document, in `routes/mod.rs` where the layer is applied).
pub fn answers(doc: &mut OpenApi, layer: Layer) {
    for_each_operation(doc, |_, method, op| {
        let mut statuses = vec![429];
        if layer == Layer::SignedIn {
            statuses.push(401);
            if method != "get" {
                statuses.push(403);
            }
        }
        for status in statuses {
            add(op, status);
        }
    });
}

/// Lists what every operation can answer because of its request's shape,
/// and gives every error answer the envelope schema. Runs once, on the
/// whole document.
pub fn complete(doc: &mut OpenApi) {
    for_each_operation(doc, |path, _, op| {
        let mut statuses = vec![500, 503];
        if op.request_body.is_some() {
            statuses.extend([400, 408, 413, 415, 422]);
        }
        if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            statuses.push(422);
        }
        for status in statuses {
            add(op, status);
        }
        let envelope = if path.starts_with("/v1/") {
            OPENAI_ENVELOPE
        } else {
            ENVELOPE
        };
        let schema = || RefOr::Ref(utoipa::openapi::Ref::from_schema_name(envelope));
        for (status, response) in op.responses.responses.iter_mut() {
            let RefOr::T(response) = response else {
                continue;
            };
            // OpenAPI requires one; a handler that gave only a body gets the reason phrase.
            if response.description.is_empty() {
                response.description = reason(status).into();
            }
            if is_error(status) && response.content.is_empty() {
                let content = Content::new(Some(schema()));
                response
                    .content
                    .insert("application/json".into(), content.into());
            }
        }
    });
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert(ENVELOPE.into(), RefOr::T(schema(envelope_schema())));
    components
        .schemas
        .insert(OPENAI_ENVELOPE.into(), RefOr::T(schema(openai_schema())));
}

fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("An answer")
}

fn is_error(status: &str) -> bool {
    status.parse::<u16>().is_ok_and(|s| s >= 400)
}

/// The status's generic answer, unless the operation lists its own.
fn add(op: &mut Operation, status: u16) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(Response::new(description(status))));
}

fn for_each_operation(doc: &mut OpenApi, mut f: impl FnMut(&str, &str, &mut Operation)) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            f(path, method, op);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

/// When each status is answered, for operations that do not say more.
fn description(status: u16) -> &'static str {
    match status {
        400 => "The body is not JSON, or could not be read",
        401 => "Missing, expired, revoked or invalid credentials; `X-Auth-Reason` says which",
        403 => "A cookie-authenticated request from an origin not in `server.allowed_origins`",
        408 => "The request body stopped arriving (`server.body_timeout_s`)",
        413 => "The body is over `limits.json_body_bytes`",
        415 => "The body is not `application/json`",
        422 => "A field, parameter or the body's shape failed validation; `details.field` names it",
        429 => "Over the route's rate class (`RATE_LIMIT_EXCEEDED`, with `Retry-After`)",
        500 => "A bug; the message carries no internals",
        503 => {
            "Starting, shutting down, an actor is down, or the server is at its connection limit"
        }
        _ => "An error",
    }
}

fn schema(value: serde_json::Value) -> Schema {
    // The values below are fixed JSON Schema objects; they always parse.
    serde_json::from_value(value).unwrap_or_default()
}

/// `{"error": {"code", "message", "details"?}, "request_id"}`.
fn envelope_schema() -> serde_json::Value {
    let codes: Vec<&str> = ErrorKind::HTTP.iter().map(|c| c.code()).collect();
    json!({
        "type": "object",
        "description": "Every non-2xx answer (API.md 0.1). Under `/api/v2` it also carries `meta`.",
        "required": ["error", "request_id"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                    "details": {"type": "object", "description": "`field` for a validation error, `resource` and `id` for a 404, `retry_after` for a rate limit"}
                }
            },
            "request_id": {"type": "string"}
        }
    })
}

/// OpenAI's error shape, which its SDKs map to exceptions.
fn openai_schema() -> serde_json::Value {
    let codes: Vec<String> = ErrorKind::HTTP
        .iter()
        .map(|c| c.code().to_lowercase())
        .collect();
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code", "param"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string", "enum": [
                        "authentication_error", "permission_error", "not_found_error",
                        "rate_limit_error", "invalid_request_error", "server_error"
                    ]},
                    "code": {"type": "string", "enum": codes},
                    "param": {"type": ["string", "null"], "description": "The field at fault, for a validation error"}
                }
            }
        }
    })
}
