//! Jobs that lost their attempt: at start-up every unfinished job in the
//! active index resumes, and a running one (its attempt died with the
//! process) is re-queued with that attempt counted. A JobActor restarted
//! after a failure does the same for its own job (see `JobActor::load`).

use serde_json::json;
use uuid::Uuid;

use super::Jobs;
use super::tables::JobTables;
use crate::error::CoreError;
use crate::model::{Job, JobEventKind, JobStatus, now_ms};
use crate::store::StoreError;

/// Re-queues `job`, found `running` with no attempt alive: back to pending
/// (the attempt counts), or failed if it was the last one. Writes the event
/// and the record; durable with the next commit.
pub(super) fn requeue_interrupted(tables: &JobTables, job: &mut Job) -> Result<(), StoreError> {
    let (kind, data) = if job.attempts >= job.max_attempts {
        job.status = JobStatus::Failed;
        job.error = Some("interrupted by a restart".into());
        job.completed_at = Some(now_ms());
        tables.active.remove(&job.id)?;
        (
            JobEventKind::Failed,
            json!({ "error": "interrupted by a restart" }),
        )
    } else {
        job.status = JobStatus::Pending;
        job.progress_percent = 0;
        (
            JobEventKind::Retrying,
            json!({ "reason": "restart", "attempt": job.attempts }),
        )
    };
    tables.push_event(job, kind, data, now_ms())?;
    tables.jobs.insert(&job.id, job)?;
    Ok(())
}

/// The id of an entry of the active index. An entry that cannot be read
/// stops start-up: skipping it would silently drop a job.
fn active_id(entry: Result<(Vec<u8>, ()), StoreError>) -> Result<Uuid, CoreError> {
    let (key, ()) =
        entry.map_err(|e| CoreError::Internal(format!("jobs_active cannot be read: {e}")))?;
    Uuid::from_slice(&key).map_err(|_| {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        CoreError::Internal(format!(
            "jobs_active holds an entry that is not a job id (key {hex}); \
             repair or remove it before starting"
        ))
    })
}

impl Jobs {
    /// Re-queues what was pending, scheduled or running when the server stopped.
    pub(super) async fn recover(&self) -> Result<(), CoreError> {
        let tables = &self.deps.tables;
        let ids = tables
            .active
            .iter()
            .map(active_id)
            .collect::<Result<Vec<_>, _>>()?;
        let mut resumed = 0;
        let totals = &self.deps.totals;
        totals.forget_unfinished();
        for id in ids {
            let job = tables.jobs.get(&id).map_err(|e| {
                CoreError::Internal(format!("job {id} of jobs_active cannot be read: {e}"))
            })?;
            let Some(mut job) = job else {
                tables.active.remove(&id)?;
                continue;
            };
            if job.status == JobStatus::Running {
                requeue_interrupted(tables, &mut job)?;
                if job.status.is_terminal() {
                    // Counted as running by no one: count it in its end.
                    totals.count_unfinished(JobStatus::Running);
                    totals.moved(tables, &job, Some(JobStatus::Running), Some(job.status))?;
                }
            } else if job.status.is_terminal() {
                tables.active.remove(&id)?;
            }
            if !job.status.is_terminal() {
                totals.count_unfinished(job.status);
                self.deps.counts.add(job.user_id);
                self.deps
                    .scheduler
                    .enqueue(job.id, job.user_id, job.priority, job.scheduled_for);
                resumed += 1;
            }
        }
        totals.publish();
        self.deps.store.commit().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed unfinished jobs");
        }
        Ok(())
    }
}
