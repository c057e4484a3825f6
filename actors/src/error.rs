//! The core's errors, and the one mapping from an error to its API.md code
//! and HTTP status ([`ErrorKind`]). Every answer that carries an error code
//! (HTTP envelope, SSE `error` event, WebSocket `error` message) takes it
//! from here; no other module spells a code.

use crate::store::StoreError;

/// What went wrong inside the core, in terms a caller can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    /// The resource does not exist (or belongs to someone else).
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for, e.g. `conversation` or `job`.
        resource: &'static str,
        /// The id asked for, as text.
        id: String,
    },
    /// A duplicate or an invalid state transition.
    #[error("{0}")]
    Conflict(String),
    /// A field failed validation.
    #[error("{field}: {message}")]
    Validation {
        /// The request field at fault, e.g. `content` or `payload.event`.
        field: String,
        /// What the field must be, for the client, e.g. `1-255 characters`.
        message: String,
    },
    /// A value failed one rule of a definition (a setting's `min`, `max`,
    /// `pattern`, `enum`...): 422 whose `details` name the rule.
    #[error("{field}: {message}")]
    Rule {
        /// The request field at fault, e.g. `value` or `default_value`.
        field: String,
        /// The rule that failed, e.g. `max`, `pattern`, `type`.
        rule: &'static str,
        /// The rule's bound, if it has one (`10` for `max`), for `details.limit`.
        limit: Option<serde_json::Value>,
        /// What the field must be, for the client.
        message: String,
    },
    /// A field over its size limit (a plugin state's `state_data`, an announced file size): 413.
    #[error("{field}: at most {limit} bytes")]
    TooLarge {
        /// The request field at fault.
        field: String,
        /// The largest size allowed, in bytes.
        limit: u64,
    },
    /// Several items of one request failed (a bulk create); nothing was
    /// written. 422 with each failed item's index and error.
    #[error("{} of the items failed", failures.len())]
    Items {
        /// Each failed item: its index in the request and its error.
        failures: Vec<(usize, CoreError)>,
    },
    /// An actor is down after too many restarts, or the core is shutting down.
    #[error("{0} unavailable")]
    Unavailable(String),
    /// An actor did not answer in time.
    #[error("{0} timed out")]
    Timeout(String),
    /// Missing, expired, revoked or invalid credentials. `reason` is the
    /// `X-Auth-Reason` value: `missing`, `expired`, `revoked` or `invalid`.
    #[error("{message}")]
    Unauthenticated {
        /// `missing`, `expired`, `revoked` or `invalid`: sent as `X-Auth-Reason`.
        reason: &'static str,
        /// Client-safe text saying what was wrong with the credentials.
        message: String,
    },
    /// Authenticated, but the role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// A generation is already running in the conversation.
    #[error("{0}")]
    Busy(String),
    /// Too many attempts (failed sign-ins on one account); try again after
    /// `retry_after_s` seconds.
    #[error("{message}")]
    RateLimited {
        /// Seconds until another attempt may succeed (the `Retry-After` header).
        retry_after_s: u64,
        /// Client-safe text of the refusal.
        message: &'static str,
    },
    /// The monthly token allowance is used up.
    #[error("monthly token allowance used up")]
    QuotaExceeded,
    /// The user already has as many records of a kind as they may keep.
    #[error("at most {limit} {resource} per user")]
    LimitReached {
        /// The plural kind, e.g. `personas`; the error's `details.resource`.
        resource: &'static str,
        /// How many of that kind one user may keep.
        limit: u64,
    },
    /// The model provider failed (or is not configured).
    #[error("{0}")]
    Llm(crate::llm::LlmError),
    /// The store failed; the text is for logs only.
    #[error("store: {0}")]
    Store(StoreError),
    /// A bug; the text is for logs only.
    #[error("internal: {0}")]
    Internal(String),
    /// 415: a file of a type the operation does not take.
    #[error("{0}")]
    UnsupportedType(String),
}

impl From<StoreError> for CoreError {
    /// A uniqueness conflict raised inside a transaction is the caller's 409;
    /// every other store error is internal.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => CoreError::Conflict(message),
            other => CoreError::Store(other),
        }
    }
}

