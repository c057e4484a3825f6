//! The web console (API.md 13): `GET /` serves the page and
//! `GET /console/{version}/{asset}` its CSS and JavaScript modules, all
//! embedded in the binary (`src/console/`). `{version}` is a hash of every
//! asset, so an asset URL names one content: it is cached for a year as
//! immutable, and the page itself (`no-cache`) names the current version.
//! Not part of `/openapi.json`, like `/docs`: these are pages, not the API.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chorus_actors::accounts::secrets::sha256;

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// The page's policy: nothing but chorus's own scripts, styles and
/// connections; no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The placeholder in `index.html` that becomes the assets' version.
const VERSION_MARK: &str = "{{version}}";

const JS: &str = "text/javascript; charset=utf-8";

/// Every asset of the console: name, content type, text.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../console/app.css"),
    ),
    ("app.js", JS, include_str!("../console/app.js")),
    ("api.js", JS, include_str!("../console/api.js")),
    ("auth.js", JS, include_str!("../console/auth.js")),
    (
        "conversations.js",
        JS,
        include_str!("../console/conversations.js"),
    ),
    ("chat.js", JS, include_str!("../console/chat.js")),
    ("stream.js", JS, include_str!("../console/stream.js")),
    ("documents.js", JS, include_str!("../console/documents.js")),
    ("admin.js", JS, include_str!("../console/admin.js")),
    (
        "impersonate.js",
        JS,
        include_str!("../console/impersonate.js"),
    ),
    ("dom.js", JS, include_str!("../console/dom.js")),
];

const INDEX: &str = include_str!("../console/index.html");

/// The page and the version its asset URLs carry, made once.
struct Console {
    /// The first 16 hex digits of the hash of every asset.
    version: String,
    /// `index.html` with the version filled in.
    page: String,
    /// The page's `ETag`.
    page_etag: String,
}

static CONSOLE: LazyLock<Console> = LazyLock::new(|| {
    let all: String = ASSETS
        .iter()
        .map(|(name, _, text)| format!("{name}\n{text}\n"))
        .collect();
    let version = hex(&sha256(&all))[..16].to_string();
    let page = INDEX.replace(VERSION_MARK, &version);
    let page_etag = etag(&page);
    Console {
        version,
        page,
        page_etag,
    }
});

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/console/{version}/{asset}", get(asset))
}

/// # `GET /`
async fn page(headers: HeaderMap) -> Response {
    let console = &*CONSOLE;
    let mut response = answer(
        &headers,
        &console.page_etag,
        "text/html; charset=utf-8",
        &console.page,
    );
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

/// # `GET /console/{version}/{asset}`
///
/// An asset of another version (a page loaded before an upgrade) is still
/// answered, with the current content, but not cached as immutable.
async fn asset(Path((version, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some((_, kind, text)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::new(ErrorKind::NotFound, "no such console asset").into_response();
    };
    let console = &*CONSOLE;
    let mut response = answer(&headers, &etag(text), kind, text);
    let cache = if version == console.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// `text` as `kind` with its `ETag`, or 304 when the client holds it.
fn answer(headers: &HeaderMap, tag: &str, kind: &'static str, text: &'static str) -> Response {
    let held = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let tag_value = HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""));
    if held {
        return (StatusCode::NOT_MODIFIED, [(ETAG, tag_value)]).into_response();
    }
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(kind)),
            (ETAG, tag_value),
        ],
        text,
    )
        .into_response()
}

/// A strong `ETag` of `text`.
fn etag(text: &str) -> String {
    format!("\"{}\"", &hex(&sha256(text))[..32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
