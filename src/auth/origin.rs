//! Cross-site request forgery (issue 10, item 15). A browser attaches the
//! auth cookie to requests that any web page starts, so a request
//! authenticated by that cookie must come from chorus's own origin or a
//! listed one (`server.allowed_origins`, and the `cors_origins`) when it
//! changes something (POST, PUT, PATCH, DELETE) or opens a WebSocket.
//! Browsers always send `Origin` on those requests (and `Sec-Fetch-Site`
//! in every current one); a request with neither comes from a non-browser
//! client, which no page can drive. Bearer tokens and API keys are never
//! attached by a browser on its own, so they are not checked.

use axum::http::header::{HOST, ORIGIN, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

/// Whether `parts` changes state or opens a socket (the requests a forged
/// page could abuse).
fn is_unsafe(parts: &Parts) -> bool {
    let upgrade = parts
        .headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    upgrade || !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `scheme://host[:port]` -> `host[:port]`, lower-cased.
fn authority(origin: &str) -> Option<String> {
    let (_, rest) = origin.split_once("://")?;
    let host = rest.split('/').next().unwrap_or_default();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    matches!((authority(origin), host), (Some(a), Some(h)) if a == h)
}

/// Whether a cookie-authenticated request must be refused: an unsafe
/// request from an origin that is neither chorus's own nor `allowed`.
pub fn cross_site(parts: &Parts, allowed: &[String]) -> bool {
    if !is_unsafe(parts) {
        return false;
    }
    let headers = &parts.headers;
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin = origin.trim_end_matches('/');
        let listed = allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
        return !(listed || same_origin(origin, headers));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().method(method).uri("/api/v1/tags");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_unsafe_cross_site_requests_are_refused() {
        let allowed = vec!["https://app.example.com".to_string()];
        let evil = [
            ("host", "chorus.local:8080"),
            ("origin", "https://evil.example"),
        ];
        assert!(cross_site(&parts(Method::POST, &evil), &allowed));
        assert!(!cross_site(&parts(Method::GET, &evil), &allowed));
        let upgrade = [("origin", "https://evil.example"), ("upgrade", "websocket")];
        assert!(cross_site(&parts(Method::GET, &upgrade), &allowed));
        let own = [
            ("host", "chorus.local:8080"),
            ("origin", "http://chorus.local:8080"),
        ];
        assert!(!cross_site(&parts(Method::DELETE, &own), &allowed));
        let listed = [("origin", "https://app.example.com")];
        assert!(!cross_site(&parts(Method::PUT, &listed), &allowed));
        assert!(cross_site(
            &parts(Method::POST, &[("sec-fetch-site", "cross-site")]),
            &allowed
        ));
        assert!(!cross_site(
            &parts(Method::POST, &[("sec-fetch-site", "same-origin")]),
            &allowed
        ));
        assert!(!cross_site(&parts(Method::POST, &[]), &allowed));
    }
}
