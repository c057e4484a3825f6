//! The `webhook.received` job type: runs the [`WebhookHook`] on one stored
//! event and records the outcome on it. An internal system job, like
//! `webhook.deliver`: the sender's request never waits for it, and a failed
//! attempt is retried with the jobs module's backoff.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::WebhookHook;
use super::events::{EventStore, InboundStatus};
use crate::error::CoreError;
use crate::jobs::{JobCtx, JobHandler, NewJob, SYSTEM_USER, Visibility};

/// The job type's name.
pub const JOB_TYPE: &str = "webhook.received";

/// Attempts of one event's processing (backoff 1, 2, 4, 8 s between them).
const MAX_ATTEMPTS: u32 = 5;

/// The job that processes event `id`. Its idempotency key makes queueing
/// it twice (at receipt, then again by start-up recovery) one job.
pub fn new_job(id: Uuid) -> NewJob {
    NewJob {
        job_type: JOB_TYPE.into(),
        payload: json!({ "event": id }),
        priority: 6,
        scheduled_for: None,
        idempotency_key: Some(format!("{JOB_TYPE}:{id}")),
        max_attempts: MAX_ATTEMPTS,
    }
}

/// The handler of `webhook.received` jobs.
pub struct ProcessWebhook {
    /// Where the event is read and its outcome written.
    pub events: EventStore,
    /// What processing means: the embedding application's, or [`super::MarkProcessed`].
    pub hook: Arc<dyn WebhookHook>,
}

fn event_id(payload: &Value) -> Option<Uuid> {
    payload.get("event")?.as_str()?.parse().ok()
}

impl JobHandler for ProcessWebhook {
    fn visibility(&self) -> Visibility {
        Visibility::Internal
    }

    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        match event_id(payload) {
            Some(_) => Ok(()),
            None => Err(CoreError::validation(
                "payload.event",
                "a received event's id",
            )),
        }
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let (events, hook) = (self.events.clone(), self.hook.clone());
        Box::pin(async move {
            if ctx.user_id != SYSTEM_USER {
                return Err("webhook processing must be a system job".into());
            }
            let id = event_id(&ctx.payload).ok_or("no event id in the payload")?;
            let event = match events.get(id) {
                Ok(Some(event)) => event,
                Ok(None) => return Err(format!("event {id} is not stored")),
                Err(e) => {
                    tracing::error!(error = %e, "reading a received webhook");
                    return Err("the store failed".into());
                }
            };
            if matches!(
                event.status,
                InboundStatus::Processed | InboundStatus::Ignored
            ) {
                return Ok(json!({ "event": id, "status": event.status.as_str() }));
            }
            let outcome = tokio::select! {
                outcome = hook.handle(event) => outcome,
                () = ctx.cancel.cancelled() => return Err("cancelled".into()),
            };
            if let Err(e) = events.record_outcome(id, &outcome).await {
                tracing::error!(error = %e, "recording a webhook's outcome");
                return Err("the store failed".into());
            }
            match outcome {
                Ok(()) => Ok(json!({ "event": id, "status": "processed" })),
                Err(reason) => {
                    ctx.log("warn", format!("the hook failed: {reason}"));
                    Err(reason)
                }
            }
        })
    }
}
