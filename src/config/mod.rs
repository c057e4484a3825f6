//! Configuration: `config/default.toml` (compiled in) < `--config FILE` <
//! `CHORUS__SECTION__KEY` environment variables < command-line flags.

mod audit;
mod files;
mod plugin_state;
mod prices;
mod providers;
mod sections;
mod telemetry;
mod webhook_sources;

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

pub use audit::AuditSection;
pub use files::{FileStoreKind, FilesSection, S3Section};
pub use plugin_state::PluginStateConfig;
pub use prices::ModelPriceConfig;
pub use providers::{
    CONNECT_TIMEOUT_MS, DefaultChoice, ECHO_TOKENS_PER_S, MAX_RETRIES, READ_TIMEOUT_MS,
};
pub use sections::*;
pub use telemetry::TelemetryConfig;
pub use webhook_sources::{WebhookSource, core_sources};

/// The built-in defaults, identical to `config/default.toml` because they are that file.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Values given on the command line; they override every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads every layer from the process environment.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(overrides, Env::prefixed("CHORUS__").split("__"))
    }

    /// Loads with an explicit environment layer (tests pass their own).
    pub fn load_from(overrides: &Overrides, env: Env) -> Result<Config, ConfigError> {
        let mut files = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = &overrides.config_file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("no such file {}", path.display()),
                ));
            }
            files = files.merge(Toml::file(path));
        }
        reject_secrets_in_files(&files)?;
        webhook_sources::reject_secrets_in_files(&files)?;
        let mut figment = files.merge(env);
        if let Some(bind) = &overrides.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("store.data_dir", dir));
        }
        let mut config: Config = figment.extract().map_err(from_figment)?;
        config.resolve_default_provider()?;
        config.validate()?;
        Ok(config)
    }

    /// The effective configuration as TOML, every secret shown as
    /// `[redacted]` (`chorus config print`).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        let mut shown = self.clone();
        for provider in shown.providers.values_mut() {
            *provider = provider.with_defaults();
        }
        toml::to_string_pretty(&shown).map_err(|e| ConfigError::new("(all)", e.to_string()))
    }

    /// Checks the rules serde cannot express.
    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_providers()?;
        self.validate_prices()?;
        let positive = [
            ("server.header_timeout_s", self.server.header_timeout_s),
            ("server.max_connections", self.server.max_connections as u64),
            ("limits.json_body_bytes", self.limits.json_body_bytes as u64),
            ("rate_limits.default", self.rate_limits.default as u64),
            ("rate_limits.ai", self.rate_limits.ai as u64),
            ("rate_limits.auth", self.rate_limits.auth as u64),
            ("rate_limits.contact", self.rate_limits.contact as u64),
            ("actors.idle_timeout_s", self.actors.idle_timeout_s),
            ("ws.outbound_queue", self.ws.outbound_queue as u64),
            ("documents.chunk_chars", self.documents.chunk_chars as u64),
            (
                "plugin_state.sweep_every_ms",
                self.plugin_state.sweep_every_ms,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::new(*key, "must be greater than 0"));
        }
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose().len() < crate::auth::jwt::MIN_SECRET_BYTES
        {
            return Err(ConfigError::new(
                "auth.jwt_secret",
                format!(
                    "must be at least {} bytes",
                    crate::auth::jwt::MIN_SECRET_BYTES
                ),
            ));
        }
        if !crate::telemetry::valid_log_filter(&self.log.level) {
            return Err(ConfigError::new(
                "log.level",
                format!("not a log filter: {:?}", self.log.level),
            ));
        }
        if !self.webhooks.url.is_empty() {
            if reqwest::Url::parse(&self.webhooks.url).is_err() {
                return Err(ConfigError::new("webhooks.url", "not a URL"));
            }
            if self.webhooks.secret.is_none() {
                return Err(ConfigError::new(
                    "webhooks.secret",
                    "required when webhooks.url is set (CHORUS__WEBHOOKS__SECRET)",
                ));
            }
        }
        webhook_sources::validate(&self.webhooks.sources)?;
        self.audit.validate()?;
        if let Err(bad) =
            crate::auth::client_addr::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            return Err(ConfigError::new(
                "server.trusted_proxies",
                format!("not an address or CIDR: {bad:?}"),
            ));
        }
        if self
            .quotas
            .monthly_token_allowance
            .is_some_and(|n| n > i64::MAX as u64)
        {
            return Err(ConfigError::new(
                "quotas.monthly_token_allowance",
                format!("at most {}", i64::MAX),
            ));
        }
        if let Err((key, message)) = self.files.validate() {
            return Err(ConfigError::new(key, message));
        }
        if let Err((key, message)) = self.telemetry.validate() {
            return Err(ConfigError::new(key, message));
        }
        if self.documents.chunk_overlap >= self.documents.chunk_chars {
            return Err(ConfigError::new(
                "documents.chunk_overlap",
                "must be smaller than documents.chunk_chars",
            ));
        }
        Ok(())
    }
}

/// Secrets may come from the environment only, so they never sit in a file
/// that gets committed or copied into an image.
fn reject_secrets_in_files(files: &Figment) -> Result<(), ConfigError> {
    if files.contains("webhooks.secret") {
        return Err(ConfigError::new(
            "webhooks.secret",
            "secrets come from the environment only (CHORUS__WEBHOOKS__SECRET)",
        ));
    }
    for key in ["files.s3.access_key_id", "files.s3.secret_access_key"] {
        if files.contains(key) {
            return Err(ConfigError::new(
                key,
                format!(
                    "secrets come from the environment only (CHORUS__{})",
                    key.to_uppercase().replace('.', "__")
                ),
            ));
        }
    }
    if files.contains("metrics.token") {
        return Err(ConfigError::new(
            "metrics.token",
            "secrets come from the environment only (CHORUS__METRICS__TOKEN)",
        ));
    }
    if files.contains("auth.jwt_secret") {
        return Err(ConfigError::new(
            "auth.jwt_secret",
            "secrets come from the environment only (CHORUS__AUTH__JWT_SECRET)",
        ));
    }
    let names: Vec<String> = files
        .find_value("providers")
        .ok()
        .and_then(|v| v.into_dict())
        .map(|d| d.into_keys().collect())
        .unwrap_or_default();
    for name in names {
        if files.contains(&format!("providers.{name}.api_key")) {
            return Err(ConfigError::new(
                format!("providers.{name}.api_key"),
                format!(
                    "secrets come from the environment only (CHORUS__PROVIDERS__{}__API_KEY)",
                    name.to_uppercase()
                ),
            ));
        }
    }
    Ok(())
}

fn from_figment(err: figment::Error) -> ConfigError {
    let first = err.into_iter().next();
    match first {
        Some(e) => {
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            ConfigError::new(key, e.kind.to_string())
        }
        None => ConfigError::new("(unknown)", "unreadable configuration"),
    }
}

#[cfg(test)]
mod tests;
