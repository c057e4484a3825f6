//! The auth cookies of API.md 2.1: HttpOnly, SameSite=Lax, `Secure` when
//! configured. With `server.secure_cookies` the access cookie is
//! `__Host-chorus_access` (the browser then refuses it unless it is Secure,
//! host-only and Path=/, so a sibling subdomain cannot plant one) and the
//! refresh cookie `__Secure-chorus_refresh`. The refresh cookie is sent to
//! the auth routes only (`/api/v{N}/auth`), never with ordinary requests.

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

const ACCESS: &str = "chorus_access";
const REFRESH: &str = "chorus_refresh";

/// The access cookie's name.
pub fn access_name(secure: bool) -> &'static str {
    if secure {
        "__Host-chorus_access"
    } else {
        ACCESS
    }
}

/// The refresh cookie's name (`__Host-` needs Path=/, which it must not have).
pub fn refresh_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-chorus_refresh"
    } else {
        REFRESH
    }
}

/// The path the refresh cookie is scoped to: the auth routes of the API
/// version the request used.
pub fn refresh_path(request_path: &str) -> &'static str {
    if request_path.starts_with("/api/v2/") {
        "/api/v2/auth"
    } else {
        "/api/v1/auth"
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value setting `name` on `path` for `max_age`.
fn set(
    name: &str,
    value: &str,
    path: &str,
    max_age: Duration,
    secure: bool,
) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={}; Path={path}; HttpOnly; SameSite=Lax{secure}",
        max_age.as_secs()
    ))
    .ok()
}

/// Adds the login cookies to `headers`; `request_path` picks the refresh cookie's path.
pub fn set_login(
    headers: &mut HeaderMap,
    access: (&str, Duration),
    refresh: (&str, Duration),
    secure: bool,
    request_path: &str,
) {
    let cookies = [
        (access_name(secure), "/", access),
        (refresh_name(secure), refresh_path(request_path), refresh),
    ];
    for (name, path, (value, ttl)) in cookies {
        if let Some(v) = set(name, value, path, ttl, secure) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// Adds headers that delete both auth cookies (and a refresh cookie an
/// older version set on Path=/).
pub fn clear(headers: &mut HeaderMap, secure: bool, request_path: &str) {
    let cookies = [
        (access_name(secure), "/"),
        (refresh_name(secure), refresh_path(request_path)),
        (refresh_name(secure), "/"),
    ];
    for (name, path) in cookies {
        if let Some(v) = set(name, "", path, Duration::ZERO, secure) {
            headers.append(SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; chorus_access=tok; b=2"),
        );
        assert_eq!(get(&headers, access_name(false)).as_deref(), Some("tok"));
        assert_eq!(get(&headers, access_name(true)), None);
        assert_eq!(get(&headers, refresh_name(false)), None);
    }

    #[test]
    fn secure_cookies_are_prefixed_and_the_refresh_cookie_stays_on_auth_routes() {
        let mut headers = HeaderMap::new();
        let ttl = Duration::from_secs(900);
        set_login(
            &mut headers,
            ("a", ttl),
            ("r", ttl),
            true,
            "/api/v1/auth/login",
        );
        let all: Vec<&str> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(all[0].starts_with("__Host-chorus_access=a;"), "{}", all[0]);
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/;",
            "Max-Age=900",
            "Secure",
        ] {
            assert!(all[0].contains(part), "{} lacks {part}", all[0]);
        }
        assert!(
            all[1].starts_with("__Secure-chorus_refresh=r;"),
            "{}",
            all[1]
        );
        assert!(all[1].contains("Path=/api/v1/auth;"), "{}", all[1]);
    }
}
