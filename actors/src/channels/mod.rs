//! Channels: a name maps to its subscribers' outbound queues, a short
//! history for recovery, and (for `room:` channels) who is present.
//!
//! A published message is serialized once and `try_send` to every
//! subscriber's bounded queue under the channel's lock, which orders
//! publishes against subscribes with `since`: a recovering subscriber gets
//! the kept messages and then the live ones, nothing twice and no gap.
//! Publishing never awaits a subscriber; a full queue closes that one
//! connection (see [`outbox`]).
//!
//! What channels hold is bounded: kept messages share one byte budget
//! ([`budget`]), and a user may have only so many `room:` channels alive.

mod budget;
pub mod frames;
mod name;
pub mod outbox;
mod state;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::replay::Generation;
use budget::HistoryBudget;
pub use name::ChannelName;
pub use outbox::{CloseSignal, Outbox, OutboxRx};
use state::{ChannelState, Member};

/// How long joins and leaves are gathered before one `presence` goes out.
const PRESENCE_DELAY: Duration = Duration::from_millis(25);

/// History and room limits of the channels (from `[ws]` in the configuration).
#[derive(Debug, Clone)]
pub struct ChannelsConfig {
    /// Messages each channel keeps for recovery.
    pub history: usize,
    /// How long a kept message stays.
    pub history_ttl: Duration,
    /// Bytes of kept messages, all channels together.
    pub history_max_bytes: usize,
    /// `room:` channels one user may have created and alive at once.
    pub max_rooms_per_user: usize,
}

/// A user already has as many rooms alive as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRooms {
    /// The configured rooms per user (`ws.max_rooms_per_user`).
    pub limit: usize,
}

/// The channel registry. Cheap to clone.
#[derive(Clone)]
pub struct Channels {
    inner: Arc<Inner>,
}

struct Inner {
    map: DashMap<String, Arc<Channel>>,
    config: ChannelsConfig,
    /// Message ids: increasing across channels and across restarts (seeded
    /// from the clock), so an id from before a restart is never "recent".
    next_id: AtomicU64,
    budget: HistoryBudget,
    /// Live rooms per user who created them.
    rooms: DashMap<Uuid, usize>,
}

impl Inner {
    /// Counts a new room of `user`, unless they are at the cap.
    fn claim_room(&self, user: Uuid) -> Result<(), TooManyRooms> {
        let mut rooms = self.rooms.entry(user).or_insert(0);
        if *rooms >= self.config.max_rooms_per_user {
            return Err(TooManyRooms {
                limit: self.config.max_rooms_per_user,
            });
        }
        *rooms += 1;
        Ok(())
    }

    /// Uncounts a channel that was dropped from the map.
    fn forget(&self, channel: &Channel) {
        if let Some(user) = channel.creator {
            if let Some(mut rooms) = self.rooms.get_mut(&user) {
                *rooms = rooms.saturating_sub(1);
            }
            self.rooms.remove_if(&user, |_, n| *n == 0);
        }
    }
}

struct Channel {
    name: String,
    /// Who made this `room:` channel (counted against their cap).
    creator: Option<Uuid>,
    state: Mutex<ChannelState>,
}

