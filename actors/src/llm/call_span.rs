//! The `llm.call` trace span of one provider call: provider, model, input
//! and output tokens, time to first token. It is opened before the first
//! attempt (retries and fallbacks happen inside it) and ends when the
//! answer's stream is dropped, with the usage the provider reported.
//! Never the messages: a span carries no prompt or answer text.

use std::time::Duration;

use futures::StreamExt;
use tracing::field::Empty;

use super::{Delta, Opened};
use crate::trace_context::TARGET;

/// A new `llm.call` span, a child of the current one; disabled (and free)
/// while traces are not exported.
pub(super) fn start(provider: &str, model: &str) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "llm.call",
        otel.kind = "client",
        otel.status_code = Empty,
        llm.provider = provider,
        llm.model = model,
        llm.input_tokens = Empty,
        llm.output_tokens = Empty,
        llm.time_to_first_token_ms = Empty,
    )
}

/// Records the time to the first token on the current span (an attempt
/// runs inside the `llm.call` span).
pub(super) fn first_token(elapsed: Duration) {
    tracing::Span::current().record("llm.time_to_first_token_ms", elapsed.as_secs_f64() * 1000.0);
}

/// Keeps `span` open for as long as the answer streams; the provider and
/// model that answered (a fallback's, maybe) and the usage at the end are
/// recorded on it, and an error item marks it failed.
pub(super) fn follow(mut opened: Opened, span: tracing::Span) -> Opened {
    if span.is_disabled() {
        return opened;
    }
    span.record("llm.provider", opened.provider.as_str());
    span.record("llm.model", opened.model.as_str());
    opened.stream = Box::pin(opened.stream.inspect(move |item| match item {
        Ok(Delta::Done {
            usage: Some(usage), ..
        }) => {
            span.record("llm.input_tokens", usage.prompt_tokens);
            span.record("llm.output_tokens", usage.completion_tokens);
        }
        Ok(_) => {}
        Err(_) => {
            span.record("otel.status_code", "error");
        }
    }));
    opened
}
