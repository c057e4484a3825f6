//! What a call costs: the price table of `[providers.<name>.prices]`, in US
//! dollars per million tokens, input and output priced apart.

use std::collections::HashMap;

/// One model's prices, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelPrice {
    /// Per million prompt (input) tokens.
    pub input: f64,
    /// Per million completion (output) tokens.
    pub output: f64,
}

/// Prices by provider and model label. A model with no price costs 0.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    by_model: HashMap<(String, String), ModelPrice>,
}

impl Prices {
    /// Sets the price of `model` (its usage label) on `provider`.
    pub fn insert(&mut self, provider: &str, model: &str, price: ModelPrice) {
        self.by_model
            .insert((provider.to_string(), model.to_string()), price);
    }

    /// The price of `model` on `provider`, if one is configured.
    pub fn get(&self, provider: &str, model: &str) -> Option<ModelPrice> {
        self.by_model
            .get(&(provider.to_string(), model.to_string()))
            .copied()
    }

    /// The cost of one call in millionths of a dollar, rounded to the
    /// nearest: a dollar per million tokens is one millionth per token.
    pub fn cost_micro_usd(&self, provider: &str, model: &str, prompt: u64, completion: u64) -> u64 {
        let Some(p) = self.get(provider, model) else {
            return 0;
        };
        let micro = prompt as f64 * p.input + completion as f64 * p.output;
        if micro.is_finite() && micro > 0.0 {
            micro.round() as u64
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_costs_its_tokens_at_the_models_prices() {
        let mut prices = Prices::default();
        let mini = ModelPrice {
            input: 0.15,
            output: 0.60,
        };
        prices.insert("openai", "gpt-4o-mini", mini);
        // 1M in at $0.15 + 1M out at $0.60 = $0.75.
        assert_eq!(
            prices.cost_micro_usd("openai", "gpt-4o-mini", 1_000_000, 1_000_000),
            750_000
        );
        assert_eq!(prices.cost_micro_usd("openai", "gpt-4o-mini", 100, 10), 21);
        assert_eq!(prices.cost_micro_usd("openai", "gpt-4o", 100, 10), 0);
        assert_eq!(prices.cost_micro_usd("echo", "gpt-4o-mini", 100, 10), 0);
    }
}
