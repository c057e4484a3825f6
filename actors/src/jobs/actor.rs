//! The JobActor: one per job. It owns the job's state transitions (run,
//! progress, finish, retry with backoff, cancel, delete), persists each one,
//! and runs the handler in a task it spawns, so its mailbox stays free.
//!
//! An attempt in flight lives in [`JobDeps::attempts`], outside any actor
//! instance, and reports its outcome by key through the supervisor: an
//! actor restarted after a failure picks the attempt up where it was.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use ractor::RpcReplyPort;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::JobCtx;
use super::counts::ActiveCounts;
use super::handler::Handlers;
use super::recovery::requeue_interrupted;
use super::scheduler::Scheduler;
use super::tables::JobTables;
use crate::background::Background;
use crate::channels::Channels;
use crate::error::CoreError;
use crate::model::{Job, JobEvent, JobEventKind, JobLog, JobStatus, now_ms};
use crate::store::Store;
use crate::supervisor::{Ctx, KeyedActor, Supervisor};

pub(crate) enum JobMsg {
    /// The scheduler hands the job a slot.
    Run,
    /// (attempt, percent)
    Progress(u64, u8),
    /// (attempt, level, message)
    Log(u64, &'static str, String),
    /// (attempt, outcome): the running attempt ended.
    Finished(u64, Result<Value, String>),
    /// Cancel the job; answers it cancelled, or 409 if it already ended.
    Cancel(RpcReplyPort<Result<Job, CoreError>>),
    /// Reopen a failed or cancelled job; answers it pending, or 409 otherwise.
    Retry(RpcReplyPort<Result<Job, CoreError>>),
    /// Cancel the job if unfinished, then remove it with its events, logs and indexes.
    Delete(RpcReplyPort<Result<(), CoreError>>),
}

/// An attempt in flight.
#[derive(Clone)]
pub struct Attempt {
    /// Unique per process, so the outcome of an older attempt is told apart.
    id: u64,
    pub(super) cancel: CancellationToken,
}

/// What every job actor shares.
pub struct JobDeps {
    /// The store whose commit makes each state change durable.
    pub store: Store,
    /// Jobs, their events and logs, and the active and idempotency indexes.
    pub tables: JobTables,
    /// The handler of each job type.
    pub handlers: Handlers,
    /// Hands out run slots by priority, fairness and due time.
    pub scheduler: Scheduler,
    /// Where `job.update` messages reach the owner's sockets.
    pub channels: Channels,
    /// Live listeners of a job's events, by job.
    pub live: DashMap<Uuid, broadcast::Sender<JobEvent>>,
    /// Jobs that just ended, for outgoing webhooks.
    pub ended: mpsc::UnboundedSender<Job>,
    /// Attempts in flight, by job; each holds a scheduler slot.
    pub attempts: DashMap<Uuid, Attempt>,
    pub(super) next_attempt: AtomicU64,
    /// Unfinished jobs per user (`jobs.max_per_user`).
    pub(super) counts: ActiveCounts,
    /// Jobs per status and type, and how many ended lately (admin list, dashboard).
    pub(super) totals: super::totals::JobTotals,
    /// The job actors, set once they started: outcomes go through it by key.
    pub(super) actors: OnceLock<Supervisor<JobActor>>,
    /// Attempts run here, so shutdown stops them.
    pub(super) background: Background,
    /// Test-only hooks that make a record fail or hold the commits of `Jobs::create`.
    #[cfg(test)]
    pub faults: super::faults::Faults,
}

impl JobDeps {
    fn actors(&self) -> Result<Supervisor<JobActor>, CoreError> {
        self.actors
            .get()
            .cloned()
            .ok_or_else(|| CoreError::Internal("job actors not started".into()))
    }
}

pub(crate) struct JobActor {
    pub(super) deps: Arc<JobDeps>,
}

pub struct JobState {
    /// `None` once deleted.
    job: Option<Job>,
}

impl KeyedActor for JobActor {
    type Key = Uuid;
    type Msg = JobMsg;
    type State = JobState;
    const KIND: &'static str = "jobs";

    async fn load(&self, id: &Uuid) -> Result<JobState, CoreError> {
        let deps = &self.deps;
        let mut job = deps
            .tables
            .jobs
            .get(id)?
            .ok_or_else(|| CoreError::not_found("job", id))?;
        if job.status == JobStatus::Running && !deps.attempts.contains_key(id) {
            // Restarted after a failure that lost the attempt (or its
            // outcome): nothing runs this job any more.
            requeue_interrupted(&deps.tables, &mut job)?;
            let to = Some(job.status);
            (deps.totals).moved(&deps.tables, &job, Some(JobStatus::Running), to)?;
            deps.store.commit().await?;
            if job.status.is_terminal() {
                deps.counts.release(job.user_id);
            } else {
                let due = job.scheduled_for;
                deps.scheduler
                    .enqueue(job.id, job.user_id, job.priority, due);
            }
        }
        Ok(JobState { job: Some(job) })
    }

