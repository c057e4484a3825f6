//! Outgoing webhooks (API.md 8): `webhook.deliver` jobs POST a JSON event
//! to the configured URL, signed `X-Webhook-Signature: t=<unix>,v1=<hex
//! hmac-sha256 of "t.body">`; a failed delivery is retried like any job.
//! They sign with the operator's secret, so only the server makes them: the
//! type is internal, each delivery is a system job, and the handler itself
//! refuses events outside the configured filter.

use std::time::Duration;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use tokio::sync::mpsc;
use tracing::Instrument;

use super::JobCtx;
use super::handler::{JobHandler, Visibility};
use super::{Jobs, NewJob, SYSTEM_USER};
use crate::background::Background;
use crate::error::CoreError;
use crate::model::{Job, JobStatus};

/// Where events go, and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The receiver's URL (`webhooks.url`); each event is POSTed there.
    pub url: String,
    /// The HMAC-SHA256 key of `X-Webhook-Signature` (from the environment only).
    pub secret: crate::secret::Secret,
    /// The events sent: job.completed, job.failed, contact.submitted, document.ready.
    pub events: Vec<String>,
}

impl WebhookTarget {
    /// Whether `event` is among the configured `events`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// The `webhook.deliver` job type: POSTs one signed event, 5 s to connect, 15 s in all.
pub struct DeliverWebhook {
    target: WebhookTarget,
    client: reqwest::Client,
}

impl DeliverWebhook {
    /// A handler with its own HTTP client for `target`; fails only if the client cannot be built.
    pub fn new(target: WebhookTarget) -> Result<Self, CoreError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| CoreError::Internal(format!("webhook client: {e}")))?;
        Ok(Self { target, client })
    }
}

/// The signature header's value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let hex = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(format!("{t}.{body}").as_bytes());
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        }
        // HMAC takes a key of any length; this arm never runs.
        Err(_) => String::new(),
    };
    format!("t={t},v1={hex}")
}

impl JobHandler for DeliverWebhook {
    fn visibility(&self) -> Visibility {
        Visibility::Internal
    }

    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        match payload.get("event").and_then(Value::as_str) {
            Some(event) if self.target.wants(event) => Ok(()),
            Some(event) => Err(CoreError::validation(
                "payload.event",
                format!("{event:?} is not among webhooks.events"),
            )),
            None => Err(CoreError::validation("payload.event", "the event's name")),
        }
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let (client, target) = (self.client.clone(), self.target.clone());
        // Checked again here: a job stored before these rules (or by a bug)
        // is never signed.
        let event = ctx.payload["event"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refused = if ctx.user_id != SYSTEM_USER {
            Some("a webhook delivery must be a system job".to_string())
        } else if !target.wants(&event) {
            Some(format!("{event:?} is not among webhooks.events"))
        } else {
            None
        };
        // A root span unless the job runs inside one: a delivery runs from
        // the queue, long after the request that caused its event.
        let span = tracing::info_span!(
            target: crate::trace_context::TARGET,
            "webhook.deliver",
            otel.kind = "client",
            webhook.event = %event,
            job.id = %ctx.job_id,
            http.response.status_code = tracing::field::Empty,
        );
        let delivery = async move {
            if let Some(reason) = refused {
                ctx.log("error", reason.clone());
                return Err(reason);
            }
            // The same id on every attempt, so a receiver can drop repeats.
            let body = json!({
                "id": ctx.job_id,
                "event": ctx.payload["event"],
                "created_at": chrono::Utc::now().to_rfc3339(),
                "data": ctx.payload.get("data").cloned().unwrap_or(Value::Null),
            })
            .to_string();
            let t = chrono::Utc::now().timestamp();
            // The delivery's `traceparent`, so the receiver joins its trace.
            let request = crate::trace_context::inject(client.post(&target.url))
                .header("content-type", "application/json")
                .header(
                    "x-webhook-signature",
                    signature(target.secret.expose(), t, &body),
                )
                .body(body)
                .send();
            let response = tokio::select! {
                r = request => r,
                () = ctx.cancel.cancelled() => return Err("cancelled".into()),
            };
            if let Ok(r) = &response {
                tracing::Span::current().record("http.response.status_code", r.status().as_u16());
            }
            match response {
                Ok(r) if r.status().is_success() => Ok(json!({ "status": r.status().as_u16() })),
                Ok(r) => {
                    ctx.log("warn", format!("receiver answered {}", r.status()));
                    Err(format!(
                        "the receiver answered HTTP {}",
                        r.status().as_u16()
                    ))
                }
                Err(e) => {
                    let reason = if e.is_timeout() {
                        "timed out"
                    } else {
                        "unreachable"
                    };
                    ctx.log("warn", format!("receiver {reason}"));
                    Err(format!("the receiver was {reason}"))
                }
            }
        };
        Box::pin(delivery.instrument(span))
    }
}

