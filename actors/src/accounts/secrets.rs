//! Random secrets and their hashes: refresh tokens, API keys, comparisons.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// 32 random bytes, URL-safe base64 without padding (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `text`: how refresh tokens and API keys are stored and looked up.
pub fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Compares two hashes in constant time.
pub fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// A refresh token names its session so it can be routed to the session's
/// actor: `<session id>.<secret>`.
pub fn refresh_token(session: Uuid) -> String {
    format!("{}.{}", session.simple(), random_secret())
}

/// The session a refresh token claims to belong to.
pub fn refresh_session(token: &str) -> Option<Uuid> {
    let (id, secret) = token.split_once('.')?;
    if secret.len() < 32 {
        return None;
    }
    Uuid::try_parse(id).ok()
}

/// The API key prefix of API.md 2.4.
pub const API_KEY_PREFIX: &str = "ck_";

/// A new API key: `ck_` and 32 random bytes.
pub fn api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_routes_to_its_session() {
        let sid = Uuid::now_v7();
        let token = refresh_token(sid);
        assert_eq!(refresh_session(&token), Some(sid));
        assert_eq!(refresh_session("nonsense"), None);
        assert_eq!(refresh_session(&format!("{}.short", sid.simple())), None);
    }

    #[test]
    fn api_keys_carry_32_random_bytes() {
        let key = api_key();
        assert!(key.starts_with("ck_"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&key[3..]).unwrap().len(), 32);
        assert_ne!(api_key(), key);
    }

    #[test]
    fn hashes_compare_equal_only_when_equal() {
        let a = sha256("a");
        assert!(same_hash(&a, &sha256("a")));
        assert!(!same_hash(&a, &sha256("b")));
    }
}
