//! `anthropic`: the Messages API, streamed as typed SSE events
//! (`message_start`, `content_block_delta`, `message_delta`, `message_stop`, `error`).

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use super::MessageRole;
use super::endpoint::Endpoint;
use super::{ChatRequest, Delta, DeltaStream, LlmError, TokenUsage};

/// Anthropic requires `max_tokens`; this is used when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 1024;

pub async fn stream(endpoint: &Endpoint, request: &ChatRequest) -> Result<DeltaStream, LlmError> {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == MessageRole::System)
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<&super::ChatMessage> = request
        .messages
        .iter()
        .filter(|m| m.role != MessageRole::System)
        .collect();
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = request.top_p {
        body["top_p"] = json!(p);
    }
    if !request.stop.is_empty() {
        body["stop_sequences"] = json!(request.stop);
    }
    let mut call = endpoint
        .post()
        .header("anthropic-version", "2023-06-01")
        .json(&body);
    if let Some(key) = &endpoint.api_key {
        call = call.header("x-api-key", key);
    }
    let response = endpoint.send(call).await?;
    let mut usage = TokenUsage::default();
    let mut finish_reason = String::from("stop");
    let deltas = response
        .bytes_stream()
        .eventsource()
        .map(move |event| -> Result<Option<Delta>, LlmError> {
            let event = event.map_err(|_| LlmError::Protocol)?;
            let data: Value = serde_json::from_str(&event.data).map_err(|_| LlmError::Protocol)?;
            match data["type"].as_str().unwrap_or(event.event.as_str()) {
                "message_start" => {
                    usage.prompt_tokens = data["message"]["usage"]["input_tokens"]
                        .as_u64()
                        .unwrap_or(0);
                    Ok(None)
                }
                "content_block_delta" => Ok(data["delta"]["text"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .map(|t| Delta::Token(t.to_string()))),
                "message_delta" => {
                    if let Some(n) = data["usage"]["output_tokens"].as_u64() {
                        usage.completion_tokens = n;
                    }
                    if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                        finish_reason = match reason {
                            "end_turn" | "stop_sequence" => "stop",
                            "max_tokens" => "length",
                            other => other,
                        }
                        .to_string();
                    }
                    Ok(None)
                }
                "message_stop" => Ok(Some(Delta::Done {
                    usage: Some(usage),
                    finish_reason: finish_reason.clone(),
                })),
                "error" => {
                    let message = data["error"]["message"].as_str().unwrap_or("unknown error");
                    let text: String = message.chars().take(200).collect();
                    tracing::warn!(upstream = %text, "provider reported an error");
                    Err(LlmError::Upstream(text))
                }
                _ => Ok(None),
            }
        })
        .filter_map(|item| async move { item.transpose() });
    Ok(Box::pin(deltas))
}
