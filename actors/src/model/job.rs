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

/// What happened to a job (API.md 5's event types). Stored as its name,
/// so a record keeps the layout of a plain string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum JobEventKind {
    /// Submitted.
    Created,
    /// An attempt began.
    Started,
    /// The handler reported progress.
    Progress,
    /// The handler wrote a log line.
    Log,
    /// Succeeded; the result is kept.
    Completed,
    /// Failed for good (no attempts left).
    Failed,
    /// Cancelled by its owner.
    Cancelled,
    /// Queued again: after a failed attempt, a restart, or the owner's retry.
    Retrying,
}

impl JobEventKind {
    /// Every kind, for parsing.
    const ALL: [JobEventKind; 8] = [
        JobEventKind::Created,
        JobEventKind::Started,
        JobEventKind::Progress,
        JobEventKind::Log,
        JobEventKind::Completed,
        JobEventKind::Failed,
        JobEventKind::Cancelled,
        JobEventKind::Retrying,
    ];

    /// The name (the SSE `event:` of a job's stream).
    pub fn as_str(self) -> &'static str {
        match self {
            JobEventKind::Created => "created",
            JobEventKind::Started => "started",
            JobEventKind::Progress => "progress",
            JobEventKind::Log => "log",
            JobEventKind::Completed => "completed",
            JobEventKind::Failed => "failed",
            JobEventKind::Cancelled => "cancelled",
            JobEventKind::Retrying => "retrying",
        }
    }

    /// Completed, failed or cancelled: the last event of a job's stream.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobEventKind::Completed | JobEventKind::Failed | JobEventKind::Cancelled
        )
    }
}

impl TryFrom<String> for JobEventKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown job event kind {s:?}"))
    }
}

impl From<JobEventKind> for &'static str {
    fn from(kind: JobEventKind) -> Self {
        kind.as_str()
    }
}

/// One entry of a job's event history (and of its SSE stream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEvent {
    /// 1-based, the SSE `id:`.
    pub seq: u64,
    /// What happened.
    pub kind: JobEventKind,
    /// The event's JSON object, as text.
    pub data_json: String,
    /// Unix ms.
    pub at: i64,
}

impl JobEvent {
    /// Whether it is the last event of the job's stream.
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobLog {
    pub at: i64,
    pub level: String,
    pub message: String,
}
