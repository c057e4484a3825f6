//! How many jobs there are, per status and per type, and how many ended
//! in each of the last hours: what the admin list's `total`, the dashboard
//! and the `chorus_jobs{status}` gauge read, without a scan of the jobs.
//!
//! One small record (`job_totals`), kept in memory under a mutex and
//! written through whenever a persisted part of it changes: at a job's
//! creation and deletion (its type's count) and when it enters or leaves a
//! terminal status (that status's count, the hour's bucket, and the
//! `jobs_by_status` index). Pending, scheduled and running are counted in
//! memory only: start-up recovery walks the active index anyway and counts
//! them there. The record is written with the job's own writes (no
//! transaction, like every job write); after a crash, or on a data dir
//! from before it existed, it is rebuilt with one scan of the jobs.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::JobTables;
use crate::model::{Job, JobStatus};
use crate::store::{Store, StoreError, Table};

/// The buckets kept for "ended in the last 24 h": the current hour and the 24 before it.
const HOURS_KEPT: i64 = 25;
const HOUR_MS: i64 = 3_600_000;
const KEY: &str = "all";

/// The stored part of the totals, and the in-memory counts beside it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counts {
    /// Jobs per status, in [`JobStatus::ALL`] order. Only the terminal
    /// three are meaningful on disk; the others are recounted at start-up.
    by_status: [u64; 6],
    /// Jobs per job type, whatever their status.
    by_type: BTreeMap<String, u64>,
    /// (hour since the epoch, completed, failed): jobs that ended in that hour.
    hours: Vec<(i64, u64, u64)>,
}

/// What the dashboard shows of the jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobFigures {
    /// Jobs pending now.
    pub pending: u64,
    /// Jobs scheduled now (a future `scheduled_for` or a retry's backoff).
    pub scheduled: u64,
    /// Jobs running now.
    pub running: u64,
    /// Jobs that completed in the current hour and the 23 before it.
    pub completed_last_24h: u64,
    /// Jobs that failed for good in the current hour and the 23 before it.
    pub failed_last_24h: u64,
}

/// A job's status before a message was handled, to tell what the message moved.
pub(super) struct Before {
    status: JobStatus,
    /// (job type, attempt start) when it was running: the attempt's duration.
    running: Option<(String, i64)>,
}

impl Before {
    pub(super) fn of(job: &Job) -> Self {
        let running = (job.status == JobStatus::Running).then(|| {
            (
                job.job_type.clone(),
                job.started_at.unwrap_or(job.created_at),
            )
        });
        Self {
            status: job.status,
            running,
        }
    }

    /// Counts the move to `now`'s status (a deleted job is counted out by
    /// the delete), and observes the attempt's duration if one ended.
    pub(super) fn settle(
        self,
        totals: &JobTotals,
        tables: &JobTables,
        now: Option<&Job>,
    ) -> Result<(), StoreError> {
        let after = now.map(|j| j.status);
        if let Some((job_type, started)) = self.running
            && after != Some(JobStatus::Running)
        {
            let secs = (crate::model::now_ms() - started).max(0) as f64 / 1000.0;
            metrics::histogram!("chorus_job_duration_seconds", "job_type" => job_type).record(secs);
        }
        match now {
            Some(job) if job.status != self.status => {
                totals.moved(tables, job, Some(self.status), Some(job.status))
            }
            _ => Ok(()),
        }
    }
}

pub(super) struct JobTotals {
    counts: Mutex<Counts>,
    table: Table<str, Counts>,
}

fn slot(status: JobStatus) -> usize {
    JobStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or(0)
}

/// The key part of a status in `jobs_by_status`.
pub(super) fn status_code(status: JobStatus) -> u32 {
    slot(status) as u32
}

