//! Quota enforcement: tokens are reserved under the user's lock before a
//! provider call and settled to the real usage when it ends. A check of
//! "tokens left" alone lets any number of parallel calls pass it at once.

use uuid::Uuid;

use super::{Usage, UsageEntry, month_of};
use crate::error::CoreError;
use crate::llm::ChatRequest;
use crate::model::User;

/// How much of their allowance a user has used this month, after a call settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowanceUsed {
    /// Whose allowance.
    pub user_id: Uuid,
    /// The month, `yyyymm` (UTC).
    pub month: u32,
    /// Tokens used this month so far.
    pub used: u64,
    /// The allowance the call started with.
    pub allowance: u64,
}

/// Told of every settled call of a user with an allowance ([`Usage::watch_allowance`]).
pub type AllowanceWatch = std::sync::Arc<dyn Fn(AllowanceUsed) + Send + Sync>;

/// Tokens held for one call in flight. Settle it with the call's usage;
/// dropped unsettled (the call never started), it releases what it held.
pub struct Reservation {
    usage: Usage,
    user_id: Uuid,
    /// Tokens held; 0 for a user without an allowance (nothing to hold).
    held: u64,
    /// The most completion tokens the call may ask for; `None`: no limit.
    max_tokens: Option<u32>,
    /// The user's allowance when the call began, to notice 80% and 100%.
    allowance: Option<u64>,
}

impl Reservation {
    /// Lowers the request's `max_tokens` to what the reservation covers.
    pub fn clamp(&self, request: &mut ChatRequest) {
        if let Some(limit) = self.max_tokens {
            request.max_tokens = Some(request.max_tokens.map_or(limit, |m| m.min(limit)));
        }
    }

    /// Records the call's real usage and releases the reservation, in one
    /// step under the user's lock.
    pub fn settle(mut self, entry: UsageEntry) {
        let held = std::mem::take(&mut self.held);
        self.usage.settle(self.user_id, entry, held);
        if let Some(allowance) = self.allowance {
            self.usage.notice_thresholds(self.user_id, allowance);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held > 0 {
            let _guard = self.usage.locks.lock(&self.user_id);
            self.usage.release_locked(self.user_id, self.held);
        }
    }
}

impl Usage {
    /// Reserves tokens for one call of `user`: `prompt` (an estimate) plus
    /// `completion` (the request's `max_tokens` or the configured default),
    /// the completion part clamped to what is left (at least 1). Answers
    /// `QuotaExceeded` when nothing is left, counting the tokens other
    /// calls in flight hold. A user without an allowance holds nothing.
    pub fn reserve(
        &self,
        user: &User,
        prompt: u64,
        completion: u64,
    ) -> Result<Reservation, CoreError> {
        let mut reservation = Reservation {
            usage: self.clone(),
            user_id: user.id,
            held: 0,
            max_tokens: None,
            allowance: user.monthly_token_allowance,
        };
        let Some(allowance) = user.monthly_token_allowance else {
            return Ok(reservation);
        };
        let _guard = self.locks.lock(&user.id);
        let left = self.left_locked(user.id, allowance)?;
        let completion = completion
            .min(left.saturating_sub(prompt))
            .clamp(1, u64::from(u32::MAX));
        reservation.held = prompt.saturating_add(completion);
        reservation.max_tokens = u32::try_from(completion).ok();
        *self.reserved.entry(user.id).or_insert(0) += reservation.held;
        Ok(reservation)
    }

    /// The check every AI call makes before it calls a model, for a caller
    /// that queues the call for later (a ticket chat): `QuotaExceeded` when
    /// nothing is left of `user`'s allowance, counting the tokens calls in
    /// flight hold. Holds nothing itself; the call reserves when it runs.
    pub fn check_allowance(&self, user: &User) -> Result<(), CoreError> {
        let Some(allowance) = user.monthly_token_allowance else {
            return Ok(());
        };
        let _guard = self.locks.lock(&user.id);
        self.left_locked(user.id, allowance).map(|_| ())
    }

