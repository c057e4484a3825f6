//! What exactly went wrong with a provider call, for the operator: the kind
//! of connect error, the provider's own words on a non-2xx answer, and the
//! one-line reason logs and `chorus providers check` print.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::LlmError;

/// Why no connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectKind {
    /// The host name did not resolve.
    Dns,
    /// Nothing listens on that port (or a firewall said no).
    Refused,
    /// The TLS handshake failed: a certificate, or TLS spoken to a plain-HTTP port.
    Tls,
    /// No connection within `connect_timeout_ms`.
    Timeout,
    /// Anything else before the request was sent (reset, unreachable network).
    Other,
}

/// A connect error: its kind and the innermost cause's text (from the OS or
/// the TLS library: no credentials, no URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFailure {
    /// What kind of failure it was.
    pub kind: ConnectKind,
    /// The innermost error's words, e.g. `Connection refused (os error 111)`.
    pub cause: String,
}

impl ConnectFailure {
    /// Classifies `e` by walking its causes.
    pub(crate) fn of(e: &reqwest::Error) -> Self {
        let mut kind = if e.is_timeout() {
            ConnectKind::Timeout
        } else {
            ConnectKind::Other
        };
        let mut cause = e.to_string();
        let mut source = e.source();
        while let Some(err) = source {
            let text = err.to_string();
            let lower = text.to_ascii_lowercase();
            if kind == ConnectKind::Other {
                if lower.contains("dns error") || lower.contains("lookup address") {
                    kind = ConnectKind::Dns;
                } else if lower.contains("certificate")
                    || lower.contains("tls")
                    || lower.contains("handshake")
                    || lower.contains("corrupt message")
                {
                    kind = ConnectKind::Tls;
                } else if let Some(io) = err.downcast_ref::<std::io::Error>()
                    && io.kind() == std::io::ErrorKind::ConnectionRefused
                {
                    kind = ConnectKind::Refused;
                }
            }
            cause = text;
            source = err.source();
        }
        Self { kind, cause }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ConnectKind::Dns => "DNS lookup failed",
            ConnectKind::Refused => "connection refused",
            ConnectKind::Tls => "TLS handshake failed",
            ConnectKind::Timeout => "no connection within connect_timeout_ms",
            ConnectKind::Other => "could not connect",
        };
        write!(f, "{what} ({})", self.cause)
    }
}

/// The provider's own words from a non-2xx answer: `error.message`
/// (OpenAI, Anthropic), `error` (Ollama) or the start of the body, at most
/// 200 characters. Reads at most 4 KiB, for at most `wait`.
pub(super) async fn upstream_words(mut response: reqwest::Response, wait: Duration) -> String {
    let mut body = Vec::new();
    let read = async {
        while body.len() < 4096 {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(wait, read).await;
    let text = String::from_utf8_lossy(&body);
    let words = match serde_json::from_str::<Value>(&text) {
        Ok(json) => match &json["error"] {
            Value::String(s) => s.clone(),
            error => error["message"]
                .as_str()
                .or_else(|| json["message"].as_str())
                .unwrap_or(&text)
                .to_string(),
        },
        Err(_) => text.into_owned(),
    };
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    words.chars().take(200).collect()
}

impl LlmError {
    /// What happened, for the operator (the log, `chorus providers check`);
    /// clients see only the `Display` text.
    pub fn detail(&self) -> String {
        match self {
            LlmError::Connect(failure) => failure.to_string(),
            LlmError::Status { status, upstream } => {
                let reason = reqwest::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let hint = match status {
                    401 | 403 => " (the API key was refused)",
                    404 => " (check base_url and the model name)",
                    _ => "",
                };
                if upstream.is_empty() {
                    format!("HTTP {status} {reason}{hint}")
                } else {
                    format!("HTTP {status} {reason}{hint}: {upstream}")
                }
            }
            LlmError::Timeout => "no answer within read_timeout_ms".into(),
            LlmError::Upstream(text) => format!("the provider reported an error: {text}"),
            LlmError::Protocol => {
                "the answer is not in this kind's protocol (check kind and base_url)".into()
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_named() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let err = reqwest::get(url).await.unwrap_err();
        let failure = ConnectFailure::of(&err);
        assert_eq!(failure.kind, ConnectKind::Refused, "{failure}");
        assert!(failure.to_string().starts_with("connection refused"));
    }

    #[tokio::test]
    async fn tls_spoken_to_a_plain_port_is_a_tls_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let err = reqwest::get(url).await.unwrap_err();
        let failure = ConnectFailure::of(&err);
        assert_eq!(failure.kind, ConnectKind::Tls, "{failure}");
    }

    #[tokio::test]
    async fn an_unknown_host_is_a_dns_failure() {
        // `.invalid` never resolves (RFC 2606).
        let err = reqwest::get("http://chorus-check.invalid/")
            .await
            .unwrap_err();
        let failure = ConnectFailure::of(&err);
        assert_eq!(failure.kind, ConnectKind::Dns, "{failure}");
    }

    #[test]
    fn a_status_detail_names_the_status_and_the_providers_words() {
        let e = LlmError::Status {
            status: 404,
            upstream: "model 'llama9' not found".into(),
        };
        assert_eq!(
            e.detail(),
            "HTTP 404 Not Found (check base_url and the model name): model 'llama9' not found"
        );
        assert_eq!(
            e.to_string(),
            "the provider answered HTTP 404",
            "client text"
        );
    }
}
