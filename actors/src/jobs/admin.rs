//! Jobs as an admin sees them (API.md 10): every user's jobs and the
//! system's, filtered and paged newest first, and a retry of any of them.
//!
//! Each filter is answered from the index that narrows it most, so a page
//! costs what it shows, not the whole table:
//! - `user_id`: the owner's `jobs_by_user` range (every job of theirs is read);
//! - `job_type` alone: the `jobs_by_type` range, keys only, `total` from the totals;
//! - `job_type` with `status`: that type's range, each job read;
//! - a terminal `status` alone: the `jobs_by_status` range, keys only;
//! - an unfinished `status` alone: the active index (unfinished jobs only);
//! - nothing: the jobs table's keys (UUID v7: time order), `total` from the totals.

use uuid::Uuid;

use super::Jobs;
use super::totals::{JobFigures, status_code, type_prefix};
use crate::error::CoreError;
use crate::model::{Job, JobStatus, now_ms};
use crate::per_user::id_at;
use crate::store::StoreError;

/// Filters of the admin job list.
#[derive(Debug, Clone, Default)]
pub struct AdminJobFilter {
    /// Only jobs in this status; `None` for any.
    pub status: Option<JobStatus>,
    /// Only jobs of this type; `None` for any.
    pub job_type: Option<String>,
    /// Only this owner's jobs ([`super::SYSTEM_USER`] for the system's); `None` for anyone's.
    pub user_id: Option<Uuid>,
}

impl AdminJobFilter {
    fn wants(&self, job: &Job) -> bool {
        self.status.is_none_or(|s| s == job.status)
            && self.job_type.as_ref().is_none_or(|t| *t == job.job_type)
            && self.user_id.is_none_or(|u| u == job.user_id)
    }
}

/// Keys of an index, newest first.
type Keys = Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>>>;

impl Jobs {
    /// A page of every user's jobs matching `filter`, newest first, and how many match.
    pub fn list_all(
        &self,
        filter: &AdminJobFilter,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Job>, usize), CoreError> {
        let t = &self.deps.tables;
        let totals = &self.deps.totals;
        if let Some(user) = filter.user_id {
            let keys = Box::new(t.by_user.keys_with_prefix(&user).rev());
            return self.read_each(keys, 16, filter, skip, limit);
        }
        if let Some(job_type) = &filter.job_type {
            let keys = Box::new(t.by_type.keys_with_prefix(&type_prefix(job_type)).rev());
            let at = 4 + job_type.len();
            return match filter.status {
                None => self.page_of_keys(keys, at, filter, skip, limit, totals.of_type(job_type)),
                Some(_) => self.read_each(keys, at, filter, skip, limit),
            };
        }
        match filter.status {
            Some(s) if s.is_terminal() => {
                let keys = Box::new(t.by_status.keys_with_prefix(&status_code(s)).rev());
                self.page_of_keys(keys, 4, filter, skip, limit, totals.in_status(s))
            }
            Some(_) => {
                let keys = Box::new(t.active.keys_with_prefix(&[] as &[u8]).rev());
                self.read_each(keys, 0, filter, skip, limit)
            }
            None => {
                let keys = Box::new(t.jobs.keys_with_prefix(&[] as &[u8]).rev());
                self.page_of_keys(keys, 0, filter, skip, limit, totals.all())
            }
        }
    }

    /// A page whose `total` is known: only the page's jobs are read (one
    /// whose record no longer matches, after a crash, is left out).
    fn page_of_keys(
        &self,
        keys: Keys,
        id_offset: usize,
        filter: &AdminJobFilter,
        skip: usize,
        limit: usize,
        total: u64,
    ) -> Result<(Vec<Job>, usize), CoreError> {
        let mut page = Vec::with_capacity(limit.min(100));
        for key in keys.skip(skip).take(limit) {
            let id = id_at(&key?, id_offset)?;
            if let Some(job) = self.deps.tables.jobs.get(&id)?
                && filter.wants(&job)
            {
                page.push(job);
            }
        }
        Ok((page, total as usize))
    }

    /// A page and its `total` by reading every job the index names.
    fn read_each(
        &self,
        keys: Keys,
        id_offset: usize,
        filter: &AdminJobFilter,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Job>, usize), CoreError> {
        let mut page = Vec::with_capacity(limit.min(100));
        let mut total = 0;
        for key in keys {
            let id = id_at(&key?, id_offset)?;
            let Some(job) = self.deps.tables.jobs.get(&id)? else {
                continue;
            };
            if filter.wants(&job) {
                if total >= skip && page.len() < limit {
                    page.push(job);
                }
                total += 1;
            }
        }
        Ok((page, total))
    }

    /// Any user's (or the system's) failed or cancelled job back to pending,
    /// as the owner's retry does; 404 unknown, 409 in any other status.
    pub async fn retry_any(&self, id: Uuid) -> Result<Job, CoreError> {
        let job = self.deps.tables.jobs.get(&id)?;
        let job = job.ok_or_else(|| CoreError::not_found("job", id))?;
        self.retry(job.user_id, id).await
    }

    /// The jobs' figures of the admin dashboard, from the totals.
    pub fn figures(&self) -> JobFigures {
        self.deps.totals.figures(now_ms())
    }
}
