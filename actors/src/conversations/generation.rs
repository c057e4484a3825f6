//! The generation task: calls the provider, streams its tokens into the
//! generation, persists the answer however it ends, records usage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use super::tables::ConvTables;
use crate::error::{CoreError, ErrorKind};
use crate::llm::{ChatRequest, Delta, Llm, LlmError, TokenUsage};
use crate::model::{JsonText, Message, MessageRole, MessageStatus, User, now_ms};
use crate::replay::{Finished, GenData, Generation, Opening};
use crate::store::Store;
use crate::usage::{Reservation, Usage, UsageEntry};

/// What a generation needs from the core.
pub struct ChatDeps {
    /// The store whose commit makes the answer durable.
    pub store: Store,
    /// Personas, for a conversation's system prompt and model settings.
    pub catalog: crate::conversations::Catalog,
    /// Where the user's and the assistant's messages are appended.
    pub tables: ConvTables,
    /// The provider registry each generation opens its stream through.
    pub llm: Llm,
    /// Where quota is reserved before a call and what it used is recorded after.
    pub usage: Usage,
    /// Where generations are streamed to WebSocket listeners.
    pub channels: crate::channels::Channels,
    /// Documents a conversation's `metadata.document_ids` retrieves from.
    pub documents: crate::documents::Documents,
    /// The projects a conversation may belong to, told when one is added.
    pub projects: crate::projects::Projects,
    /// Chunks retrieved into the system prompt.
    pub context_chunks: usize,
    /// How long a finished generation stays replayable.
    pub replay_window: Duration,
    /// Messages of history sent with each chat.
    pub context_messages: usize,
    /// Completion tokens reserved for a call that sets no `max_tokens`
    /// (`quotas.default_reservation_tokens`).
    pub default_reservation: u64,
    /// Conversation generations running now (the admin dashboard).
    pub live: crate::conversations::LiveGenerations,
}

impl ChatDeps {
    /// Reserves quota for `request`: the words of its prompt (an estimate
    /// of its tokens) plus its `max_tokens`, or the configured default.
    pub fn reserve(&self, user: &User, request: &ChatRequest) -> Result<Reservation, CoreError> {
        let prompt = request.messages.iter().map(|m| words(&m.content)).sum();
        let completion = request
            .max_tokens
            .map_or(self.default_reservation, u64::from);
        self.usage.reserve(user, prompt, completion)
    }
}

/// A chat request as the API receives it.
#[derive(Debug, Clone, Default)]
pub struct ChatParams {
    /// The user's message, 1-100,000 characters.
    pub content: String,
    /// Overrides the conversation's provider; `None` keeps it.
    pub provider: Option<String>,
    /// Overrides the conversation's model; `None` keeps it.
    pub model: Option<String>,
    /// Sampling temperature; `None` takes the persona's, then the provider's.
    pub temperature: Option<f32>,
    /// Cap on the answer's tokens (and the quota held); `None` takes the persona's.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling cut-off, 0-1; `None` leaves the provider's default.
    pub top_p: Option<f32>,
    /// Sequences that end the answer; empty for none.
    pub stop: Vec<String>,
}

impl ChatRequest {
    /// The one check of a chat request's messages, whichever route sent it
    /// (conversation chat, stateless chat, `/v1`, tickets, WebSocket chat):
    /// at least one message, each within the length limit.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.messages.is_empty() {
            return Err(CoreError::validation("messages", "at least one message"));
        }
        for (i, m) in self.messages.iter().enumerate() {
            crate::model::limits::message(&format!("messages.{i}.content"), &m.content)?;
        }
        Ok(())
    }
}

impl ChatParams {
    /// The one check of a chat in a conversation (HTTP and WebSocket): the
    /// message the user sends, as [`ChatRequest::validate`] checks each.
    pub fn validate(&self) -> Result<(), CoreError> {
        super::check_content(&self.content)
    }
}

/// What the conversation actor is asked to start.
pub struct ChatStart {
    /// The user chatting; their quota pays for the answer.
    pub user: Arc<User>,
    /// What they asked for.
    pub params: ChatParams,
}

enum Outcome {
    Complete {
        usage: Option<TokenUsage>,
        finish_reason: String,
    },
    Cancelled,
    Failed(LlmError),
}

/// How a provider failure before the first token answers the request.
fn failure(e: &LlmError) -> Opening {
    Opening::Failed {
        kind: e.kind(),
        message: e.to_string(),
        upstream_status: e.upstream_status(),
    }
}

