//! Input rules of API.md 2.1, shared by the HTTP routes and the admin CLI.

use crate::error::CoreError;

/// The shortest and longest username.
pub const USERNAME_CHARS: (usize, usize) = (3, 32);
/// The longest email address, trimmed.
pub const EMAIL_CHARS: usize = 254;
/// The shortest and longest password.
pub const PASSWORD_CHARS: (usize, usize) = (8, 256);

/// 3-32 characters of `[a-z0-9_-]`.
pub fn username(name: &str) -> Result<(), CoreError> {
    let (min, max) = USERNAME_CHARS;
    let ok = (min..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::validation(
            "username",
            "3-32 characters of a-z, 0-9, _ and -",
        ))
    }
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain,
/// no spaces, at most 254 characters (before lower-casing, which may
/// lengthen a few letters). Returns it lower-cased.
pub fn email(address: &str) -> Result<String, CoreError> {
    let trimmed = address.trim();
    let fits = trimmed.chars().count() <= EMAIL_CHARS;
    let address = trimmed.to_lowercase();
    let valid = fits
        && !address.contains(char::is_whitespace)
        && match address.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(address)
    } else {
        Err(CoreError::validation("email", "not a valid email address"))
    }
}

/// 8-256 characters.
pub fn password(field: &'static str, password: &str) -> Result<(), CoreError> {
    let (min, max) = PASSWORD_CHARS;
    if (min..=max).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(CoreError::validation(field, "8-256 characters"))
    }
}

/// An optional free-text field of at most `max` characters.
pub fn text(field: &'static str, value: &Option<String>, max: usize) -> Result<(), CoreError> {
    match value {
        Some(v) if v.chars().count() > max => Err(CoreError::validation(
            field,
            format!("at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// An absolute `http://` or `https://` URL with a host and no whitespace:
/// anything else in a link a browser follows could run script
/// (`javascript:`) or reach local files.
pub fn http_url(field: &'static str, url: &str) -> Result<(), CoreError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host_present = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
    if host_present && !url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(())
    } else {
        Err(CoreError::validation(field, "must be an http(s) URL"))
    }
}

/// A token allowance must fit the signed 64-bit counters it is compared with.
pub fn allowance(field: &'static str, value: Option<u64>) -> Result<(), CoreError> {
    match value {
        Some(n) if n > i64::MAX as u64 => Err(CoreError::validation(
            field,
            format!("at most {}", i64::MAX),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_contract() {
        assert!(username("ada_l-1").is_ok());
        for bad in ["ab", "Ada", "a b", &"a".repeat(33), "émile"] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "ada", "@x.io", "ada@", "ada@x", "a b@x.io", "a@b@x.io", "ada@.io",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_http_urls_are_links() {
        for good in ["https://x.io/a.png", "HTTP://x.io"] {
            assert!(http_url("avatar_url", good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://",
            "http:///x",
            "https://x .io",
            "//x.io",
        ] {
            assert!(http_url("avatar_url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_8_to_256_characters() {
        assert!(password("password", "12345678").is_ok());
        assert!(password("password", "1234567").is_err());
        assert!(password("password", &"x".repeat(257)).is_err());
    }
}
