//! Background jobs (API.md 5), their events and their logs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Scheduled,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    /// Every status, in the order of a job's life.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Scheduled,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Scheduled => "scheduled",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobStatus::Pending,
            "scheduled" => JobStatus::Scheduled,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    /// Completed, failed or cancelled: nothing more happens by itself.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub user_id: Uuid,
    pub job_type: String,
    pub status: JobStatus,
    /// 0-10, higher runs first: 0-5 for users, up to 10 for system jobs.
    pub priority: u8,
    /// JSON object, kept as text (bincode cannot hold `Value`).
    pub payload_json: String,
    pub progress_percent: u8,
    pub result_json: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub idempotency_key: Option<String>,
    /// Unix ms; a job due later waits as `scheduled`.
    pub scheduled_for: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Events and log lines written so far (their next sequence numbers).
    pub event_count: u64,
    pub log_count: u64,
}

/// One entry of a job's event history (and of its SSE stream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEvent {
    /// 1-based, the SSE `id:`.
    pub seq: u64,
    /// created, started, progress, log, completed, failed, cancelled, retrying.
    pub kind: String,
    pub data_json: String,
    pub at: i64,
}

impl JobEvent {
    pub fn is_terminal(&self) -> bool {
        matches!(self.kind.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobLog {
    pub at: i64,
    pub level: String,
    pub message: String,
}
