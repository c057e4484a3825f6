//! Durable background jobs (API.md 5): a JobActor per job, a scheduler,
//! retries with backoff, idempotency keys, events and logs, and recovery of
//! unfinished jobs at start-up through an index of active jobs.

mod actor;
mod admin;
mod counts;
mod fair;
#[cfg(test)]
mod faults;
pub mod handler;
mod listen;
mod recovery;
mod scheduler;
mod tables;
#[cfg(test)]
mod tests;
mod totals;
mod transitions;

pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use actor::JobDeps;
pub(crate) use actor::{JobActor, JobMsg};
pub use admin::AdminJobFilter;
use counts::ActiveCounts;
pub use handler::{Delay, Handlers, JobHandler, Visibility};
use scheduler::Scheduler;
use tables::Idempotent;
pub use tables::JobTables;
pub use totals::JobFigures;

use crate::background::Background;
use crate::channels::Channels;
use crate::error::CoreError;
use crate::model::{Job, JobEvent, JobEventKind, JobLog, JobStatus, JsonText, now_ms};
use crate::store::{KeyLocks, Store};
use crate::supervisor::{ChildMsg, Supervisor, SupervisorConfig};

/// The owner of the jobs the server makes itself (webhook deliveries): no
/// account has this id, so no user ever lists, reads, cancels, retries or
/// deletes them.
pub const SYSTEM_USER: Uuid = Uuid::nil();

/// The highest priority a user may give a job; above it (to 10) is for
/// system jobs.
pub const MAX_USER_PRIORITY: u8 = 5;

/// Whether the server made `job` for itself.
pub fn is_system(job: &Job) -> bool {
    job.user_id == SYSTEM_USER
}

/// Limits of the jobs system.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Jobs running at once.
    pub concurrency: usize,
    /// Unfinished jobs one user may have (429 above).
    pub max_per_user: usize,
    /// The longest `delay` a user may ask for.
    pub max_delay: Duration,
}

/// A job as a client asks for it.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// A registered handler's name, e.g. `delay`; an unknown one is 422.
    pub job_type: String,
    /// A JSON object handed to the handler, checked by its `validate` first.
    pub payload: Value,
    /// 0-5 for users, up to 10 for system jobs; higher runs first.
    pub priority: u8,
    /// Unix ms before which it does not run; `None` runs it as soon as a slot is free.
    pub scheduled_for: Option<i64>,
    /// A repeat with this key and the same body returns the first job; `None` never deduplicates.
    pub idempotency_key: Option<String>,
    /// Attempts before it fails for good: 1 up to the handler's maximum.
    pub max_attempts: u32,
}

/// Filters of the job list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this status; `None` for any.
    pub status: Option<JobStatus>,
    /// Only jobs of this type; `None` for any.
    pub job_type: Option<String>,
}

/// The jobs of every user. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    deps: Arc<JobDeps>,
    actors: Supervisor<JobActor>,
    locks: Arc<KeyLocks>,
}

