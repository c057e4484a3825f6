//! OpenTelemetry traces: the OTLP/HTTP exporter behind a batch span
//! processor, the `tracing` layer that turns spans into OTel spans, and the
//! request span's W3C trace context.
//!
//! Off (no `telemetry.otlp_endpoint`) there is no exporter and no layer;
//! the core's trace-only spans are disabled at their call sites and the
//! request span gets no parent lookup and no extra fields.

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use chorus_actors::trace_context::{self, TARGET};
use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use super::TracingError;
use crate::config::TelemetryConfig;

/// The tracer provider while spans are exported; flushes them at exit.
#[must_use = "call shutdown at exit, or the last spans are lost"]
pub struct TraceExport(Option<SdkTracerProvider>);

impl TraceExport {
    /// Nothing is exported (the commands that do not serve).
    pub fn none() -> Self {
        Self(None)
    }

    /// Sends the spans still queued and stops the exporter. Blocks: call
    /// it outside the runtime, once the server has stopped.
    pub fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5))
        {
            tracing::warn!(error = %e, "the last spans could not be exported");
        }
    }
}

/// A `tracing` layer for the subscriber `S`, boxed.
type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// Starts the exporter when `config` names an endpoint: the provider (to
/// flush at exit) and the layer to install; neither otherwise.
pub(super) fn start<S>(
    config: &TelemetryConfig,
) -> Result<(TraceExport, Option<BoxedLayer<S>>), TracingError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let Some(url) = config.traces_url() else {
        return Ok((TraceExport::none(), None));
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TracingError {
            key: "telemetry.otlp_endpoint",
            message: e.to_string(),
        })?;
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
    // The batch processor exports from its own thread, off the request path.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    trace_context::enable();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("chorus"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        // Spans only: log events stay in the log (they are not vetted to
        // carry no user content), and only the request span and the core's
        // trace spans are exported, not every library's.
        .with_filter(filter_fn(|meta| {
            meta.is_span()
                && (meta.target() == TARGET
                    || (meta.name() == "request" && meta.target().starts_with("chorus")))
        }));
    Ok((TraceExport(Some(provider)), Some(layer.boxed())))
}

/// Makes the request span the child of the caller's span when the request
/// carries a valid `traceparent` (a root span otherwise) and names it
/// `METHOD route`. Does nothing while traces are not exported.
pub fn join_incoming_trace(span: &tracing::Span, req: &Request, route: &str) {
    if !trace_context::is_enabled() || span.is_disabled() {
        return;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
    // Fails only if the span was already started, which it cannot be yet.
    let _ = span.set_parent(parent);
    span.record("otel.name", format!("{} {route}", req.method()));
    span.record("otel.kind", "server");
}

/// Logs the answer's status at debug level (a 5xx at error level), as
/// tower-http's trace layer did, and, while traces are exported, records
/// it on the request span (a 5xx marks the span failed).
pub fn record_status(span: &tracing::Span, status: StatusCode, latency: Duration) {
    let (status, latency_us) = (status.as_u16(), latency.as_micros() as u64);
    // On the span for the exported trace only: the log's events below
    // carry the status themselves, and recording into a span the log
    // layer formats costs it a re-format per request.
    let exported = trace_context::is_enabled();
    if exported {
        span.record("status", status);
    }
    if status >= 500 {
        if exported {
            span.record("otel.status_code", "error");
        }
        tracing::error!(parent: span, status, latency_us, "response failed");
    } else {
        // `parent:` rather than entering the span: nothing to do per
        // request while debug logs are off.
        tracing::debug!(parent: span, status, latency_us, "finished processing request");
    }
}
