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

/// The `error.code` values of API.md 0.1, each with its one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: malformed JSON, bad query string.
    BadRequest,
    /// 401: missing, expired, revoked or invalid credentials.
    Authentication,
    /// 403: authenticated but the role is not allowed.
    Authorization,
    /// 404: unknown resource or path, or another user's resource.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409: duplicate, or an invalid state transition.
    Conflict,
    /// 413: body or upload over the limit.
    PayloadTooLarge,
    /// 415: wrong content type or file type.
    UnsupportedMediaType,
    /// 422: a field failed validation; `details.field` names it.
    Validation,
    /// 429: rate limit.
    RateLimitExceeded,
    /// 429: a generation is already running in the conversation.
    ConversationBusy,
    /// 429: monthly token allowance used up, or a per-user count reached.
    QuotaExceeded,
    /// 500: a bug; the message never carries internals.
    Internal,
    /// 502: the model provider or another upstream failed.
    ExternalService,
    /// 503: not ready, shutting down, provider not configured.
    ServiceUnavailable,
    /// 504: the upstream timed out.
    GatewayTimeout,
}

impl ErrorCode {
    /// Every code, for the OpenAPI document's envelope schema.
    pub const ALL: [ErrorCode; 16] = {
        use ErrorCode::*;
        [
            BadRequest,
            Authentication,
            Authorization,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Validation,
            RateLimitExceeded,
            ConversationBusy,
            QuotaExceeded,
            Internal,
            ExternalService,
            ServiceUnavailable,
            GatewayTimeout,
        ]
    };

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            BadRequest => StatusCode::BAD_REQUEST,
            Authentication => StatusCode::UNAUTHORIZED,
            Authorization => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Validation => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimitExceeded | ConversationBusy | QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ExternalService => StatusCode::BAD_GATEWAY,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "BAD_REQUEST",
            Authentication => "AUTHENTICATION_ERROR",
            Authorization => "AUTHORIZATION_ERROR",
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Conflict => "CONFLICT",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Validation => "VALIDATION_ERROR",
            RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ConversationBusy => "CONVERSATION_BUSY",
            QuotaExceeded => "QUOTA_EXCEEDED",
            Internal => "INTERNAL_ERROR",
            ExternalService => "EXTERNAL_SERVICE_ERROR",
            ServiceUnavailable => "SERVICE_UNAVAILABLE",
            GatewayTimeout => "GATEWAY_TIMEOUT",
        }
    }

    /// The code for an error response that some layer produced without an
    /// `ApiError` (a framework rejection, a tower layer).
    pub fn from_status(status: StatusCode) -> Self {
        use ErrorCode::*;
        match status.as_u16() {
            401 => Authentication,
            403 => Authorization,
            404 => NotFound,
            405 => MethodNotAllowed,
            409 => Conflict,
            413 => PayloadTooLarge,
            415 => UnsupportedMediaType,
            422 => Validation,
            429 => RateLimitExceeded,
            502 => ExternalService,
            503 => ServiceUnavailable,
            504 => GatewayTimeout,
            400..=499 => BadRequest,
            _ => Internal,
        }
    }

    /// The message used when nothing more specific is known.
    fn default_message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad request",
            Authentication => "authentication required",
            Authorization => "not allowed",
            NotFound => "not found",
            MethodNotAllowed => "method not allowed",
            Conflict => "conflict",
            PayloadTooLarge => "payload too large",
            UnsupportedMediaType => "unsupported media type",
            Validation => "validation failed",
            RateLimitExceeded => "rate limit exceeded",
            ConversationBusy => "a generation is already running in this conversation",
            QuotaExceeded => "monthly token allowance used up",
            Internal => "internal error",
            ExternalService => "upstream service failed",
            ServiceUnavailable => "service unavailable",
            GatewayTimeout => "upstream timed out",
        }
    }
}

/// An error answer: code, client-safe message, optional details and headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub details: Option<Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    /// The error with its code's generic message.
    pub fn from_code(code: ErrorCode) -> Self {
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
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 422 with `details.field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(ErrorCode::Validation, message.into()).with_details(json!({ "field": field }))
    }

    /// 404 for a resource that does not exist or is not the caller's.
    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        Self::new(ErrorCode::NotFound, format!("{resource} not found"))
            .with_details(json!({ "resource": resource, "id": id.to_string() }))
    }

    /// 500 whose cause is logged here, once, inside the request's span.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::from_code(ErrorCode::Internal)
    }
}

impl ApiError {
    /// A provider failure: 503 when none is configured, 504 on a timeout,
    /// 502 otherwise, with the upstream status in `details`.
    pub fn from_llm(e: &chorus_actors::llm::LlmError) -> Self {
        use chorus_actors::llm::LlmError;
        let code = match e {
            LlmError::UnknownProvider(_) => ErrorCode::ServiceUnavailable,
            LlmError::Timeout => ErrorCode::GatewayTimeout,
            _ => ErrorCode::ExternalService,
        };
        ApiError::new(code, e.to_string())
            .with_details(serde_json::json!({ "upstream_status": e.upstream_status() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.status().into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { resource, id } => ApiError::not_found(resource, id),
            CoreError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            CoreError::Validation { field, message } => ApiError::validation(field, message),
            CoreError::Unauthenticated { reason, message } => {
                ApiError::new(ErrorCode::Authentication, message).with_header(
                    HeaderName::from_static("x-auth-reason"),
                    HeaderValue::from_static(reason),
                )
            }
            CoreError::Forbidden(message) => ApiError::new(ErrorCode::Authorization, message),
            CoreError::Busy(message) => ApiError::new(ErrorCode::ConversationBusy, message)
                .with_header(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static("1"),
                ),
            CoreError::QuotaExceeded => ApiError::from_code(ErrorCode::QuotaExceeded),
            CoreError::LimitReached { resource, limit } => {
                ApiError::new(ErrorCode::QuotaExceeded, e.to_string())
                    .with_details(json!({ "resource": resource, "limit": limit }))
            }
            CoreError::RateLimited {
                retry_after_s,
                message,
            } => ApiError::new(ErrorCode::RateLimitExceeded, message)
                .with_details(json!({ "retry_after": retry_after_s }))
                .with_header(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from(retry_after_s),
                ),
            CoreError::Llm(e) => ApiError::from_llm(&e),
            CoreError::Unavailable(what) | CoreError::Timeout(what) => {
                tracing::warn!(%what, "core unavailable");
                ApiError::from_code(ErrorCode::ServiceUnavailable)
            }
            CoreError::Store(_) | CoreError::Internal(_) => ApiError::internal(e),
        }
    }
}
