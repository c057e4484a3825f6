//! The per-account failure throttle (issue 10, item 8): after
//! `max_failures` failed sign-ins on one account within `window`, that
//! account refuses sign-ins, from every IP, until the oldest failure leaves
//! the window. The per-IP rate limit cannot stop a botnet that spreads its
//! guesses over many addresses; this can.
//!
//! Accounts are keyed by the lower-cased email as typed, known or not, so
//! the throttle answers the same for an address that has no account (no
//! account enumeration).

use std::collections::VecDeque;
use std::time::Duration;

use dashmap::DashMap;

/// Accounts tracked before old entries are swept.
const SWEEP_ABOVE: usize = 50_000;

pub struct FailureThrottle {
    /// 0 turns the throttle off.
    max_failures: usize,
    window_ms: i64,
    /// Recent failure times (unix ms) per account, oldest first, at most `max_failures`.
    failures: DashMap<String, VecDeque<i64>>,
}

impl FailureThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures as usize,
            window_ms: window.as_millis().min(i64::MAX as u128) as i64,
            failures: DashMap::new(),
        }
    }

    /// The account key of an email as typed.
    pub fn key(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// `Some(seconds to wait)` while `account` is locked.
    pub fn locked(&self, account: &str, now: i64) -> Option<u64> {
        if self.max_failures == 0 {
            return None;
        }
        let times = self.failures.get(account)?;
        let recent: Vec<i64> = times
            .iter()
            .copied()
            .filter(|t| now - t < self.window_ms)
            .collect();
        if recent.len() < self.max_failures {
            return None;
        }
        let oldest = recent.first().copied().unwrap_or(now);
        let wait_ms = (oldest + self.window_ms - now).max(1000);
        Some((wait_ms as u64).div_ceil(1000))
    }

    /// Counts one failed sign-in of `account`.
    pub fn record_failure(&self, account: &str, now: i64) {
        if self.max_failures == 0 {
            return;
        }
        if self.failures.len() > SWEEP_ABOVE {
            self.failures
                .retain(|_, times| times.back().is_some_and(|t| now - t < self.window_ms));
        }
        let mut times = self.failures.entry(account.to_string()).or_default();
        while times.front().is_some_and(|t| now - t >= self.window_ms) {
            times.pop_front();
        }
        times.push_back(now);
        while times.len() > self.max_failures {
            times.pop_front();
        }
    }

    /// Forgets `account`'s failures (after a successful sign-in).
    pub fn clear(&self, account: &str) {
        self.failures.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenth_failure_locks_until_the_first_leaves_the_window() {
        let throttle = FailureThrottle::new(10, Duration::from_secs(900));
        let start = 1_000_000;
        for i in 0..9 {
            throttle.record_failure("a@x.io", start + i);
            assert_eq!(throttle.locked("a@x.io", start + i), None);
        }
        throttle.record_failure("a@x.io", start + 9);
        assert_eq!(throttle.locked("a@x.io", start + 10), Some(900));
        assert_eq!(throttle.locked("b@x.io", start + 10), None);
        assert_eq!(throttle.locked("a@x.io", start + 900_000), None);
        throttle.clear("a@x.io");
        assert_eq!(throttle.locked("a@x.io", start + 10), None);
    }

    #[test]
    fn zero_turns_it_off() {
        let throttle = FailureThrottle::new(0, Duration::from_secs(900));
        for i in 0..100 {
            throttle.record_failure("a@x.io", i);
        }
        assert_eq!(throttle.locked("a@x.io", 100), None);
    }
}
