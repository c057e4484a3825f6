//! The signatures of chorus's own content URLs (local store): HMAC-SHA256
//! over the method, the file id, the expiry and the signed size, checked in
//! constant time. The key is made once and kept in the store.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::blobs::Access;
use crate::error::CoreError;

/// Signs and checks content URLs with the server's own key.
#[derive(Clone)]
pub struct UrlSigner {
    /// Keyed once; each signature starts from a clone.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner([redacted])")
    }
}

fn method(access: Access) -> &'static str {
    match access {
        Access::Put => "PUT",
        Access::Get => "GET",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

impl UrlSigner {
    /// A signer with `key` (at least 32 random bytes).
    pub fn new(key: &[u8]) -> Result<Self, CoreError> {
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| CoreError::Internal("file URL key".into()))?;
        Ok(Self { mac })
    }

    fn mac(&self, access: Access, id: Uuid, expires: i64, size: u64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(format!("{}\n{id}\n{expires}\n{size}", method(access)).as_bytes());
        mac
    }

    /// The hex signature of a URL for `access` to file `id` of `size`
    /// bytes, valid until `expires` (Unix seconds).
    pub fn sign(&self, access: Access, id: Uuid, expires: i64, size: u64) -> String {
        hex(&self.mac(access, id, expires, size).finalize().into_bytes())
    }

    /// Checks `sig` (constant time) and that `now` (Unix seconds) is not
    /// past `expires`; either failure is 403.
    pub fn verify(
        &self,
        access: Access,
        id: Uuid,
        expires: i64,
        size: u64,
        sig: &str,
        now: i64,
    ) -> Result<(), CoreError> {
        let bad = || CoreError::Forbidden("invalid or expired signature".into());
        let sig = unhex(sig).ok_or_else(bad)?;
        self.mac(access, id, expires, size)
            .verify_slice(&sig)
            .map_err(|_| bad())?;
        if now > expires {
            return Err(bad());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        UrlSigner::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn a_signature_verifies_only_for_what_it_signed() {
        let s = signer();
        let id = Uuid::now_v7();
        let sig = s.sign(Access::Put, id, 1_000, 42);
        assert!(s.verify(Access::Put, id, 1_000, 42, &sig, 999).is_ok());
        assert!(s.verify(Access::Get, id, 1_000, 42, &sig, 999).is_err());
        assert!(s.verify(Access::Put, id, 1_001, 42, &sig, 999).is_err());
        assert!(s.verify(Access::Put, id, 1_000, 43, &sig, 999).is_err());
        assert!(
            s.verify(Access::Put, Uuid::now_v7(), 1_000, 42, &sig, 999)
                .is_err()
        );
        let other = UrlSigner::new(b"another key of thirty-two bytes!").unwrap();
        assert!(other.verify(Access::Put, id, 1_000, 42, &sig, 999).is_err());
    }

    #[test]
    fn an_expired_or_garbled_signature_is_refused() {
        let s = signer();
        let id = Uuid::now_v7();
        let sig = s.sign(Access::Get, id, 1_000, 1);
        assert!(s.verify(Access::Get, id, 1_000, 1, &sig, 1_001).is_err());
        assert!(s.verify(Access::Get, id, 1_000, 1, "zz", 0).is_err());
        assert!(s.verify(Access::Get, id, 1_000, 1, "abc", 0).is_err());
        assert!(s.verify(Access::Get, id, 1_000, 1, "é", 0).is_err());
    }
}
