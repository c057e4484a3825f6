//! `ollama`: Ollama's native `/api/chat`, streamed as NDJSON lines.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde_json::{Value, json};

use super::endpoint::Endpoint;
use super::{ChatRequest, Delta, DeltaStream, LlmError, TokenUsage};

pub async fn stream(endpoint: &Endpoint, request: &ChatRequest) -> Result<DeltaStream, LlmError> {
    let mut options = json!({});
    if let Some(t) = request.temperature {
        options["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        options["num_predict"] = json!(m);
    }
    if let Some(p) = request.top_p {
        options["top_p"] = json!(p);
    }
    if !request.stop.is_empty() {
        options["stop"] = json!(request.stop);
    }
    let body = json!({
        "model": request.model,
        "messages": request.messages,
        "stream": true,
        "options": options,
    });
    let response = endpoint.send(endpoint.post().json(&body)).await?;
    let deltas =
        ndjson_lines(response.bytes_stream()).map(|line| -> Result<Vec<Delta>, LlmError> {
            let line = line?;
            let value: Value = serde_json::from_slice(&line).map_err(|_| LlmError::Protocol)?;
            if let Some(error) = value["error"].as_str() {
                let text: String = error.chars().take(200).collect();
                tracing::warn!(upstream = %text, "provider reported an error");
                return Err(LlmError::Upstream(text));
            }
            let mut out = Vec::new();
            if let Some(text) = value["message"]["content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                out.push(Delta::Token(text.to_string()));
            }
            if value["done"].as_bool() == Some(true) {
                out.push(Delta::Done {
                    usage: Some(TokenUsage {
                        prompt_tokens: value["prompt_eval_count"].as_u64().unwrap_or(0),
                        completion_tokens: value["eval_count"].as_u64().unwrap_or(0),
                    }),
                    finish_reason: value["done_reason"].as_str().unwrap_or("stop").to_string(),
                });
            }
            Ok(out)
        });
    let flat = deltas.flat_map(|items| {
        futures::stream::iter(match items {
            Ok(items) => items.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    });
    Ok(Box::pin(flat))
}

/// Splits a byte stream into its non-blank lines (without the newline).
fn ndjson_lines(
    bytes: impl futures::Stream<Item = Result<Bytes, reqwest::Error>> + Unpin,
) -> impl futures::Stream<Item = Result<Bytes, LlmError>> {
    futures::stream::unfold(
        (bytes, BytesMut::new(), false),
        |(mut bytes, mut buf, mut ended)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                    let line = buf.split_to(pos + 1).freeze().slice(..pos);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some((Ok(line), (bytes, buf, ended)));
                }
                if ended {
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    let line = buf.split().freeze();
                    return Some((Ok(line), (bytes, buf, ended)));
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        buf.clear();
                        return Some((Err(LlmError::from_reqwest(&e)), (bytes, buf, true)));
                    }
                    None => ended = true,
                }
            }
        },
    )
}