impl JobTotals {
    /// Loads the stored totals; rebuilds them (and the two indexes they go
    /// with) from the jobs when missing or when the store was not closed cleanly.
    pub(super) fn open(store: &Store, tables: &JobTables) -> Result<Self, StoreError> {
        let table: Table<str, Counts> = store.table("job_totals")?;
        let stored = table.get(KEY)?;
        let counts = match stored {
            Some(c) if !store.opened_after_crash() => c,
            _ => rebuild(tables)?,
        };
        table.insert(KEY, &counts)?;
        Ok(Self {
            counts: Mutex::new(counts),
            table,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Zeroes the in-memory counts of unfinished jobs, before recovery counts them.
    pub(super) fn forget_unfinished(&self) {
        let mut c = self.lock();
        for s in [JobStatus::Pending, JobStatus::Scheduled, JobStatus::Running] {
            c.by_status[slot(s)] = 0;
        }
    }

    /// Counts an unfinished job found at start-up.
    pub(super) fn count_unfinished(&self, status: JobStatus) {
        self.lock().by_status[slot(status)] += 1;
    }

    /// `job` moved from `from` to `to` (`None`: created, or deleted).
    /// Writes what must survive a restart; durable with the next commit.
    pub(super) fn moved(
        &self,
        tables: &JobTables,
        job: &Job,
        from: Option<JobStatus>,
        to: Option<JobStatus>,
    ) -> Result<(), StoreError> {
        if from == to {
            return Ok(());
        }
        let mut c = self.lock();
        let mut persist = false;
        if let Some(from) = from {
            let n = &mut c.by_status[slot(from)];
            *n = n.saturating_sub(1);
            if from.is_terminal() {
                tables.by_status.remove(&(status_code(from), job.id))?;
                persist = true;
            }
        } else {
            tables
                .by_type
                .insert(&type_key(&job.job_type, job.id), &())?;
            *c.by_type.entry(job.job_type.clone()).or_insert(0) += 1;
            persist = true;
        }
        if let Some(to) = to {
            c.by_status[slot(to)] += 1;
            if to.is_terminal() {
                tables.by_status.insert(&(status_code(to), job.id), &())?;
                bump_hour(
                    &mut c,
                    to,
                    job.completed_at.unwrap_or_else(crate::model::now_ms),
                );
                persist = true;
            }
        } else {
            tables.by_type.remove(&type_key(&job.job_type, job.id))?;
            if let Some(n) = c.by_type.get_mut(&job.job_type) {
                *n = n.saturating_sub(1);
            }
            c.by_type.retain(|_, n| *n > 0);
            persist = true;
        }
        if persist {
            self.table.insert(KEY, &c)?;
        }
        for s in from.into_iter().chain(to) {
            publish_one(&c, s);
        }
        Ok(())
    }

    /// Jobs in `status` now.
    pub(super) fn in_status(&self, status: JobStatus) -> u64 {
        self.lock().by_status[slot(status)]
    }

    /// Jobs of `job_type`, any status.
    pub(super) fn of_type(&self, job_type: &str) -> u64 {
        self.lock().by_type.get(job_type).copied().unwrap_or(0)
    }

    /// Every job there is.
    pub(super) fn all(&self) -> u64 {
        self.lock().by_status.iter().sum()
    }

    /// The dashboard's figures at `now_ms`.
    pub(super) fn figures(&self, now_ms: i64) -> JobFigures {
        let c = self.lock();
        let since = now_ms.div_euclid(HOUR_MS) - 23;
        let recent = c.hours.iter().filter(|(h, ..)| *h >= since);
        let (completed, failed) = recent.fold((0, 0), |(a, b), (_, c, f)| (a + c, b + f));
        JobFigures {
            pending: c.by_status[slot(JobStatus::Pending)],
            scheduled: c.by_status[slot(JobStatus::Scheduled)],
            running: c.by_status[slot(JobStatus::Running)],
            completed_last_24h: completed,
            failed_last_24h: failed,
        }
    }

    /// Sets `chorus_jobs{status}` for every status (at start-up too, so each is exported at 0).
    pub(super) fn publish(&self) {
        publish(&self.lock());
    }
}

fn publish(c: &Counts) {
    for s in JobStatus::ALL {
        publish_one(c, s);
    }
}

fn publish_one(c: &Counts, s: JobStatus) {
    metrics::gauge!("chorus_jobs", "status" => s.as_str()).set(c.by_status[slot(s)] as f64);
}

/// Counts a job that completed or failed at `at` in its hour's bucket.
fn bump_hour(c: &mut Counts, status: JobStatus, at: i64) {
    let hour = at.div_euclid(HOUR_MS);
    let (completed, failed) = match status {
        JobStatus::Completed => (1, 0),
        JobStatus::Failed => (0, 1),
        _ => return,
    };
    match c.hours.iter_mut().find(|(h, ..)| *h == hour) {
        Some(bucket) => {
            bucket.1 += completed;
            bucket.2 += failed;
        }
        None => c.hours.push((hour, completed, failed)),
    }
    let newest = c.hours.iter().map(|(h, ..)| *h).max().unwrap_or(hour);
    c.hours.retain(|(h, ..)| *h > newest - HOURS_KEPT);
}

/// Counts every job, and writes the status and type indexes afresh.
fn rebuild(tables: &JobTables) -> Result<Counts, StoreError> {
    tables.by_status.remove_prefix(&[] as &[u8])?;
    tables.by_type.remove_prefix(&[] as &[u8])?;
    let mut c = Counts::default();
    let mut n = 0u64;
    for entry in tables.jobs.iter() {
        let (_, job) = entry?;
        n += 1;
        tables
            .by_type
            .insert(&type_key(&job.job_type, job.id), &())?;
        *c.by_type.entry(job.job_type.clone()).or_insert(0) += 1;
        c.by_status[slot(job.status)] += 1;
        if job.status.is_terminal() {
            tables
                .by_status
                .insert(&(status_code(job.status), job.id), &())?;
            if let Some(at) = job.completed_at {
                bump_hour(&mut c, job.status, at);
            }
        }
    }
    tracing::info!(
        jobs = n,
        "counted the jobs for the admin list and dashboard"
    );
    Ok(c)
}

/// The key of a job in `jobs_by_type`: the type's length first, so one
/// type's prefix never matches another type that starts the same way.
pub(super) fn type_key(job_type: &str, id: Uuid) -> (u32, String, Uuid) {
    (job_type.len() as u32, job_type.to_string(), id)
}

/// The prefix of one type's entries in `jobs_by_type`.
pub(super) fn type_prefix(job_type: &str) -> (u32, String) {
    (job_type.len() as u32, job_type.to_string())
}
