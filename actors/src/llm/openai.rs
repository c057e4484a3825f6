//! `openai`: any OpenAI-compatible chat completions API, streamed as SSE
//! `chat.completion.chunk` events ending with `data: [DONE]`.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use super::endpoint::Endpoint;
use super::{ChatRequest, Delta, DeltaStream, LlmError, TokenUsage};

pub async fn stream(endpoint: &Endpoint, request: &ChatRequest) -> Result<DeltaStream, LlmError> {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        body["max_tokens"] = json!(m);
    }
    if let Some(p) = request.top_p {
        body["top_p"] = json!(p);
    }
    if !request.stop.is_empty() {
        body["stop"] = json!(request.stop);
    }
    let mut call = endpoint.post().json(&body);
    if let Some(key) = &endpoint.api_key {
        call = call.bearer_auth(key);
    }
    let response = endpoint.send(call).await?;
    let mut finish_reason = String::from("stop");
    let mut usage = None;
    let events = response.bytes_stream().eventsource();
    let deltas = events
        .map(move |event| -> Result<Vec<Delta>, LlmError> {
            let event = event.map_err(|_| LlmError::Protocol)?;
            if event.data.trim() == "[DONE]" {
                return Ok(vec![Delta::Done {
                    usage: usage.take(),
                    finish_reason: std::mem::take(&mut finish_reason),
                }]);
            }
            let chunk: Value = serde_json::from_str(&event.data).map_err(|_| LlmError::Protocol)?;
            if let Some(error) = chunk.get("error") {
                let message = error["message"].as_str().unwrap_or("unknown error");
                let text: String = message.chars().take(200).collect();
                tracing::warn!(upstream = %text, "provider reported an error");
                return Err(LlmError::Upstream(text));
            }
            if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
                usage = Some(TokenUsage {
                    prompt_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
                    completion_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
                });
            }
            let mut out = Vec::new();
            if let Some(choice) = chunk["choices"].get(0) {
                if let Some(text) = choice["delta"]["content"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                {
                    out.push(Delta::Token(text.to_string()));
                }
                if let Some(reason) = choice["finish_reason"].as_str() {
                    finish_reason = reason.to_string();
                }
            }
            Ok(out)
        })
        .flat_map(|items| {
            futures::stream::iter(match items {
                Ok(items) => items.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        });
    Ok(Box::pin(deltas))
}
