//! Model providers behind one streaming interface: `echo` (built in),
//! `openai` (chat completions SSE), `anthropic` (Messages API SSE) and
//! `ollama` (native NDJSON). One pooled HTTP client; retries with backoff
//! before the first token; a fallback provider; cancellation by dropping
//! the stream, which drops the upstream request.

mod anthropic;
mod base_url;
mod call_span;
mod check;
mod echo;
mod endpoint;
mod failure;
mod ollama;
mod openai;
mod registry;
mod types;

pub use base_url::{BadBaseUrl, chat_url, for_log};
pub use check::{CheckFailure, Checked};
pub use failure::{ConnectFailure, ConnectKind};
pub use registry::{Llm, MAX_OPEN_MODEL_CHARS, Opened, ProviderInfo, ProviderKind, ProviderSpec};
pub use types::{ChatMessage, ChatRequest, Delta, DeltaStream, LlmError, MessageRole, TokenUsage};
