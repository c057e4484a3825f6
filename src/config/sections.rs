//! The configuration's sections, one struct each, as `config/default.toml` lays them out.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreSection,
    pub log: LogConfig,
    pub limits: LimitsConfig,
    pub rate_limits: RateLimitsConfig,
    pub auth: AuthConfig,
    pub actors: ActorsConfig,
    pub chat: ChatConfig,
    #[serde(default)]
    pub quotas: QuotasConfig,
    pub ws: WsConfig,
    pub jobs: JobsConfig,
    pub webhooks: WebhooksConfig,
    pub documents: DocumentsConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Analysis templates of `POST /ai/process`, by `analysis_type`.
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub description: String,
    /// Sent as the system message; empty for none.
    pub system_prompt: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub header_timeout_s: u64,
    pub keep_alive_timeout_s: u64,
    pub max_connections: usize,
    /// Longest pause while a request body is read before 408.
    pub body_timeout_s: u64,
    pub shutdown_grace_s: u64,
    pub tls_behind_proxy: bool,
    pub secure_cookies: bool,
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub data_dir: PathBuf,
    pub durability: chorus_actors::store::Durability,
    pub cache_capacity_mb: u64,
    pub flush_every_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub json_body_bytes: usize,
    pub upload_bytes: usize,
    /// Open WebSockets plus SSE streams per user.
    pub max_streams_per_user: usize,
}

/// Requests per minute per key (`contact`: per hour).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    pub default: u32,
    pub ai: u32,
    pub auth: u32,
    pub contact: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    /// From `CHORUS__AUTH__JWT_SECRET` only; generated into the data dir when unset.
    #[serde(default)]
    pub jwt_secret: Option<Secret>,
    pub oidc_issuers: Vec<OidcIssuer>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsConfig {
    pub max_restarts: u32,
    pub restart_window_s: u64,
    pub idle_timeout_s: u64,
    pub call_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    pub default_provider: String,
    pub replay_window_s: u64,
    pub context_messages: usize,
    pub context_chunks: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasConfig {
    /// `None`: new users have no monthly limit.
    #[serde(default)]
    pub monthly_token_allowance: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsConfig {
    pub max_frame_bytes: usize,
    pub outbound_queue: usize,
    pub channel_history: usize,
    pub history_ttl_s: u64,
    pub ping_interval_s: u64,
    pub pong_timeout_s: u64,
    pub max_subscriptions: usize,
    /// Bytes of kept channel messages, all channels together.
    pub history_max_bytes: usize,
    /// Live `room:` channels one user may have created.
    pub max_rooms_per_user: usize,
    /// Frames per second per socket; the burst is twice this.
    pub frames_per_s: u32,
}

/// Outgoing webhooks: signed JSON events POSTed to one URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Empty: no webhooks are sent.
    #[serde(default)]
    pub url: String,
    /// Signs each event; from the environment only (CHORUS__WEBHOOKS__SECRET).
    pub secret: Option<Secret>,
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// 0 means 4 x the number of cores.
    pub concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentsConfig {
    pub chunk_chars: usize,
    pub chunk_overlap: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Echo,
    Openai,
    Anthropic,
    Ollama,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: Option<String>,
    /// From `CHORUS__PROVIDERS__<NAME>__API_KEY` only.
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub default_model: Option<String>,
    /// Echo only: words per second.
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    #[serde(default)]
    pub read_timeout_ms: Option<u64>,
    #[serde(default)]
    pub max_retries: Option<u32>,
}

/// A secret value: shown as `[redacted]` by `Debug` so it never reaches a log.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