impl Jobs {
    /// Starts the actors and the scheduler (on `background`), then resumes
    /// unfinished jobs. Jobs that end are sent to `ended` (for outgoing webhooks).
    pub async fn start(
        store: Store,
        channels: Channels,
        handlers: Handlers,
        config: &JobsConfig,
        mut actors: SupervisorConfig,
        background: &Background,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Job>), CoreError> {
        let tables = JobTables::open(&store)?;
        let totals = totals::JobTotals::open(&store, &tables)?;
        let (scheduler, inbox) = Scheduler::new();
        let (ended, ended_rx) = mpsc::unbounded_channel();
        let deps = Arc::new(JobDeps {
            store,
            tables,
            handlers,
            scheduler: scheduler.clone(),
            channels,
            live: DashMap::new(),
            ended,
            attempts: DashMap::new(),
            next_attempt: Default::default(),
            counts: ActiveCounts::new(config.max_per_user),
            totals,
            actors: Default::default(),
            background: background.clone(),
            #[cfg(test)]
            faults: Default::default(),
        });
        // A finished job's actor has nothing left to do: let it go soon.
        let idle = Duration::from_secs(10);
        actors.idle_timeout = Some(actors.idle_timeout.map_or(idle, |t| t.min(idle)));
        let actors = Supervisor::start(JobActor { deps: deps.clone() }, actors).await?;
        let _ = deps.actors.set(actors.clone());
        let dispatch = {
            let actors = actors.clone();
            move |id: Uuid| {
                let actors = actors.clone();
                async move { actors.cast(&id, JobMsg::Run).await.is_ok() }
            }
        };
        Scheduler::run(inbox, dispatch, config.concurrency, background);
        let jobs = Self {
            deps,
            actors,
            locks: Default::default(),
        };
        jobs.recover().await?;
        Ok((jobs, ended_rx))
    }

    /// Creates a job a user submitted; answers it and whether it is new
    /// (false: an earlier request with the same idempotency key and body
    /// made it). Internal job types, system priorities, more attempts than
    /// the type allows: 422. Over `jobs.max_per_user`: 429.
    pub async fn create(&self, user_id: Uuid, new: NewJob) -> Result<(Job, bool), CoreError> {
        let handler = self.handler(&new.job_type)?;
        if handler.visibility() != Visibility::User {
            return Err(CoreError::validation(
                "job_type",
                format!("{:?} jobs are made by the server only", new.job_type),
            ));
        }
        if new.priority > MAX_USER_PRIORITY {
            let range = format!("0-{MAX_USER_PRIORITY}");
            return Err(CoreError::validation("priority", range));
        }
        let most = handler.max_attempts();
        if !(1..=most).contains(&new.max_attempts) {
            return Err(CoreError::validation("max_attempts", format!("1-{most}")));
        }
        self.insert(user_id, new, handler.as_ref()).await
    }

    /// Creates a job the server makes for itself (any job type, priority
    /// 0-10), owned by [`SYSTEM_USER`].
    pub async fn create_system(&self, new: NewJob) -> Result<Job, CoreError> {
        let handler = self.handler(&new.job_type)?;
        if new.priority > 10 {
            return Err(CoreError::validation("priority", "0-10"));
        }
        if !(1..=100).contains(&new.max_attempts) {
            return Err(CoreError::validation("max_attempts", "1-100"));
        }
        let (job, _) = self.insert(SYSTEM_USER, new, handler.as_ref()).await?;
        Ok(job)
    }

    fn handler(&self, job_type: &str) -> Result<Arc<dyn JobHandler>, CoreError> {
        self.deps.handlers.get(job_type).cloned().ok_or_else(|| {
            CoreError::validation("job_type", format!("unknown job type {job_type:?}"))
        })
    }

    async fn insert(
        &self,
        owner: Uuid,
        new: NewJob,
        handler: &dyn JobHandler,
    ) -> Result<(Job, bool), CoreError> {
        if !new.payload.is_object() {
            return Err(CoreError::validation("payload", "a JSON object"));
        }
        handler.validate(&new.payload)?;
        let (job, created) = {
            let key = new.idempotency_key.clone().map(|k| (owner, k));
            let _guard = key.as_ref().map(|k| self.locks.lock(k));
            match self.replay(key.as_ref(), &new)? {
                Some(job) => (job, false),
                None => (self.write_counted(owner, &new, key.as_ref())?, true),
            }
        };
        // A replay too: the first request's write may not be durable yet.
        #[cfg(test)]
        self.deps.faults.before_commit().await;
        self.deps.store.commit().await?;
        if created {
            let due = job.scheduled_for;
            self.deps
                .scheduler
                .enqueue(job.id, owner, job.priority, due);
            if owner != SYSTEM_USER {
                let update =
                    json!({ "id": job.id, "status": job.status.as_str(), "progress_percent": 0 });
                self.deps.channels.job_update(owner, &update);
            }
        }
        Ok((job, created))
    }