/// Words, as the estimate when a provider reports no usage.
fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Runs one generation to its end and settles its reservation to what it
/// used, however it ends. With no `conversation_id` on the generation
/// (stateless completions) nothing but usage is stored.
pub async fn run(
    deps: Arc<ChatDeps>,
    generation: Arc<Generation>,
    reservation: Reservation,
    provider: String,
    request: ChatRequest,
    ended: impl FnOnce(Uuid) + Send + 'static,
) {
    let kind = generation.kind;
    let started = Instant::now();
    // What answered: the fallback's names once one took over.
    let requested = provider.clone();
    let mut provider = provider;
    let mut model = request.model.clone();
    let prompt_words: u64 = request.messages.iter().map(|m| words(&m.content)).sum();
    let input_preview: String = request
        .messages
        .last()
        .map(|m| m.content.chars().take(200).collect())
        .unwrap_or_default();
    let mut text = String::new();

    generation.upstream_started();
    let opened = tokio::select! {
        opened = deps.llm.open(&requested, request) => Some(opened),
        () = generation.cancel.cancelled() => None,
    };
    let outcome = match opened {
        None => Outcome::Cancelled,
        Some(Err(e)) => {
            generation.upstream_ended();
            // Nothing was generated: the request answers 502/504 (or the
            // stream an error event) and no assistant message is stored.
            let entry = UsageEntry::new(
                kind,
                &provider,
                &deps.llm.model_label(&provider, &model),
                TokenUsage::default(),
                started,
                "failed",
                &input_preview,
            );
            reservation.settle(entry);
            // The terminal event first: from then on the lock counts as free.
            generation.push(GenData::Error(e.kind(), e.to_string()));
            generation.set_opening(failure(&e));
            ended(generation.message_id);
            return;
        }
        Some(Ok(opened)) => {
            generation.set_opening(Opening::Streaming);
            provider = opened.provider;
            model = opened.model;
            let mut stream = opened.stream;
            // One wait for the whole stream: made anew per token, it would
            // lock the token's node and join its waiters once per token.
            let mut cancelled = std::pin::pin!(generation.cancel.cancelled());
            loop {
                tokio::select! {
                    biased;
                    () = &mut cancelled => break Outcome::Cancelled,
                    item = stream.next() => match item {
                        Some(Ok(Delta::Token(token))) => {
                            generation.push(GenData::Token(token.clone()));
                            text.push_str(&token);
                        }
                        Some(Ok(Delta::Done { usage, finish_reason })) => break Outcome::Complete { usage, finish_reason },
                        Some(Err(e)) => break Outcome::Failed(e),
                        None => break Outcome::Failed(LlmError::Protocol),
                    },
                }
            }
            // Dropping the stream here drops the upstream request.
        }
    };
    generation.upstream_ended();
    generation.set_opening(Opening::Streaming);

    let (status, usage, finish_reason) = match &outcome {
        Outcome::Complete {
            usage,
            finish_reason,
        } => (MessageStatus::Complete, *usage, finish_reason.clone()),
        Outcome::Cancelled => (MessageStatus::Cancelled, None, "cancelled".to_string()),
        Outcome::Failed(_) => (MessageStatus::Failed, None, "error".to_string()),
    };
    let usage = usage.unwrap_or(TokenUsage {
        prompt_tokens: prompt_words,
        completion_tokens: words(&text),
    });
    let message = Message {
        id: generation.message_id,
        conversation_id: generation.conversation_id.unwrap_or_default(),
        role: MessageRole::Assistant,
        content: text.clone(),
        metadata_json: JsonText::from_value(
            &json!({ "provider": provider, "model": model, "finish_reason": finish_reason }),
        ),
        usage: Some(usage),
        status,
        created_at: now_ms(),
    };
    // Persisted whether or not anyone still listens; then the events end.
    let mut saved = true;
    if generation.conversation_id.is_some()
        && let Err(e) = deps.tables.append(&deps.store, &message).await
    {
        tracing::error!(error = %e, "assistant message not persisted");
        saved = false;
    }
    let entry = UsageEntry::new(
        kind,
        &provider,
        &deps.llm.model_label(&provider, &model),
        usage,
        started,
        status.as_str(),
        &input_preview,
    );
    reservation.settle(entry);

    let finished = || {
        Box::new(Finished {
            message_id: generation.message_id,
            full_response: text,
            usage,
            finish_reason,
        })
    };
    generation.push(match outcome {
        // Never `done` for an answer that is not stored.
        _ if !saved => GenData::Error(ErrorKind::Internal, "the answer could not be stored".into()),
        Outcome::Failed(e) => GenData::Error(e.kind(), e.to_string()),
        Outcome::Cancelled => GenData::Cancelled(finished()),
        Outcome::Complete { .. } => GenData::Done(finished()),
    });
    ended(generation.message_id);
}

/// Ends a generation that failed before any provider call (its prompt
/// could not be built): the `error` event, and an early failure for the
/// request waiting on its opening.
pub fn fail_at_once(generation: &Generation, message: &str, ended: impl FnOnce(Uuid)) {
    let kind = ErrorKind::Internal;
    generation.push(GenData::Error(kind, message.to_string()));
    generation.set_opening(Opening::Failed {
        kind,
        message: message.to_string(),
        upstream_status: None,
    });
    ended(generation.message_id);
}
