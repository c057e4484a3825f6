//! The store tables of jobs. Job writes go without sled transactions (they
//! are the hot path of the jobs bench); the writes are ordered so that a
//! crash between them leaves a state that start-up recovery repairs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Job, JobEvent, JobEventKind, JobLog};
use crate::store::{Store, StoreError, Table};

/// An idempotency key's job and a hash of the body that created it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idempotent {
    pub job_id: Uuid,
    pub body_hash: [u8; 32],
}

/// The store tables of jobs, opened once and shared by the handle and the actors.
#[derive(Clone)]
pub struct JobTables {
    /// Job id -> the job record.
    pub jobs: Table<Uuid, Job>,
    /// (user id, job id v7) -> job id: a user's jobs, oldest first.
    pub by_user: Table<(Uuid, Uuid), Uuid>,
    /// Jobs not yet completed, failed or cancelled: what start-up resumes,
    /// without a scan of every job.
    pub active: Table<Uuid, ()>,
    /// (job id, seq) -> one event, in order: the event history and SSE replay.
    pub events: Table<(Uuid, u64), JobEvent>,
    /// (job id, log line number) -> one line of the job's log, in order.
    pub logs: Table<(Uuid, u64), JobLog>,
    /// (user id, idempotency key) -> the job it created.
    pub idempotency: Table<(Uuid, String), Idempotent>,
    /// (terminal status code, job id v7): the admin list of one terminal
    /// status, newest first (unfinished ones are read from `active`).
    pub by_status: Table<(u32, Uuid), ()>,
    /// (type length, job type, job id v7): the admin list of one job type.
    pub by_type: Table<(u32, String, Uuid), ()>,
}

impl JobTables {
    /// Opens the job tables in `store`.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            jobs: store.table("jobs")?,
            by_user: store.table("jobs_by_user")?,
            active: store.table("jobs_active")?,
            events: store.table("job_events")?,
            logs: store.table("job_logs")?,
            idempotency: store.table("job_idempotency")?,
            by_status: store.table("jobs_by_status")?,
            by_type: store.table("jobs_by_type")?,
        })
    }

    /// Appends an event to `job` (its count moves on) and answers it; the
    /// caller writes the job record after.
    pub fn push_event(
        &self,
        job: &mut Job,
        kind: JobEventKind,
        data: serde_json::Value,
        at: i64,
    ) -> Result<JobEvent, StoreError> {
        job.event_count += 1;
        let event = JobEvent {
            seq: job.event_count,
            kind,
            data_json: crate::model::JsonText::from_value(&data),
            at,
        };
        self.events.insert(&(job.id, event.seq), &event)?;
        Ok(event)
    }

    /// Every event of `job` after `after`, in order.
    pub fn events_after(&self, job: Uuid, after: u64) -> Result<Vec<JobEvent>, StoreError> {
        self.events
            .scan_prefix(&job)
            .map(|r| r.map(|(_, e)| e))
            .filter(|r| r.as_ref().map_or(true, |e| e.seq > after))
            .collect()
    }

    /// Removes a job and everything kept about it.
    pub fn remove(&self, job: &Job) -> Result<(), StoreError> {
        self.active.remove(&job.id)?;
        self.by_user.remove(&(job.user_id, job.id))?;
        if let Some(key) = &job.idempotency_key {
            self.idempotency.remove(&(job.user_id, key.clone()))?;
        }
        self.events.remove_prefix(&job.id)?;
        self.logs.remove_prefix(&job.id)?;
        self.jobs.remove(&job.id)?;
        Ok(())
    }
}
