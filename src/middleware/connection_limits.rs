//! What a connection may hold the server to: a request body that stops
//! arriving is cut off (408), and a connection taken past the connection
//! cap serves health checks only (see `server::PROBE_SLOTS`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tower_http::timeout::{TimeoutBody, TimeoutError};

use crate::error::{ApiError, ErrorKind};
use crate::server::Connection;

/// Fails the body read when no data arrives for `timeout` (tower-http's
/// `TimeoutBody`: the timer restarts with each chunk, like nginx's
/// `client_body_timeout`). The flag it gives back is set when that
/// happened: [`answer_timed_out`] then answers 408, whatever the handler
/// made of the failed read. A request without a body (most GETs) has
/// nothing to time.
pub(super) fn time_body(timeout: Duration, req: Request) -> (Request, Option<Arc<AtomicBool>>) {
    if req.body().is_end_stream() {
        return (req, None);
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let (parts, body) = req.into_parts();
    let body = TimeoutBody::new(timeout, body).map_err(move |e| {
        if e.is::<TimeoutError>() {
            flag.store(true, Ordering::Relaxed);
        }
        e
    });
    (Request::from_parts(parts, Body::new(body)), Some(timed_out))
}

/// `response`, or 408 with the connection closed when the request's body
/// timed out (the flag of [`time_body`]).
pub(super) fn answer_timed_out(response: Response, timed_out: Option<&AtomicBool>) -> Response {
    if !timed_out.is_some_and(|t| t.load(Ordering::Relaxed)) {
        return response;
    }
    let mut response = ApiError::new(
        ErrorKind::BadRequest,
        "the request body stopped arriving; send it without pauses",
    )
    .into_response();
    // The envelope keeps a 408 as it is.
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// On a probe-only connection, anything but `/live` and `/ready` is 503.
pub(super) fn refuse_probe_only(req: &Request) -> Option<Response> {
    let probe = req
        .extensions()
        .get::<Connection>()
        .is_some_and(Connection::is_probe_only);
    if !probe || matches!(req.uri().path(), "/live" | "/ready") {
        return None;
    }
    Some(
        ApiError::new(
            ErrorKind::ServiceUnavailable,
            "the server is at its connection limit; retry shortly",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        .into_response(),
    )
}
