//! The edge's one layer, around every route: the request id and the
//! envelope, the request span, the security headers, the request metrics,
//! the probe-only refusal and the body timeout. One hand-written tower
//! layer instead of a stack of them: each layer of its own cost a boxed
//! service clone, a future and a response wrapper per request. (axum's
//! `from_fn` costs two of those itself: it clones and boxes the inner
//! service per request, and takes the request apart and together again to
//! extract its state.) Everything up to the inner service's call happens
//! in `call`; one boxed future then awaits the answer and shapes it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use super::envelope::Begun;
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

/// `Strict-Transport-Security`, behind a TLS-terminating proxy.
const HSTS: (HeaderName, HeaderValue) = (
    HeaderName::from_static("strict-transport-security"),
    HeaderValue::from_static("max-age=63072000; includeSubDomains"),
);

/// The edge as a tower layer.
#[derive(Clone)]
pub struct EdgeLayer(pub Arc<Edge>);

impl<S> Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> EdgeService<S> {
        EdgeService {
            edge: self.0.clone(),
            inner,
        }
    }
}

/// The edge around the service `S` of one route.
#[derive(Clone)]
pub struct EdgeService<S> {
    edge: Arc<Edge>,
    inner: S,
}

/// What `call` leaves the response future to do.
enum Served<F> {
    /// Answered at the edge (a probe-only connection).
    Refused(Response),
    /// The inner service's answer, and the body timeout's flag.
    Inner(F, Option<Arc<AtomicBool>>),
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let arrived = Instant::now();
        let begun = envelope::begin(&mut req, arrived, self.edge.server_timing);
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let span = super::request_span(&req);
        let served = match connection_limits::refuse_probe_only(&req) {
            Some(refused) => Served::Refused(refused),
            None => {
                let (req, timed_out) = connection_limits::time_body(self.edge.body_timeout, req);
                // `poll_ready` made `inner` ready for this call. Outside the
                // span: entering it costs, and the layers and handlers below
                // do their work when polled, inside it.
                Served::Inner(self.inner.call(req), timed_out)
            }
        };
        let edge = self.edge.clone();
        let answer = Answer {
            arrived,
            begun,
            route,
            method,
        };
        Box::pin(async move {
            let served = async move {
                match served {
                    Served::Refused(refused) => refused,
                    Served::Inner(future, timed_out) => {
                        let response = match future.await {
                            Ok(response) => response.into_response(),
                            Err(never) => match never {},
                        };
                        connection_limits::answer_timed_out(response, timed_out.as_deref())
                    }
                }
            }
            .instrument(span);
            tokio::pin!(served);
            let response = served.as_mut().await;
            Ok(answer.finish(&edge, served.span(), response).await)
        })
    }
}

/// What the edge knows of a request once the inner service has it.
struct Answer {
    arrived: Instant,
    begun: Begun,
    route: Option<MatchedPath>,
    method: Method,
}

impl Answer {
    /// Counts the answer and gives it its envelope and headers.
    async fn finish(self, edge: &Edge, span: &tracing::Span, served: Response) -> Response {
        let status = served.status();
        let took = self.arrived.elapsed();
        crate::telemetry::record_status(span, status, took);
        let route = self.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        edge.metrics
            .record(route, &self.method, status.as_u16(), took);

        let mut response = envelope::finish(served, &self.begun).await;
        let headers = response.headers_mut();
        for (name, value) in SECURITY_HEADERS {
            headers.insert(name, value);
        }
        if edge.hsts {
            let (name, value) = HSTS;
            headers.insert(name, value);
        }
        response
    }
}
