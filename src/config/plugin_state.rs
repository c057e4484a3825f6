//! `[plugin_state]`: the sweeper of expired plugin states.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginStateConfig {
    /// How often expired plugin states of every user are deleted. They are
    /// invisible from their expiry on; the sweep frees their space.
    pub sweep_every_ms: u64,
}

impl Default for PluginStateConfig {
    /// The default of `config/default.toml`.
    fn default() -> Self {
        Self {
            sweep_every_ms: 60_000,
        }
    }
}
