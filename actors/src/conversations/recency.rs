//! Each user's conversations by recency, kept in memory.
//!
//! Every message moved its conversation in a stored `(user, updated_at,
//! id)` index: an insert and a remove in sled on every append, two of its
//! five store operations (docs/design/perf.md, sixth session). The order is
//! a view of the conversation records, whose `updated_at` is the truth, so
//! it is built from them when the store opens and kept by every writer of
//! a record, under the record's stripe lock, after its write.
//!
//! A crash cannot leave the view wrong: it is made again from the records.
//! It costs about 40 bytes per conversation, and the start-up pass decodes
//! every conversation record once.

use std::collections::BTreeSet;

use dashmap::DashMap;
use uuid::Uuid;

use crate::model::Conversation;
use crate::store::{StoreError, Table};

/// Users' conversations, ordered by `(updated_at, id)`.
#[derive(Default)]
pub struct Recency {
    by_user: DashMap<Uuid, BTreeSet<(i64, Uuid)>>,
}

impl Recency {
    /// The view of every record in `conversations`.
    pub fn load(conversations: &Table<Uuid, Conversation>) -> Result<Self, StoreError> {
        let recency = Self::default();
        for item in conversations.iter() {
            let (_, conv) = item?;
            recency.put(conv.user_id, conv.updated_at, conv.id);
        }
        Ok(recency)
    }

    /// A new conversation of `user`.
    pub fn put(&self, user: Uuid, updated_at: i64, id: Uuid) {
        self.by_user
            .entry(user)
            .or_default()
            .insert((updated_at, id));
    }

    /// Conversation `id` of `user` was updated at `old` and now at `new`.
    pub fn moved(&self, user: Uuid, old: i64, new: i64, id: Uuid) {
        if old == new {
            return;
        }
        let mut set = self.by_user.entry(user).or_default();
        set.remove(&(old, id));
        set.insert((new, id));
    }

    /// Conversation `id` of `user`, last updated at `updated_at`, is gone.
    pub fn remove(&self, user: Uuid, updated_at: i64, id: Uuid) {
        let emptied = self.by_user.get_mut(&user).is_some_and(|mut set| {
            set.remove(&(updated_at, id));
            set.is_empty()
        });
        if emptied {
            self.by_user.remove_if(&user, |_, set| set.is_empty());
        }
    }

    /// How many conversations `user` has.
    pub fn len(&self, user: Uuid) -> usize {
        self.by_user.get(&user).map_or(0, |set| set.len())
    }

    /// Up to `limit` of `user`'s conversation ids after the `skip` most
    /// recently updated, newest first.
    pub fn page(&self, user: Uuid, skip: usize, limit: usize) -> Vec<Uuid> {
        self.by_user.get(&user).map_or_else(Vec::new, |set| {
            set.iter()
                .rev()
                .skip(skip)
                .take(limit)
                .map(|&(_, id)| id)
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recently_updated_comes_first_and_moves_replace() {
        let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let recency = Recency::default();
        for (at, id) in ids.iter().enumerate() {
            recency.put(user, at as i64, *id);
        }
        recency.put(other, 9, Uuid::now_v7());
        assert_eq!(recency.page(user, 0, 10), vec![ids[2], ids[1], ids[0]]);

        recency.moved(user, 0, 5, ids[0]);
        assert_eq!(recency.page(user, 0, 10), vec![ids[0], ids[2], ids[1]]);
        assert_eq!(recency.page(user, 1, 1), vec![ids[2]]);
        assert_eq!(recency.len(user), 3);

        recency.remove(user, 5, ids[0]);
        recency.remove(user, 1, ids[1]);
        recency.remove(user, 2, ids[2]);
        assert_eq!(recency.len(user), 0);
        assert!(recency.page(user, 0, 10).is_empty());
        assert!(
            recency.by_user.get(&user).is_none(),
            "an emptied user is dropped"
        );
        assert_eq!(recency.len(other), 1);
    }
}