    fn is_idle(&self, state: &JobState) -> bool {
        state
            .job
            .as_ref()
            .is_none_or(|j| !self.deps.attempts.contains_key(&j.id))
    }

    fn message_kind(msg: &JobMsg) -> &'static str {
        match msg {
            JobMsg::Run => "run",
            JobMsg::Progress(..) => "progress",
            JobMsg::Log(..) => "log",
            JobMsg::Finished(..) => "finished",
            JobMsg::Cancel(_) => "cancel",
            JobMsg::Retry(_) => "retry",
            JobMsg::Delete(_) => "delete",
        }
    }

    async fn handle(
        &self,
        ctx: &Ctx<Self>,
        msg: JobMsg,
        state: &mut JobState,
    ) -> Result<(), CoreError> {
        let before = state.job.as_ref().map(super::totals::Before::of);
        let handled = self.handle_msg(ctx, msg, state);
        if let Some(before) = before {
            before.settle(&self.deps.totals, &self.deps.tables, state.job.as_ref())?;
        }
        handled
    }
}

impl JobActor {
    fn handle_msg(
        &self,
        ctx: &Ctx<Self>,
        msg: JobMsg,
        state: &mut JobState,
    ) -> Result<(), CoreError> {
        let Some(job) = state.job.as_mut() else {
            return self.gone(*ctx.key(), msg);
        };
        match msg {
            JobMsg::Run => self.run(job)?,
            JobMsg::Progress(attempt, percent) if self.is_current(job, attempt) => {
                job.progress_percent = percent;
                self.record(job, JobEventKind::Progress, json!({ "percent": percent }))?;
            }
            JobMsg::Log(attempt, level, message) if self.is_current(job, attempt) => {
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
                self.record(
                    job,
                    JobEventKind::Log,
                    json!({ "level": level, "message": message }),
                )?;
            }
            JobMsg::Progress(..) | JobMsg::Log(..) => {}
            JobMsg::Finished(attempt, outcome) => {
                // After a cancel the attempt and its slot are already gone.
                let ours = self
                    .deps
                    .attempts
                    .remove_if(&job.id, |_, a| a.id == attempt);
                if ours.is_some() {
                    // The handler is done: its slot is free while the
                    // outcome is made durable.
                    self.deps.scheduler.done(job.id);
                    if job.status == JobStatus::Running {
                        self.finish(job, outcome)?;
                        self.settle(job, |_| {});
                    }
                }
            }
            JobMsg::Cancel(reply) => match self.cancel(job) {
                Ok(()) => {
                    let snapshot = job.clone();
                    self.settle(job, move |durable| {
                        let _ = reply.send(durable.map(|()| snapshot));
                    });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            JobMsg::Retry(reply) => match self.retry(job) {
                Ok(()) => {
                    let snapshot = job.clone();
                    self.settle(job, move |durable| {
                        let _ = reply.send(durable.map(|()| snapshot));
                    });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            JobMsg::Delete(reply) => {
                let (unfinished, was) = (!job.status.is_terminal(), job.status);
                if unfinished {
                    self.cancel(job)?;
                }
                self.deps.tables.remove(job)?;
                (self.deps.totals).moved(&self.deps.tables, job, Some(was), None)?;
                let (deps, user) = (self.deps.clone(), job.user_id);
                self.when_durable(move |durable| {
                    if unfinished && durable.is_ok() {
                        deps.counts.release(user);
                    }
                    let _ = reply.send(durable);
                });
                state.job = None;
            }
        }
        Ok(())
    }

    /// Answers requests for a job deleted while its actor lived.
    fn gone(&self, id: Uuid, msg: JobMsg) -> Result<(), CoreError> {
        let missing = || CoreError::not_found("job", "deleted");
        match msg {
            JobMsg::Cancel(reply) | JobMsg::Retry(reply) => {
                let _ = reply.send(Err(missing()));
            }
            JobMsg::Delete(reply) => {
                let _ = reply.send(Err(missing()));
            }
            JobMsg::Run => self.deps.scheduler.done(id),
            _ => {}
        }
        Ok(())
    }

    /// Whether `attempt` is the one running `job` now.
    fn is_current(&self, job: &Job, attempt: u64) -> bool {
        job.status == JobStatus::Running
            && self
                .deps
                .attempts
                .get(&job.id)
                .is_some_and(|a| a.id == attempt)
    }

    fn run(&self, job: &mut Job) -> Result<(), CoreError> {
        let handler = self.deps.handlers.get(&job.job_type).cloned();
        let runnable = matches!(job.status, JobStatus::Pending | JobStatus::Scheduled);
        let (true, Some(handler)) = (runnable, handler) else {
            self.deps.scheduler.done(job.id);
            return Ok(());
        };
        let actors = self.deps.actors()?;
        let Ok(payload) = job.payload_json.parse() else {
            // Logged by `parse`: a job whose payload is corrupt never runs.
            self.deps.scheduler.done(job.id);
            let error = "the job's stored payload is corrupt";
            job.status = JobStatus::Failed;
            job.error = Some(error.into());
            job.completed_at = Some(now_ms());
            self.record(job, JobEventKind::Failed, json!({ "error": error }))?;
            self.settle(job, |_| {});
            return Ok(());
        };
        job.status = JobStatus::Running;
        job.attempts += 1;
        job.started_at = Some(now_ms());
        job.progress_percent = 0;
        if let Err(e) = self.record(
            job,
            JobEventKind::Started,
            json!({ "attempt": job.attempts }),
        ) {
            // Nothing runs: the slot goes back, and the job (still pending
            // in the store) comes round again.
            self.deps.scheduler.done(job.id);
            let later = Some(now_ms() + 1000);
            self.deps
                .scheduler
                .enqueue(job.id, job.user_id, job.priority, later);
            return Err(e);
        }
        let attempt = Attempt {
            id: self.deps.next_attempt.fetch_add(1, Ordering::Relaxed),
            cancel: CancellationToken::new(),
        };
        self.deps.attempts.insert(job.id, attempt.clone());
        let run = JobCtx {
            job_id: job.id,
            user_id: job.user_id,
            payload,
            cancel: attempt.cancel.clone(),
            attempt: attempt.id,
            actors: actors.clone(),
        };
        let deps = self.deps.clone();
        self.deps.background.spawn_with(move |stop| async move {
            let id = run.job_id;
            let outcome = tokio::select! {
                outcome = attempt_outcome(&deps.store, handler, run) => outcome,
                // Shutdown: the job stays running in the store, and start-up
                // re-queues it as after a crash.
                () = stop.cancelled() => {
                    attempt.cancel.cancel();
                    return;
                }
            };
            // By key, so an actor restarted meanwhile gets it.
            if let Err(e) = actors.cast(&id, JobMsg::Finished(attempt.id, outcome)).await {
                tracing::error!(job = %id, error = %e, "a job attempt's outcome could not be delivered");
                // The job is re-queued when its actor loads again.
                if deps.attempts.remove_if(&id, |_, a| a.id == attempt.id).is_some() {
                    deps.scheduler.done(id);
                }
            }
        });
        Ok(())
    }

    /// Makes a state change durable, then moves the job in or out of the
    /// scheduler and the user's count and calls `then` with how the commit
    /// went. The commit runs in a task of its own: the mailbox never waits
    /// on the disk, and whoever asked is answered only once it is durable.
    fn settle(&self, job: &Job, then: impl FnOnce(Result<(), CoreError>) + Send + 'static) {
        let indexed = if job.status.is_terminal() {
            self.deps.tables.active.remove(&job.id).map(drop)
        } else {
            self.deps.tables.active.insert(&job.id, &()).map(drop)
        };
        if let Err(e) = indexed {
            then(Err(e.into()));
            return;
        }
        let (deps, job) = (self.deps.clone(), job.clone());
        self.when_durable(move |durable| {
            match &durable {
                Ok(()) => after_commit(&deps, &job),
                Err(e) => {
                    tracing::error!(job = %job.id, error = %e, "a job's state change was not made durable");
                }
            }
            then(durable);
        });
    }

    /// Calls `then` once every write made so far is durable, from a task of
    /// its own (the mailbox goes on meanwhile).
    fn when_durable(&self, then: impl FnOnce(Result<(), CoreError>) + Send + 'static) {
        let store = self.deps.store.clone();
        tokio::spawn(async move { then(store.commit().await.map_err(CoreError::from)) });
    }
}

/// What follows a durable state change: the scheduler, the user's count,
/// the webhooks' feed.
fn after_commit(deps: &JobDeps, job: &Job) {
    match job.status {
        JobStatus::Pending | JobStatus::Scheduled => {
            deps.scheduler
                .enqueue(job.id, job.user_id, job.priority, job.scheduled_for);
        }
        JobStatus::Completed | JobStatus::Failed => {
            deps.counts.release(job.user_id);
            let _ = deps.ended.send(job.clone());
        }
        JobStatus::Cancelled => deps.counts.release(job.user_id),
        JobStatus::Running => {}
    }
}

/// Makes the attempt durable (a restart counts it), then runs the handler;
/// a handler that panics is a failed attempt, not a stuck job.
async fn attempt_outcome(
    store: &Store,
    handler: Arc<dyn super::JobHandler>,
    run: JobCtx,
) -> Result<Value, String> {
    store
        .commit()
        .await
        .map_err(|e| CoreError::from(e).public_message())?;
    // Aborted if this future is dropped (shutdown): the handler goes with it.
    let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(handler.run(run)));
    match task.await {
        Ok(outcome) => outcome,
        Err(_) => Err("the job handler crashed".to_string()),
    }
}
