//! Admin: impersonation (API.md 10). An admin gets a one-hour token that
//! acts as a plain user; every request made with it is audited with both
//! ids (`crate::auth::audited`), and `stop`, called with that token, is the
//! one admin route it may use.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use chorus_actors::accounts::{LoginContext, MAX_REASON_CHARS};
use chorus_actors::model::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::users::UserView;
use crate::auth::{Admin, CurrentUser, client_ip};
use crate::error::{ApiError, ErrorKind};
use crate::extract::Json;
use crate::state::AppState;
use crate::time::rfc3339_ms;

/// How long an impersonation token lives. It cannot be refreshed.
pub const IMPERSONATION_TTL: Duration = Duration::from_secs(3600);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(stop))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StartBody {
    /// The user to act as: a plain, active user.
    pub user_id: Uuid,
    /// Why, for the audit log: 1-500 characters, not only spaces.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: String,
}

/// No `Debug`: it carries a token.
#[derive(Serialize, ToSchema)]
pub struct StartView {
    /// An access token acting as the user, whose claims name both (`sub`
    /// the user, `act.sub` the admin). Not refreshable.
    pub token: String,
    pub expires_at: String,
    pub impersonated_user: UserView,
}

/// # `POST /api/v1/admin/impersonate/start`
/// Starts acting as a plain user for one hour (audited `impersonation.started`).
#[utoipa::path(post, path = "/admin/impersonate/start", tag = "admin", request_body = StartBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = StartView),
        (status = 403, description = "not an admin, an impersonation token, or the user is an admin or superadmin"),
        (status = 404, description = "no such user"), (status = 409, description = "the user is deactivated")))]
async fn start(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    Json(body): Json<StartBody>,
) -> Result<Json<StartView>, ApiError> {
    if body.reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::validation("reason", "at most 500 characters"));
    }
    let ctx = LoginContext {
        user_agent: None,
        ip: client_ip(&parts).map(|ip| ip.to_string()),
    };
    let admin = admin.0.user;
    let started = state
        .core
        .accounts()
        .start_impersonation(&admin, body.user_id, &body.reason, IMPERSONATION_TTL, ctx)
        .await?;
    let ttl = Duration::from_millis((started.expires_at - now_ms()).max(0) as u64);
    let (token, _) = state
        .jwt
        .issue_as(&started.target, started.session_id, ttl, Some(admin.id))
        .map_err(|e| ApiError::internal(format!("impersonation token not signed: {e}")))?;
    Ok(Json(StartView {
        token,
        expires_at: rfc3339_ms(started.expires_at),
        impersonated_user: UserView::from(&*started.target),
    }))
}

/// # `POST /api/v1/admin/impersonate/stop`
/// Called WITH the impersonation token: revokes it at once (its sockets
/// close with 1008 `revoked`); audited `impersonation.stopped`.
#[utoipa::path(post, path = "/admin/impersonate/stop", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "stopped; the token answers 401 from now on"),
        (status = 403, description = "not an admin"),
        (status = 409, description = "an admin's own token: send the impersonation token")))]
async fn stop(
    State(state): State<AppState>,
    me: CurrentUser,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    let (Some(admin), Some(sid)) = (me.impersonator, me.session_id) else {
        return Err(if me.user.role.is_admin() {
            ApiError::new(
                ErrorKind::Conflict,
                "no impersonation to stop: call this with the impersonation token",
            )
        } else {
            ApiError::new(ErrorKind::Authorization, "admin role required")
        });
    };
    let ip = client_ip(&parts).map(|ip| ip.to_string());
    state
        .core
        .accounts()
        .stop_impersonation(admin, sid, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
