//! Trace context for the core: the target its spans are made under, and the
//! W3C `traceparent` of the current span on the core's outgoing HTTP calls
//! (provider calls, webhook deliveries).
//!
//! The edge turns this on ([`enable`]) only when it exports traces. Off,
//! every span made under [`TARGET`] is disabled at its call site (the log
//! filter turns the target off) and [`inject`] is one atomic load: no
//! context is looked up, no header map is built.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::global;
use opentelemetry_http::HeaderInjector;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of the spans made for trace export (actor calls,
/// provider calls, store commits, webhook deliveries). The log output turns
/// it off, so these spans exist only while traces are exported.
pub const TARGET: &str = "chorus_otel";

/// Whether traces are exported (set once at start-up by the edge).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns on `traceparent` on outgoing calls; the edge calls it once it
/// has installed the tracer provider and the global propagator.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether traces are exported.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Adds the current span's `traceparent` (through the global propagator)
/// to `request`; unchanged while traces are not exported.
pub(crate) fn inject(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    if !is_enabled() {
        return request;
    }
    let cx = tracing::Span::current().context();
    let mut headers = reqwest::header::HeaderMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(&mut headers)));
    request.headers(headers)
}
