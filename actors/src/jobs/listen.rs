//! A job's event stream: stored events after a point, then live ones,
//! ending after the terminal event (`GET /jobs/{id}/events/stream`).

use std::sync::Arc;

use futures::Stream;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{JobDeps, Jobs};
use crate::error::CoreError;
use crate::model::JobEvent;

impl Jobs {
    /// The job's events after `after`, then live ones, ending after a
    /// terminal event.
    pub fn listen(
        &self,
        user_id: Uuid,
        id: Uuid,
        after: u64,
    ) -> Result<impl Stream<Item = JobEvent> + Send + 'static, CoreError> {
        self.get(user_id, id)?;
        // Subscribe before reading the store: nothing falls in between.
        let rx = self
            .deps
            .live
            .entry(id)
            .or_insert_with(|| broadcast::channel(256).0)
            .subscribe();
        let stored = self.deps.tables.events_after(id, after)?;
        let listening = Listening {
            deps: self.deps.clone(),
            id,
            rx,
            pending: stored.into(),
            last: after,
            done: false,
        };
        Ok(futures::stream::unfold(listening, |mut l| async move {
            let event = l.next().await?;
            Some((event, l))
        }))
    }
}

struct Listening {
    deps: Arc<JobDeps>,
    id: Uuid,
    rx: broadcast::Receiver<JobEvent>,
    pending: std::collections::VecDeque<JobEvent>,
    last: u64,
    done: bool,
}

impl Listening {
    async fn next(&mut self) -> Option<JobEvent> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                if event.seq > self.last {
                    self.last = event.seq;
                    self.done = event.is_terminal();
                    return Some(event);
                }
                continue;
            }
            let terminal = self
                .deps
                .tables
                .jobs
                .get(&self.id)
                .ok()
                .flatten()
                .is_none_or(|j| j.status.is_terminal());
            if terminal {
                // Everything is stored: hand out what is left, then end.
                self.reload()?;
                self.done = self.pending.is_empty();
                continue;
            }
            match self.rx.recv().await {
                Ok(event) => self.pending.push_back(event),
                Err(broadcast::error::RecvError::Lagged(_)) => self.reload()?,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Listening {
    /// Reads the stored events after the last one handed out; a store error
    /// ends the stream (logged).
    fn reload(&mut self) -> Option<()> {
        match self.deps.tables.events_after(self.id, self.last) {
            Ok(events) => {
                self.pending = events.into();
                Some(())
            }
            Err(e) => {
                tracing::error!(job = %self.id, error = %e, "reading a job's events failed");
                None
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let id = self.id;
        self.deps
            .live
            .remove_if(&id, |_, tx| tx.receiver_count() <= 1);
    }
}
