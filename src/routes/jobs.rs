//! Background jobs (API.md 5).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chorus_actors::jobs::Jobs;
use chorus_actors::jobs::{JobFilter, NewJob};
use chorus_actors::model::{Job, JobEvent, JobLog, JobStatus};
use chorus_actors::replay::sse_frame;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, whole};
use crate::openapi::bodies::SseEvents;
use crate::openapi::{bodies, fields};
use crate::pagination::{Page, bounds};
use crate::rate_limit::{RateClass, RateKey};
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, delete))
        .routes(routes!(cancel))
        .routes(routes!(retry))
        .routes(routes!(events))
        .routes(routes!(stream))
        .routes(routes!(logs))
}

/// Its schema is one shape per job type (`openapi::bodies::job_body`).
#[derive(Debug, Deserialize)]
pub struct JobBody {
    /// `delay`, `chat` or `document.ingest` (`webhook.deliver` is made by
    /// the server only: 422).
    pub job_type: String,
    #[serde(default)]
    pub payload: Option<Value>,
    /// 0-5, default 5; higher runs first (6-10 are for system jobs).
    #[serde(default, deserialize_with = "whole")]
    pub priority: Option<u8>,
    /// RFC 3339; a later time waits as `scheduled`.
    pub scheduled_for: Option<String>,
    pub idempotency_key: Option<String>,
    /// 1-100 (1-5 for `chat`), default 3.
    #[serde(default, deserialize_with = "whole")]
    pub max_attempts: Option<u32>,
}

impl ToSchema for JobBody {}

impl utoipa::PartialSchema for JobBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        bodies::job_body()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub job_type: String,
    /// pending, scheduled, running, completed, failed or cancelled.
    pub status: &'static str,
    pub priority: u8,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub progress_percent: u8,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub idempotency_key: Option<String>,
    pub scheduled_for: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

impl TryFrom<Job> for JobView {
    type Error = ApiError;

