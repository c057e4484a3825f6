//! An HTTP provider's endpoint: its base URL, key and read timeout, and the
//! one way a call to it is sent (a non-2xx answer or a timeout is an error).

use std::time::Duration;

use super::LlmError;

/// Where and how a provider is called.
pub(super) struct Endpoint {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
    pub(super) api_key: Option<String>,
    pub(super) read_timeout: Duration,
}

impl Endpoint {
    pub(super) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{}", self.base_url.trim_end_matches('/'), path))
    }

    /// Sends `call`; anything but a 2xx answer (in time) is an error.
    pub(super) async fn send(
        &self,
        call: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        let response = tokio::time::timeout(self.read_timeout, call.send())
            .await
            .map_err(|_| LlmError::Timeout)?
            .map_err(|e| LlmError::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(LlmError::Status {
                status: response.status().as_u16(),
            });
        }
        Ok(response)
    }
}
