//! Admin: the dashboard's figures (API.md 10, `GET /admin/dashboard/stats`).
//! Every figure is a kept count read in place (see `chorus_actors::stats`).

use axum::extract::State;
use chorus_actors::stats::DashboardStats;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardStatsView {
    pub users: UserStats,
    pub jobs: JobStats,
    pub conversations: ConversationStats,
    pub connections: ConnectionStats,
    pub actors: ActorStats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserStats {
    /// Every account, deactivated ones included.
    pub total: u64,
    /// Accounts not deactivated.
    pub active: u64,
    /// Accounts made in the current hour and the 167 before it.
    pub new_last_7_days: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobStats {
    /// Jobs in status `pending` now (`scheduled` ones are not counted here).
    pub pending: u64,
    /// Jobs running now.
    pub running: u64,
    /// Jobs that completed in the current hour and the 23 before it.
    pub completed_last_24h: u64,
    /// Jobs that failed for good (no attempts left) in the current hour and the 23 before it.
    pub failed_last_24h: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationStats {
    /// Every user's conversations.
    pub total: u64,
    /// Answers being generated in conversations now.
    pub active_generations: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionStats {
    /// WebSockets open now.
    pub websocket: u64,
    /// SSE responses open now.
    pub sse: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorStats {
    /// Live session actors.
    pub sessions: u64,
    /// Live conversation actors.
    pub conversations: u64,
    /// Live job actors.
    pub jobs: u64,
    /// Live connection actors.
    pub connections: u64,
}

impl From<DashboardStats> for DashboardStatsView {
    fn from(s: DashboardStats) -> Self {
        Self {
            users: UserStats {
                total: s.users.total,
                active: s.users.active,
                new_last_7_days: s.users.new_last_7_days,
            },
            jobs: JobStats {
                pending: s.jobs.pending,
                running: s.jobs.running,
                completed_last_24h: s.jobs.completed_last_24h,
                failed_last_24h: s.jobs.failed_last_24h,
            },
            conversations: ConversationStats {
                total: s.conversations,
                active_generations: s.active_generations,
            },
            connections: ConnectionStats {
                websocket: s.websockets,
                sse: s.sse_streams,
            },
            actors: ActorStats {
                sessions: s.actors.sessions,
                conversations: s.actors.conversations,
                jobs: s.actors.jobs,
                connections: s.actors.connections,
            },
        }
    }
}

/// # `GET /api/v1/admin/dashboard/stats`
///
/// Users, jobs, conversations, open connections and live actors, each a
/// kept count (no scan): it answers in the same time for 10 users or 100,000.
#[utoipa::path(get, path = "/admin/dashboard/stats", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DashboardStatsView), (status = 403, description = "not an admin")))]
async fn stats(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<DashboardStatsView>, ApiError> {
    Ok(Json(state.core.dashboard_stats()?.into()))
}
