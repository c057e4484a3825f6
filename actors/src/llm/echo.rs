//! `echo`: a built-in test model that needs no network. It answers with the
//! last user message, word by word, at `tokens_per_s`, and counts tokens as words.

use std::time::Duration;

use futures::StreamExt;

use super::MessageRole;
use super::{ChatRequest, Delta, DeltaStream, TokenUsage};

pub fn stream(request: &ChatRequest, tokens_per_s: f64) -> DeltaStream {
    let answer = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::User)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let prompt_tokens = request
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u64)
        .sum();
    let words: Vec<String> = answer.split_whitespace().map(str::to_string).collect();
    let limit = request.max_tokens.map(|m| m as usize).unwrap_or(usize::MAX);
    let truncated = words.len() > limit;
    let words: Vec<String> = words.into_iter().take(limit).collect();
    let completion_tokens = words.len() as u64;
    let last = words.len().saturating_sub(1);
    let interval = if tokens_per_s > 0.0 {
        Duration::from_secs_f64(1.0 / tokens_per_s)
    } else {
        Duration::ZERO
    };
    let start = tokio::time::Instant::now();
    let tokens =
        futures::stream::iter(words.into_iter().enumerate()).then(move |(i, word)| async move {
            // On a fixed schedule from the start, so a slow consumer does not slow the model.
            tokio::time::sleep_until(start + interval * i as u32).await;
            let token = if i == last { word } else { format!("{word} ") };
            Ok(Delta::Token(token))
        });
    let done = futures::stream::once(async move {
        Ok(Delta::Done {
            usage: Some(TokenUsage {
                prompt_tokens,
                completion_tokens,
            }),
            finish_reason: if truncated { "length" } else { "stop" }.to_string(),
        })
    });
    Box::pin(tokens.chain(done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;

    #[tokio::test]
    async fn echo_repeats_the_last_user_message_word_by_word() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::new(MessageRole::System, "be brief"),
                ChatMessage::new(MessageRole::User, "hello there   world"),
            ],
            ..Default::default()
        };
        let items: Vec<Delta> = stream(&request, 0.0).map(|d| d.unwrap()).collect().await;
        assert_eq!(
            items,
            vec![
                Delta::Token("hello ".into()),
                Delta::Token("there ".into()),
                Delta::Token("world".into()),
                Delta::Done {
                    usage: Some(TokenUsage {
                        prompt_tokens: 5,
                        completion_tokens: 3
                    }),
                    finish_reason: "stop".into()
                },
            ]
        );
    }
}
