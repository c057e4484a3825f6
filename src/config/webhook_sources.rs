//! `[webhooks.sources.<name>]`: the senders of incoming webhooks (API.md 8).
//! Beside the outgoing `[webhooks]` keys; each source's secret comes from
//! the environment only (`CHORUS__WEBHOOKS__SOURCES__<NAME>__SECRET`).

use std::collections::BTreeMap;

use chorus_actors::inbound::{InboundSource, valid_source_name};
use figment::Figment;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// One sender of incoming webhooks, POSTing to `/api/v1/webhooks/<name>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSource {
    /// The signing secret; required, from the environment only.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Event types processed; empty: all. Others are stored as `ignored`.
    #[serde(default)]
    pub events: Vec<String>,
}

/// The environment variable of source `name`'s secret.
fn secret_var(name: &str) -> String {
    format!(
        "CHORUS__WEBHOOKS__SOURCES__{}__SECRET",
        name.to_uppercase().replace('-', "_")
    )
}

/// Every source has a usable name and a secret.
pub fn validate(sources: &BTreeMap<String, WebhookSource>) -> Result<(), ConfigError> {
    for (name, source) in sources {
        if !valid_source_name(name) {
            return Err(ConfigError::new(
                format!("webhooks.sources.{name}"),
                "a source name is 1-64 of a-z, 0-9, _ and -",
            ));
        }
        if source.secret.as_ref().is_none_or(|s| s.expose().is_empty()) {
            return Err(ConfigError::new(
                format!("webhooks.sources.{name}.secret"),
                format!("required for every source ({})", secret_var(name)),
            ));
        }
    }
    Ok(())
}

/// A source's secret written in a config file is refused.
pub fn reject_secrets_in_files(files: &Figment) -> Result<(), ConfigError> {
    let names: Vec<String> = files
        .find_value("webhooks.sources")
        .ok()
        .and_then(|v| v.into_dict())
        .map(|d| d.into_keys().collect())
        .unwrap_or_default();
    for name in names {
        if files.contains(&format!("webhooks.sources.{name}.secret")) {
            return Err(ConfigError::new(
                format!("webhooks.sources.{name}.secret"),
                format!(
                    "secrets come from the environment only ({})",
                    secret_var(&name)
                ),
            ));
        }
    }
    Ok(())
}

/// The sources as the core takes them (after [`validate`]).
pub fn core_sources(sources: &BTreeMap<String, WebhookSource>) -> Vec<InboundSource> {
    sources
        .iter()
        .filter_map(|(name, s)| {
            Some(InboundSource {
                name: name.clone(),
                secret: s.secret.clone()?,
                events: s.events.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(name: &str, secret: Option<&str>) -> BTreeMap<String, WebhookSource> {
        let source = WebhookSource {
            secret: secret.map(Secret::new),
            events: vec![],
        };
        BTreeMap::from([(name.to_string(), source)])
    }

    #[test]
    fn a_source_needs_a_secret_and_a_path_segment_name() {
        assert!(validate(&sources("stripe", Some("whsec_x"))).is_ok());
        for secret in [None, Some("")] {
            let err = validate(&sources("stripe", secret)).unwrap_err();
            assert_eq!(err.key, "webhooks.sources.stripe.secret");
            assert!(
                err.message
                    .contains("CHORUS__WEBHOOKS__SOURCES__STRIPE__SECRET")
            );
        }
        let err = validate(&sources("Bad Name", Some("k"))).unwrap_err();
        assert_eq!(err.key, "webhooks.sources.Bad Name");
    }

    #[test]
    fn a_source_reaches_the_core_with_its_secret_and_allow_list() {
        let mut all = sources("github", Some("k"));
        all.get_mut("github").unwrap().events = vec!["push".into()];
        let core = core_sources(&all);
        assert_eq!(core.len(), 1);
        assert_eq!(
            (core[0].name.as_str(), core[0].secret.expose()),
            ("github", "k")
        );
        assert_eq!(core[0].events, ["push"]);
    }
}
