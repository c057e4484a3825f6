//! The configuration's sections, one struct each, as `config/default.toml` lays them out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub files: super::files::FilesSection,
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub plugin_state: super::PluginStateConfig,
    #[serde(default)]
    pub audit: super::AuditSection,
    /// Analysis templates of `POST /ai/process`, by `analysis_type`.
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateConfig>,
    /// OpenTelemetry trace export (`[telemetry]`), off by default.
    #[serde(default)]
    pub telemetry: super::TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub description: String,
    /// Sent as the system message; empty for none.
    pub system_prompt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Peers (CIDRs or addresses) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// Origins whose pages may send cookie-authenticated unsafe requests
    /// and open WebSockets (besides the server's own origin).
    pub allowed_origins: Vec<String>,
    /// `Server-Timing` (total, upstream, queue) on AI and `/v1` answers.
    pub server_timing: bool,
}

/// `GET /metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// When set, scrapers must send `Authorization: Bearer <token>`. From
    /// `CHORUS__METRICS__TOKEN` only.
    #[serde(default)]
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub data_dir: PathBuf,
    pub durability: chorus_actors::store::Durability,
    pub cache_capacity_mb: u64,
    pub flush_every_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub json_body_bytes: usize,
    pub upload_bytes: usize,
    /// Records one user may keep, per kind; one more is 429 QUOTA_EXCEEDED.
    pub max_conversations_per_user: u64,
    pub max_personas_per_user: u64,
    pub max_tags_per_user: u64,
    pub max_api_keys_per_user: u64,
    pub max_documents_per_user: u64,
    pub max_projects_per_user: u64,
    pub max_plugin_states_per_user: u64,
    pub max_setting_instances_per_user: u64,
    /// Open WebSockets plus SSE streams per user.
    pub max_streams_per_user: usize,
}

impl LimitsConfig {
    /// The per-user counts, as the core takes them.
    pub fn counts(&self) -> chorus_actors::model::CountLimits {
        chorus_actors::model::CountLimits {
            conversations: self.max_conversations_per_user,
            personas: self.max_personas_per_user,
            tags: self.max_tags_per_user,
            api_keys: self.max_api_keys_per_user,
            documents: self.max_documents_per_user,
            projects: self.max_projects_per_user,
            plugin_states: self.max_plugin_states_per_user,
            setting_instances: self.max_setting_instances_per_user,
        }
    }
}

/// Requests per minute per key (`contact`: per hour).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    pub default: u32,
    pub ai: u32,
    pub auth: u32,
    pub contact: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    /// From `CHORUS__AUTH__JWT_SECRET` only; generated into the data dir when unset.
    #[serde(default)]
    pub jwt_secret: Option<Secret>,
    pub oidc_issuers: Vec<OidcIssuer>,
    /// Failed sign-ins on one account within `failed_login_window_s` that
    /// lock it (429 from every IP) until the oldest leaves the window; 0 = off.
    pub max_failed_logins: u32,
    pub failed_login_window_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsConfig {
    pub max_restarts: u32,
    pub restart_window_s: u64,
    pub idle_timeout_s: u64,
    pub call_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// Unset (empty) in the file: filled in at load ([`super::DefaultChoice`]).
    #[serde(default)]
    pub default_provider: String,
    /// How `default_provider` was chosen, for the start-up log.
    #[serde(skip)]
    pub default_choice: super::DefaultChoice,
    pub replay_window_s: u64,
    pub context_messages: usize,
    pub context_chunks: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasConfig {
    /// `None`: new users have no monthly limit.
    #[serde(default)]
    pub monthly_token_allowance: Option<u64>,
    /// Completion tokens held against a user's allowance while a call
    /// that sets no `max_tokens` runs; its `max_tokens` becomes this.
    #[serde(default = "default_reservation_tokens")]
    pub default_reservation_tokens: u64,
}

fn default_reservation_tokens() -> u64 {
    4096
}

impl Default for QuotasConfig {
    fn default() -> Self {
        Self {
            monthly_token_allowance: None,
            default_reservation_tokens: default_reservation_tokens(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Empty: no webhooks are sent.
    #[serde(default)]
    pub url: String,
    /// Signs each event; from the environment only (CHORUS__WEBHOOKS__SECRET).
    pub secret: Option<Secret>,
    pub events: Vec<String>,
    /// Incoming webhooks: the senders that may POST to `/webhooks/<name>`.
    #[serde(default)]
    pub sources: BTreeMap<String, super::WebhookSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// 0 means 4 x the number of cores.
    pub concurrency: usize,
    /// Unfinished (pending, scheduled or running) jobs one user may have;
    /// over it `POST /jobs` is 429 QUOTA_EXCEEDED.
    pub max_per_user: usize,
    /// The longest `delay` job a user may submit, in seconds.
    pub max_delay_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// US dollars per million tokens, per model (`[providers.<name>.prices."<model>"]`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub prices: std::collections::BTreeMap<String, super::ModelPriceConfig>,
}

/// Secrets (API keys, signing secrets, the metrics token) redact
/// themselves in `Debug`; one type for the edge and the core.
pub use chorus_actors::secret::Secret;
