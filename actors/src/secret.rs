//! `Secret`: a string that never shows itself in `Debug` output, so a
//! configuration struct can derive `Debug` and still be logged safely.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A secret value (an API key, a signing secret, a bearer token). `Debug`
/// prints `[redacted]`, and so does serializing it (`chorus config print`);
/// the value is reached only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; it shows only through [`Secret::expose`].
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Serializes as `[redacted]`: a configuration may be printed whole.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }

    #[test]
    fn serializing_never_shows_the_value() {
        let secret = Secret::new("hunter2-hunter2");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
    }
}