    fn try_from(j: Job) -> Result<Self, ApiError> {
        Ok(Self {
            id: j.id,
            job_type: j.job_type,
            status: j.status.as_str(),
            priority: j.priority,
            payload: j.payload_json.parse()?,
            progress_percent: j.progress_percent,
            result: j.result_json.map(|r| r.parse()).transpose()?,
            error: j.error,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            idempotency_key: j.idempotency_key,
            scheduled_for: j.scheduled_for.map(rfc3339_ms),
            created_at: rfc3339_ms(j.created_at),
            started_at: j.started_at.map(rfc3339_ms),
            completed_at: j.completed_at.map(rfc3339_ms),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub seq: u64,
    /// created, started, progress, log, completed, failed, cancelled or retrying.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(value_type = Object)]
    pub data: Value,
    pub at: String,
}

impl TryFrom<JobEvent> for EventView {
    type Error = ApiError;

    fn try_from(e: JobEvent) -> Result<Self, ApiError> {
        Ok(Self {
            seq: e.seq,
            data: e.data_json.parse()?,
            kind: e.kind.as_str(),
            at: rfc3339_ms(e.at),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogView {
    pub at: String,
    pub level: String,
    pub message: String,
}

impl From<JobLog> for LogView {
    fn from(l: JobLog) -> Self {
        Self {
            at: rfc3339_ms(l.at),
            level: l.level,
            message: l.message,
        }
    }
}

/// Reads a job request: defaults, and the fields the core does not check.
pub fn new_job(body: JobBody) -> Result<NewJob, ApiError> {
    let scheduled_for = body
        .scheduled_for
        .map(|at| {
            chrono::DateTime::parse_from_rfc3339(&at)
                .map(|t| t.timestamp_millis())
                .map_err(|_| ApiError::validation("scheduled_for", "an RFC 3339 time"))
        })
        .transpose()?;
    let most = chorus_actors::model::limits::NAME_CHARS;
    if body
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.chars().count() > most)
    {
        return Err(ApiError::validation(
            "idempotency_key",
            format!("1-{most} characters"),
        ));
    }
    Ok(NewJob {
        job_type: body.job_type,
        payload: body
            .payload
            .unwrap_or_else(|| Value::Object(Default::default())),
        priority: body.priority.unwrap_or(5),
        scheduled_for,
        idempotency_key: body.idempotency_key,
        max_attempts: body.max_attempts.unwrap_or(3),
    })
}

/// Creates a job: 201, or 200 with the existing job for a repeated
/// idempotency key with the same body (409 with a different one). A `chat`
/// job calls a model, so it also spends the `ai` rate class.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = JobBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = JobView), (status = 200, description = "the job an earlier request with this idempotency key created", body = JobView),
              (status = 409, description = "idempotency key reused with a different body"), (status = 422, description = "unknown or internal job_type, or invalid field"),
              (status = 429, description = "rate limit (`ai` class for chat), or too many unfinished jobs (QUOTA_EXCEEDED)")))]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<JobBody>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    if body.job_type == "chat" {
        state
            .rate_limits
            .check(RateClass::Ai, RateKey::User(me.user.id))?;
    }
    let (job, created) = state.core.jobs().create(me.user.id, new_job(body)?).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(job.try_into()?)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct JobQuery {
    #[param(schema_with = job_status_or_null)]
    pub status: Option<String>,
    pub job_type: Option<String>,
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
}

fn job_status_or_null() -> utoipa::openapi::Schema {
    fields::one_of_or_null(JobStatus::ALL.iter().map(|s| s.as_str()))
}

/// The caller's jobs, newest first.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<JobView>)))]
async fn list(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Query(q): Query<JobQuery>,
) -> Result<Json<Page<JobView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let status = q
        .status
        .map(|s| {
            JobStatus::parse(&s).ok_or_else(|| {
                ApiError::validation(
                    "status",
                    "pending, scheduled, running, completed, failed or cancelled",
                )
            })
        })
        .transpose()?;
    let filter = JobFilter {
        status,
        job_type: q.job_type,
    };
    let (jobs, total) = jobs.list(me.user.id, &filter, skip, limit)?;
    let items = jobs
        .into_iter()
        .map(JobView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// One job.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "no such job of yours")))]
async fn get_one(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(jobs.get(me.user.id, id)?.try_into()?))
}

/// Deletes a job (cancelling it first if it runs).
#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such job of yours")))]
async fn delete(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    jobs.delete(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancels a job; a running handler is told to stop.
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "no such job of yours"), (status = 409, description = "already completed, failed or cancelled")))]
async fn cancel(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(jobs.cancel(me.user.id, id).await?.try_into()?))
}

/// Puts a failed or cancelled job back to pending.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "no such job of yours"), (status = 409, description = "neither failed nor cancelled")))]
async fn retry(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(jobs.retry(me.user.id, id).await?.try_into()?))
}

/// A job's events, oldest first.
#[utoipa::path(get, path = "/jobs/{id}/events", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 404, description = "no such job of yours"), (status = 200, body = [EventView])))]
async fn events(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let events = jobs.events(me.user.id, id)?;
    let events = events.into_iter().map(EventView::try_from);
    Ok(Json(events.collect::<Result<_, _>>()?))
}

/// A job's events as SSE (`event:` = type, `id:` = seq), from
/// `Last-Event-ID` or the start, then live; ends after a terminal event.
#[utoipa::path(get, path = "/jobs/{id}/events/stream", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "SSE of the job's events", content_type = "text/event-stream", body = SseEvents), (status = 404, description = "no such job of yours"),
              (status = 429, description = "`limits.max_streams_per_user` streams open (QUOTA_EXCEEDED), or the rate class")))]
async fn stream(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = crate::sse::last_event_id(&headers);
    let slot = crate::sse::take_slot(&state, &me)?;
    let events = state.core.jobs().listen(me.user.id, id, after)?;
    Ok(crate::sse::respond(
        slot,
        events.map(|e| sse_frame(e.kind.as_str(), e.seq, e.data_json.as_str().as_bytes())),
    ))
}

/// A job's log lines.
#[utoipa::path(get, path = "/jobs/{id}/logs", tag = "jobs", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 404, description = "no such job of yours"), (status = 200, body = [LogView])))]
async fn logs(
    State(jobs): State<Jobs>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<LogView>>, ApiError> {
    let logs = jobs.logs(me.user.id, id)?;
    Ok(Json(logs.into_iter().map(LogView::from).collect()))
}
