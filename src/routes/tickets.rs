//! Ticket chat (API.md 4.2): a stateless chat that runs as a job; the
//! client polls its ticket.

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::CoreError;
use chorus_actors::jobs::Jobs;
use chorus_actors::jobs::NewJob;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::openapi::{bodies, fields};
use crate::state::AppState;

/// `POST /chat` calls a model (rate class `ai`); reading a ticket does not.
pub fn ai_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ticket))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TicketBody {
    #[schema(schema_with = ticket_messages)]
    pub messages: Value,
    #[schema(schema_with = fields::provider_or_null)]
    pub provider: Option<String>,
    #[schema(schema_with = fields::model_or_null)]
    pub model: Option<String>,
    /// `temperature`, `max_tokens`, `top_p`, `stop`; read leniently.
    #[schema(schema_with = fields::any)]
    pub params: Option<Value>,
}

fn ticket_messages() -> utoipa::openapi::Schema {
    fields::raw(bodies::ticket_messages())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub ticket_id: Uuid,
    /// pending, running, completed, failed or cancelled.
    pub status: &'static str,
    /// `{"content", "usage"}` once completed.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// Queues a chat; answers its ticket at once (202).
#[utoipa::path(post, path = "/chat", tag = "ai", request_body = TicketBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 202, body = TicketView), (status = 422, description = "invalid messages"),
              (status = 429, description = "rate limit (`ai` class), or too many unfinished jobs (QUOTA_EXCEEDED)")))]
async fn submit(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<TicketBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // The quota check every AI route makes, before anything is queued.
    state.core.usage().check_allowance(&me.user)?;
    let new = NewJob {
        job_type: "chat".into(),
        payload: json!({
            "messages": body.messages,
            "provider": body.provider,
            "model": body.model,
            "params": body.params.unwrap_or_else(|| json!({})),
        }),
        priority: 5,
        scheduled_for: None,
        idempotency_key: None,
        max_attempts: 1,
    };
    let (job, _) = state
        .core
        .jobs()
        .create(me.user.id, new)
        .await
        .map_err(|e| match e {
            // The ticket's fields, not the job's payload.
            CoreError::Validation { field, message } => {
                ApiError::validation(field.trim_start_matches("payload.").to_string(), message)
            }
            other => other.into(),
        })?;
    let view = json!({ "ticket_id": job.id, "status": job.status.as_str() });
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// A ticket's state, and its answer once completed.
#[utoipa::path(get, path = "/chat/{ticket_id}", tag = "ai", params(("ticket_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TicketView), (status = 404, description = "no such ticket of yours")))]
async fn ticket(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(ticket_id): Path<Uuid>,
) -> Result<Json<TicketView>, ApiError> {
    // Only "no such job of yours" is a 404; a store error is a 500 (logged).
    let job = match jobs.get(me.user.id, ticket_id) {
        Ok(job) if job.job_type == "chat" => job,
        Ok(_) | Err(CoreError::NotFound { .. }) => {
            return Err(ApiError::not_found("ticket", ticket_id));
        }
        Err(e) => return Err(e.into()),
    };
    // A ticket waiting on a retry is still pending to its client.
    let status = match job.status.as_str() {
        "scheduled" => "pending",
        other => other,
    };
    Ok(Json(TicketView {
        ticket_id,
        status,
        result: job.result_json.map(|r| r.parse()).transpose()?,
        error: job.error,
    }))
}
