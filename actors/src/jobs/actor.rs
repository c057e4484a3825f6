//! The JobActor: one per job. It owns the job's state transitions (run,
//! progress, finish, retry with backoff, cancel, delete), persists each one,
//! and runs the handler in a task it spawns, so its mailbox stays free.

use std::sync::Arc;

use dashmap::DashMap;
use ractor::RpcReplyPort;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::handler::{Handlers, JobCtx};
use super::scheduler::Scheduler;
use super::tables::JobTables;
use crate::channels::Channels;
use crate::error::CoreError;
use crate::model::{Job, JobEvent, JobLog, JobStatus, now_ms};
use crate::store::Store;
use crate::supervisor::{Ctx, KeyedActor};

pub enum JobMsg {
    /// The scheduler hands the job a slot.
    Run,
    Progress(u8),
    Log(&'static str, String),
    /// The running attempt ended.
    Finished(Result<Value, String>),
    Cancel(RpcReplyPort<Result<Job, CoreError>>),
    Retry(RpcReplyPort<Result<Job, CoreError>>),
    Delete(RpcReplyPort<Result<(), CoreError>>),
}

/// What every job actor shares.
pub struct JobDeps {
    pub store: Store,
    pub tables: JobTables,
    pub handlers: Handlers,
    pub scheduler: Scheduler,
    pub channels: Channels,
    /// Live listeners of a job's events, by job.
    pub live: DashMap<Uuid, broadcast::Sender<JobEvent>>,
    /// Jobs that just ended, for outgoing webhooks.
    pub ended: mpsc::UnboundedSender<Job>,
    #[cfg(test)]
    pub faults: super::faults::Faults,
}

pub struct JobActor {
    pub(super) deps: Arc<JobDeps>,
}

pub struct JobState {
    /// `None` once deleted.
    job: Option<Job>,
    /// Set while an attempt runs.
    running: Option<CancellationToken>,
}

impl KeyedActor for JobActor {
    type Key = Uuid;
    type Msg = JobMsg;
    type State = JobState;
    const KIND: &'static str = "job";

    async fn load(&self, id: &Uuid) -> Result<JobState, CoreError> {
        let job = self
            .deps
            .tables
            .jobs
            .get(id)?
            .ok_or_else(|| CoreError::not_found("job", id))?;
        Ok(JobState {
            job: Some(job),
            running: None,
        })
    }

    fn is_idle(&self, state: &JobState) -> bool {
        state.running.is_none()
    }

    async fn handle(
        &self,
        ctx: &Ctx<Self>,
        msg: JobMsg,
        state: &mut JobState,
    ) -> Result<(), CoreError> {
        let Some(job) = state.job.as_mut() else {
            return self.gone(msg);
        };
        match msg {
            JobMsg::Run => self.run(ctx, job, &mut state.running).await?,
            JobMsg::Progress(percent) if job.status == JobStatus::Running => {
                job.progress_percent = percent;
                self.record(job, "progress", json!({ "percent": percent }))?;
            }
            JobMsg::Log(level, message) if job.status == JobStatus::Running => {
                job.log_count += 1;
                let line = JobLog {
                    at: now_ms(),
                    level: level.to_string(),
                    message: message.clone(),
                };
                self.deps
                    .tables
                    .logs
                    .insert(&(job.id, job.log_count), &line)?;
                self.record(job, "log", json!({ "level": level, "message": message }))?;
            }
            JobMsg::Progress(_) | JobMsg::Log(..) => {}
            JobMsg::Finished(outcome) => {
                // After a cancel the slot was already given back.
                if state.running.take().is_some() && job.status == JobStatus::Running {
                    // The handler is done: its slot is free while the
                    // outcome is made durable.
                    self.deps.scheduler.done();
                    self.finish(job, outcome).await?;
                }
            }
            JobMsg::Cancel(reply) => {
                let result = self.cancel(job, &mut state.running).await;
                let _ = reply.send(result);
            }
            JobMsg::Retry(reply) => {
                let result = self.retry(job).await;
                let _ = reply.send(result);
            }
            JobMsg::Delete(reply) => {
                if !job.status.is_terminal() {
                    self.cancel(job, &mut state.running).await?;
                }
                self.deps.tables.remove(job)?;
                self.deps.store.commit().await?;
                state.job = None;
                let _ = reply.send(Ok(()));
            }
        }
        Ok(())
    }
}

impl JobActor {
    /// Answers requests for a job deleted while its actor lived.
    fn gone(&self, msg: JobMsg) -> Result<(), CoreError> {
        let missing = || CoreError::not_found("job", "deleted");
        match msg {
            JobMsg::Cancel(reply) | JobMsg::Retry(reply) => {
                let _ = reply.send(Err(missing()));
            }
            JobMsg::Delete(reply) => {
                let _ = reply.send(Err(missing()));
            }
            JobMsg::Run => self.deps.scheduler.done(),
            _ => {}
        }
        Ok(())
    }

