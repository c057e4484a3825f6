//! One channel's state: subscribers, kept messages and presence.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::ChannelsConfig;
use super::outbox::Outbox;

pub(super) struct Member {
    pub outbox: Outbox,
    pub user: Uuid,
}

pub(super) struct Kept {
    pub id: u64,
    at: Instant,
    pub frame: Bytes,
}

pub(super) struct ChannelState {
    pub subscribers: Vec<Member>,
    pub history: VecDeque<Kept>,
    /// Every message of this channel with an id above `floor` is still kept
    /// (or never existed): `since >= floor` recovers without a gap.
    pub floor: u64,
    /// Connections per present user.
    present: HashMap<Uuid, u32>,
    pub presence_pending: bool,
}

impl ChannelState {
    pub fn new(floor: u64) -> Self {
        Self {
            subscribers: Vec::new(),
            history: VecDeque::new(),
            floor,
            present: HashMap::new(),
            presence_pending: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.history.is_empty() && !self.presence_pending
    }

    /// Adds a member (replacing one of the same connection); whether its
    /// user was not present before.
    pub fn add(&mut self, member: Member) -> bool {
        if self.remove(member.outbox.conn).is_some() {
            // A re-subscribe: the user was and stays present.
            *self.present.entry(member.user).or_insert(0) += 1;
            self.subscribers.push(member);
            return false;
        }
        let count = self.present.entry(member.user).or_insert(0);
        *count += 1;
        let joined = *count == 1;
        self.subscribers.push(member);
        joined
    }

    /// Removes connection `conn`: `None` if it was not subscribed, else
    /// whether its user has now left.
    pub fn remove(&mut self, conn: u64) -> Option<bool> {
        let at = self
            .subscribers
            .iter()
            .position(|m| m.outbox.conn == conn)?;
        let member = self.subscribers.swap_remove(at);
        let Some(count) = self.present.get_mut(&member.user) else {
            return Some(false);
        };
        *count -= 1;
        if *count == 0 {
            self.present.remove(&member.user);
            return Some(true);
        }
        Some(false)
    }

    /// The present users, in a stable order.
    pub fn present(&self) -> Vec<Uuid> {
        let mut users: Vec<Uuid> = self.present.keys().copied().collect();
        users.sort_unstable();
        users
    }

    /// Keeps a published message for recovery, dropping the oldest past the
    /// cap; whether it was kept.
    pub fn keep(&mut self, id: u64, frame: Bytes, config: &ChannelsConfig) -> bool {
        if config.history == 0 {
            self.floor = self.floor.max(id);
            return false;
        }
        self.history.push_back(Kept {
            id,
            at: Instant::now(),
            frame,
        });
        self.prune(config);
        true
    }

    /// Drops every kept message up to and including `id` (the global byte
    /// budget's eviction).
    pub fn drop_through(&mut self, id: u64) {
        while self.history.front().is_some_and(|k| k.id <= id) {
            if let Some(dropped) = self.history.pop_front() {
                self.floor = self.floor.max(dropped.id);
            }
        }
    }

    /// Drops kept messages over the cap or older than the TTL.
    pub fn prune(&mut self, config: &ChannelsConfig) {
        while self.history.len() > config.history
            || self
                .history
                .front()
                .is_some_and(|k| k.at.elapsed() > config.history_ttl)
        {
            if let Some(dropped) = self.history.pop_front() {
                self.floor = self.floor.max(dropped.id);
            }
        }
    }

    /// Queues `frame` for every subscriber; answers how many took it.
    pub fn fan_out(&self, frame: &Bytes) -> usize {
        self.subscribers
            .iter()
            .filter(|m| m.outbox.push(frame.clone()))
            .count()
    }
}
