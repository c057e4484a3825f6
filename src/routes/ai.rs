//! Stateless AI calls and the provider registry (API.md 4.2, 1 `/services`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chorus_actors::llm::{ChatMessage, ChatRequest, ProviderKind};
use chorus_actors::model::MessageRole;
use chorus_actors::replay::{GenData, Generation};
use chorus_actors::usage::CallKind;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chat::{cancel_on_drop, early_failure, finished, holding};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::openapi::bodies::SseEvents;
use crate::openapi::fields;
use crate::server_timing;
use crate::state::AppState;

/// Routes that call a model (rate class `ai`).
pub fn ai_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(completions))
        .routes(routes!(process))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(models))
        .routes(routes!(status))
}

/// Public.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(services))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageBody {
    /// `system`, `user` or `assistant`.
    #[schema(schema_with = fields::role)]
    pub role: MessageRole,
    #[schema(schema_with = fields::message_text)]
    pub content: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletionBody {
    #[schema(min_items = 1)]
    pub messages: Vec<MessageBody>,
    #[schema(schema_with = fields::provider_or_null)]
    pub provider: Option<String>,
    #[schema(schema_with = fields::model_or_null)]
    pub model: Option<String>,
    pub temperature: Option<f32>,
    #[serde(default, deserialize_with = "crate::extract::whole")]
    #[schema(schema_with = fields::count_or_null)]
    pub max_tokens: Option<u32>,
    /// Default false.
    pub stream: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionAnswer {
    pub content: String,
    pub model: String,
    pub provider: String,
    #[schema(value_type = Object)]
    pub usage: Value,
    pub finish_reason: String,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_type: Option<String>,
}

/// Starts a stateless generation and answers it as SSE or as one body.
pub async fn answer(
    state: &AppState,
    me: &CurrentUser,
    provider: Option<String>,
    request: ChatRequest,
    stream: bool,
    analysis_type: Option<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let slot = stream
        .then(|| crate::sse::take_slot(state, me))
        .transpose()?;
    let generation = state
        .core
        .conversations()
        .complete(
            me.user.clone(),
            provider.as_deref(),
            request,
            CallKind::Completion,
        )
        .await?;
    let client = cancel_on_drop(&generation);
    if let Some(slot) = slot {
        if let Some(error) = early_failure(generation.opened().await) {
            return Err(error);
        }
        let frames = generation.listen(0).filter_map(|e| {
            let frame = (!matches!(e.data(), GenData::Start(_))).then(|| e.sse());
            futures::future::ready(frame)
        });
        let mut response = crate::sse::respond(slot, holding(frames, client));
        server_timing::mark(&mut response, &generation);
        return Ok(response);
    }
    let body = whole(&generation, started).await?;
    drop(client);
    let mut response = Json(CompletionAnswer {
        analysis_type,
        ..body
    })
    .into_response();
    server_timing::mark(&mut response, &generation);
    Ok(response)
}

async fn whole(
    generation: &Arc<Generation>,
    started: Instant,
) -> Result<CompletionAnswer, ApiError> {
    let (provider, model) = match generation.events().first().map(|e| e.data().clone()) {
        Some(GenData::Start(started)) => (started.provider, started.model),
        _ => Default::default(),
    };
    let end = finished(generation).await?;
    Ok(CompletionAnswer {
        content: end.full_response,
        model,
        provider,
        usage: end.usage.to_json(),
        finish_reason: end.finish_reason,
        latency_ms: started.elapsed().as_millis() as u64,
        analysis_type: None,
    })
}

/// A completion without a conversation (nothing stored but usage).
#[utoipa::path(post, path = "/ai/completions", tag = "ai", request_body = CompletionBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "One CompletionAnswer; with `stream: true` SSE of token... and done",
                content((CompletionAnswer = "application/json"), (SseEvents = "text/event-stream")),
                headers(("server-timing" = String, description = "`total;dur=.., upstream;dur=.., queue;dur=..` in ms: total - upstream is chorus's own share"))),
              (status = 429, description = "QUOTA_EXCEEDED, too many open streams, or RATE_LIMIT_EXCEEDED"),
              (status = 502, description = "the provider failed"), (status = 504, description = "the provider timed out")))]
