//! Background jobs (API.md 5), their events and their logs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonText;

/// Where a job is in its life (API.md 5); the last three are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Queued and due; waits for a free slot.
    Pending,
    /// Waits until its `scheduled_for` time (or a retry's backoff) has passed.
    Scheduled,
    /// Its handler is running now (one attempt).
    Running,
    /// The handler finished; `result_json` holds what it returned.
    Completed,
    /// The last attempt failed and no attempts are left; `error` says why.
    Failed,
    /// Cancelled before it finished; a running attempt was told to stop.
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

    /// The lower-case name used in JSON and in query filters.
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

    /// Parses a lower-case name from a query filter; `None` for an unknown one.
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

/// A unit of background work (chat ticket, document ingest, webhook, delay) and its progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Primary key; events, logs and the SSE stream are keyed by it.
    pub id: Uuid,
    /// The owner (the system user for system jobs).
    pub user_id: Uuid,
    /// Which registered handler runs it, e.g. `chat`, `document.ingest`, `webhook.deliver`.
    pub job_type: String,
    /// Pending, scheduled or running until it reaches a terminal status.
    pub status: JobStatus,
    /// 0-10, higher runs first: 0-5 for users, up to 10 for system jobs.
    pub priority: u8,
    /// JSON object, kept as text (bincode cannot hold `Value`).
    pub payload_json: JsonText,
    /// 0-100, as last reported by the handler.
    pub progress_percent: u8,
    /// JSON object as text returned by the handler; `None` until it completes.
    pub result_json: Option<JsonText>,
    /// Why the last attempt failed; `None` if none failed or it then completed.
    pub error: Option<String>,
    /// Attempts started so far, including one interrupted by a restart.
    pub attempts: u32,
    /// Attempts allowed before it fails for good (default 3).
    pub max_attempts: u32,
    /// The client's key that makes a repeated create return this job; unique per user.
    pub idempotency_key: Option<String>,
    /// Unix ms; a job due later waits as `scheduled`.
    pub scheduled_for: Option<i64>,
    /// Unix ms when it was created.
    pub created_at: i64,
    /// Unix ms when its latest attempt started; `None` before the first.
    pub started_at: Option<i64>,
    /// Unix ms when it reached a terminal status; `None` before.
    pub completed_at: Option<i64>,
    /// Events and log lines written so far (their next sequence numbers).
    pub event_count: u64,
    /// Log lines written so far (the next log sequence number).
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
    pub data_json: JsonText,
    /// Unix ms.
    pub at: i64,
}

impl JobEvent {
    /// Whether it is the last event of the job's stream.
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }
}

/// One line a job's handler logged (`GET /jobs/{id}/logs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobLog {
    /// Unix ms when it was logged.
    pub at: i64,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// What the handler said, as written.
    pub message: String,
}
