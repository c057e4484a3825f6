//! The `[providers.*]` rules serde cannot express: which provider is the
//! default when none is named, a model for every provider, a `base_url`
//! that can be called.

use chorus_actors::llm;

use super::{Config, ConfigError, ProviderConfig, ProviderKind};

/// `connect_timeout_ms` when unset.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// `read_timeout_ms` when unset.
pub const READ_TIMEOUT_MS: u64 = 60_000;
/// `max_retries` when unset.
pub const MAX_RETRIES: u32 = 2;
/// `tokens_per_s` of an echo provider when unset.
pub const ECHO_TOKENS_PER_S: f64 = 50.0;

impl ProviderConfig {
    /// This provider with every unset key that has a default filled in
    /// (what `chorus config print` shows and the core is given).
    pub fn with_defaults(&self) -> Self {
        let mut p = self.clone();
        p.connect_timeout_ms.get_or_insert(CONNECT_TIMEOUT_MS);
        p.read_timeout_ms.get_or_insert(READ_TIMEOUT_MS);
        p.max_retries.get_or_insert(MAX_RETRIES);
        if p.kind == ProviderKind::Echo {
            p.tokens_per_s.get_or_insert(ECHO_TOKENS_PER_S);
        }
        p
    }
}

impl From<ProviderKind> for llm::ProviderKind {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Echo => llm::ProviderKind::Echo,
            ProviderKind::Openai => llm::ProviderKind::Openai,
            ProviderKind::Anthropic => llm::ProviderKind::Anthropic,
            ProviderKind::Ollama => llm::ProviderKind::Ollama,
        }
    }
}

/// How `chat.default_provider` got its value, for the start-up log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefaultChoice {
    /// The configuration names it.
    #[default]
    Configured,
    /// Unset, and it is the only provider that is not `echo`.
    OnlyRealProvider,
    /// Unset, and no provider but `echo` is configured.
    EchoOnly,
}

impl Config {
    /// Fills in an unset `chat.default_provider`: the one provider that is
    /// not `echo` when there is exactly one, `echo` when there is none.
    /// With several, the operator must choose.
    pub(super) fn resolve_default_provider(&mut self) -> Result<(), ConfigError> {
        if !self.chat.default_provider.is_empty() {
            self.chat.default_choice = DefaultChoice::Configured;
            return Ok(());
        }
        let real: Vec<&String> = self
            .providers
            .iter()
            .filter(|(_, p)| p.kind != ProviderKind::Echo)
            .map(|(name, _)| name)
            .collect();
        let (name, choice) = match real.as_slice() {
            [] => ("echo".to_string(), DefaultChoice::EchoOnly),
            [only] => ((*only).clone(), DefaultChoice::OnlyRealProvider),
            several => {
                let names: Vec<&str> = several.iter().map(|n| n.as_str()).collect();
                return Err(ConfigError::new(
                    "chat.default_provider",
                    format!(
                        "several providers are configured ({}): name the one requests use \
                         when they name none (CHORUS__CHAT__DEFAULT_PROVIDER)",
                        names.join(", ")
                    ),
                ));
            }
        };
        self.chat.default_provider = name;
        self.chat.default_choice = choice;
        Ok(())
    }

    /// Every provider has a model to send and a URL that can be called;
    /// a fallback names another provider.
    pub(super) fn validate_providers(&self) -> Result<(), ConfigError> {
        if !self.providers.contains_key(&self.chat.default_provider) {
            return Err(ConfigError::new(
                "chat.default_provider",
                format!("no provider named {:?}", self.chat.default_provider),
            ));
        }
        for (name, provider) in &self.providers {
            if let Some(fallback) = &provider.fallback
                && (!self.providers.contains_key(fallback) || fallback == name)
            {
                return Err(ConfigError::new(
                    format!("providers.{name}.fallback"),
                    format!("names no other provider: {fallback:?}"),
                ));
            }
            if let Err(e) = llm::chat_url(provider.kind.into(), provider.base_url.as_deref()) {
                return Err(ConfigError::new(
                    format!("providers.{name}.base_url"),
                    e.to_string(),
                ));
            }
            // What a request that names no model sends (ProviderSpec::default_model).
            let default_model = provider
                .default_model
                .as_ref()
                .or(provider.models.first())
                .map_or("", String::as_str);
            if provider.kind != ProviderKind::Echo && default_model.is_empty() {
                return Err(ConfigError::new(
                    format!("providers.{name}.default_model"),
                    format!(
                        "no model to send: set default_model or list models \
                         (CHORUS__PROVIDERS__{}__DEFAULT_MODEL)",
                        name.to_uppercase()
                    ),
                ));
            }
        }
        Ok(())
    }
}