async fn completions(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<CompletionBody>,
) -> Result<Response, ApiError> {
    let request = ChatRequest {
        model: body.model.unwrap_or_default(),
        messages: body
            .messages
            .into_iter()
            .map(|m| ChatMessage::new(m.role, m.content))
            .collect(),
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        ..Default::default()
    };
    answer(
        &state,
        &me,
        body.provider,
        request,
        body.stream.unwrap_or(false),
        None,
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProcessBody {
    #[schema(schema_with = fields::analysis_type)]
    pub analysis_type: String,
    #[schema(schema_with = fields::content)]
    pub user_input: String,
    #[schema(schema_with = fields::provider_or_null)]
    pub provider: Option<String>,
    #[schema(schema_with = fields::model_or_null)]
    pub model: Option<String>,
}

/// Runs `user_input` through an analysis template.
#[utoipa::path(post, path = "/ai/process", tag = "ai", request_body = ProcessBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CompletionAnswer), (status = 429, description = "QUOTA_EXCEEDED or RATE_LIMIT_EXCEEDED"),
              (status = 502, description = "the provider failed"), (status = 504, description = "the provider timed out")))]
async fn process(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<ProcessBody>,
) -> Result<Response, ApiError> {
    let template = state
        .config
        .templates
        .get(&body.analysis_type)
        .ok_or_else(|| {
            ApiError::validation(
                "analysis_type",
                format!(
                    "one of: {}",
                    state
                        .config
                        .templates
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    if body.user_input.is_empty() || body.user_input.chars().count() > 100_000 {
        return Err(ApiError::validation("user_input", "1-100000 characters"));
    }
    let mut messages = Vec::new();
    if !template.system_prompt.is_empty() {
        messages.push(ChatMessage::new(
            MessageRole::System,
            template.system_prompt.clone(),
        ));
    }
    messages.push(ChatMessage::new(MessageRole::User, body.user_input));
    let request = ChatRequest {
        model: body.model.unwrap_or_default(),
        messages,
        ..Default::default()
    };
    answer(
        &state,
        &me,
        body.provider,
        request,
        false,
        Some(body.analysis_type),
    )
    .await
}

fn label(kind: ProviderKind) -> Option<&'static str> {
    (kind == ProviderKind::Echo).then_some("test model: echoes your message, no network")
}

/// The configured providers and their models.
#[utoipa::path(get, path = "/ai/providers", tag = "ai", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"providers\":{name:{kind,models,default_model}},\"default_provider\"}`")))]
async fn providers(State(state): State<AppState>) -> Json<Value> {
    let llm = state.core.llm();
    let providers: serde_json::Map<String, Value> = llm
        .infos()
        .into_iter()
        .map(|p| {
            let mut v = json!({ "kind": p.kind.as_str(), "models": p.models, "default_model": p.default_model });
            if let Some(label) = label(p.kind) {
                v["label"] = json!(label);
            }
            (p.name, v)
        })
        .collect();
    Json(json!({ "providers": providers, "default_provider": llm.default_provider() }))
}

/// One provider's models; 404 for an unknown provider.
#[utoipa::path(get, path = "/ai/providers/{name}/models", tag = "ai", params(("name" = String, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [String]), (status = 404, description = "no such provider")))]
async fn models(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    let spec = state
        .core
        .llm()
        .spec(&name)
        .ok_or_else(|| ApiError::not_found("provider", &name))?;
    Ok(Json(spec.models.clone()))
}

/// Whether AI calls can be made, and with what by default.
#[utoipa::path(get, path = "/ai/status", tag = "ai", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"available\",\"providers\",\"default_provider\",\"default_model\"}`")))]
async fn status(State(state): State<AppState>) -> Json<Value> {
    let llm = state.core.llm();
    let infos = llm.infos();
    let default_model = llm
        .spec(llm.default_provider())
        .map(|s| s.default_model())
        .unwrap_or_default();
    Json(json!({
        "available": infos.iter().any(|p| p.healthy),
        "providers": infos.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "default_provider": llm.default_provider(),
        "default_model": default_model,
    }))
}

/// The provider registry with each provider's health (public).
#[utoipa::path(get, path = "/services", tag = "operations",
    responses((status = 200, description = "`{\"providers\":[{name,kind,models,healthy,last_error}]}`")))]
async fn services(State(state): State<AppState>) -> Json<Value> {
    let providers: Vec<Value> = state
        .core
        .llm()
        .infos()
        .into_iter()
        .map(|p| json!({ "name": p.name, "kind": p.kind.as_str(), "models": p.models, "healthy": p.healthy, "last_error": p.last_error }))
        .collect();
    Json(json!({ "providers": providers }))
}
