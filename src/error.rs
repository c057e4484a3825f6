//! `ApiError`: the one error type of the edge, and the envelope of API.md 0.1.
//!
//! A handler returns `ApiError`; its `IntoResponse` sets the status and
//! headers and stores the error in the response's extensions. The envelope
//! middleware (`middleware::envelope`) renders the body, because only it
//! knows the request id and whether the caller asked for the v2 shape.

use std::borrow::Cow;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chorus_actors::CoreError;
use serde_json::{Value, json};

pub use chorus_actors::ErrorKind;

/// The HTTP status of an error kind (the core gives it as a number).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error answer: code, client-safe message, optional details and headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorKind,
    pub message: Cow<'static, str>,
    pub details: Option<Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    /// The error with its code's generic message.
    pub fn from_code(code: ErrorKind) -> Self {
        Self::new(code, code.default_message())
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 422 with `details.field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(ErrorKind::Validation, message.into()).with_details(json!({ "field": field }))
    }

    /// 404 for a resource that does not exist or is not the caller's.
    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        Self::new(ErrorKind::NotFound, format!("{resource} not found"))
            .with_details(json!({ "resource": resource, "id": id.to_string() }))
    }

    /// 500 whose cause is logged here, once, inside the request's span.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::from_code(ErrorKind::Internal)
    }
}

impl ApiError {
    /// A provider failure (its kind says 503, 504 or 502), with the
    /// upstream status in `details`.
    pub fn from_llm(e: &chorus_actors::llm::LlmError) -> Self {
        ApiError::new(e.kind(), e.to_string())
            .with_details(serde_json::json!({ "upstream_status": e.upstream_status() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = status_of(self.code).into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The `details` of an error that names more than a field: the rule that
/// failed and its bound, a size limit, or each failed item of a bulk request.
pub fn error_details(e: &CoreError) -> Value {
    match e {
        CoreError::Rule {
            field, rule, limit, ..
        } => {
            let mut d = json!({ "field": field, "rule": rule });
            if let Some(limit) = limit {
                d["limit"] = limit.clone();
            }
            d
        }
        CoreError::TooLarge { field, limit } => json!({ "field": field, "limit": limit }),
        CoreError::Items { failures } => {
            let errors: Vec<Value> = failures
                .iter()
                .map(|(index, e)| {
                    let mut item = json!({
                        "index": index,
                        "code": e.kind().code(),
                        "message": e.public_message(),
                    });
                    let details = match e {
                        CoreError::Validation { field, .. } => json!({ "field": field }),
                        CoreError::NotFound { .. }
                        | CoreError::Conflict(_)
                        | CoreError::Store(_)
                        | CoreError::Internal(_) => Value::Null,
                        other => error_details(other),
                    };
                    if !details.is_null() {
                        item["details"] = details;
                    }
                    item
                })
                .collect();
            json!({ "field": "items", "errors": errors })
        }
        CoreError::Validation { field, .. } => json!({ "field": field }),
        _ => Value::Null,
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { resource, id } => ApiError::not_found(resource, id),
            CoreError::Conflict(message) => ApiError::new(ErrorKind::Conflict, message),
            CoreError::Validation { field, message } => ApiError::validation(field, message),
            CoreError::Rule { .. } | CoreError::TooLarge { .. } | CoreError::Items { .. } => {
                let details = error_details(&e);
                ApiError::new(e.kind(), e.to_string()).with_details(details)
            }
            CoreError::Unauthenticated { reason, message } => {
                ApiError::new(ErrorKind::Authentication, message).with_header(
                    HeaderName::from_static("x-auth-reason"),
                    HeaderValue::from_static(reason),
                )
            }
            CoreError::Forbidden(message) => ApiError::new(ErrorKind::Authorization, message),
            CoreError::Busy(message) => ApiError::new(ErrorKind::ConversationBusy, message)
                .with_header(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static("1"),
                ),
            CoreError::QuotaExceeded => ApiError::from_code(ErrorKind::QuotaExceeded),
            CoreError::LimitReached { resource, limit } => {
                ApiError::new(ErrorKind::QuotaExceeded, e.to_string())
                    .with_details(json!({ "resource": resource, "limit": limit }))
            }
            CoreError::RateLimited {
                retry_after_s,
                message,
            } => ApiError::new(ErrorKind::RateLimitExceeded, message)
                .with_details(json!({ "retry_after": retry_after_s }))
                .with_header(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from(retry_after_s),
                ),
            CoreError::Llm(e) => ApiError::from_llm(&e),
            CoreError::Unavailable(what) | CoreError::Timeout(what) => {
                tracing::warn!(%what, "core unavailable");
                ApiError::from_code(ErrorKind::ServiceUnavailable)
            }
            CoreError::Store(_) | CoreError::Internal(_) => ApiError::internal(e),
            CoreError::UnsupportedType(message) => {
                ApiError::new(ErrorKind::UnsupportedMediaType, message)
            }
        }
    }
}

impl From<chorus_actors::inbound::InboundError> for ApiError {
    /// A refused signature or a body that is not JSON is 400, saying which
    /// check failed (never the expected signature); the rest as any core error.
    fn from(e: chorus_actors::inbound::InboundError) -> Self {
        use chorus_actors::inbound::InboundError;
        match e {
            InboundError::Core(e) => e.into(),
            other => ApiError::new(other.kind(), other.to_string()),
        }
    }
}
