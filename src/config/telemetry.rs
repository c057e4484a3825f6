//! `[telemetry]`: OpenTelemetry trace export over OTLP/HTTP, off by default.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP receiver (a collector, Jaeger, Tempo), e.g.
    /// `http://127.0.0.1:4318`; spans are POSTed to `<it>/v1/traces`
    /// (a URL already ending in `/v1/traces` is used as it is). Empty: no
    /// traces are exported and tracing costs nothing extra.
    pub otlp_endpoint: String,
    /// The `service.name` resource attribute the spans are filed under.
    pub service_name: String,
    /// The share of new traces kept, 0.0 to 1.0. A request that arrives
    /// with a `traceparent` follows its caller's sampling decision.
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    /// The default of `config/default.toml`.
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "chorus".into(),
            sample_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    /// Whether traces are exported.
    pub fn enabled(&self) -> bool {
        !self.otlp_endpoint.is_empty()
    }

    /// The URL spans are POSTed to; `None` while export is off.
    pub fn traces_url(&self) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let base = self.otlp_endpoint.trim_end_matches('/');
        Some(if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        })
    }

    /// The rules serde cannot express, as `(key, message)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.enabled() {
            match reqwest::Url::parse(&self.otlp_endpoint) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => {
                    return Err((
                        "telemetry.otlp_endpoint",
                        format!("not an http(s) URL: {:?}", self.otlp_endpoint),
                    ));
                }
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(("telemetry.service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err((
                "telemetry.sample_ratio",
                "must be between 0.0 and 1.0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_endpoint(endpoint: &str) -> TelemetryConfig {
        TelemetryConfig {
            otlp_endpoint: endpoint.into(),
            ..TelemetryConfig::default()
        }
    }

    #[test]
    fn spans_go_to_the_collectors_traces_path() {
        assert_eq!(
            with_endpoint("http://127.0.0.1:4318")
                .traces_url()
                .as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            with_endpoint("http://otel:4318/v1/traces/")
                .traces_url()
                .as_deref(),
            Some("http://otel:4318/v1/traces")
        );
        assert_eq!(TelemetryConfig::default().traces_url(), None);
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_is_refused() {
        assert!(with_endpoint("127.0.0.1:4318").validate().is_err());
        assert!(with_endpoint("grpc://otel:4317").validate().is_err());
        assert!(with_endpoint("https://otel.example.com").validate().is_ok());
        let bad_ratio = TelemetryConfig {
            sample_ratio: 1.5,
            ..TelemetryConfig::default()
        };
        assert_eq!(
            bad_ratio.validate().map_err(|(key, _)| key),
            Err("telemetry.sample_ratio")
        );
    }
}
