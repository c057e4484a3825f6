//! Operations routes (API.md 1): liveness, readiness, version, metrics. Public.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;
use chorus_actors::accounts::secrets::{same_hash, sha256};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorKind};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    // The cache is layered on `/ready` alone: every other route (`/live`
    // above all) would pay an extension per request for it.
    let ready = OpenApiRouter::new()
        .routes(routes!(ready))
        .layer(Extension(ReadyCache::new(READY_TTL)));
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(version))
        .routes(routes!(metrics))
        .merge(ready)
}

/// How long a readiness answer is reused: a flood of `/ready` costs one
/// store round trip per second, not one per request.
const READY_TTL: Duration = Duration::from_secs(1);

/// The last readiness answer and when it was made. The lock is held while
/// a check runs, so concurrent probes share one check.
#[derive(Clone)]
struct ReadyCache {
    ttl: Duration,
    last: Arc<tokio::sync::Mutex<Option<(std::time::Instant, ReadyAnswer)>>>,
}

/// A readiness result: whether ready, and each check's text.
type ReadyAnswer = (bool, serde_json::Value);

impl ReadyCache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            last: Arc::default(),
        }
    }

    /// The cached answer if fresh, else `check`'s (then cached).
    async fn get_or_check<F, Fut>(&self, check: F) -> ReadyAnswer
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ReadyAnswer>,
    {
        let mut slot = self.last.lock().await;
        if let Some((at, answer)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return answer.clone();
        }
        let answer = check().await;
        *slot = Some((std::time::Instant::now(), answer.clone()));
        answer
    }
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
async fn ready(
    State(state): State<AppState>,
    Extension(cache): Extension<ReadyCache>,
) -> Result<Json<Ready>, ApiError> {
    if state.shutdown.is_cancelled() {
        // Not ready for new work, whatever the store says: no check runs.
        let checks = json!({ "shutdown": "shutting down" });
        return Err(not_ready("shutting down", checks));
    }
    let (is_ready, checks) = cache
        .get_or_check(|| async {
            let readiness = state.core.readiness().await;
            let show = |r: &Result<(), String>| match r {
                Ok(()) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            let checks =
                json!({ "store": show(&readiness.store), "actors": show(&readiness.actors) });
            (readiness.is_ready(), checks)
        })
        .await;
    if is_ready {
        Ok(Json(Ready {
            status: "ready",
            checks,
        }))
    } else {
        Err(not_ready("not ready", checks))
    }
}

/// Every not-ready answer: 503 with `details.checks` saying why.
fn not_ready(message: &'static str, checks: serde_json::Value) -> ApiError {
    ApiError::new(ErrorKind::ServiceUnavailable, message).with_details(json!({ "checks": checks }))
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

/// Prometheus metrics (names as in API.md 12). With `metrics.token` set,
/// only a scraper that sends it as a bearer token gets them.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", description = "Prometheus exposition text"),
              (status = 401, description = "`metrics.token` is set and the bearer token is missing or wrong")))]
async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = &state.config.metrics.token {
        check_metrics_token(&headers, token.expose())?;
    }
    metrics::gauge!("chorus_store_bytes").set(state.core.store().size_on_disk() as f64);
    state.core.jobs().publish_metrics();
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    ))
}

/// The bearer token must equal `expected`, compared in constant time (as
/// hashes, so the length is not told either).
fn check_metrics_token(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        None => Err(
            chorus_actors::CoreError::unauthenticated("missing", "metrics token required").into(),
        ),
        Some(token) if same_hash(&sha256(token), &sha256(expected)) => Ok(()),
        Some(_) => Err(chorus_actors::CoreError::unauthenticated(
            "invalid",
            "invalid metrics token",
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_flood_of_ready_probes_costs_one_check_per_ttl() {
        let checks = AtomicUsize::new(0);
        let check = || async {
            checks.fetch_add(1, Ordering::SeqCst);
            (true, json!({}))
        };
        let cached = ReadyCache::new(Duration::from_secs(3600));
        for _ in 0..100 {
            cached.get_or_check(check).await;
        }
        assert_eq!(checks.load(Ordering::SeqCst), 1);
        // Once the answer is older than the TTL, the next probe checks again.
        let expired = ReadyCache::new(Duration::ZERO);
        expired.get_or_check(check).await;
        expired.get_or_check(check).await;
        assert_eq!(checks.load(Ordering::SeqCst), 3);
    }
}
