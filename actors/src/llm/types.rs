//! The provider-neutral request, stream items and errors.

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use super::base_url::BadBaseUrl;
use super::failure::ConnectFailure;

/// Who wrote a message. Stored and sent as its lower-case name, so a
/// record keeps the layout of a plain string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum MessageRole {
    /// Instructions to the model (a persona, a template).
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
}

impl MessageRole {
    /// `system`, `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
        }
    }
}

impl std::str::FromStr for MessageRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "system" => Ok(MessageRole::System),
            "user" => Ok(MessageRole::User),
            "assistant" => Ok(MessageRole::Assistant),
            _ => Err("one of system, user, assistant".into()),
        }
    }
}

impl TryFrom<String> for MessageRole {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<MessageRole> for &'static str {
    fn from(role: MessageRole) -> Self {
        role.as_str()
    }
}

/// One message of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text, at most `limits::MESSAGE_CHARS` characters.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role` saying `content`.
    pub fn new(role: MessageRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A chat request as every provider receives it.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// Empty: the provider's default model.
    pub model: String,
    /// The prompt in order; in a conversation: system message, history, the user's message.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature; `None` leaves the provider's default.
    pub temperature: Option<f32>,
    /// Cap on the answer's tokens; `None` leaves the provider's default.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling cut-off, 0-1; `None` leaves the provider's default.
    pub top_p: Option<f32>,
    /// Sequences that end the answer when generated; empty for none.
    pub stop: Vec<String>,
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Tokens of the prompt the provider read.
    pub prompt_tokens: u64,
    /// Tokens of the answer the provider wrote.
    pub completion_tokens: u64,
}

impl TokenUsage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// The `usage` object of API.md 4.1, with its `total_tokens`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total(),
        })
    }
}

/// One item of a provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// A piece of the answer, in order.
    Token(String),
    /// The end; usage if the provider reported it.
    Done {
        /// Token counts; `None` when the provider sent none (the caller then estimates).
        usage: Option<TokenUsage>,
        /// Why the answer ended, as the provider said it: usually `stop` or `length`.
        finish_reason: String,
    },
}

/// A provider's answer as it streams in.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, LlmError>> + Send>>;

/// Why a provider call failed. Messages are safe to show a client: they
/// never carry the upstream's body or credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// No provider of that name is configured: the request's fault.
    #[error("provider {0:?} is not configured")]
    UnknownProvider(String),
    /// A model the provider does not list (or, for a provider that lists
    /// none, a name over 128 characters): the request's fault, never sent.
    #[error("{}", unknown_model(provider, models))]
    UnknownModel {
        /// The provider's name.
        provider: String,
        /// The models it lists (empty when it accepts any name up to 128 characters).
        models: Vec<String>,
    },
    /// No connection could be made (refused, DNS, TLS); what happened is
    /// for the log and `chorus providers check`, not for clients.
    #[error("could not connect to the provider")]
    Connect(ConnectFailure),
    /// The provider answered a non-2xx HTTP status (kept for `details`).
    #[error("the provider answered HTTP {status}")]
    Status {
        /// The HTTP status code the provider answered, e.g. 429 or 503.
        status: u16,
        /// The provider's own words about it (its error message, at most
        /// 200 characters), for the log only, like `Upstream`.
        upstream: String,
    },
    /// A `base_url` that cannot be called (caught at start-up).
    #[error("provider {0:?}: base_url: {1}")]
    BaseUrl(String, BadBaseUrl),
    /// The provider stopped answering for longer than its read timeout.
    #[error("the provider timed out")]
    Timeout,
    /// The answer could not be parsed, or ended without its terminal event.
    #[error("the provider sent a malformed answer")]
    Protocol,
    /// The provider's own words are for the log only (they may name its
    /// internals or echo another user's input); clients see this fixed text.
    #[error("the provider reported an error")]
    Upstream(String),
}

fn unknown_model(provider: &str, models: &[String]) -> String {
    if models.is_empty() {
        format!("a model name of at most 128 characters for provider {provider:?}")
    } else {
        format!(
            "one of the models of provider {provider:?}: {}",
            models.join(", ")
        )
    }
}

impl LlmError {
    /// Worth another attempt (before the first token): connect errors, 429, 5xx.
    pub fn is_retriable(&self) -> bool {
        match self {
            LlmError::Connect(_) => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            // A connect timeout too: nothing was sent, another try may work.
            LlmError::Connect(ConnectFailure::of(e))
        } else if e.is_timeout() {
            LlmError::Timeout
        } else if let Some(status) = e.status() {
            LlmError::Status {
                status: status.as_u16(),
                upstream: String::new(),
            }
        } else if e.is_request() {
            LlmError::Connect(ConnectFailure::of(e))
        } else {
            // Reading or decoding the answer failed part-way.
            LlmError::Protocol
        }
    }

    /// The upstream HTTP status, if the failure was one.
    pub fn upstream_status(&self) -> Option<u16> {
        match self {
            LlmError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
