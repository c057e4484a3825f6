//! The byte budget every channel's kept messages share. Each kept message
//! is charged here in publish order; past the budget the oldest charges go
//! first, whatever their channel, and each takes its message out of its
//! channel's history (raising that channel's floor, so a later `since`
//! honestly answers `recovered: false`).
//!
//! A charge is released only when it leaves this queue, even if its
//! message already left its channel (count cap, TTL): memory is bounded by
//! the budget without a scan of every channel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use super::Channel;
use super::state::Kept;

/// What one kept message costs beyond its frame: its `Kept` and its charge.
const OVERHEAD: usize = std::mem::size_of::<Kept>() + std::mem::size_of::<Charge>();

struct Charge {
    id: u64,
    bytes: usize,
    channel: Weak<Channel>,
}

#[derive(Default)]
struct Charges {
    queue: VecDeque<Charge>,
    bytes: usize,
}

pub(super) struct HistoryBudget {
    max_bytes: usize,
    charges: Mutex<Charges>,
}

impl HistoryBudget {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            charges: Mutex::new(Charges::default()),
        }
    }

    /// Charges message `id` of `channel` (a frame of `frame_len` bytes),
    /// then drops the oldest kept messages until every charge fits.
    ///
    /// Takes channel locks: call it with none held (a publisher holding
    /// its channel's lock while waiting here could deadlock with another).
    pub fn charge(&self, channel: &Arc<Channel>, id: u64, frame_len: usize) {
        let mut charges = self.charges.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = frame_len + OVERHEAD;
        charges.bytes += bytes;
        charges.queue.push_back(Charge {
            id,
            bytes,
            channel: Arc::downgrade(channel),
        });
        while charges.bytes > self.max_bytes {
            let Some(oldest) = charges.queue.pop_front() else {
                break;
            };
            charges.bytes -= oldest.bytes;
            if let Some(channel) = oldest.channel.upgrade() {
                channel.lock().drop_through(oldest.id);
            }
        }
    }

    /// Bytes charged now (for tests and metrics).
    #[cfg(test)]
    pub fn charged(&self) -> usize {
        self.charges.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}
