//! A user's notifications (API.md 2.3): what the server told them (a job
//! ended, a document is ready, the allowance, an admin's change), kept for
//! reading by REST; the same object goes live to their sockets as
//! `{"type":"notification","data":..}`.

use axum::extract::State;
use chorus_actors::notifications::{Notification, Notifications};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::bounds;
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read_all))
        .routes(routes!(read_one))
}

/// One notification; the `data` of the socket's `notification` message too.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    /// `job.completed`, `job.failed`, `document.ready`, `document.failed`,
    /// `quota.warning`, `quota.exceeded`, `account.role_changed` or
    /// `account.allowance_changed`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The ids and figures of the trigger (e.g. `job_id`, `document_id`).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub read: bool,
    /// When it was marked read; `null` while unread.
    pub read_at: Option<String>,
    pub created_at: String,
}

impl TryFrom<Notification> for NotificationView {
    type Error = ApiError;

    fn try_from(n: Notification) -> Result<Self, ApiError> {
        Ok(Self {
            id: n.id,
            kind: n.kind.as_str().to_string(),
            data: n.data_json.parse()?,
            title: n.title,
            body: n.body,
            read: n.read_at.is_some(),
            read_at: n.read_at.map(rfc3339_ms),
            created_at: rfc3339_ms(n.created_at),
        })
    }
}

/// A page of notifications, with the user's unread count.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPageView {
    pub items: Vec<NotificationView>,
    /// Items across all pages (unread ones only with `unread=true`).
    pub total: usize,
    pub skip: usize,
    pub limit: usize,
    /// How many of your notifications are unread, whatever the filter.
    pub unread: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// `true`: only unread ones.
    pub unread: Option<bool>,
}

/// # `GET /api/v1/notifications`
///
/// Your notifications, newest first (the newest 200 are kept).
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(NotificationQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = NotificationPageView)))]
async fn list(
    State(notifications): State<Notifications>,
    me: CurrentUser,
    Query(q): Query<NotificationQuery>,
) -> Result<Json<NotificationPageView>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let page = notifications.list(me.user.id, q.unread.unwrap_or(false), skip, limit)?;
    let items = page.items.into_iter().map(TryInto::try_into);
    Ok(Json(NotificationPageView {
        items: items.collect::<Result<_, _>>()?,
        total: page.total,
        skip,
        limit,
        unread: page.unread,
    }))
}

/// # `POST /api/v1/notifications/{id}/read`
///
/// Marks one notification read (again: unchanged).
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = NotificationView), (status = 404, description = "no such notification of yours")))]
async fn read_one(
    State(notifications): State<Notifications>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<NotificationView>, ApiError> {
    let n = notifications.mark_read(me.user.id, id).await?;
    Ok(Json(n.try_into()?))
}

/// How many notifications a read-all marked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAll {
    pub updated: usize,
}

/// # `POST /api/v1/notifications/read-all`
///
/// Marks every unread notification of yours read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ReadAll)))]
async fn read_all(
    State(notifications): State<Notifications>,
    me: CurrentUser,
) -> Result<Json<ReadAll>, ApiError> {
    let updated = notifications.mark_all_read(me.user.id).await?;
    Ok(Json(ReadAll { updated }))
}
