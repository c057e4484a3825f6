//! An HTTP provider's endpoint: the URL its chats are POSTed to, its key and
//! read timeout, and the one way a call to it is sent (a non-2xx answer or
//! a timeout is an error, logged with the provider, the URL and what happened).

use std::time::Duration;

use reqwest::Url;

use super::LlmError;
use super::base_url::for_log;
use super::failure::upstream_words;

/// Where and how a provider is called.
pub(super) struct Endpoint {
    pub(super) http: reqwest::Client,
    /// The provider's configured name, for the log.
    pub(super) provider: String,
    /// The chat URL ([`super::base_url::chat_url`]).
    pub(super) url: Url,
    pub(super) api_key: Option<String>,
    pub(super) read_timeout: Duration,
}

impl Endpoint {
    /// A POST to the chat URL, carrying the current span's `traceparent`
    /// while traces are exported.
    pub(super) fn post(&self) -> reqwest::RequestBuilder {
        crate::trace_context::inject(self.http.post(self.url.clone()))
    }

    /// Sends `call`; anything but a 2xx answer (in time) is an error.
    pub(super) async fn send(
        &self,
        call: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        let result = match tokio::time::timeout(self.read_timeout, call.send()).await {
            Err(_) => Err(LlmError::Timeout),
            Ok(Err(e)) => Err(LlmError::from_reqwest(&e)),
            Ok(Ok(response)) if response.status().is_success() => Ok(response),
            Ok(Ok(response)) => Err(LlmError::Status {
                status: response.status().as_u16(),
                upstream: upstream_words(response, self.read_timeout.min(Duration::from_secs(2)))
                    .await,
            }),
        };
        if let Err(e) = &result {
            tracing::warn!(
                provider = %self.provider,
                url = %for_log(&self.url),
                status = e.upstream_status(),
                "provider call failed: {}",
                e.detail(),
            );
        }
        result
    }
}
