//! The guard of each API route group, as a tower layer: a signed-in caller
//! and their rate class, or a rate class per client IP.
//!
//! A hand-written service rather than `from_fn`, which clones and boxes the
//! routes below it and takes the request apart for its state on every
//! request (docs/design/perf.md, sixth session). `call` decides everything
//! it can at once and calls the route that `poll_ready` made ready; only a
//! request the audit log keeps waits in an `async` block of its own.

use std::convert::Infallible;
use std::future::{Future, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt};

use super::{audited, authenticate, check_ip, check_origin, credential, ip_key, unauthenticated};
use crate::error::{ApiError, ErrorKind};
use crate::rate_limit::{RateClass, RateInfo, RateKey};
use crate::state::AppState;

/// Who a route group answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Signed-in callers only (401 otherwise), rate-limited per user.
    SignedIn,
    /// Anyone, rate-limited per client IP.
    Anyone,
}

/// The guard of one route group.
#[derive(Clone)]
pub struct GuardLayer {
    state: AppState,
    class: RateClass,
    callers: Callers,
}

impl GuardLayer {
    pub fn new(state: &AppState, class: RateClass, callers: Callers) -> Self {
        Self {
            state: state.clone(),
            class,
            callers,
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            layer: self.clone(),
            inner,
        }
    }
}

/// [`GuardLayer`] around the service `S` of one route.
#[derive(Clone)]
pub struct Guard<S> {
    layer: GuardLayer,
    inner: S,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        let GuardLayer {
            state,
            class,
            callers,
        } = &self.layer;
        let (mut parts, body) = req.into_parts();
        if *callers == Callers::Anyone {
            return match check_ip(state, *class, &parts) {
                Ok(info) => with_headers(self.inner.call(Request::from_parts(parts, body)), info),
                Err(limited) => answered(limited.into_response()),
            };
        }
        let current = match credential(&parts, state.config.server.secure_cookies) {
            Some(c) if c.from_cookie => {
                check_origin(state, &parts).and_then(|()| authenticate(state, &c.token))
            }
            Some(c) => authenticate(state, &c.token),
            None => Err(unauthenticated("missing", "authentication required").into()),
        };
        let key = match &current {
            Ok(c) => RateKey::User(c.user.id),
            Err(_) => ip_key(&parts),
        };
        let info = match state.rate_limits.check(*class, key) {
            Ok(info) => info,
            Err(limited) => return answered(limited.into_response()),
        };
        let current = match current {
            Ok(current) => current,
            Err(e) => {
                let mut response = e.into_response();
                info.write_headers(response.headers_mut());
                return answered(response);
            }
        };
        // As a plain string: the text log copies it in without formatting.
        let mut id = uuid::Uuid::encode_buffer();
        let id = current.user.id.hyphenated().encode_lower(&mut id);
        tracing::Span::current().record("user_id", &*id);
        if current.impersonator.is_some() || audited::is_admin_route(&parts) {
            // The route that `poll_ready` made ready goes with the request.
            let ready = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, ready);
            let state = state.clone();
            return Box::pin(async move {
                let mut response = audited_answer(state, parts, body, current, inner).await;
                info.write_headers(response.headers_mut());
                Ok(response)
            });
        }
        parts.extensions.insert(current);
        with_headers(self.inner.call(Request::from_parts(parts, body)), info)
    }
}

/// A request the audit log keeps: read its facts, refuse what an
/// impersonation token may not do, answer it, and record it.
async fn audited_answer<S>(
    state: AppState,
    mut parts: Parts,
    body: axum::body::Body,
    current: super::CurrentUser,
    inner: S,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let facts = audited::RequestFacts::of(&mut parts).await;
    let response = if current.impersonator.is_some() && facts.refused_under_impersonation() {
        ApiError::new(
            ErrorKind::Authorization,
            "an impersonation token cannot make credentials",
        )
        .into_response()
    } else {
        parts.extensions.insert(current.clone());
        match inner.oneshot(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    };
    audited::record(&state, &facts, &current, response.status()).await;
    response
}

fn answered(response: Response) -> Answer {
    Box::pin(ready(Ok(response)))
}

/// The route's answer, with the rate class's headers.
fn with_headers<F>(answer: F, info: RateInfo) -> Answer
where
    F: Future<Output = Result<Response, Infallible>> + Send + 'static,
{
    Box::pin(async move {
        let mut response = answer.await?;
        info.write_headers(response.headers_mut());
        Ok(response)
    })
}