impl Channel {
    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Channels {
    /// An empty registry; its owner runs `sweep_until` to drop expired history.
    pub fn new(config: ChannelsConfig) -> Self {
        let seed = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        let inner = Arc::new(Inner {
            map: DashMap::new(),
            budget: HistoryBudget::new(config.history_max_bytes),
            config,
            next_id: AtomicU64::new(seed),
            rooms: DashMap::new(),
        });
        Self { inner }
    }

    /// Adds `outbox` (a connection of `user`) to `name` and queues the
    /// `subscribed` reply; with `since`, first every kept message after it
    /// and `recovered`. Subscribing again replaces the earlier subscription.
    /// A `room:` that does not exist yet is created, within `user`'s cap.
    pub fn subscribe(
        &self,
        name: &str,
        user: Uuid,
        outbox: &Outbox,
        since: Option<u64>,
        reference: Option<&Value>,
    ) -> Result<(), TooManyRooms> {
        self.enter(name, user, outbox, Some((since, reference)))
    }

    /// Adds `outbox` to `name` without a reply (implicit subscriptions).
    pub fn join(&self, name: &str, user: Uuid, outbox: &Outbox) {
        // Only `room:` channels count against a cap, and none is joined so.
        let _ = self.enter(name, user, outbox, None);
    }

    fn enter(
        &self,
        name: &str,
        user: Uuid,
        outbox: &Outbox,
        reply: Option<(Option<u64>, Option<&Value>)>,
    ) -> Result<(), TooManyRooms> {
        let inner = &self.inner;
        // The map entry stays held until the member is in, so the channel
        // cannot be dropped as empty in between.
        let entry = match inner.map.entry(name.to_string()) {
            Entry::Occupied(entry) => entry.into_ref(),
            Entry::Vacant(entry) => {
                let creator = ChannelName::has_presence(name).then_some(user);
                if let Some(creator) = creator {
                    inner.claim_room(creator)?;
                }
                entry.insert(self.new_channel(name, creator))
            }
        };
        let channel = entry.value().clone();
        let mut state = channel.lock();
        state.prune(&inner.config);
        if let Some((since, reference)) = reply {
            let recovered = since.map(|since| since >= state.floor);
            outbox.push(frames::subscribed(name, recovered, reference));
            if let Some(since) = since {
                for kept in state.history.iter().filter(|k| k.id > since) {
                    outbox.push(kept.frame.clone());
                }
            }
        }
        let joined = state.add(Member {
            outbox: outbox.clone(),
            user,
        });
        drop(entry);
        if joined && ChannelName::has_presence(name) {
            self.announce_presence(&channel, &mut state);
        }
        Ok(())
    }

    /// Removes connection `conn` from `name`; whether it was subscribed.
    pub fn unsubscribe(&self, name: &str, conn: u64) -> bool {
        let Some(channel) = self.get(name) else {
            return false;
        };
        let mut state = channel.lock();
        let Some(left) = state.remove(conn) else {
            return false;
        };
        if state.subscribers.is_empty() {
            // The last one out: nobody is left to tell, and a pending
            // announcement must not keep the channel alive.
            state.presence_pending = false;
        } else if left && ChannelName::has_presence(name) {
            self.announce_presence(&channel, &mut state);
        }
        drop(state);
        self.drop_if_empty(name);
        true
    }

    /// Drops channel `name` from the map if nothing is left in it.
    fn drop_if_empty(&self, name: &str) {
        if let Some((_, channel)) = self.inner.map.remove_if(name, |_, c| c.lock().is_empty()) {
            self.inner.forget(&channel);
        }
    }

    /// Publishes `data` to `name` as a `channel_message`: kept for recovery
    /// and sent to every subscriber. Answers the message id.
    pub fn publish(&self, name: &str, sender: Option<Uuid>, data: &Value) -> u64 {
        let inner = &self.inner;
        let channel = match self.get(name) {
            Some(channel) => channel,
            None => inner
                .map
                .entry(name.to_string())
                .or_insert_with(|| self.new_channel(name, None))
                .clone(),
        };
        let mut state = channel.lock();
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = frames::channel_message(name, data, sender, id);
        let kept = state.keep(id, frame.clone(), &inner.config);
        state.fan_out(&frame);
        drop(state);
        if kept {
            inner.budget.charge(&channel, id, frame.len());
        }
        id
    }

    /// Sends `frame` to the current subscribers of `name` only: not kept
    /// (chat tokens, presence, notifications). Answers how many got it.
    pub fn send(&self, name: &str, frame: &Bytes) -> usize {
        match self.get(name) {
            Some(channel) => channel.lock().fan_out(frame),
            None => 0,
        }
    }

    /// Sends a `notification` to every connection of `user`.
    pub fn notify_user(&self, user: Uuid, data: &Value) -> usize {
        self.send(&ChannelName::user(user), &frames::notification(data))
    }

    /// Sends a `job.update` to every connection of `user`.
    pub fn job_update(&self, user: Uuid, job: &Value) -> usize {
        self.send(&ChannelName::user(user), &frames::job_update(job))
    }

    /// Streams a conversation's generation to `conversation:{id}` as
    /// `chat.*` messages, whoever started it (HTTP or WebSocket) and
    /// whoever subscribes while it runs.
    pub fn stream_generation(&self, conversation_id: Uuid, generation: &Arc<Generation>) {
        use futures::StreamExt;
        let channels = self.clone();
        let name = ChannelName::conversation(conversation_id);
        let mut events = Box::pin(generation.listen(0));
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let Some(channel) = channels.get(&name) {
                    let frame = frames::chat_event(event.name(), conversation_id, event.payload());
                    channel.lock().fan_out(&frame);
                }
            }
        });
    }

    fn get(&self, name: &str) -> Option<Arc<Channel>> {
        self.inner.map.get(name).map(|c| c.value().clone())
    }

    fn new_channel(&self, name: &str, creator: Option<Uuid>) -> Arc<Channel> {
        // Messages of an earlier channel of this name (before it emptied
        // and was dropped) are gone: nothing at or below this id recovers.
        let floor = self.inner.next_id.load(Ordering::Relaxed);
        Arc::new(Channel {
            name: name.to_string(),
            creator,
            state: Mutex::new(ChannelState::new(floor)),
        })
    }

    /// Sends one `presence` for a burst of joins and leaves, shortly after.
    fn announce_presence(&self, channel: &Arc<Channel>, state: &mut ChannelState) {
        if std::mem::replace(&mut state.presence_pending, true) {
            return;
        }
        let (channels, channel) = (self.clone(), channel.clone());
        tokio::spawn(async move {
            tokio::time::sleep(PRESENCE_DELAY).await;
            let mut state = channel.lock();
            state.presence_pending = false;
            let frame = frames::presence(&channel.name, &state.present());
            state.fan_out(&frame);
            drop(state);
            // Everyone left while the announcement waited.
            channels.drop_if_empty(&channel.name);
        });
    }

    /// Drops expired history and empty channels every 10 s, so memory
    /// follows activity, until `stop` is cancelled. The owner spawns it on
    /// its task tracker; it holds the channels weakly.
    pub fn sweep_until(
        &self,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        sweep(Arc::downgrade(&self.inner), stop)
    }
}

async fn sweep(inner: Weak<Inner>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.map.retain(|_, channel| {
            let mut state = channel.lock();
            state.prune(&inner.config);
            let keep = !state.is_empty();
            if !keep {
                inner.forget(channel);
            }
            keep
        });
    }
}
