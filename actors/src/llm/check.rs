//! `Llm::check`: one tiny request to one provider, with no retry and no
//! fallback, for `chorus providers check`.

use std::fmt;
use std::time::{Duration, Instant};

use super::{ChatMessage, ChatRequest, Llm, LlmError, MessageRole, for_log};

/// A provider that answered.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The model asked: the provider's default model.
    pub model: String,
    /// From sending the request to the answer's first item.
    pub latency: Duration,
}

/// A provider that did not answer, with the URL called.
#[derive(Debug, Clone)]
pub struct CheckFailure {
    /// `POST <url>` as it may be printed (no credentials), or `None` for
    /// a failure before any call.
    pub url: Option<String>,
    /// The model asked.
    pub model: String,
    /// What went wrong ([`LlmError::detail`]).
    pub reason: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "POST {url} (model {}): {}", self.model, self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl Llm {
    /// Sends provider `name` one short chat with its default model and
    /// waits for the first item of the answer, then hangs up.
    pub async fn check(&self, name: &str) -> Result<Checked, CheckFailure> {
        let url = self.chat_url(name).map(for_log);
        let Some(spec) = self.spec(name) else {
            return Err(CheckFailure {
                url,
                model: String::new(),
                reason: LlmError::UnknownProvider(name.to_string()).to_string(),
            });
        };
        let model = spec.default_model();
        let request = ChatRequest {
            model: model.clone(),
            messages: vec![ChatMessage::new(MessageRole::User, "Reply with: OK")],
            ..Default::default()
        };
        let started = Instant::now();
        match self.open_once(spec, &request).await {
            Ok(_first) => Ok(Checked {
                model,
                latency: started.elapsed(),
            }),
            Err(e) => {
                let mut reason = e.detail();
                if matches!(e, LlmError::Timeout) {
                    reason = format!("{reason} ({} ms)", spec.read_timeout.as_millis());
                }
                Err(CheckFailure { url, model, reason })
            }
        }
    }
}
