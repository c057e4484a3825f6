//! The configured providers, the shared HTTP client, retries and fallback.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::endpoint::Endpoint;
use super::failure::{ConnectFailure, ConnectKind};
use super::{ChatRequest, Delta, DeltaStream, LlmError, anthropic, echo, ollama, openai};

/// Which wire protocol a provider speaks (`kind` in `[providers.<name>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The built-in model that echoes the last user message; needs no network.
    Echo,
    /// An OpenAI-compatible chat completions API (SSE stream).
    Openai,
    /// Anthropic's Messages API (SSE stream).
    Anthropic,
    /// Ollama's native `/api/chat` (NDJSON stream).
    Ollama,
}

impl ProviderKind {
    /// The lower-case name used in config and in `/ai/providers`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Echo => "echo",
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
        }
    }
}

/// One configured provider.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    /// The key of its `[providers.<name>]` section; what requests name it by.
    pub name: String,
    /// Which wire protocol it speaks.
    pub kind: ProviderKind,
    /// The API's root URL; required for every kind but echo, `None` for echo.
    pub base_url: Option<String>,
    /// Sent as the provider's credential; `None` for a provider that needs none.
    pub api_key: Option<crate::secret::Secret>,
    /// The models requests may name; empty lets any name of up to 128 characters through.
    pub models: Vec<String>,
    /// The model for requests that name none; `None` uses the first listed.
    pub default_model: Option<String>,
    /// Echo only.
    pub tokens_per_s: f64,
    /// Tried when this provider fails before its first token.
    pub fallback: Option<String>,
    /// Longest wait for a TCP (and TLS) connection to the provider.
    pub connect_timeout: Duration,
    /// Longest wait for the answer's headers and between two stream items.
    pub read_timeout: Duration,
    /// Extra attempts before the first token (connect errors, 429, 5xx).
    pub max_retries: u32,
}

/// Longest model name a provider that lists no models accepts.
pub const MAX_OPEN_MODEL_CHARS: usize = 128;

impl ProviderSpec {
    /// The model used when a request names none.
    pub fn default_model(&self) -> String {
        self.default_model
            .clone()
            .or_else(|| self.models.first().cloned())
            .unwrap_or_default()
    }

    /// Whether a request may name `model`: one this provider lists (or its
    /// default), or any name up to [`MAX_OPEN_MODEL_CHARS`] when it lists
    /// none. The check keeps users from calling any upstream model on the
    /// operator's key.
    pub fn allows(&self, model: &str) -> bool {
        if self.models.is_empty() {
            return model.chars().count() <= MAX_OPEN_MODEL_CHARS;
        }
        self.models.iter().any(|m| m == model) || self.default_model.as_deref() == Some(model)
    }

    /// `model` as a metrics and usage label: a listed model is its own
    /// label; a name chosen freely (a provider that lists none) is `other`,
    /// so clients cannot grow the label set.
    pub fn model_label(&self, model: &str) -> String {
        if !self.models.is_empty() && self.allows(model) {
            model.to_string()
        } else {
            "other".to_string()
        }
    }
}

/// A provider as `/ai/providers` and `/services` show it.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    /// The provider's configured name.
    pub name: String,
    /// Which wire protocol it speaks.
    pub kind: ProviderKind,
    /// The models it lists; empty when it accepts any name.
    pub models: Vec<String>,
    /// The model used when a request names none; empty if none is configured or listed.
    pub default_model: String,
    /// `false` while its last call failed before the first token.
    pub healthy: bool,
    /// Why its last call failed (client-safe text); `None` while healthy.
    pub last_error: Option<String>,
}

/// A stream that has produced its first item, from the provider that made it.
pub struct Opened {
    /// The provider that answered, which is a fallback when the one asked failed.
    pub provider: String,
    /// The model that answers: the request's, or the fallback's default.
    pub model: String,
    /// The answer's items, the first one already received.
    pub stream: DeltaStream,
}

#[derive(Debug, Clone, Default)]
struct Health {
    failed: bool,
    last_error: Option<String>,
}

/// The provider registry. Cheap to clone.
#[derive(Clone)]
pub struct Llm {
    providers: Arc<BTreeMap<String, ProviderSpec>>,
    /// Each HTTP provider's chat URL, from its `base_url` ([`super::chat_url`]).
    urls: Arc<BTreeMap<String, reqwest::Url>>,
    default: Arc<str>,
    http: reqwest::Client,
    health: Arc<DashMap<String, Health>>,
}