impl CoreError {
    /// Shorthand for a [`CoreError::Unauthenticated`].
    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        CoreError::Unauthenticated {
            reason,
            message: message.into(),
        }
    }

    /// Shorthand for a [`CoreError::NotFound`].
    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        CoreError::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    /// What kind of error this is: its code and status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::NotFound { .. } => ErrorKind::NotFound,
            CoreError::Conflict(_) => ErrorKind::Conflict,
            CoreError::Validation { .. } | CoreError::Rule { .. } => ErrorKind::Validation,
            // Duplicates only: 409, as one duplicate would be; anything else 422.
            CoreError::Items { failures } => {
                if failures
                    .iter()
                    .all(|(_, e)| e.kind() == ErrorKind::Conflict)
                {
                    ErrorKind::Conflict
                } else {
                    ErrorKind::Validation
                }
            }
            CoreError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            // An actor that does not answer in time is the server's own
            // trouble, not an upstream's: 503, like one that is down.
            CoreError::Unavailable(_) | CoreError::Timeout(_) => ErrorKind::ServiceUnavailable,
            CoreError::Unauthenticated { .. } => ErrorKind::Authentication,
            CoreError::Forbidden(_) => ErrorKind::Authorization,
            CoreError::Busy(_) => ErrorKind::ConversationBusy,
            CoreError::QuotaExceeded | CoreError::LimitReached { .. } => ErrorKind::QuotaExceeded,
            CoreError::RateLimited { .. } => ErrorKind::RateLimitExceeded,
            CoreError::Llm(e) => e.kind(),
            CoreError::Store(_) | CoreError::Internal(_) => ErrorKind::Internal,
            CoreError::UnsupportedType(_) => ErrorKind::UnsupportedMediaType,
        }
    }

    /// A message safe to show a client: internals become a fixed text.
    pub fn public_message(&self) -> String {
        match self {
            CoreError::Store(_) | CoreError::Internal(_) => "internal error".to_string(),
            CoreError::Unavailable(what) => format!("{what} unavailable"),
            other => other.to_string(),
        }
    }

    /// Shorthand for a [`CoreError::Validation`].
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The `error.code` values of API.md 0.1 (and the WebSocket-only
/// `INVALID_CHANNEL` of section 6), each with its one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400: malformed JSON, a query string that cannot be parsed.
    BadRequest,
    /// 401: missing, expired, revoked or invalid credentials.
    Authentication,
    /// 403: authenticated, but the role is not allowed.
    Authorization,
    /// 404: unknown resource or path, or another user's resource.
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: a duplicate, or an invalid state transition.
    Conflict,
    /// 413: a body or upload over the limit.
    PayloadTooLarge,
    /// 415: wrong content type or file type.
    UnsupportedMediaType,
    /// 422: a field failed validation (`details.field` names it).
    Validation,
    /// 422 (WebSocket only): a channel name that is not one of API.md 6.
    InvalidChannel,
    /// 429: a rate limit.
    RateLimitExceeded,
    /// 429: a generation is already running in the conversation.
    ConversationBusy,
    /// 429: the monthly token allowance is used up, or a per-user count reached.
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

impl ErrorKind {
    /// Every code an HTTP answer may carry (all but the WebSocket-only
    /// `INVALID_CHANNEL`), for the OpenAPI document's envelope schema.
    pub const HTTP: [ErrorKind; 16] = {
        use ErrorKind::*;
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

    /// The HTTP status and the API.md code: the one table of both.
    const fn parts(self) -> (u16, &'static str) {
        use ErrorKind::*;
        match self {
            BadRequest => (400, "BAD_REQUEST"),
            Authentication => (401, "AUTHENTICATION_ERROR"),
            Authorization => (403, "AUTHORIZATION_ERROR"),
            NotFound => (404, "NOT_FOUND"),
            MethodNotAllowed => (405, "METHOD_NOT_ALLOWED"),
            Conflict => (409, "CONFLICT"),
            PayloadTooLarge => (413, "PAYLOAD_TOO_LARGE"),
            UnsupportedMediaType => (415, "UNSUPPORTED_MEDIA_TYPE"),
            Validation => (422, "VALIDATION_ERROR"),
            InvalidChannel => (422, "INVALID_CHANNEL"),
            RateLimitExceeded => (429, "RATE_LIMIT_EXCEEDED"),
            ConversationBusy => (429, "CONVERSATION_BUSY"),
            QuotaExceeded => (429, "QUOTA_EXCEEDED"),
            Internal => (500, "INTERNAL_ERROR"),
            ExternalService => (502, "EXTERNAL_SERVICE_ERROR"),
            ServiceUnavailable => (503, "SERVICE_UNAVAILABLE"),
            GatewayTimeout => (504, "GATEWAY_TIMEOUT"),
        }
    }

    /// The HTTP status of an answer with this code.
    pub const fn status(self) -> u16 {
        self.parts().0
    }

    /// The API.md code (`error.code`, a WebSocket `error`'s `code`).
    pub const fn code(self) -> &'static str {
        self.parts().1
    }

    /// The code of an error answer some layer produced without a kind (a
    /// framework rejection, a tower layer), from its status.
    pub fn from_status(status: u16) -> Self {
        use ErrorKind::*;
        match status {
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
    pub const fn default_message(self) -> &'static str {
        use ErrorKind::*;
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
            InvalidChannel => "unknown channel",
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

impl crate::llm::LlmError {
    /// The code a failure answers with: 503 when the provider is not
    /// configured, 504 when it timed out (connecting or answering), 502
    /// for anything else.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            crate::llm::LlmError::UnknownProvider(_) => ErrorKind::ServiceUnavailable,
            crate::llm::LlmError::UnknownModel { .. } => ErrorKind::Validation,
            crate::llm::LlmError::Timeout => ErrorKind::GatewayTimeout,
            // No connection within connect_timeout_ms: timed out too.
            crate::llm::LlmError::Connect(failure)
                if failure.kind == crate::llm::ConnectKind::Timeout =>
            {
                ErrorKind::GatewayTimeout
            }
            _ => ErrorKind::ExternalService,
        }
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmError;

    #[test]
    fn a_timeout_has_one_code_whatever_the_transport() {
        assert_eq!(
            CoreError::Llm(LlmError::Timeout).kind(),
            ErrorKind::GatewayTimeout
        );
        assert_eq!(
            CoreError::Timeout("x".into()).kind(),
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(ErrorKind::GatewayTimeout.status(), 504);
        let no_connection = LlmError::Connect(crate::llm::ConnectFailure {
            kind: crate::llm::ConnectKind::Timeout,
            cause: "operation timed out".into(),
        });
        assert_eq!(no_connection.kind(), ErrorKind::GatewayTimeout);
        assert!(no_connection.is_retriable(), "nothing was sent yet");
    }

    #[test]
    fn every_kind_round_trips_through_its_status_when_the_status_is_its_own() {
        use ErrorKind::*;
        for kind in [
            BadRequest,
            Authentication,
            Authorization,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Validation,
            Internal,
            ExternalService,
            ServiceUnavailable,
            GatewayTimeout,
            RateLimitExceeded,
        ] {
            assert_eq!(ErrorKind::from_status(kind.status()), kind, "{kind:?}");
        }
    }
}
