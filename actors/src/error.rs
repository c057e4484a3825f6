//! The core's error type. The edge maps each variant to exactly one HTTP status.

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

    /// The API.md error code, for answers that are not HTTP (WebSocket).
    pub fn code(&self) -> &'static str {
        use crate::llm::LlmError;
        match self {
            CoreError::NotFound { .. } => "NOT_FOUND",
            CoreError::Conflict(_) => "CONFLICT",
            CoreError::Validation { .. } => "VALIDATION_ERROR",
            CoreError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            CoreError::Timeout(_) | CoreError::Llm(LlmError::Timeout) => "GATEWAY_TIMEOUT",
            CoreError::Unauthenticated { .. } => "AUTHENTICATION_ERROR",
            CoreError::Forbidden(_) => "AUTHORIZATION_ERROR",
            CoreError::Busy(_) => "CONVERSATION_BUSY",
            CoreError::QuotaExceeded | CoreError::LimitReached { .. } => "QUOTA_EXCEEDED",
            CoreError::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            CoreError::Llm(LlmError::UnknownProvider(_)) => "SERVICE_UNAVAILABLE",
            CoreError::Llm(_) => "EXTERNAL_SERVICE_ERROR",
            CoreError::Store(_) | CoreError::Internal(_) => "INTERNAL_ERROR",
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
