//! Logs (tracing), traces (OpenTelemetry, [`otel`]) and metrics
//! (Prometheus) set-up.

mod fields;
mod otel;

use std::io::IsTerminal;
use std::sync::OnceLock;

use chorus_actors::trace_context::TARGET;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use otel::{TraceExport, join_incoming_trace, record_status};

use crate::config::{LogConfig, LogFormat, TelemetryConfig};

/// Why logging or trace export could not start: the key at fault and what
/// is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TracingError {
    /// The configuration key (`log.level`, `telemetry.otlp_endpoint`).
    pub key: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Installs the global subscriber: the log output and, when
/// `telemetry.otlp_endpoint` is set, the OpenTelemetry layer. Call once,
/// from `main`; the [`TraceExport`] it returns flushes the spans at exit.
pub fn init_tracing(
    config: &LogConfig,
    telemetry: &TelemetryConfig,
) -> Result<TraceExport, TracingError> {
    let invalid = |e: &dyn std::fmt::Display| TracingError {
        key: "log.level",
        message: e.to_string(),
    };
    // The trace-only spans of the core never reach the log: they would
    // cost a span per actor call and store commit with traces off.
    let off = format!("{TARGET}=off").parse().map_err(|e| invalid(&e))?;
    let env_filter = || {
        EnvFilter::try_new(&config.level)
            .map(|filter| filter.add_directive(off))
            .map_err(|e| invalid(&e))
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::stdout().is_terminal());
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match config.format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.fmt_fields(fields::PlainFields).boxed(),
    };
    let (export, layer) = otel::start(telemetry)?;
    let registry = tracing_subscriber::registry();
    let installed = match layer {
        // The OpenTelemetry layer takes spans the log leaves out (the
        // core's trace-only ones): the filter is the log layer's own.
        Some(layer) => registry
            .with(fmt.with_filter(env_filter()?))
            .with(layer)
            .try_init(),
        // Traces off: the log's filter is the subscriber's, so a span it
        // turns away is never made, and a span entered or left is not
        // looked up again for a per-layer filter. A level of targets and
        // levels only (the usual kind) is a `Targets`, which keeps no state
        // per span; `EnvFilter` (span and field directives) takes a lock
        // that every worker thread shares on each span's enter and exit.
        None => match plain_targets(&config.level) {
            Some(targets) => registry
                .with(fmt)
                .with(targets.with_target(TARGET, LevelFilter::OFF))
                .try_init(),
            None => registry.with(fmt).with(env_filter()?).try_init(),
        },
    };
    installed.map_err(|e| invalid(&e))?;
    Ok(export)
}

/// `level` as a `Targets`, where that means what `EnvFilter` makes of it:
/// `target=level` and bare levels only. `Targets` also takes span and field
/// directives (as odd target names) and empty pieces (as "error"), which
/// `EnvFilter` reads otherwise; those stay with `EnvFilter`.
fn plain_targets(level: &str) -> Option<Targets> {
    let plain = level.split(',').all(|piece| {
        !piece.is_empty()
            && !piece
                .chars()
                .any(|c| matches!(c, '[' | ']' | '{' | '}') || c.is_whitespace())
    });
    if !plain {
        return None;
    }
    level.parse().ok()
}

/// Whether `level` is a usable log filter (checked with the configuration).
pub fn valid_log_filter(level: &str) -> bool {
    EnvFilter::try_new(level).is_ok()
}

/// The process-wide Prometheus recorder. The `metrics` facade allows one
/// recorder per process, so every server started in this process (tests
/// start many) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0,
                    ],
                )
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours
            // renders nothing, which the metrics test would catch.
            let _ = metrics::set_global_recorder(recorder);
            keep_up(handle.clone());
            handle
        })
        .clone()
}

/// Drains the histograms' raw samples into their buckets every few
/// seconds. `build_recorder` spawns no upkeep task of its own: without
/// one, every observed duration would be kept until the next scrape, so
/// a server nobody scrapes would grow by each request it answers.
fn keep_up(handle: PrometheusHandle) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep; histograms drain at each scrape only");
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::plain_targets;

    #[test]
    fn only_targets_and_levels_skip_env_filter() {
        let targets = plain_targets("warn,chorus=info").unwrap();
        assert!(targets.would_enable("chorus::routes", &Level::INFO));
        assert!(!targets.would_enable("chorus::routes", &Level::DEBUG));
        assert!(targets.would_enable("hyper", &Level::WARN));
        assert!(!targets.would_enable("hyper", &Level::INFO));
        assert!(
            plain_targets("INFO")
                .unwrap()
                .would_enable("x", &Level::INFO)
        );
        assert!(plain_targets("chorus=debug").is_some());
        for level in [
            "",
            "info,",
            "warn,,chorus=info",
            "[request]=debug",
            "chorus[request]=debug",
            "chorus[{user_id}]=debug",
            "info, chorus=debug",
        ] {
            assert!(plain_targets(level).is_none(), "{level:?} is for EnvFilter");
        }
    }
}
