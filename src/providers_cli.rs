//! `chorus providers check`: one tiny request to each configured provider,
//! one line each: `OK <model> <latency> ms` or the exact reason it failed.

use chorus_actors::llm::{CheckFailure, Checked, Llm, LlmError};

use crate::config::Config;

/// One provider's result.
pub struct CheckLine {
    /// The provider's configured name.
    pub provider: String,
    /// Whether it answered, and how fast or why not.
    pub outcome: Result<Checked, CheckFailure>,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(ok) => write!(
                f,
                "{}: OK {} {} ms",
                self.provider,
                ok.model,
                ok.latency.as_millis()
            ),
            Err(failure) => write!(f, "{}: FAILED {failure}", self.provider),
        }
    }
}

/// Checks every provider of `config` at once (no retries, no fallback),
/// in name order.
pub async fn check(config: &Config) -> Result<Vec<CheckLine>, LlmError> {
    let specs = config
        .providers
        .iter()
        .map(|(name, p)| crate::provider_spec(name, p))
        .collect();
    let llm = Llm::new(specs, &config.chat.default_provider)?;
    let names: Vec<String> = config.providers.keys().cloned().collect();
    let outcomes = futures::future::join_all(names.iter().map(|name| llm.check(name))).await;
    Ok(names
        .into_iter()
        .zip(outcomes)
        .map(|(provider, outcome)| CheckLine { provider, outcome })
        .collect())
}
