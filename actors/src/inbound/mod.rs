//! Incoming webhooks (API.md 8): events POSTed by configured senders
//! (`webhooks.sources.<name>`), verified against the source's secret with a
//! Stripe-style signature, stored once per `(source, event id)`, and then
//! processed by a `webhook.received` job that runs the [`WebhookHook`].
//!
//! The hook is the seam for an embedding application: implement it to act
//! on events; the default, [`MarkProcessed`], only marks them processed.

mod events;
#[cfg(test)]
mod hook_tests;
mod job;
pub mod signature;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use uuid::Uuid;

pub use events::{EventStore, InboundEvent, InboundStatus};
pub use job::{JOB_TYPE, ProcessWebhook};
pub use signature::SignatureError;

use crate::error::{CoreError, ErrorKind};
use crate::jobs::Jobs;
use crate::model::{JsonText, now_ms};
use crate::secret::Secret;

/// What processing a received event means. Runs inside a job, so it may
/// take its time; an `Err` marks the event `failed` with the text as its
/// `error`, and the job is retried with backoff while attempts remain (so
/// a hook must tolerate seeing an event more than once).
pub trait WebhookHook: Send + Sync + 'static {
    /// Handles one verified, stored event.
    fn handle(&self, event: InboundEvent) -> BoxFuture<'static, Result<(), String>>;
}

/// The built-in hook: nothing to do, so the event is marked processed.
pub struct MarkProcessed;

impl WebhookHook for MarkProcessed {
    fn handle(&self, _event: InboundEvent) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// One configured sender.
#[derive(Debug, Clone)]
pub struct InboundSource {
    /// The `{source}` of its URL: 1-64 of `a-z 0-9 _ -`.
    pub name: String,
    /// The HMAC-SHA256 key its signatures are made with.
    pub secret: Secret,
    /// The event types processed; empty: every type. Others are stored as `ignored`.
    pub events: Vec<String>,
}

impl InboundSource {
    /// Whether events of `event_type` are processed.
    pub fn wants(&self, event_type: Option<&str>) -> bool {
        self.events.is_empty() || event_type.is_some_and(|t| self.events.iter().any(|e| e == t))
    }
}

/// The configured senders and the hook their events go through.
#[derive(Clone, Default)]
pub struct InboundConfig {
    /// Every source that may POST events; an unknown one is 404.
    pub sources: Vec<InboundSource>,
    /// `None`: [`MarkProcessed`].
    pub hook: Option<Arc<dyn WebhookHook>>,
}

impl fmt::Debug for InboundConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundConfig")
            .field("sources", &self.sources)
            .field("hook", &self.hook.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Why a received webhook was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InboundError {
    /// The signature is missing, malformed, out of tolerance or wrong (400).
    #[error("{0}")]
    Signature(SignatureError),
    /// The body is not JSON (400).
    #[error("the body is not JSON")]
    NotJson,
    /// Unknown source (404), no string `id` (422), a replay (409), or the store.
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl InboundError {
    /// Its code and status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InboundError::Signature(_) | InboundError::NotJson => ErrorKind::BadRequest,
            InboundError::Core(e) => e.kind(),
        }
    }
}

/// Received webhooks: verification, storage and listing. Cheap to clone.
#[derive(Clone)]
pub struct Inbound {
    events: EventStore,
    jobs: Jobs,
    sources: Arc<HashMap<String, InboundSource>>,
}

impl Inbound {
    /// The handle over `events`, queueing processing on `jobs`. Queues the
    /// events a crash left unqueued.
    pub async fn start(events: EventStore, jobs: Jobs, sources: Vec<InboundSource>) -> Self {
        let sources = sources.into_iter().map(|s| (s.name.clone(), s)).collect();
        let inbound = Self {
            events,
            jobs,
            sources: Arc::new(sources),
        };
        inbound.recover().await;
        inbound
    }

    /// Verifies and stores an event POSTed to `source` with signature
    /// header `signature` and exactly these body bytes, then queues its
    /// processing. Answers the stored event.
    pub async fn receive(
        &self,
        source: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<InboundEvent, InboundError> {
        let config = self
            .sources
            .get(source)
            .ok_or_else(|| CoreError::not_found("webhook source", source))?;
        let now = chrono::Utc::now().timestamp();
        signature::verify(config.secret.expose().as_bytes(), signature, body, now)
            .map_err(InboundError::Signature)?;
        let payload: Value = serde_json::from_slice(body).map_err(|_| InboundError::NotJson)?;
        let Some(event_id) = payload.get("id").and_then(Value::as_str) else {
            return Err(CoreError::validation("id", "the event's id, a string").into());
        };
        if event_id.is_empty() || event_id.len() > 255 {
            return Err(CoreError::validation("id", "1-255 characters").into());
        }
        let event_type = payload
            .get("type")
            .and_then(Value::as_str)
            .map(String::from);
        let wanted = config.wants(event_type.as_deref());
        let event = InboundEvent {
            id: Uuid::now_v7(),
            source: source.to_string(),
            event_id: event_id.to_string(),
            event_type,
            status: if wanted {
                InboundStatus::Received
            } else {
                InboundStatus::Ignored
            },
            received_at: now_ms(),
            processed_at: None,
            error: None,
            payload: JsonText::from_value(&payload),
        };
        self.events.insert(&event, wanted).await?;
        if wanted {
            self.queue(event.id).await;
        }
        Ok(event)
    }

    /// Queues the processing of event `id`. A failure is logged: the event
    /// is stored and pending, and the next start queues it.
    async fn queue(&self, id: Uuid) {
        if let Err(e) = self.jobs.create_system(job::new_job(id)).await {
            tracing::error!(error = %e, event = %id, "could not queue a received webhook");
        }
    }

    async fn recover(&self) {
        match self.events.pending() {
            Ok(ids) => {
                for id in ids {
                    self.queue(id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "reading pending webhooks"),
        }
    }

    /// A page of received events, newest first, of `source` or of all.
    pub fn list(
        &self,
        source: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<InboundEvent>, usize), CoreError> {
        self.events.page(source, skip, limit)
    }

    /// The names of the configured sources.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }
}

/// Whether `name` may name a source: 1-64 of `a-z 0-9 _ -` (it is a path
/// segment and part of store keys, which rely on it holding no `/`).
pub fn valid_source_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
