//! The OpenAI-compatible surface (API.md 9): `/v1/models` and
//! `/v1/chat/completions`, so existing OpenAI SDKs work unchanged.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_actors::connections::StreamLease;
use chorus_actors::llm::{ChatMessage, ChatRequest};
use chorus_actors::model::MessageRole;
use chorus_actors::replay::{GenData, GenEvent};
use chorus_actors::usage::CallKind;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::chat::{cancel_on_drop, early_failure, finished, holding};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, whole};
use crate::openapi::bodies::SseEvents;
use crate::openapi::fields;
use crate::server_timing;
use crate::state::AppState;

pub fn model_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_models))
}

/// Rate class `ai`.
pub fn chat_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(chat_completions))
}

/// Models as `<provider>/<model>`, and bare `<model>` for the default provider.
#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("bearer" = [])),
    responses((status = 200, description = "`{\"object\":\"list\",\"data\":[{\"id\",\"object\":\"model\",\"owned_by\"}]}`")))]
async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let llm = state.core.llm();
    let mut data = Vec::new();
    for p in llm.infos() {
        for m in &p.models {
            if p.name == llm.default_provider() {
                data.push(json!({ "id": m, "object": "model", "created": 0, "owned_by": p.name }));
            }
            data.push(json!({ "id": format!("{}/{}", p.name, m), "object": "model", "created": 0, "owned_by": p.name }));
        }
    }
    Json(json!({ "object": "list", "data": data }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenAiMessage {
    #[schema(schema_with = openai_role)]
    pub role: String,
    /// A string, or content parts of which the text ones are used.
    #[schema(schema_with = openai_content)]
    pub content: Value,
}

fn openai_role() -> utoipa::openapi::Schema {
    fields::one_of(["system", "developer", "user", "assistant"].into_iter())
}

/// What `text_of` reads.
fn openai_content() -> utoipa::openapi::Schema {
    fields::of_types(&["string", "array", "null"])
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatCompletionBody {
    #[schema(schema_with = fields::openai_model)]
    pub model: String,
    #[schema(min_items = 1)]
    pub messages: Vec<OpenAiMessage>,
    #[serde(default)]
    pub stream: bool,
    pub temperature: Option<f32>,
    #[serde(default, deserialize_with = "whole")]
    #[schema(schema_with = fields::count_or_null)]
    pub max_tokens: Option<u32>,
    pub top_p: Option<f32>,
    /// A string or a list of strings; anything else means none.
    #[schema(schema_with = fields::any)]
    pub stop: Option<Value>,
    #[serde(default, deserialize_with = "crate::extract::object_or_null")]
    pub stream_options: Option<StreamOptions>,
}

fn text_of(content: &Value) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => Ok(parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("")),
        Value::Null => Ok(String::new()),
        _ => Err(ApiError::validation(
            "messages.content",
            "a string or a list of content parts",
        )),
    }
}

/// Splits `provider/model`; a bare name is a model of the default provider.
fn provider_and_model(state: &AppState, model: &str) -> (Option<String>, String) {
    match model.split_once('/') {
        Some((p, m)) if state.core.llm().spec(p).is_some() => (Some(p.to_string()), m.to_string()),
        _ => (None, model.to_string()),
    }
}

/// Chat completions in OpenAI's request and response shapes, streamed as
/// `chat.completion.chunk` lines ending with `data: [DONE]`.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionBody, security(("bearer" = [])),
    responses((status = 200, description = "A chat.completion; with `stream: true` SSE of chat.completion.chunk ending with `[DONE]`",
                content((Object = "application/json"), (SseEvents = "text/event-stream")),
                headers(("server-timing" = String, description = "`total;dur=.., upstream;dur=.., queue;dur=..` in ms: total - upstream is chorus's own share"))),
              (status = 429, description = "QUOTA_EXCEEDED, too many open streams, or RATE_LIMIT_EXCEEDED"),
              (status = 502, description = "the provider failed"), (status = 504, description = "the provider timed out")))]
async fn chat_completions(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<ChatCompletionBody>,
) -> Result<Response, ApiError> {
    let mut messages = Vec::with_capacity(body.messages.len());
    for m in &body.messages {
        // OpenAI's newer name for the system role.
        let role = match m.role.as_str() {
            "developer" => Ok(MessageRole::System),
            other => other.parse::<MessageRole>(),
        }
        .map_err(|e| ApiError::validation("messages.role", e))?;
        messages.push(ChatMessage::new(role, text_of(&m.content)?));
    }
    let stop = match body.stop {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(list)) => list
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let (provider, model) = provider_and_model(&state, &body.model);
    let request = ChatRequest {
        model,
        messages,
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        top_p: body.top_p,
        stop,
    };
    let slot = body
        .stream
        .then(|| crate::sse::take_slot(&state, &me))
        .transpose()?;
    let mut call = state.core.conversations().stateless(
        me.user.clone(),
        provider.as_deref(),
        request,
        CallKind::Openai,
    )?;
    let generation = call.generation.clone();
    // A client that goes away cancels the generation (a streamed one
    // through this guard, one answered whole through `call` as well).
    let client = cancel_on_drop(&generation);
    let id = format!("chatcmpl-{}", Uuid::now_v7().simple());
    let created = chrono::Utc::now().timestamp();
    let model = body.model.clone();
    if let Some(slot) = slot {
        call.detach();
        if let Some(error) = early_failure(generation.opened().await) {
            return Err(error);
        }
        let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
        let mut response = stream(
            slot,
            holding(generation.listen(0), client),
            id,
            created,
            model,
            include_usage,
        );
        server_timing::mark(&mut response, &generation);
        return Ok(response);
    }
    // The whole answer at once: no listener follows the log, so the run
    // needs no task of its own.
    call.run_here().await;
    let data = finished(&generation).await?;
    drop(client);
    let mut response = Json(json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": data.full_response }, "finish_reason": data.finish_reason }],
        "usage": data.usage.to_json(),
    }))
    .into_response();
    server_timing::mark(&mut response, &generation);
    Ok(response)
}

fn chunk(id: &str, created: i64, model: &str, delta: Value, finish_reason: Value) -> Bytes {
    let body = json!({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
    });
    crate::sse::data_frame(body.to_string().as_bytes())
}

/// OpenAI's stream: a role chunk, content chunks, a finish chunk, the usage
/// chunk if asked for, then `[DONE]`.
fn stream(
    slot: StreamLease,
    events: impl futures::Stream<Item = GenEvent> + Send + 'static,
    id: String,
    created: i64,
    model: String,
    include_usage: bool,
) -> Response {
    let done = || crate::sse::data_frame(b"[DONE]");
    let frames = events.flat_map(move |e| {
        let items: Vec<Bytes> = match e.data() {
            GenData::Start(_) => vec![chunk(&id, created, &model, json!({ "role": "assistant", "content": "" }), Value::Null)],
            GenData::Token(token) => vec![chunk(&id, created, &model, json!({ "content": token }), Value::Null)],
            GenData::Done(end) | GenData::Cancelled(end) => {
                let mut v = vec![chunk(&id, created, &model, json!({}), json!(end.finish_reason))];
                if include_usage {
                    let usage = json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": end.usage.to_json() });
                    v.push(crate::sse::data_frame(usage.to_string().as_bytes()));
                }
                v.push(done());
                v
            }
            GenData::Error(kind, message) => {
                let error = json!({ "error": { "message": message, "type": "server_error", "code": kind } });
                vec![crate::sse::data_frame(error.to_string().as_bytes()), done()]
            }
        };
        futures::stream::iter(items)
    });
    crate::sse::respond(slot, frames)
}