    async fn run(
        &self,
        ctx: &Ctx<Self>,
        job: &mut Job,
        running: &mut Option<CancellationToken>,
    ) -> Result<(), CoreError> {
        let handler = self.deps.handlers.get(&job.job_type).cloned();
        let (true, Some(handler)) = (
            matches!(job.status, JobStatus::Pending | JobStatus::Scheduled),
            handler,
        ) else {
            self.deps.scheduler.done();
            return Ok(());
        };
        job.status = JobStatus::Running;
        job.attempts += 1;
        job.started_at = Some(now_ms());
        job.progress_percent = 0;
        self.record(job, "started", json!({ "attempt": job.attempts }))?;
        let cancel = CancellationToken::new();
        *running = Some(cancel.clone());
        let run = JobCtx {
            job_id: job.id,
            user_id: job.user_id,
            payload: serde_json::from_str(&job.payload_json).unwrap_or(Value::Null),
            cancel,
            mailbox: ctx.mailbox(),
        };
        let mailbox = ctx.mailbox();
        let store = self.deps.store.clone();
        tokio::spawn(async move {
            // The attempt is durable before it runs (a restart counts it),
            // and the actor's mailbox stays free while that is flushed.
            if let Err(e) = store.commit().await {
                mailbox.send(JobMsg::Finished(Err(CoreError::from(e).public_message())));
                return;
            }
            // A handler that panics is a failed attempt, not a stuck job.
            let outcome = match tokio::spawn(handler.run(run)).await {
                Ok(outcome) => outcome,
                Err(_) => Err("the job handler crashed".to_string()),
            };
            mailbox.send(JobMsg::Finished(outcome));
        });
        Ok(())
    }

    async fn finish(&self, job: &mut Job, outcome: Result<Value, String>) -> Result<(), CoreError> {
        let now = now_ms();
        match outcome {
            Ok(result) => {
                job.status = JobStatus::Completed;
                job.progress_percent = 100;
                job.result_json = Some(result.to_string());
                job.error = None;
                job.completed_at = Some(now);
                self.record(job, "completed", json!({ "result": result }))?;
            }
            Err(error) if job.attempts < job.max_attempts => {
                // 1 s, 2 s, 4 s ... after the attempt that failed.
                let backoff = 1000i64 << (job.attempts - 1).min(16);
                job.status = JobStatus::Scheduled;
                job.scheduled_for = Some(now + backoff);
                job.error = Some(error.clone());
                self.record(
                    job,
                    "retrying",
                    json!({ "error": error, "attempt": job.attempts, "retry_in_ms": backoff }),
                )?;
            }
            Err(error) => {
                job.status = JobStatus::Failed;
                job.error = Some(error.clone());
                job.completed_at = Some(now);
                self.record(job, "failed", json!({ "error": error }))?;
            }
        }
        self.settle(job).await
    }

    async fn cancel(
        &self,
        job: &mut Job,
        running: &mut Option<CancellationToken>,
    ) -> Result<Job, CoreError> {
        if job.status.is_terminal() {
            return Err(CoreError::Conflict(format!(
                "job is already {}",
                job.status.as_str()
            )));
        }
        if let Some(token) = running.take() {
            token.cancel();
            self.deps.scheduler.done();
        }
        job.status = JobStatus::Cancelled;
        job.completed_at = Some(now_ms());
        self.record(job, "cancelled", json!({}))?;
        self.settle(job).await?;
        Ok(job.clone())
    }

    async fn retry(&self, job: &mut Job) -> Result<Job, CoreError> {
        if !matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
            return Err(CoreError::Conflict(format!(
                "only a failed or cancelled job can be retried; this one is {}",
                job.status.as_str()
            )));
        }
        job.status = JobStatus::Pending;
        job.attempts = 0;
        job.progress_percent = 0;
        job.error = None;
        job.result_json = None;
        job.scheduled_for = None;
        job.completed_at = None;
        self.record(job, "retrying", json!({ "by": "user" }))?;
        self.settle(job).await?;
        Ok(job.clone())
    }

    /// Writes an event and the job record, and tells live listeners and the
    /// owner's sockets. Durable with the next commit.
    fn record(&self, job: &mut Job, kind: &str, data: Value) -> Result<(), CoreError> {
        #[cfg(test)]
        self.deps.faults.on_record(kind)?;
        let event = self.deps.tables.push_event(job, kind, data, now_ms())?;
        self.deps.tables.jobs.insert(&job.id, job)?;
        if let Some(live) = self.deps.live.get(&job.id) {
            let _ = live.send(event);
        }
        let update = json!({ "id": job.id, "status": job.status.as_str(), "progress_percent": job.progress_percent });
        self.deps.channels.job_update(job.user_id, &update);
        Ok(())
    }

    /// Makes a state change durable and moves the job in or out of the
    /// active index and the scheduler.
    async fn settle(&self, job: &Job) -> Result<(), CoreError> {
        if job.status.is_terminal() {
            self.deps.tables.active.remove(&job.id)?;
        } else {
            self.deps.tables.active.insert(&job.id, &())?;
        }
        self.deps.store.commit().await?;
        match job.status {
            JobStatus::Pending | JobStatus::Scheduled => {
                self.deps
                    .scheduler
                    .enqueue(job.id, job.priority, job.scheduled_for);
            }
            JobStatus::Completed | JobStatus::Failed => {
                let _ = self.deps.ended.send(job.clone());
            }
            _ => {}
        }
        Ok(())
    }
}
