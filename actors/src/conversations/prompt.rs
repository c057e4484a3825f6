//! A conversation chat's prompt: the system prompt (the conversation's, or
//! its persona's), retrieved document chunks, the recent history and the
//! user's message, with the persona's model settings unless the request
//! sets its own.

use uuid::Uuid;

use super::generation::{ChatDeps, ChatParams};
use crate::llm::{ChatMessage, ChatRequest};
use crate::model::{Conversation, Message, MessageRole, Persona};

/// The provider request of one chat in `conv`.
pub(crate) fn request(
    deps: &ChatDeps,
    conv: &Conversation,
    params: &ChatParams,
    persona: Option<&Persona>,
    history: &[Message],
    model: String,
) -> ChatRequest {
    let system = conv
        .system_prompt
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| persona.and_then(|p| p.system_prompt.clone()));
    let system = with_documents(deps, conv, &params.content, system);
    let mut messages = Vec::with_capacity(history.len() + 2);
    if let Some(system) = system.filter(|s| !s.is_empty()) {
        messages.push(ChatMessage::new(MessageRole::System, system));
    }
    // Empty answers (cancelled before their first token) would make
    // some providers (Anthropic) refuse every later request.
    messages.extend(
        history
            .iter()
            .filter(|m| !m.content.is_empty())
            .map(|m| ChatMessage::new(m.role, m.content.clone())),
    );
    messages.push(ChatMessage::new(MessageRole::User, params.content.clone()));
    ChatRequest {
        model,
        messages,
        temperature: params.temperature.or(persona.and_then(|p| p.temperature)),
        max_tokens: params.max_tokens.or(persona.and_then(|p| p.max_tokens)),
        top_p: params.top_p,
        stop: params.stop.clone(),
    }
}

/// Adds the chunks of the conversation's `metadata.document_ids` that best
/// match the user's message to the system prompt (retrieval-augmented chat).
fn with_documents(
    deps: &ChatDeps,
    conv: &Conversation,
    content: &str,
    system: Option<String>,
) -> Option<String> {
    // A corrupt record is logged by `parse`; the chat goes on without
    // documents, as when retrieval fails.
    let Ok(metadata) = conv.metadata_json.parse() else {
        return system;
    };
    let ids: Vec<Uuid> = metadata["document_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    let chunks = match deps
        .documents
        .retrieve(conv.user_id, &ids, content, deps.context_chunks)
    {
        Ok(chunks) if !chunks.is_empty() => chunks,
        Ok(_) => return system,
        Err(e) => {
            tracing::warn!(error = %e, "document retrieval failed; chatting without it");
            return system;
        }
    };
    let excerpts: Vec<String> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| format!("[{}] {c}", i + 1))
        .collect();
    let context = format!(
        "Excerpts from the user's documents that may help answer:\n\n{}",
        excerpts.join("\n\n")
    );
    Some(match system {
        Some(system) => format!("{system}\n\n{context}"),
        None => context,
    })
}
