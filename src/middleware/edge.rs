//! The edge's one layer, around every route: the request id and the
//! envelope, the request span, the security headers, the request metrics,
//! the probe-only refusal and the body timeout. One `from_fn` instead of a
//! stack of them: each layer of its own cost a boxed service clone, a
//! future and a response wrapper per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::http_metrics::RequestMetrics;
use super::{connection_limits, envelope};

/// What the edge layer holds.
pub struct Edge {
    /// Longest pause while a request body is read.
    pub body_timeout: Duration,
    /// Answers counted per route, method and status.
    pub metrics: RequestMetrics,
    /// `Strict-Transport-Security` (behind a TLS-terminating proxy).
    pub hsts: bool,
    /// `Server-Timing` on the answers a handler marked (`server_timing.rs`).
    pub server_timing: bool,
}

/// Made at compile time: a name given as `&str` is checked on every use.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 3] = [
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ),
];

pub async fn edge(State(edge): State<Arc<Edge>>, mut req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let begun = envelope::begin(&mut req, arrived, edge.server_timing);
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let span = super::request_span(&req);
    let served = async {
        match connection_limits::refuse_probe_only(&req) {
            Some(refused) => refused,
            None => connection_limits::with_body_timeout(edge.body_timeout, req, next).await,
        }
    }
    .instrument(span.clone())
    .await;
    let status = served.status();
    let took = arrived.elapsed();
    crate::telemetry::record_status(&span, status, took);
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    edge.metrics.record(route, &method, status.as_u16(), took);

    let mut response = envelope::finish(served, &begun).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value);
    }
    if edge.hsts {
        headers.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}
