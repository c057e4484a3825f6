//! `[providers.<name>.prices."<model>"]`: what a model costs, in US dollars
//! per million tokens, so usage reports a real `cost_usd`.

use chorus_actors::usage::{ModelPrice, Prices};
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// One model's prices, as the configuration spells them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPriceConfig {
    /// Dollars per million prompt (input) tokens.
    pub input: f64,
    /// Dollars per million completion (output) tokens.
    pub output: f64,
}

impl Config {
    /// Every price is a number of 0 or more, for a model the provider
    /// labels: one of its `models`, or `other` when it lists none (usage
    /// labels every model of such a provider `other`).
    pub(super) fn validate_prices(&self) -> Result<(), ConfigError> {
        for (name, provider) in &self.providers {
            for (model, price) in &provider.prices {
                let key = format!("providers.{name}.prices.{model:?}");
                let labelled = if provider.models.is_empty() {
                    model == "other"
                } else {
                    provider.models.contains(model)
                };
                if !labelled {
                    return Err(ConfigError::new(
                        key,
                        "not a model of this provider: price one of its models \
                         (or \"other\" when it lists none)",
                    ));
                }
                for (side, value) in [("input", price.input), ("output", price.output)] {
                    if !(value.is_finite() && value >= 0.0) {
                        return Err(ConfigError::new(
                            format!("{key}.{side}"),
                            format!(
                                "must be a price of 0 or more (dollars per million tokens), not {value}"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The price table the core applies when it records usage.
    pub fn prices(&self) -> Prices {
        let mut prices = Prices::default();
        for (name, provider) in &self.providers {
            for (model, p) in &provider.prices {
                let price = ModelPrice {
                    input: p.input,
                    output: p.output,
                };
                prices.insert(name, model, price);
            }
        }
        prices
    }
}