    /// The job an earlier request with this idempotency key made, if any
    /// (409 if its body differed).
    fn replay(&self, key: Option<&(Uuid, String)>, new: &NewJob) -> Result<Option<Job>, CoreError> {
        let Some(key) = key else {
            return Ok(None);
        };
        let Some(seen) = self.deps.tables.idempotency.get(key)? else {
            return Ok(None);
        };
        if seen.body_hash != body_hash(new) {
            return Err(CoreError::Conflict(
                "idempotency key reused with a different body".into(),
            ));
        }
        Ok(self.deps.tables.jobs.get(&seen.job_id)?)
    }

    /// Writes a new job under the owner's cap (system jobs are not capped).
    fn write_counted(
        &self,
        owner: Uuid,
        new: &NewJob,
        key: Option<&(Uuid, String)>,
    ) -> Result<Job, CoreError> {
        let counted = owner != SYSTEM_USER;
        if counted {
            self.deps.counts.take(owner)?;
        }
        let written = self.write_new(owner, new).and_then(|job| {
            if let Some(key) = key {
                let record = Idempotent {
                    job_id: job.id,
                    body_hash: body_hash(new),
                };
                self.deps.tables.idempotency.insert(key, &record)?;
            }
            Ok(job)
        });
        if written.is_err() && counted {
            self.deps.counts.release(owner);
        }
        written
    }

    fn write_new(&self, user_id: Uuid, new: &NewJob) -> Result<Job, CoreError> {
        let now = now_ms();
        let later = new.scheduled_for.is_some_and(|at| at > now);
        let mut job = Job {
            id: Uuid::now_v7(),
            user_id,
            job_type: new.job_type.clone(),
            status: if later {
                JobStatus::Scheduled
            } else {
                JobStatus::Pending
            },
            priority: new.priority,
            payload_json: JsonText::from_value(&new.payload),
            progress_percent: 0,
            result_json: None,
            error: None,
            attempts: 0,
            max_attempts: new.max_attempts,
            idempotency_key: new.idempotency_key.clone(),
            scheduled_for: new.scheduled_for,
            created_at: now,
            started_at: None,
            completed_at: None,
            event_count: 0,
            log_count: 0,
        };
        let tables = &self.deps.tables;
        tables.push_event(&mut job, JobEventKind::Created, json!({}), now)?;
        tables.active.insert(&job.id, &())?;
        tables.jobs.insert(&job.id, &job)?;
        tables.by_user.insert(&(user_id, job.id), &job.id)?;
        (self.deps.totals).moved(tables, &job, None, Some(job.status))?;
        Ok(job)
    }

    /// One of `user_id`'s jobs.
    pub fn get(&self, user_id: Uuid, id: Uuid) -> Result<Job, CoreError> {
        match self.deps.tables.jobs.get(&id)? {
            Some(job) if job.user_id == user_id => Ok(job),
            _ => Err(CoreError::not_found("job", id)),
        }
    }

    /// A page of `user_id`'s jobs, newest first, and how many match.
    pub fn list(
        &self,
        user_id: Uuid,
        filter: &JobFilter,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Job>, usize), CoreError> {
        let mut matching = Vec::new();
        for entry in self.deps.tables.by_user.scan_prefix(&user_id).rev() {
            let (_, id) = entry?;
            let Some(job) = self.deps.tables.jobs.get(&id)? else {
                continue;
            };
            let wanted = filter.status.is_none_or(|s| s == job.status)
                && filter.job_type.as_ref().is_none_or(|t| *t == job.job_type);
            if wanted {
                matching.push(job);
            }
        }
        let total = matching.len();
        Ok((matching.into_iter().skip(skip).take(limit).collect(), total))
    }

