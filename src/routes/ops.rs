//! Operations routes (API.md 1): liveness, readiness, version, metrics. Public.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorCode};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(version))
        .routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    status: &'static str,
    /// Jobs pending, scheduled or running.
    active_jobs: usize,
    uptime_s: u64,
}

/// Process status, active jobs and uptime.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        active_jobs: state.core.active_jobs(),
        uptime_s: state.core.uptime().as_secs(),
    })
}

/// Liveness: answers as long as the process serves HTTP; checks no dependency.
#[utoipa::path(get, path = "/live", tag = "operations",
    responses((status = 200, description = "`{\"status\":\"live\"}`")))]
async fn live() -> impl IntoResponse {
    Json(json!({ "status": "live" }))
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    status: &'static str,
    /// One entry per dependency: `ok` or what failed.
    #[schema(value_type = Object)]
    checks: serde_json::Value,
}

/// Readiness: a real store write+read round trip and the actor system.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Ready), (status = 503, description = "not ready; `details.checks` says why")))]
async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "shutting down",
        ));
    }
    let readiness = state.core.readiness().await;
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let checks = json!({ "store": show(&readiness.store), "actors": show(&readiness.actors) });
    if readiness.is_ready() {
        Ok(Json(Ready {
            status: "ready",
            checks,
        }))
    } else {
        Err(ApiError::new(ErrorCode::ServiceUnavailable, "not ready")
            .with_details(json!({ "checks": checks })))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Version {
    name: &'static str,
    version: &'static str,
    /// The commit this binary was built from, or `unknown`.
    git_sha: &'static str,
}

/// Name, version and the git commit of this build.
#[utoipa::path(get, path = "/version", tag = "operations",
    responses((status = 200, body = Version)))]
async fn version() -> Json<Version> {
    Json(Version {
        name: "chorus",
        version: env!("CARGO_PKG_VERSION"),
        git_sha: env!("CHORUS_GIT_SHA"),
    })
}

/// Prometheus metrics (names as in API.md 12).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", description = "Prometheus exposition text")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("chorus_store_bytes").set(state.core.store().size_on_disk() as f64);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
