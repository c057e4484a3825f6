//! Stripe-style signatures of incoming webhooks: a header
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=...]`, checked
//! over the raw body bytes, within [`TOLERANCE_S`] of now either way. Pure
//! logic: no store, no clock of its own.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the signed time may be from now, either way (Stripe's default).
pub const TOLERANCE_S: i64 = 300;

/// Why a signature was refused. The texts say which check failed and never
/// what the expected signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Neither `X-Webhook-Signature` nor `Stripe-Signature` was sent.
    #[error("missing signature: send X-Webhook-Signature or Stripe-Signature")]
    Missing,
    /// The header is not `t=<unix>,v1=<hex>` (no `t`, or no `v1`).
    #[error("malformed signature header: expected t=<unix seconds>,v1=<hex hmac-sha256>")]
    Malformed,
    /// `t` is more than the tolerance in the past: a stale or replayed request.
    #[error("signature timestamp is more than 5 minutes old")]
    Stale,
    /// `t` is more than the tolerance in the future.
    #[error("signature timestamp is more than 5 minutes in the future")]
    Future,
    /// No `v1` entry is the HMAC of this body with this source's secret.
    #[error("signature does not match the body")]
    Mismatch,
}

/// The parts of a signature header: the signed time and every `v1` entry
/// (Stripe sends two while a secret is being rolled).
#[derive(Debug, PartialEq, Eq)]
struct Parsed<'a> {
    t: i64,
    v1: Vec<&'a str>,
}

fn parse(header: &str) -> Result<Parsed<'_>, SignatureError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                t = Some(value.parse().map_err(|_| SignatureError::Malformed)?);
            }
            Some(("v1", value)) => v1.push(value),
            // Other schemes (Stripe's `v0` test signature) are skipped.
            _ => {}
        }
    }
    match t {
        Some(t) if !v1.is_empty() => Ok(Parsed { t, v1 }),
        _ => Err(SignatureError::Malformed),
    }
}

/// The HMAC-SHA256 of `"{t}.{body}"` under `secret`.
fn mac(secret: &[u8], t: i64, body: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// Checks `header` for `body` under `secret` at `now` (Unix seconds).
/// Every `v1` entry is compared in constant time.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let parsed = parse(header.ok_or(SignatureError::Missing)?)?;
    if parsed.t < now.saturating_sub(TOLERANCE_S) {
        return Err(SignatureError::Stale);
    }
    if parsed.t > now.saturating_add(TOLERANCE_S) {
        return Err(SignatureError::Future);
    }
    let expected = mac(secret, parsed.t, body);
    let mut matched = subtle::Choice::from(0);
    for candidate in parsed.v1 {
        if let Some(given) = unhex(candidate) {
            matched |= given.ct_eq(&expected);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header a sender would send for `body` at `t`: for tests and tools.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let hex: String = mac(secret, t, body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn the_mac_is_what_openssl_computes() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec
        assert_eq!(
            sign(b"whsec", NOW, b"{}"),
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
    }

    #[test]
    fn a_good_signature_passes_within_the_tolerance_either_way() {
        for t in [NOW - TOLERANCE_S, NOW, NOW + TOLERANCE_S] {
            let header = sign(b"k", t, b"body");
            assert_eq!(verify(b"k", Some(&header), b"body", NOW), Ok(()));
        }
    }

    #[test]
    fn each_failure_is_named() {
        let good = sign(b"k", NOW, b"body");
        assert_eq!(
            verify(b"k", None, b"body", NOW),
            Err(SignatureError::Missing)
        );
        for bad in ["", "v1=abc", "t=1700000000", "t=soon,v1=00"] {
            assert_eq!(
                verify(b"k", Some(bad), b"body", NOW),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
        let old = sign(b"k", NOW - TOLERANCE_S - 1, b"body");
        assert_eq!(
            verify(b"k", Some(&old), b"body", NOW),
            Err(SignatureError::Stale)
        );
        let ahead = sign(b"k", NOW + TOLERANCE_S + 1, b"body");
        assert_eq!(
            verify(b"k", Some(&ahead), b"body", NOW),
            Err(SignatureError::Future)
        );
        assert_eq!(
            verify(b"other", Some(&good), b"body", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"k", Some(&good), b"bodY", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn one_matching_v1_among_several_is_enough_and_v0_is_skipped() {
        let good = sign(b"k", NOW, b"body");
        let v1 = good.split_once(",v1=").unwrap().1;
        let zeros = "0".repeat(64);
        let header = format!("t={NOW},v0=abc,v1={zeros},v1=short,v1={v1}");
        assert_eq!(verify(b"k", Some(&header), b"body", NOW), Ok(()));
        let none = format!("t={NOW},v1={zeros}");
        assert_eq!(
            verify(b"k", Some(&none), b"body", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn upper_case_hex_is_read_too() {
        let good = sign(b"k", NOW, b"body")
            .to_uppercase()
            .replace("T=", "t=")
            .replace("V1=", "v1=");
        assert_eq!(verify(b"k", Some(&good), b"body", NOW), Ok(()));
    }
}
