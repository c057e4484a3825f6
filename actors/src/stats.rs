//! The admin dashboard's figures (API.md 10, `GET /admin/dashboard/stats`),
//! each read from a kept count, never from a scan: users and conversations
//! from counts written in the transactions of their records, jobs from the
//! jobs' totals, live things (sockets, SSE responses, generations, actors)
//! from the in-memory registries that hold them.

use crate::Core;
use crate::accounts::UserFigures;
use crate::error::CoreError;
use crate::jobs::JobFigures;

/// Every figure of the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DashboardStats {
    /// Accounts: all, active, made in the last 7 days.
    pub users: UserFigures,
    /// Jobs pending and running now, completed and failed in the last 24 h.
    pub jobs: JobFigures,
    /// Conversations of every user.
    pub conversations: u64,
    /// Generations running in conversations now.
    pub active_generations: u64,
    /// WebSockets open now.
    pub websockets: u64,
    /// SSE responses open now.
    pub sse_streams: u64,
    /// Live actors of each kind.
    pub actors: ActorCounts,
}

/// Live actors per kind (each supervisor's registry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActorCounts {
    /// `SessionActor`s.
    pub sessions: u64,
    /// `ConversationActor`s.
    pub conversations: u64,
    /// `JobActor`s.
    pub jobs: u64,
    /// `ConnectionActor`s.
    pub connections: u64,
}

impl Core {
    /// The dashboard's figures: a few reads of kept counts, whatever the
    /// number of users or jobs.
    pub fn dashboard_stats(&self) -> Result<DashboardStats, CoreError> {
        let conversations = self.conversations();
        let connections = self.connections();
        Ok(DashboardStats {
            users: self.accounts().user_figures()?,
            jobs: self.jobs().figures(),
            conversations: conversations.tables().total()?,
            active_generations: conversations.active_generations() as u64,
            websockets: connections.open_sockets() as u64,
            sse_streams: connections.streams().open_sse() as u64,
            actors: ActorCounts {
                sessions: self.accounts().sessions().len() as u64,
                conversations: conversations.actors().len() as u64,
                jobs: self.jobs().actors().len() as u64,
                connections: connections.actor_count() as u64,
            },
        })
    }
}
