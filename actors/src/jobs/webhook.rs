//! Outgoing webhooks (API.md 8): `webhook.deliver` jobs POST a JSON event
//! to the configured URL, signed `X-Webhook-Signature: t=<unix>,v1=<hex
//! hmac-sha256 of "t.body">`; a failed delivery is retried like any job.

use std::time::Duration;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::handler::{JobCtx, JobHandler};
use crate::error::CoreError;

/// Where events go, and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: crate::secret::Secret,
    /// The events sent: job.completed, job.failed, contact.submitted, document.ready.
    pub events: Vec<String>,
}

impl WebhookTarget {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

pub struct DeliverWebhook {
    target: WebhookTarget,
    client: reqwest::Client,
}

impl DeliverWebhook {
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
    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        match payload.get("event").and_then(Value::as_str) {
            Some(event) if !event.is_empty() => Ok(()),
            _ => Err(CoreError::validation("payload.event", "the event's name")),
        }
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let (client, target) = (self.client.clone(), self.target.clone());
        Box::pin(async move {
            // The same id on every attempt, so a receiver can drop repeats.
            let body = json!({
                "id": ctx.job_id,
                "event": ctx.payload["event"],
                "created_at": chrono::Utc::now().to_rfc3339(),
                "data": ctx.payload.get("data").cloned().unwrap_or(Value::Null),
            })
            .to_string();
            let t = chrono::Utc::now().timestamp();
            let request = client
                .post(&target.url)
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
        })
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
}
