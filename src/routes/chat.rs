//! Chat in a conversation (API.md 4.1): generate, cancel, and re-attach to
//! a generation's stream.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chorus_actors::conversations::ChatParams;
use chorus_actors::conversations::Conversations;
use chorus_actors::replay::{Finished, GenData, Generation, Opening};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::conversations::MessageView;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, whole};
use crate::openapi::bodies::SseEvents;
use crate::openapi::fields;
use crate::state::AppState;

/// Routes that call a model (rate class `ai`).
pub fn ai_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(chat))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cancel))
        .routes(routes!(stream))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Params {
    pub temperature: Option<f32>,
    #[serde(default, deserialize_with = "whole")]
    #[schema(schema_with = fields::count_or_null)]
    pub max_tokens: Option<u32>,
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatBody {
    #[schema(schema_with = fields::content)]
    pub content: String,
    /// Default true: answer as SSE.
    pub stream: Option<bool>,
    #[schema(schema_with = fields::provider_or_null)]
    pub provider: Option<String>,
    #[schema(schema_with = fields::model_or_null)]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::object_or_null")]
    pub params: Option<Params>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatAnswer {
    pub message: MessageView,
    pub user_message: MessageView,
    #[schema(value_type = Object)]
    pub usage: Value,
}

/// What a failure before the first token answers over HTTP.
pub fn early_failure(opening: Opening) -> Option<ApiError> {
    match opening {
        Opening::Failed {
            kind,
            message,
            upstream_status,
        } => Some(
            ApiError::new(kind, message)
                .with_details(json!({ "upstream_status": upstream_status })),
        ),
        _ => None,
    }
}

/// Cancels a stateless generation when its client goes. Its answer has
/// nobody else to go to (unlike a conversation's, which is persisted), so
/// the generation stops and the upstream request with it. The handler holds
/// the guard while the client waits, then hands it to the streamed answer
/// ([`holding`]).
pub fn cancel_on_drop(generation: &Generation) -> tokio_util::sync::DropGuard {
    generation.cancel.clone().drop_guard()
}

/// `events`, holding `guard` until the stream is dropped: when the client
/// disconnects, or after the last event.
pub fn holding<S>(
    events: S,
    guard: tokio_util::sync::DropGuard,
) -> impl futures::Stream<Item = S::Item> + Send + 'static
where
    S: futures::Stream + Send + 'static,
{
    use futures::StreamExt;
    events.map(move |event| {
        let _held = &guard;
        event
    })
}

/// Sends a message and generates the answer: SSE events `start`, `token`...,
/// `done` (or `error`), or with `stream: false` one JSON answer. A second
/// chat while one runs is 429 `CONVERSATION_BUSY`.
#[utoipa::path(post, path = "/conversations/{id}/chat", tag = "chat", params(("id" = Uuid, Path)), request_body = ChatBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "SSE of start, token..., done (or error); with `stream: false` one ChatAnswer",
                content((ChatAnswer = "application/json"), (SseEvents = "text/event-stream"))),
              (status = 404, description = "no such conversation of yours"),
              (status = 429, description = "CONVERSATION_BUSY, QUOTA_EXCEEDED or RATE_LIMIT_EXCEEDED"),
              (status = 502, description = "the provider failed"), (status = 504, description = "the provider timed out")))]
async fn chat(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ChatBody>,
) -> Result<Response, ApiError> {
    let p = body.params.unwrap_or_default();
    let params = ChatParams {
        content: body.content,
        provider: body.provider,
        model: body.model,
        temperature: p.temperature,
        max_tokens: p.max_tokens,
        top_p: p.top_p,
        stop: p.stop,
    };
    let stream = body.stream.unwrap_or(true);
    let slot = stream
        .then(|| crate::sse::take_slot(&state, &me))
        .transpose()?;
    let generation = state
        .core
        .conversations()
        .chat(me.user.clone(), id, params)
        .await?;
    if let Some(slot) = slot {
        if let Some(error) = early_failure(generation.opened().await) {
            return Err(error);
        }
        return Ok(crate::sse::generation(slot, &generation, 0));
    }
    Ok(Json(whole_answer(&state, &me, id, &generation).await?).into_response())
}

/// Waits for a generation's end: how it finished, or its `error` (with the
/// error's own code: 502, 504 or 500, and the provider's status when it
/// failed before streaming). A non-streamed answer waits here alone, so its
/// handler is woken once, at the end, not at the first token and each one.
pub async fn finished(generation: &Arc<Generation>) -> Result<Finished, ApiError> {
    let end = generation
        .finished()
        .await
        .ok_or_else(|| ApiError::internal("generation ended without an event"))?;
    match end.data() {
        GenData::Done(f) | GenData::Cancelled(f) => Ok((**f).clone()),
        GenData::Error(kind, message) => Err(early_failure(generation.opened().await)
            .unwrap_or_else(|| ApiError::new(*kind, message.clone()))),
        other => Err(ApiError::internal(format!(
            "a generation ended on {}",
            other.name()
        ))),
    }
}

/// Waits for the end of a generation and answers the persisted messages.
async fn whole_answer(
    state: &AppState,
    me: &CurrentUser,
    id: Uuid,
    generation: &Arc<Generation>,
) -> Result<ChatAnswer, ApiError> {
    finished(generation).await?;
    let conversations = state.core.conversations();
    let message = conversations.message(me.user.id, id, generation.message_id)?;
    let user_message = conversations.message(me.user.id, id, generation.user_message_id)?;
    let usage = message.usage.map_or(Value::Null, |u| u.to_json());
    Ok(ChatAnswer {
        message: message.try_into()?,
        user_message: user_message.try_into()?,
        usage,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    /// Whether a generation was running.
    pub cancelled: bool,
}

/// Cancels the running generation: its stream ends with `done` and
/// `cancelled: true`, and the partial answer is kept as `cancelled`.
#[utoipa::path(post, path = "/conversations/{id}/cancel", tag = "chat", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Cancelled), (status = 404, description = "no such conversation of yours")))]
async fn cancel(
    State(conversations): State<Conversations>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Cancelled>, ApiError> {
    let cancelled = conversations.cancel(me.user.id, id).await?;
    Ok(Json(Cancelled { cancelled }))
}

/// Attaches to the running generation (or the last one, for the replay
/// window) as SSE; with `Last-Event-ID` it resumes after that event. 204 if
/// there is none.
#[utoipa::path(get, path = "/conversations/{id}/stream", tag = "chat", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "SSE of the generation's events", content_type = "text/event-stream", body = SseEvents),
              (status = 204, description = "no recent generation"), (status = 404, description = "no such conversation of yours"),
              (status = 429, description = "`limits.max_streams_per_user` streams open (QUOTA_EXCEEDED), or the rate class")))]
async fn stream(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let slot = crate::sse::take_slot(&state, &me)?;
    match state.core.conversations().attach(me.user.id, id).await? {
        Some(generation) => Ok(crate::sse::generation(
            slot,
            &generation,
            crate::sse::last_event_id(&headers),
        )),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