    /// Cancels `user_id`'s job `id`, stopping a running attempt; 409 if it already ended.
    pub async fn cancel(&self, user_id: Uuid, id: Uuid) -> Result<Job, CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, JobMsg::Cancel).await?
    }

    /// Puts `user_id`'s failed or cancelled job `id` back to pending, attempts reset; else 409.
    pub async fn retry(&self, user_id: Uuid, id: Uuid) -> Result<Job, CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, JobMsg::Retry).await?
    }

    /// Deletes a job, cancelling it first if it runs.
    pub async fn delete(&self, user_id: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, JobMsg::Delete).await?
    }

    /// Every event of `user_id`'s job `id` so far, oldest first.
    pub fn events(&self, user_id: Uuid, id: Uuid) -> Result<Vec<JobEvent>, CoreError> {
        self.get(user_id, id)?;
        Ok(self.deps.tables.events_after(id, 0)?)
    }

    /// Every log line of `user_id`'s job `id` so far, oldest first.
    pub fn logs(&self, user_id: Uuid, id: Uuid) -> Result<Vec<JobLog>, CoreError> {
        self.get(user_id, id)?;
        self.deps
            .tables
            .logs
            .scan_prefix(&id)
            .map(|r| r.map(|(_, l)| l).map_err(CoreError::from))
            .collect()
    }

    /// Jobs pending, scheduled or running.
    pub fn active(&self) -> usize {
        self.deps.tables.active.len()
    }

    /// Sets `chorus_jobs{status}` for every status and registers
    /// `chorus_job_duration_seconds` for every job type, so each is exported
    /// before its first job. The edge calls it once its recorder is
    /// installed (which happens after the core starts), and on each scrape.
    pub fn publish_metrics(&self) {
        self.deps.totals.publish();
        for job_type in self.deps.handlers.keys() {
            let _ =
                metrics::histogram!("chorus_job_duration_seconds", "job_type" => job_type.clone());
        }
    }

    /// The job actors' supervisor (readiness, shutdown).
    pub(crate) fn actors(&self) -> &Supervisor<JobActor> {
        &self.actors
    }
}

/// The hash an idempotency key is checked against: the request's body.
fn body_hash(new: &NewJob) -> [u8; 32] {
    let body = json!({
        "job_type": new.job_type,
        "payload": new.payload,
        "priority": new.priority,
        "scheduled_for": new.scheduled_for,
        "max_attempts": new.max_attempts,
    });
    Sha256::digest(body.to_string().as_bytes()).into()
}

/// What a running attempt knows and how it reports.
pub struct JobCtx {
    /// The job being run.
    pub job_id: Uuid,
    /// The job's owner ([`SYSTEM_USER`] for jobs the server made).
    pub user_id: Uuid,
    /// The job's payload, a JSON object its handler validated at creation.
    pub payload: Value,
    /// Cancelled when the job is; a handler stops as soon as it can.
    pub cancel: CancellationToken,
    /// Which attempt this is, so reports of an older attempt are ignored.
    pub(super) attempt: u64,
    /// Reports go to whichever actor serves the job now (a restarted actor
    /// included), not to the one that started the attempt.
    pub(super) actors: Supervisor<JobActor>,
}

impl JobCtx {
    /// Reports progress, 0-100.
    pub fn progress(&self, percent: u8) {
        self.report(JobMsg::Progress(self.attempt, percent.min(100)));
    }

    /// Adds a line to the job's log.
    pub fn log(&self, level: &'static str, message: impl Into<String>) {
        self.report(JobMsg::Log(self.attempt, level, message.into()));
    }

    /// Best effort: a report made while the job's actor restarts is dropped
    /// (the outcome is not: see `JobActor::run`).
    fn report(&self, msg: JobMsg) {
        if let Some(actor) = self.actors.get(&self.job_id) {
            let _ = actor.send_message(ChildMsg::Work(msg));
        }
    }
}
