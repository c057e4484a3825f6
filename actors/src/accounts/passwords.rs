//! Password hashing: argon2id, always on a blocking thread so the async
//! workers never stall on it.
//!
//! Parameters (19 MiB, 2 passes, 1 lane) are OWASP's argon2id baseline and
//! take ~40 ms per hash on the 2-core reference machine.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::CoreError;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn argon2() -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| CoreError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, CoreError> {
    tokio::task::spawn_blocking(move || {
        argon2()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("argon2 hash: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?
}

/// Whether `password` matches `phc`. With no hash (unknown email, or an
/// account without a password) it still spends one hash's time, so response
/// times do not tell which emails exist.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let Ok(argon2) = argon2() else {
            return false;
        };
        match phc.as_deref().map(PasswordHash::new) {
            Some(Ok(parsed)) => argon2.verify_password(password.as_bytes(), &parsed).is_ok(),
            _ => {
                let _ = argon2.hash_password(password.as_bytes());
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse".into(), Some(h)).await);
        assert!(!verify("anything".into(), None).await);
    }
}
