//! The auth cookies of API.md 2.1: HttpOnly, SameSite=Lax, Path=/, Secure when configured.

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

pub const ACCESS: &str = "chorus_access";
pub const REFRESH: &str = "chorus_refresh";

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

/// A `Set-Cookie` value setting `name` for `max_age`.
pub fn set(name: &str, value: &str, max_age: Duration, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}",
        max_age.as_secs()
    ))
    .ok()
}

/// Adds the login cookies to `headers`.
pub fn set_login(
    headers: &mut HeaderMap,
    access: (&str, Duration),
    refresh: (&str, Duration),
    secure: bool,
) {
    for (name, (value, ttl)) in [(ACCESS, access), (REFRESH, refresh)] {
        if let Some(v) = set(name, value, ttl, secure) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// Adds headers that delete both auth cookies.
pub fn clear(headers: &mut HeaderMap, secure: bool) {
    for name in [ACCESS, REFRESH] {
        if let Some(v) = set(name, "", Duration::ZERO, secure) {
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
        assert_eq!(get(&headers, ACCESS).as_deref(), Some("tok"));
        assert_eq!(get(&headers, REFRESH), None);
    }

    #[test]
    fn set_cookies_are_http_only_and_lax() {
        let v = set(ACCESS, "t", Duration::from_secs(900), true).unwrap();
        let v = v.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=900",
            "Secure",
        ] {
            assert!(v.contains(part), "{v} lacks {part}");
        }
    }
}
