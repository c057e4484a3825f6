//! The JobActor's state transitions that change a job record: finish an
//! attempt (completed, retried later, failed), cancel, retry, reopen, and
//! the event each one records. The actor (`actor.rs`) calls them from its
//! handler and makes each one durable before anyone is answered.

use serde_json::{Value, json};

use super::actor::JobActor;
use super::scheduler::retry_delay_ms;
use crate::error::CoreError;
use crate::model::{Job, JobEventKind, JobStatus, JsonText, now_ms};

impl JobActor {
    /// Records an attempt's outcome: completed, scheduled again, or failed.
    pub(super) fn finish(
        &self,
        job: &mut Job,
        outcome: Result<Value, String>,
    ) -> Result<(), CoreError> {
        let now = now_ms();
        match outcome {
            Ok(result) => {
                job.status = JobStatus::Completed;
                job.progress_percent = 100;
                job.result_json = Some(JsonText::from_value(&result));
                job.error = None;
                job.completed_at = Some(now);
                self.record(job, JobEventKind::Completed, json!({ "result": result }))?;
            }
            Err(error) if job.attempts < job.max_attempts => {
                let backoff = retry_delay_ms(job.attempts);
                job.status = JobStatus::Scheduled;
                job.scheduled_for = Some(now + backoff);
                job.error = Some(error.clone());
                self.record(
                    job,
                    JobEventKind::Retrying,
                    json!({ "error": error, "attempt": job.attempts, "retry_in_ms": backoff }),
                )?;
            }
            Err(error) => {
                job.status = JobStatus::Failed;
                job.error = Some(error.clone());
                job.completed_at = Some(now);
                self.record(job, JobEventKind::Failed, json!({ "error": error }))?;
            }
        }
        Ok(())
    }

    /// Cancels an unfinished job: its attempt stops and its slot is freed.
    pub(super) fn cancel(&self, job: &mut Job) -> Result<(), CoreError> {
        if job.status.is_terminal() {
            return Err(CoreError::Conflict(format!(
                "job is already {}",
                job.status.as_str()
            )));
        }
        if let Some((_, attempt)) = self.deps.attempts.remove(&job.id) {
            attempt.cancel.cancel();
            self.deps.scheduler.done(job.id);
        }
        job.status = JobStatus::Cancelled;
        job.completed_at = Some(now_ms());
        self.record(job, JobEventKind::Cancelled, json!({}))
    }

    /// Puts a failed or cancelled job back in the queue, under the user's cap.
    pub(super) fn retry(&self, job: &mut Job) -> Result<(), CoreError> {
        if !matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
            return Err(CoreError::Conflict(format!(
                "only a failed or cancelled job can be retried; this one is {}",
                job.status.as_str()
            )));
        }
        // Back among the unfinished: it needs a place under the user's cap.
        self.deps.counts.take(job.user_id)?;
        let reopened = self.reopen(job);
        if reopened.is_err() {
            self.deps.counts.release(job.user_id);
        }
        reopened
    }

    pub(super) fn reopen(&self, job: &mut Job) -> Result<(), CoreError> {
        job.status = JobStatus::Pending;
        job.attempts = 0;
        job.progress_percent = 0;
        job.error = None;
        job.result_json = None;
        job.scheduled_for = None;
        job.completed_at = None;
        self.record(job, JobEventKind::Retrying, json!({ "by": "user" }))
    }

    /// Writes an event and the job record, and tells live listeners and the
    /// owner's sockets. Durable with the next commit.
    pub(super) fn record(
        &self,
        job: &mut Job,
        kind: JobEventKind,
        data: Value,
    ) -> Result<(), CoreError> {
        #[cfg(test)]
        self.deps.faults.on_record(kind.as_str())?;
        let event = self.deps.tables.push_event(job, kind, data, now_ms())?;
        self.deps.tables.jobs.insert(&job.id, job)?;
        if let Some(live) = self.deps.live.get(&job.id) {
            let _ = live.send(event);
        }
        if !super::is_system(job) {
            let update = json!({ "id": job.id, "status": job.status.as_str(), "progress_percent": job.progress_percent });
            self.deps.channels.job_update(job.user_id, &update);
        }
        Ok(())
    }
}
