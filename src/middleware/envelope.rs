//! The envelope: every request gets its id, and every response the
//! `X-Request-ID` header, the error envelope (API.md 0.1), the v2 success
//! envelope (0.6) and the API version headers. Run by the edge layer
//! (`edge.rs`) around everything else.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, ErrorKind};
use crate::server_timing::{self, Timed};

/// The id of the request being served: the client's `X-Request-ID` when it
/// is acceptable, otherwise a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

pub const REQUEST_ID: &str = "x-request-id";

// The names the envelope writes, made once at compile time: a `&str` name is
// parsed and checked again on every use.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
const API_VERSION: HeaderName = HeaderName::from_static("x-api-version");
const API_LATEST_VERSION: HeaderName = HeaderName::from_static("x-api-latest-version");

/// Largest success body re-wrapped for v2; bigger ones (none today) pass as they are.
const V2_WRAP_LIMIT: usize = 16 << 20;

/// What the envelope knows of a request before it is served.
pub(super) struct Begun {
    pub id: Arc<str>,
    api: ApiVersion,
    arrived: Instant,
    /// `server.server_timing`: a marked answer gets its header.
    server_timing: bool,
}

/// Gives `req` its id (as the [`RequestId`] extension).
pub(super) fn begin(req: &mut Request, arrived: Instant, server_timing: bool) -> Begun {
    let id = request_id(req);
    req.extensions_mut().insert(RequestId(id.clone()));
    Begun {
        id,
        api: ApiVersion::of(req.uri().path()),
        arrived,
        server_timing,
    }
}

/// Gives `response` its shape: the error envelope, the v2 success envelope,
/// the request id, the API version and `Server-Timing` headers.
pub(super) async fn finish(mut response: Response, begun: &Begun) -> Response {
    let Begun {
        id,
        api,
        arrived,
        server_timing,
    } = begun;
    let api = *api;
    let timed = response
        .extensions_mut()
        .remove::<Timed>()
        .filter(|_| *server_timing);
    let error = response.extensions_mut().remove::<ApiError>();
    let status = response.status();
    if error.is_some() || status.is_client_error() || status.is_server_error() {
        let error =
            error.unwrap_or_else(|| ApiError::from_code(ErrorKind::from_status(status.as_u16())));
        response = render_error(response, &error, id, api);
    } else if api == ApiVersion::V2 && is_json(&response) {
        response = wrap_v2(response, id).await;
    }

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    if let Some(value) = timed.and_then(|t| server_timing::value(*arrived, t, Instant::now())) {
        headers.insert(SERVER_TIMING, value);
    }
    if let Some(version) = api.header() {
        headers.insert(API_VERSION, HeaderValue::from_static(version));
        headers.insert(API_LATEST_VERSION, HeaderValue::from_static("v2"));
    }
    response
}

fn request_id(req: &Request) -> Arc<str> {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable_id(v))
        .map(Arc::from)
        .unwrap_or_else(|| {
            let mut buf = uuid::Uuid::encode_buffer();
            Arc::from(&*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf))
        })
}

/// 1-128 characters of `[A-Za-z0-9._-]` (API.md 0): safe in logs and headers.
fn is_acceptable_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiVersion {
    V1,
    V2,
    /// The OpenAI-compatible surface: errors in OpenAI's shape.
    OpenAi,
    /// Operational routes, the console.
    Other,
}

impl ApiVersion {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/v2/") || path == "/api/v2" {
            ApiVersion::V2
        } else if path.starts_with("/api/") {
            ApiVersion::V1
        } else if path.starts_with("/v1/") {
            ApiVersion::OpenAi
        } else {
            ApiVersion::Other
        }
    }

    fn header(self) -> Option<&'static str> {
        match self {
            ApiVersion::V1 => Some("v1"),
            ApiVersion::V2 => Some("v2"),
            ApiVersion::OpenAi | ApiVersion::Other => None,
        }
    }
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta<'a>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

#[derive(Serialize)]
struct Meta<'a> {
    request_id: &'a str,
    timestamp: String,
    version: &'static str,
}

fn meta(id: &str) -> Meta<'_> {
    Meta {
        request_id: id,
        timestamp: crate::time::now_rfc3339(),
        version: "v2",
    }
}

/// OpenAI's error `type` for a status, as its SDKs map them to exceptions.
fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn render_error(response: Response, error: &ApiError, id: &str, api: ApiVersion) -> Response {
    if api == ApiVersion::OpenAi {
        let body = serde_json::json!({ "error": {
            "message": error.message, "type": openai_type(crate::error::status_of(error.code)),
            "code": error.code.code().to_lowercase(), "param": error.details.as_ref().and_then(|d| d.get("field")),
        }});
        return with_json_body(
            response,
            error,
            serde_json::to_vec(&body).unwrap_or_default(),
        );
    }
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: error.code.code(),
            message: &error.message,
            details: error.details.as_ref(),
        },
        request_id: id,
        meta: (api == ApiVersion::V2).then(|| meta(id)),
    };
    with_json_body(
        response,
        error,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn with_json_body(response: Response, error: &ApiError, bytes: Vec<u8>) -> Response {
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(CONTENT_LENGTH);
    // A layer may have answered with a status the code does not carry (e.g.
    // 408); keep the code's own status so the pair always matches the table.
    if parts.status != StatusCode::REQUEST_TIMEOUT {
        parts.status = crate::error::status_of(error.code);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// `{"data": <v1 body>, "meta": {...}}`, spliced as bytes: the v1 body is
/// already valid JSON and need not be parsed again.
async fn wrap_v2(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match http_body_util::Limited::new(body, V2_WRAP_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let error = ApiError::internal(format!("v2 body: {e}"));
            return render_error(Response::default(), &error, id, ApiVersion::V2);
        }
    };
    let meta = serde_json::to_vec(&meta(id)).unwrap_or_default();
    let mut out = Vec::with_capacity(bytes.len() + meta.len() + 20);
    out.extend_from_slice(b"{\"data\":");
    out.extend_from_slice(if bytes.is_empty() { b"null" } else { &bytes });
    out.extend_from_slice(b",\"meta\":");
    out.extend_from_slice(&meta);
    out.push(b'}');
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked_against_the_contract() {
        assert!(is_acceptable_id("abc-123_X.y"));
        assert!(is_acceptable_id(&"a".repeat(128)));
        assert!(!is_acceptable_id(&"a".repeat(129)));
        assert!(!is_acceptable_id(""));
        assert!(!is_acceptable_id("has space"));
        assert!(!is_acceptable_id("new\nline"));
    }

    #[test]
    fn the_path_decides_the_api_version() {
        assert_eq!(ApiVersion::of("/api/v1/conversations"), ApiVersion::V1);
        assert_eq!(ApiVersion::of("/api/v2/conversations"), ApiVersion::V2);
        assert_eq!(ApiVersion::of("/v1/models"), ApiVersion::OpenAi);
        assert_eq!(ApiVersion::of("/health"), ApiVersion::Other);
    }
}
