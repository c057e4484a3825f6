//! Ticket chat (API.md 4.2): `POST /chat` runs a stateless chat as a job of
//! type `chat`; the ticket is the job, its result the answer.

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::Conversations;
use crate::accounts::Accounts;
use crate::error::CoreError;
use crate::jobs::JobCtx;
use crate::jobs::handler::JobHandler;
use crate::llm::{ChatMessage, ChatRequest};
use crate::replay::GenData;

/// The most attempts a ticket's job may make: each calls a model on the
/// operator's key.
pub const MAX_TICKET_ATTEMPTS: u32 = 5;

pub struct TicketChat {
    pub accounts: Accounts,
    pub conversations: Conversations,
}

/// The chat request of a ticket's payload, checked as every chat is.
fn request(payload: &Value) -> Result<ChatRequest, CoreError> {
    let messages: Vec<ChatMessage> = serde_json::from_value(payload["messages"].clone())
        .map_err(|e| CoreError::validation("messages", e.to_string()))?;
    let params = &payload["params"];
    let request = ChatRequest {
        model: payload["model"].as_str().unwrap_or_default().to_string(),
        messages,
        temperature: params["temperature"].as_f64().map(|t| t as f32),
        max_tokens: params["max_tokens"].as_u64().map(|t| t as u32),
        top_p: params["top_p"].as_f64().map(|t| t as f32),
        stop: serde_json::from_value(params["stop"].clone()).unwrap_or_default(),
    };
    request.validate()?;
    Ok(request)
}

impl JobHandler for TicketChat {
    fn max_attempts(&self) -> u32 {
        MAX_TICKET_ATTEMPTS
    }

    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        request(payload)?;
        // A provider or model that is not configured is refused before it queues.
        self.conversations
            .check_provider(payload["provider"].as_str())?;
        let model = payload["model"].as_str().filter(|m| !m.is_empty());
        match self
            .conversations
            .resolve(payload["provider"].as_str(), model)
        {
            Err(e @ CoreError::Validation { .. }) => Err(e),
            _ => Ok(()),
        }
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let (accounts, conversations) = (self.accounts.clone(), self.conversations.clone());
        Box::pin(async move {
            let payload = &ctx.payload;
            let request = request(payload).map_err(|e| e.to_string())?;
            let user = accounts.user(ctx.user_id).map_err(|e| {
                if matches!(e, CoreError::Store(_) | CoreError::Internal(_)) {
                    tracing::error!(job = %ctx.job_id, error = %e, "ticket: reading its user failed");
                }
                e.public_message()
            })?;
            let provider = payload["provider"].as_str();
            let generation = conversations
                .complete(user, provider, request, crate::usage::CallKind::Job)
                .await
                .map_err(|e| e.public_message())?;
            let end = tokio::select! {
                end = generation.finished() => end,
                () = ctx.cancel.cancelled() => {
                    generation.cancel.cancel();
                    return Err("cancelled".into());
                }
            };
            let end = end.ok_or("the generation ended without an answer")?;
            match end.data() {
                GenData::Done(f) => {
                    Ok(json!({ "content": f.full_response, "usage": f.usage.to_json() }))
                }
                GenData::Error(_, message) => Err(message.clone()),
                // Cancelled by someone else than this job (shutdown).
                _ => Err("cancelled".into()),
            }
        })
    }
}