    /// Tokens left of `allowance` this month, after what `user_id` spent and
    /// what its calls in flight hold; `QuotaExceeded` when none. The caller
    /// holds the user's lock.
    fn left_locked(&self, user_id: Uuid, allowance: u64) -> Result<u64, CoreError> {
        let (month, _, _) = month_of(crate::model::now_ms());
        let spent = self.month_total(user_id, month)?.total_tokens();
        let held = self.reserved.get(&user_id).map_or(0, |h| *h);
        match allowance.saturating_sub(spent.saturating_add(held)) {
            0 => Err(CoreError::QuotaExceeded),
            left => Ok(left),
        }
    }

    /// Tells the allowance watcher how much of `allowance` `user_id` has
    /// used this month.
    fn notice_thresholds(&self, user_id: Uuid, allowance: u64) {
        let Some(watch) = self.allowance_watch.get() else {
            return;
        };
        let (month, _, _) = month_of(crate::model::now_ms());
        match self.month_total(user_id, month) {
            Ok(m) => watch(AllowanceUsed {
                user_id,
                month,
                used: m.total_tokens(),
                allowance,
            }),
            Err(e) => tracing::error!(error = %e, "usage not read for the allowance watcher"),
        }
    }

    /// Gives back `tokens` of `user_id`'s reservations. The caller holds
    /// the user's lock.
    pub(super) fn release_locked(&self, user_id: Uuid, tokens: u64) {
        if tokens == 0 {
            return;
        }
        // An empty entry is removed, so the map follows the calls in flight.
        self.reserved.remove_if_mut(&user_id, |_, held| {
            *held = held.saturating_sub(tokens);
            *held == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::llm::TokenUsage;

    fn usage() -> (Usage, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Relaxed);
        (Usage::open(store).unwrap(), dir)
    }

    fn user(allowance: Option<u64>) -> User {
        User {
            id: Uuid::now_v7(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            full_name: None,
            avatar_url: None,
            role: crate::model::Role::User,
            is_active: true,
            password_hash: None,
            monthly_token_allowance: allowance,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn entry(tokens: u64) -> UsageEntry {
        let usage = TokenUsage {
            prompt_tokens: 0,
            completion_tokens: tokens,
        };
        UsageEntry::new(
            crate::usage::CallKind::Completion,
            "echo",
            "echo-1",
            usage,
            Instant::now(),
            "complete",
            "",
        )
    }

    #[tokio::test]
    async fn reservations_count_as_spent_until_they_settle() {
        let (usage, _dir) = usage();
        let ada = user(Some(100));
        let first = usage.reserve(&ada, 10, 4096).unwrap();
        assert_eq!(first.max_tokens, Some(90), "clamped to what is left");
        assert!(matches!(
            usage.reserve(&ada, 1, 10),
            Err(CoreError::QuotaExceeded)
        ));
        first.settle(entry(30));
        let second = usage.reserve(&ada, 10, 4096).unwrap();
        assert_eq!(second.max_tokens, Some(60));
        drop(second);
        assert!(
            usage.reserved.is_empty(),
            "a dropped reservation is released"
        );
        assert_eq!(usage.tokens_remaining(&ada).unwrap(), Some(70));
    }

    #[tokio::test]
    async fn a_user_without_an_allowance_holds_nothing_and_keeps_max_tokens() {
        let (usage, _dir) = usage();
        let r = usage.reserve(&user(None), 10, 4096).unwrap();
        let mut request = ChatRequest::default();
        r.clamp(&mut request);
        assert_eq!(request.max_tokens, None);
        assert!(usage.reserved.is_empty());
    }

    #[tokio::test]
    async fn the_allowance_check_counts_what_calls_in_flight_hold_and_holds_nothing() {
        let (usage, _dir) = usage();
        let ada = user(Some(100));
        usage.check_allowance(&ada).unwrap();
        assert!(usage.reserved.is_empty(), "the check holds nothing");
        let all = usage.reserve(&ada, 10, 4096).unwrap();
        assert!(matches!(
            usage.check_allowance(&ada),
            Err(CoreError::QuotaExceeded)
        ));
        drop(all);
        usage.check_allowance(&ada).unwrap();
        usage.check_allowance(&user(None)).unwrap();
    }
}