/// Sends `job.completed`, `job.failed` and `document.ready` (an ingestion
/// that completed) to the webhook target as `webhook.deliver` system jobs
/// (never for system jobs themselves). Runs on `background`; at shutdown it
/// first queues what already ended, so no event is lost.
pub fn forward_ended_jobs(
    jobs: Jobs,
    target: WebhookTarget,
    mut ended: mpsc::UnboundedReceiver<Job>,
    background: &Background,
) {
    background.spawn_with(|stop| async move {
        loop {
            let job = tokio::select! {
                job = ended.recv() => job,
                () = stop.cancelled() => break,
            };
            let Some(job) = job else { return };
            forward(&jobs, &target, job).await;
        }
        while let Ok(job) = ended.try_recv() {
            forward(&jobs, &target, job).await;
        }
    });
}

async fn forward(jobs: &Jobs, target: &WebhookTarget, job: Job) {
    if super::is_system(&job) {
        return;
    }
    let completed = job.status == JobStatus::Completed;
    let event = match (completed, job.job_type.as_str()) {
        (true, "document.ingest") => "document.ready",
        (true, _) => "job.completed",
        (false, _) => "job.failed",
    };
    let data = json!({
        "job": {
            "id": job.id,
            "job_type": job.job_type,
            "status": job.status.as_str(),
            // A corrupt result is logged by `parse` and sent as null.
            "result": job.result_json.as_ref().and_then(|r| r.parse().ok()),
            "error": job.error,
            "attempts": job.attempts,
        }
    });
    queue_event(jobs, target, event, data).await;
}

/// Queues `event` with `data` for the webhook target as a `webhook.deliver`
/// system job, if the target wants it; a failure to queue is logged (the
/// event that caused it has already happened). Any domain's events go out
/// through here.
pub async fn queue_event(jobs: &Jobs, target: &WebhookTarget, event: &str, data: Value) {
    if !target.wants(event) {
        return;
    }
    let deliver = NewJob {
        job_type: "webhook.deliver".into(),
        payload: json!({ "event": event, "data": data }),
        priority: 6,
        scheduled_for: None,
        idempotency_key: None,
        max_attempts: 5,
    };
    if let Err(e) = jobs.create_system(deliver).await {
        tracing::warn!(error = %e, event, "could not queue a webhook");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body() {
        // Computed with: printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec
        assert_eq!(
            signature("whsec", 1_700_000_000, "{}"),
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
    }

    #[test]
    fn the_handler_refuses_an_event_outside_the_configured_filter() {
        let target = WebhookTarget {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "whsec".into(),
            events: vec!["job.completed".into()],
        };
        let deliver = DeliverWebhook::new(target).unwrap();
        assert_eq!(deliver.visibility(), Visibility::Internal);
        assert!(deliver.validate(&json!({"event": "job.completed"})).is_ok());
        let refused = deliver.validate(&json!({"event": "contact.submitted"}));
        assert!(matches!(refused, Err(CoreError::Validation { .. })));
    }
}
