//! The tower layers, added in one place, outermost first: the edge layer
//! (`edge.rs`: request id and envelope, request span, security headers,
//! metrics, probe-only connections, body timeout) -> CORS -> body limit ->
//! panic catcher -> client address (behind trusted proxies only) -> handler.
//! (Rate limits and auth join per route in their own modules.)

mod connection_limits;
mod edge;
mod envelope;
mod http_metrics;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::field::Empty;

pub use envelope::{REQUEST_ID, RequestId};

use crate::auth::client_addr::{self, TrustedProxies};
use crate::config::Config;
use crate::error::ApiError;

/// Wraps `router` in every layer of the edge.
pub fn apply(router: Router, config: &Config) -> Router {
    // Validated at load; an unparseable list cannot get here. With no
    // trusted proxy the client is the TCP peer and this layer is left out.
    let proxies = TrustedProxies::parse(&config.server.trusted_proxies).unwrap_or_default();
    let router = if proxies.is_empty() {
        router
    } else {
        router.layer(axum::middleware::from_fn_with_state(
            proxies,
            client_addr::resolve,
        ))
    };
    let edge = Arc::new(edge::Edge {
        body_timeout: Duration::from_secs(config.server.body_timeout_s.max(1)),
        metrics: http_metrics::RequestMetrics::default(),
        hsts: config.server.tls_behind_proxy,
        server_timing: config.server.server_timing,
    });
    let layers = ServiceBuilder::new()
        .layer(edge::EdgeLayer(edge))
        .option_layer(cors(&config.server.cors_origins))
        .layer(DefaultBodyLimit::max(config.limits.json_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response));
    router.layer(layers)
}

pub(super) fn request_span(req: &Request) -> tracing::Span {
    let id = req.extensions().get::<RequestId>().map_or("", |r| &*r.0);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("unmatched");
    // `status` and the `otel.*` fields are recorded only while traces are
    // exported (`join_incoming_trace`, `record_status`): the log's events
    // carry the status themselves. Plain strings, which the text log writes
    // without `fmt` (`telemetry/fields.rs`).
    let span = tracing::info_span!(
        "request",
        request_id = id,
        method = req.method().as_str(),
        route,
        user_id = Empty,
        status = Empty,
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
    );
    crate::telemetry::join_incoming_trace(&span, req, route);
    span
}

/// CORS only for the listed origins; credentials are allowed for those only.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static(REQUEST_ID),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([HeaderName::from_static(REQUEST_ID)]),
    )
}

/// A panicking handler answers 500 in the envelope; the panic text goes to
/// the log only.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    ApiError::internal(format_args!("handler panicked: {text}")).into_response()
}
