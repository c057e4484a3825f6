//! Timestamps as the contract writes them: RFC 3339, UTC, milliseconds, `Z`.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, formatted for a response body.
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// `t`, formatted for a response body.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Unix milliseconds (how the store keeps time), formatted for a response body.
pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(rfc3339)
        .unwrap_or_default()
}
