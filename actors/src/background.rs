//! `Background`: the long-lived tasks the core owns (the job scheduler, each
//! running job attempt, the webhook forwarder, the channel sweeper). Each is
//! tracked and told to stop when the core shuts down, before the store
//! closes, so no task outlives its server and none writes to a closed store.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Spawns and stops the core's background tasks. Cheap to clone; every
/// clone tracks the same tasks.
#[derive(Clone, Default)]
pub struct Background {
    /// Every task spawned here, so shutdown can wait for them to end.
    tracker: TaskTracker,
    /// Cancelled when shutdown begins.
    stop: CancellationToken,
}

impl Background {
    /// An empty set of tasks, not stopping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` until it ends or shutdown begins, whichever is first
    /// (it is dropped at its next `.await` then). For loops with nothing to
    /// finish, such as a sweeper.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Runs the task `make` builds with the shutdown token: for a task that
    /// has work to finish once the token is cancelled (it must then end soon).
    pub fn spawn_with<F>(&self, make: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(make(self.stop.clone()));
    }

    /// Cancelled when shutdown begins.
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Tasks still running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Whether shutdown has begun: no new task will be waited for.
    pub fn is_closed(&self) -> bool {
        self.tracker.is_closed()
    }

    /// Tells every task to stop and waits up to `grace` for them to end.
    pub async fn stop(&self, grace: Duration) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = self.tracker.len(),
                "background tasks still running after the shutdown grace period"
            );
        }
    }
}

/// The pace of a loop that works every `period`, or sooner when `wake` is
/// notified, until `stop` is cancelled (a flusher, a sweeper with a "full"
/// signal). Missed ticks are delayed, not bunched.
pub(crate) struct Pace<'a> {
    tick: tokio::time::Interval,
    wake: &'a tokio::sync::Notify,
    stop: &'a CancellationToken,
}

impl<'a> Pace<'a> {
    /// The first [`Pace::next`] answers at once.
    pub(crate) fn new(
        period: Duration,
        wake: &'a tokio::sync::Notify,
        stop: &'a CancellationToken,
    ) -> Self {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { tick, wake, stop }
    }

    /// Waits for the next tick or wake-up: `true`, time to work; `false`,
    /// stop (do the last round and end).
    pub(crate) async fn next(&mut self) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            _ = self.tick.tick() => true,
            () = self.wake.notified() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_every_task_and_refuses_none_that_finishes_work() {
        let background = Background::new();
        background.spawn(std::future::pending());
        let (tx, rx) = tokio::sync::oneshot::channel();
        background.spawn_with(|stop| async move {
            stop.cancelled().await;
            let _ = tx.send("drained");
        });
        assert_eq!(background.len(), 2);
        background.stop(Duration::from_secs(5)).await;
        assert!(background.is_empty() && background.is_closed());
        assert_eq!(rx.await.ok(), Some("drained"));
    }
}
