//! The scheduler's choice of the next job: higher priority first, then
//! FIFO (job ids are time-ordered), at most `limit` at once, and fair
//! between owners: while jobs of several owners wait, no owner gets more
//! than half of the slots. One owner alone may use them all.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use uuid::Uuid;

/// Ready jobs by owner, and who holds the slots.
pub(super) struct ReadyQueue {
    limit: usize,
    /// Each owner's ready jobs, best first.
    waiting: HashMap<Uuid, BinaryHeap<(u8, Reverse<Uuid>)>>,
    /// Job -> owner, for every job holding a slot.
    running: HashMap<Uuid, Uuid>,
    /// Slots held per owner.
    held: HashMap<Uuid, usize>,
}

impl ReadyQueue {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            waiting: HashMap::new(),
            running: HashMap::new(),
            held: HashMap::new(),
        }
    }

    pub(super) fn push(&mut self, id: Uuid, owner: Uuid, priority: u8) {
        self.waiting
            .entry(owner)
            .or_default()
            .push((priority, Reverse(id)));
    }

    /// The most slots one owner may hold while others wait.
    fn share(&self) -> usize {
        (self.limit / 2).max(1)
    }

    /// The next job to run, which now holds a slot; `None` when no slot is
    /// free or every waiting owner already holds its share.
    pub(super) fn next(&mut self) -> Option<Uuid> {
        loop {
            if self.running.len() >= self.limit {
                return None;
            }
            let alone = self.waiting.len() == 1;
            let share = self.share();
            let owner = self
                .waiting
                .iter()
                .filter(|(owner, _)| alone || self.held.get(*owner).copied().unwrap_or(0) < share)
                .filter_map(|(owner, jobs)| jobs.peek().map(|top| (*top, *owner)))
                .max()
                .map(|(_, owner)| owner)?;
            let jobs = self.waiting.get_mut(&owner)?;
            let (_, Reverse(id)) = jobs.pop()?;
            if jobs.is_empty() {
                self.waiting.remove(&owner);
            }
            // Queued twice (a retry racing a restart): it holds one slot at most.
            if self.running.contains_key(&id) {
                continue;
            }
            self.running.insert(id, owner);
            *self.held.entry(owner).or_default() += 1;
            return Some(id);
        }
    }

    /// Job `id` gave its slot back (a second call is a no-op).
    pub(super) fn done(&mut self, id: Uuid) {
        let Some(owner) = self.running.remove(&id) else {
            return;
        };
        if let Some(n) = self.held.get_mut(&owner) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&owner);
            }
        }
    }

    /// Slots in use.
    #[cfg(test)]
    pub(super) fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn one_owner_alone_may_use_every_slot() {
        let mut q = ReadyQueue::new(4);
        let ada = Uuid::now_v7();
        for id in ids(6) {
            q.push(id, ada, 5);
        }
        let started: Vec<_> = std::iter::from_fn(|| q.next()).collect();
        assert_eq!(started.len(), 4);
        assert_eq!(q.next(), None, "no fifth slot");
    }

    #[test]
    fn an_owner_never_holds_more_than_half_while_others_wait() {
        let mut q = ReadyQueue::new(4);
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let hers = ids(10);
        for id in &hers {
            q.push(*id, ada, 5);
        }
        // Ada alone: she takes all four slots.
        let mut running: Vec<Uuid> = std::iter::from_fn(|| q.next()).collect();
        assert_eq!(running, hers[..4]);
        // Bob's job is newer and lower in priority, yet each slot Ada frees
        // goes to him until she is down to half.
        q.push(Uuid::now_v7(), bob, 1);
        q.push(Uuid::now_v7(), bob, 1);
        q.push(Uuid::now_v7(), bob, 1);
        let mut bobs = 0;
        for _ in 0..2 {
            q.done(running.remove(0));
            let next = q.next().unwrap();
            assert!(!hers.contains(&next), "ada holds 3 of 4 while bob waits");
            bobs += 1;
        }
        // Two each and every slot taken; when Ada's next job ends she is
        // under her share again.
        assert_eq!((q.held[&ada], q.held[&bob]), (2, bobs));
        assert_eq!(q.next(), None);
        q.done(running.remove(0));
        let next = q.next().unwrap();
        assert!(hers.contains(&next), "ada is under her share again");
        assert_eq!(q.running(), 4);
    }

    #[test]
    fn priority_then_age_orders_within_the_share() {
        let mut q = ReadyQueue::new(2);
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let [old, new] = [Uuid::now_v7(), Uuid::now_v7()];
        let urgent = Uuid::now_v7();
        q.push(old, ada, 3);
        q.push(new, bob, 3);
        q.push(urgent, bob, 9);
        assert_eq!(q.next(), Some(urgent));
        assert_eq!(q.next(), Some(old), "bob holds his share: ada's turn");
    }

    #[test]
    fn a_job_queued_twice_holds_one_slot_and_done_is_idempotent() {
        let mut q = ReadyQueue::new(2);
        let ada = Uuid::now_v7();
        let id = Uuid::now_v7();
        q.push(id, ada, 5);
        q.push(id, ada, 5);
        assert_eq!(q.next(), Some(id));
        assert_eq!(q.next(), None);
        q.done(id);
        q.done(id);
        assert_eq!(q.running(), 0);
    }
}
