//! Admin: every user's jobs and the system's (API.md 10): the list and a retry.

use axum::extract::State;
use axum::http::request::Parts;
use chorus_actors::audit::AuditEvent;
use chorus_actors::jobs::{AdminJobFilter, is_system};
use chorus_actors::model::{Job, JobStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::jobs::JobView;
use crate::auth::{Admin, client_ip};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
}

/// A job as an admin sees it: the owner's view plus whose it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminJobView {
    #[serde(flatten)]
    pub job: JobView,
    /// The owner; null for a job the server made for itself (`webhook.deliver`,
    /// `webhook.received`, `file.delete`).
    pub user_id: Option<Uuid>,
}

impl TryFrom<Job> for AdminJobView {
    type Error = ApiError;

    fn try_from(job: Job) -> Result<Self, ApiError> {
        let user_id = (!is_system(&job)).then_some(job.user_id);
        Ok(Self {
            job: job.try_into()?,
            user_id,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AdminJobQuery {
    #[param(schema_with = status_or_null)]
    pub status: Option<String>,
    pub job_type: Option<String>,
    /// Only this user's jobs; the nil UUID selects the system's jobs.
    pub user_id: Option<Uuid>,
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
}

fn status_or_null() -> utoipa::openapi::Schema {
    fields::one_of_or_null(JobStatus::ALL.iter().map(|s| s.as_str()))
}

/// # `GET /api/v1/admin/jobs`
///
/// Every user's jobs and the system's, newest first.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin", params(AdminJobQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<AdminJobView>), (status = 403, description = "not an admin"),
              (status = 422, description = "unknown status, a user_id that is not a UUID, or skip/limit out of range")))]
async fn list_jobs(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<AdminJobQuery>,
) -> Result<Json<Page<AdminJobView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let status = match q.status.as_deref() {
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::validation(
                "status",
                "pending, scheduled, running, completed, failed or cancelled",
            )
        })?),
        None => None,
    };
    let filter = AdminJobFilter {
        status,
        job_type: q.job_type,
        user_id: q.user_id,
    };
    let (jobs, total) = state.core.jobs().list_all(&filter, skip, limit)?;
    let items = jobs
        .into_iter()
        .map(AdminJobView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// # `POST /api/v1/admin/jobs/{id}/retry`
///
/// Puts any user's failed or cancelled job back to pending, as the owner's
/// retry does (attempts start again). Recorded in the audit log.
#[utoipa::path(post, path = "/admin/jobs/{id}/retry", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AdminJobView), (status = 403, description = "not an admin"),
              (status = 404, description = "no such job"), (status = 409, description = "neither failed nor cancelled"),
              (status = 429, description = "the owner already has `jobs.max_per_user` unfinished jobs")))]
async fn retry_job(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Path(id): Path<Uuid>,
) -> Result<Json<AdminJobView>, ApiError> {
    let job = state.core.jobs().retry_any(id).await?;
    let event = AuditEvent {
        actor_id: Some(admin.0.user.id),
        action: "job.retried",
        resource_type: "job",
        resource_id: Some(id.to_string()),
        details: serde_json::json!({ "job_type": job.job_type, "owner": (!is_system(&job)).then_some(job.user_id) }),
        ip_address: client_ip(&parts).map(|ip| ip.to_string()),
    };
    state.core.audit().record_or_log(event).await;
    Ok(Json(job.try_into()?))
}
