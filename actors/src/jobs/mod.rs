//! Durable background jobs (API.md 5): a JobActor per job, a scheduler,
//! retries with backoff, idempotency keys, events and logs, and recovery of
//! unfinished jobs at start-up through an index of active jobs.

mod actor;
#[cfg(test)]
mod faults;
pub mod handler;
mod scheduler;
mod tables;
#[cfg(test)]
mod tests;
pub mod ticket;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures::Stream;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

pub use actor::{JobActor, JobDeps, JobMsg};
pub use handler::{Delay, Handlers, JobCtx, JobHandler};
use scheduler::Scheduler;
use tables::Idempotent;
pub use tables::JobTables;

use crate::channels::Channels;
use crate::error::CoreError;
use crate::model::{Job, JobEvent, JobLog, JobStatus, now_ms};
use crate::store::{KeyLocks, Store};
use crate::supervisor::{Supervisor, SupervisorConfig};

/// A job as a client asks for it.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_type: String,
    pub payload: Value,
    pub priority: u8,
    pub scheduled_for: Option<i64>,
    pub idempotency_key: Option<String>,
    pub max_attempts: u32,
}

/// Filters of the job list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
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
    /// Starts the actors and the scheduler, then resumes unfinished jobs.
    /// Jobs that end are sent to `ended` (for outgoing webhooks).
    pub async fn start(
        store: Store,
        channels: Channels,
        handlers: Handlers,
        concurrency: usize,
        mut actors: SupervisorConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Job>), CoreError> {
        let tables = JobTables::open(&store)?;
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
            #[cfg(test)]
            faults: Default::default(),
        });
        // A finished job's actor has nothing left to do: let it go soon.
        let idle = Duration::from_secs(10);
        actors.idle_timeout = Some(actors.idle_timeout.map_or(idle, |t| t.min(idle)));
        let actors = Supervisor::start(JobActor { deps: deps.clone() }, actors).await?;
        Scheduler::run(inbox, actors.clone(), concurrency);
        let jobs = Self {
            deps,
            actors,
            locks: Default::default(),
        };
        jobs.recover().await?;
        Ok((jobs, ended_rx))
    }

    /// Re-queues what was pending, scheduled or running when the server stopped.
    async fn recover(&self) -> Result<(), CoreError> {
        let tables = &self.deps.tables;
        let ids: Vec<Uuid> = tables
            .active
            .iter()
            .filter_map(|r| r.ok())
            .filter_map(|(key, ())| Uuid::from_slice(&key).ok())
            .collect();
        let mut resumed = 0;
        for id in ids {
            let Some(mut job) = tables.jobs.get(&id)? else {
                tables.active.remove(&id)?;
                continue;
            };
            if job.status == JobStatus::Running {
                // The attempt that was running counts; the next one starts over.
                let (kind, data) = if job.attempts >= job.max_attempts {
                    job.status = JobStatus::Failed;
                    job.error = Some("interrupted by a restart".into());
                    job.completed_at = Some(now_ms());
                    tables.active.remove(&id)?;
                    ("failed", json!({ "error": "interrupted by a restart" }))
                } else {
                    job.status = JobStatus::Pending;
                    job.progress_percent = 0;
                    (
                        "retrying",
                        json!({ "reason": "restart", "attempt": job.attempts }),
                    )
                };
                tables.push_event(&mut job, kind, data, now_ms())?;
                tables.jobs.insert(&id, &job)?;
            } else if job.status.is_terminal() {
                tables.active.remove(&id)?;
            }
            if !job.status.is_terminal() {
                self.deps
                    .scheduler
                    .enqueue(job.id, job.priority, job.scheduled_for);
                resumed += 1;
            }
        }
        self.deps.store.commit().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed unfinished jobs");
        }
        Ok(())
    }

    /// Creates a job; answers it and whether it is new (false: an earlier
    /// request with the same idempotency key and body made it).
    pub async fn create(&self, user_id: Uuid, new: NewJob) -> Result<(Job, bool), CoreError> {
        let handler = self.deps.handlers.get(&new.job_type).ok_or_else(|| {
            CoreError::validation("job_type", format!("unknown job type {:?}", new.job_type))
        })?;
        if !new.payload.is_object() {
            return Err(CoreError::validation("payload", "a JSON object"));
        }
        handler.validate(&new.payload)?;
        if new.priority > 10 {
            return Err(CoreError::validation("priority", "0-10"));
        }
        if !(1..=100).contains(&new.max_attempts) {
            return Err(CoreError::validation("max_attempts", "1-100"));
        }
        let tables = &self.deps.tables;
        let job = {
            let key = new.idempotency_key.clone().map(|k| (user_id, k));
            let _guard = key.as_ref().map(|k| self.locks.lock(k));
            let hash = body_hash(&new);
            if let Some(key) = &key
                && let Some(seen) = tables.idempotency.get(key)?
            {
                if seen.body_hash != hash {
                    return Err(CoreError::Conflict(
                        "idempotency key reused with a different body".into(),
                    ));
                }
                if let Some(job) = tables.jobs.get(&seen.job_id)? {
                    return Ok((job, false));
                }
            }
            let job = self.write_new(user_id, &new)?;
            if let Some(key) = &key {
                let record = Idempotent {
                    job_id: job.id,
                    body_hash: hash,
                };
                tables.idempotency.insert(key, &record)?;
            }
            job
        };
        #[cfg(test)]
        self.deps.faults.before_commit().await;
        self.deps.store.commit().await?;
        self.deps
            .scheduler
            .enqueue(job.id, job.priority, job.scheduled_for);
        let update = json!({ "id": job.id, "status": job.status.as_str(), "progress_percent": 0 });
        self.deps.channels.job_update(user_id, &update);
        Ok((job, true))
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
            payload_json: new.payload.to_string(),
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
        tables.push_event(&mut job, "created", json!({}), now)?;
        tables.active.insert(&job.id, &())?;
        tables.jobs.insert(&job.id, &job)?;
        tables.by_user.insert(&(user_id, job.id), &job.id)?;
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

    pub async fn cancel(&self, user_id: Uuid, id: Uuid) -> Result<Job, CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, JobMsg::Cancel).await?
    }

    pub async fn retry(&self, user_id: Uuid, id: Uuid) -> Result<Job, CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, JobMsg::Retry).await?
    }

    /// Deletes a job, cancelling it first if it runs.
    pub async fn delete(&self, user_id: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.get(user_id, id)?;
        self.actors.call(&id, JobMsg::Delete).await?
    }

    pub fn events(&self, user_id: Uuid, id: Uuid) -> Result<Vec<JobEvent>, CoreError> {
        self.get(user_id, id)?;
        Ok(self.deps.tables.events_after(id, 0)?)
    }

    pub fn logs(&self, user_id: Uuid, id: Uuid) -> Result<Vec<JobLog>, CoreError> {
        self.get(user_id, id)?;
        self.deps
            .tables
            .logs
            .scan_prefix(&id)
            .map(|r| r.map(|(_, l)| l).map_err(CoreError::from))
            .collect()
    }

    /// The job's events after `after`, then live ones, ending after a
    /// terminal event.
    pub fn listen(
        &self,
        user_id: Uuid,
        id: Uuid,
        after: u64,
    ) -> Result<impl Stream<Item = JobEvent> + Send + 'static, CoreError> {
        self.get(user_id, id)?;
        // Subscribe before reading the store: nothing falls in between.
        let rx = self
            .deps
            .live
            .entry(id)
            .or_insert_with(|| broadcast::channel(256).0)
            .subscribe();
        let stored = self.deps.tables.events_after(id, after)?;
        let listening = Listening {
            deps: self.deps.clone(),
            id,
            rx,
            pending: stored.into(),
            last: after,
            done: false,
        };
        Ok(futures::stream::unfold(listening, |mut l| async move {
            let event = l.next().await?;
            Some((event, l))
        }))
    }

    /// Jobs pending, scheduled or running.
    pub fn active(&self) -> usize {
        self.deps.tables.active.len()
    }

    /// The job actors' supervisor (readiness, shutdown).
    pub fn actors(&self) -> &Supervisor<JobActor> {
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

struct Listening {
    deps: Arc<JobDeps>,
    id: Uuid,
    rx: broadcast::Receiver<JobEvent>,
    pending: std::collections::VecDeque<JobEvent>,
    last: u64,
    done: bool,
}

impl Listening {
    async fn next(&mut self) -> Option<JobEvent> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                if event.seq > self.last {
                    self.last = event.seq;
                    self.done = event.is_terminal();
                    return Some(event);
                }
                continue;
            }
            let terminal = self
                .deps
                .tables
                .jobs
                .get(&self.id)
                .ok()
                .flatten()
                .is_none_or(|j| j.status.is_terminal());
            if terminal {
                // Everything is stored: hand out what is left, then end.
                self.pending = self
                    .deps
                    .tables
                    .events_after(self.id, self.last)
                    .ok()?
                    .into();
                self.done = self.pending.is_empty();
                continue;
            }
            match self.rx.recv().await {
                Ok(event) => self.pending.push_back(event),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.pending = self
                        .deps
                        .tables
                        .events_after(self.id, self.last)
                        .ok()?
                        .into();
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let id = self.id;
        self.deps
            .live
            .remove_if(&id, |_, tx| tx.receiver_count() <= 1);
    }
}
