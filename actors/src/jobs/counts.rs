//! Unfinished jobs per user, for `jobs.max_per_user`: counted in memory
//! (rebuilt from the active index at start-up), taken before a job is
//! written or brought back by a retry, given back when it ends.

use dashmap::DashMap;
use uuid::Uuid;

use crate::error::CoreError;

pub(super) struct ActiveCounts {
    /// Pending, scheduled or running jobs, by owner.
    counts: DashMap<Uuid, usize>,
    /// The most one user may have.
    max: usize,
}

impl ActiveCounts {
    pub(super) fn new(max: usize) -> Self {
        Self {
            counts: DashMap::new(),
            max: max.max(1),
        }
    }

    /// Counts one more unfinished job of `user`, or refuses it with 429.
    pub(super) fn take(&self, user: Uuid) -> Result<(), CoreError> {
        let mut n = self.counts.entry(user).or_insert(0);
        if *n >= self.max {
            return Err(CoreError::LimitReached {
                resource: "unfinished jobs",
                limit: self.max as u64,
            });
        }
        *n += 1;
        Ok(())
    }

    /// Counts a job found unfinished at start-up (never refused).
    pub(super) fn add(&self, user: Uuid) {
        *self.counts.entry(user).or_insert(0) += 1;
    }

    /// How many unfinished jobs `user` has.
    #[cfg(test)]
    pub(super) fn get(&self, user: Uuid) -> usize {
        self.counts.get(&user).map_or(0, |n| *n)
    }

    /// One of `user`'s jobs ended (or was never written).
    pub(super) fn release(&self, user: Uuid) {
        if let Some(mut n) = self.counts.get_mut(&user) {
            *n = n.saturating_sub(1);
        }
        self.counts.remove_if(&user, |_, n| *n == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_refused_at_the_cap_until_a_job_ends() {
        let counts = ActiveCounts::new(2);
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        counts.take(ada).unwrap();
        counts.take(ada).unwrap();
        assert!(matches!(
            counts.take(ada),
            Err(CoreError::LimitReached { .. })
        ));
        counts.take(bob).unwrap();
        counts.release(ada);
        counts.take(ada).unwrap();
    }
}
