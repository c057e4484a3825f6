//! How many conversation generations are running now (the dashboard's
//! `conversations.active_generations`): each generation's task holds a
//! [`LiveGuard`] from its start to its end, whatever way it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The count of running generations. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub struct LiveGenerations(Arc<AtomicUsize>);

impl LiveGenerations {
    /// Counts one more running generation until the guard is dropped.
    pub fn start(&self) -> LiveGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        LiveGuard(self.0.clone())
    }

    /// Generations running now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One running generation, counted while it lives.
pub struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_counts_until_its_guard_goes() {
        let live = LiveGenerations::default();
        let first = live.start();
        let second = live.clone().start();
        assert_eq!(live.count(), 2);
        drop(first);
        assert_eq!(live.count(), 1);
        drop(second);
        assert_eq!(live.count(), 0);
    }
}
