//! Test helpers for tokio's paused time (`#[tokio::test(start_paused = true)]`):
//! the clock moves only when a test moves it, so a timer fires exactly
//! when the test says, every run.
//!
//! A test on paused time must not wait on anything outside tokio (a `Sync`
//! store commit waits on the flusher thread): while it waits the runtime
//! is idle, and tokio moves the clock on to the next timer by itself.

use std::time::Duration;

/// Lets every task that can run do so, without moving the clock.
pub(crate) async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// Lets the other tasks run until `cond` holds, without moving the clock:
/// what `cond` waits for must need no time to pass.
pub(crate) async fn settles_to(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what} did not happen without time passing");
}

/// Moves the clock by `d` once every task has run (so each timer counts
/// from the moment it was meant to), then lets the tasks whose timers
/// fired run.
pub(crate) async fn tick(d: Duration) {
    settle().await;
    tokio::time::advance(d).await;
    settle().await;
}

/// Unix-ms-like time that follows the paused clock, from 0 at `origin`.
pub(crate) fn millis_since(origin: tokio::time::Instant) -> i64 {
    i64::try_from(origin.elapsed().as_millis()).unwrap_or(i64::MAX)
}