impl Llm {
    /// Builds the registry and its HTTP client; `default` serves requests
    /// that name no provider. A `base_url` that cannot be called is an error.
    pub fn new(specs: Vec<ProviderSpec>, default: &str) -> Result<Self, LlmError> {
        let mut urls = BTreeMap::new();
        for spec in &specs {
            match super::chat_url(spec.kind, spec.base_url.as_deref()) {
                Ok(Some(url)) => {
                    urls.insert(spec.name.clone(), url);
                }
                Ok(None) => {}
                Err(e) => return Err(LlmError::BaseUrl(spec.name.clone(), e)),
            }
        }
        let connect = specs
            .iter()
            .map(|s| s.connect_timeout)
            .max()
            .unwrap_or(Duration::from_secs(5));
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| {
                LlmError::Connect(ConnectFailure {
                    kind: ConnectKind::Other,
                    cause: e.to_string(),
                })
            })?;
        Ok(Self {
            providers: Arc::new(specs.into_iter().map(|s| (s.name.clone(), s)).collect()),
            urls: Arc::new(urls),
            default: Arc::from(default),
            http,
            health: Arc::new(DashMap::new()),
        })
    }

    /// The provider used when a request names none.
    pub fn default_provider(&self) -> &str {
        &self.default
    }

    /// The configuration of provider `name`; `None` if none is configured by that name.
    pub fn spec(&self, name: &str) -> Option<&ProviderSpec> {
        self.providers.get(name)
    }

    /// Every provider with its health, by name.
    pub fn infos(&self) -> Vec<ProviderInfo> {
        self.providers
            .values()
            .map(|s| {
                let health = self
                    .health
                    .get(&s.name)
                    .map(|h| h.clone())
                    .unwrap_or_default();
                ProviderInfo {
                    name: s.name.clone(),
                    kind: s.kind,
                    models: s.models.clone(),
                    default_model: s.default_model(),
                    healthy: !health.failed,
                    last_error: health.last_error,
                }
            })
            .collect()
    }

    /// The provider and model a request will use. A model the provider
    /// does not allow ([`ProviderSpec::allows`]) is `UnknownModel`.
    pub fn resolve(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<(String, String), LlmError> {
        let name = provider.filter(|p| !p.is_empty()).unwrap_or(&self.default);
        let spec = self
            .spec(name)
            .ok_or_else(|| LlmError::UnknownProvider(name.to_string()))?;
        let model = model
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| spec.default_model());
        if !spec.allows(&model) {
            return Err(LlmError::UnknownModel {
                provider: name.to_string(),
                models: spec.models.clone(),
            });
        }
        Ok((name.to_string(), model))
    }

    /// The metrics and usage label of `model` on `provider`.
    pub fn model_label(&self, provider: &str, model: &str) -> String {
        self.spec(provider)
            .map_or_else(|| "other".to_string(), |s| s.model_label(model))
    }

    /// Opens a stream on `provider` (retrying before the first token, then
    /// its fallback chain) and waits for its first item. Traced (while
    /// traces are exported) as one `llm.call` span that lasts until the
    /// stream is dropped ([`super::call_span`]).
    pub async fn open(&self, provider: &str, request: ChatRequest) -> Result<Opened, LlmError> {
        let span = super::call_span::start(provider, &request.model);
        let opened = self
            .open_untraced(provider, request)
            .instrument(span.clone())
            .await;
        match opened {
            Ok(opened) => Ok(super::call_span::follow(opened, span)),
            Err(e) => {
                span.record("otel.status_code", "error");
                Err(e)
            }
        }
    }

    async fn open_untraced(
        &self,
        provider: &str,
        request: ChatRequest,
    ) -> Result<Opened, LlmError> {
        let mut tried = Vec::new();
        let mut name = provider.to_string();
        let mut last_error;
        loop {
            let spec = self
                .spec(&name)
                .ok_or_else(|| LlmError::UnknownProvider(name.clone()))?;
            let mut req = request.clone();
            // A model named for the first provider means nothing to a fallback.
            if !tried.is_empty() || req.model.is_empty() {
                req.model = spec.default_model();
            }
            match self.open_with_retries(spec, req).await {
                Ok(opened) => {
                    self.health.insert(name.clone(), Health::default());
                    return Ok(opened);
                }
                Err(e) => {
                    tracing::warn!(provider = %name, error = %e.detail(), "provider failed before its first token");
                    self.health.insert(
                        name.clone(),
                        Health {
                            failed: true,
                            last_error: Some(e.to_string()),
                        },
                    );
                    last_error = e;
                }
            }
            tried.push(name.clone());
            match spec.fallback.clone() {
                Some(next) if !tried.contains(&next) => name = next,
                _ => return Err(last_error),
            }
        }
    }

    async fn open_with_retries(
        &self,
        spec: &ProviderSpec,
        request: ChatRequest,
    ) -> Result<Opened, LlmError> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.open_once(spec, &request).await;
            match result {
                Ok(stream) => {
                    let first_token = started.elapsed();
                    metrics::histogram!("chorus_llm_time_to_first_token_seconds", "provider" => spec.name.clone())
                        .record(first_token.as_secs_f64());
                    super::call_span::first_token(first_token);
                    return Ok(Opened {
                        provider: spec.name.clone(),
                        model: request.model.clone(),
                        stream,
                    });
                }
                Err(e) if e.is_retriable() && attempt < spec.max_retries => {
                    attempt += 1;
                    let backoff = Duration::from_millis(100 * (1 << attempt.min(6)));
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL provider `name`'s chats are POSTed to; `None` for echo.
    pub fn chat_url(&self, name: &str) -> Option<&reqwest::Url> {
        self.urls.get(name)
    }

    /// One attempt: the stream with its first item already received.
    pub(super) async fn open_once(
        &self,
        spec: &ProviderSpec,
        request: &ChatRequest,
    ) -> Result<DeltaStream, LlmError> {
        let mut stream = if spec.kind == ProviderKind::Echo {
            echo::stream(request, spec.tokens_per_s)
        } else {
            let url = self
                .urls
                .get(&spec.name)
                .ok_or_else(|| LlmError::BaseUrl(spec.name.clone(), super::BadBaseUrl::Missing))?;
            let endpoint = Endpoint {
                http: self.http.clone(),
                provider: spec.name.clone(),
                url: url.clone(),
                api_key: spec.api_key.as_ref().map(|k| k.expose().to_string()),
                read_timeout: spec.read_timeout,
            };
            let stream = match spec.kind {
                ProviderKind::Anthropic => anthropic::stream(&endpoint, request).await?,
                ProviderKind::Ollama => ollama::stream(&endpoint, request).await?,
                ProviderKind::Openai | ProviderKind::Echo => {
                    openai::stream(&endpoint, request).await?
                }
            };
            with_idle_timeout(require_done(stream), spec.read_timeout)
        };
        match stream.next().await {
            Some(Ok(first)) => Ok(Box::pin(
                futures::stream::once(async { Ok(first) }).chain(stream),
            )),
            Some(Err(e)) => Err(e),
            None => Err(LlmError::Protocol),
        }
    }
}

/// Ends `stream` with `LlmError::Timeout` when an item takes longer than `idle`.
fn with_idle_timeout(stream: DeltaStream, idle: Duration) -> DeltaStream {
    Box::pin(futures::stream::unfold(
        Some(stream),
        move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(item)) => {
                    let end = matches!(item, Ok(Delta::Done { .. }) | Err(_));
                    Some((item, if end { None } else { Some(stream) }))
                }
                Ok(None) => None,
                Err(_) => Some((Err(LlmError::Timeout), None)),
            }
        },
    ))
}

/// An HTTP answer that ends without its terminal event was cut off: say so.
fn require_done(stream: DeltaStream) -> DeltaStream {
    Box::pin(futures::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        match stream.next().await {
            Some(Ok(done @ Delta::Done { .. })) => {
                drain(stream);
                Some((Ok(done), None))
            }
            Some(item) => {
                let end = item.is_err();
                Some((item, if end { None } else { Some(stream) }))
            }
            None => Some((Err(LlmError::Protocol), None)),
        }
    }))
}

/// Reads what follows the terminal event (the end of the HTTP body) off the
/// answer's path, so the connection goes back to the pool instead of being
/// closed: a new TCP connection per request costs more than the rest of a
/// gateway call.
fn drain(mut stream: DeltaStream) {
    tokio::spawn(async move {
        let rest = async { while stream.next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), rest).await;
    });
}
