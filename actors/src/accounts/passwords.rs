//! Password hashing: argon2id, always on a blocking thread so the async
//! workers never stall on it, and at most `2 x cores` hashes at once.
//!
//! Parameters (19 MiB, 2 passes, 1 lane) are OWASP's argon2id baseline and
//! take ~40 ms per hash on the 2-core reference machine. Without the cap, a
//! burst of logins would start one blocking thread per request (tokio allows
//! 512), each holding 19 MiB: gigabytes of memory and a CPU queue that
//! everything else on the blocking pool waits behind.

use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::CoreError;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Hashes running at once, process-wide: more than the cores would only
/// queue inside the OS and multiply the memory.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Semaphore::new(2 * cores)
});

fn argon2() -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| CoreError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Runs `work` on the blocking pool once a hashing permit is free.
async fn on_hasher<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CoreError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| CoreError::Internal(format!("hashing permits: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CoreError::Internal(format!("hashing task: {e}")))
}

/// The PHC string of `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, CoreError> {
    on_hasher(move || {
        argon2()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("argon2 hash: {e}")))
    })
    .await?
}

/// Whether `password` matches `phc`. With no hash (unknown email, or an
/// account without a password) it still spends one hash's time, so response
/// times do not tell which emails exist. An error means no answer (not "wrong").
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, CoreError> {
    on_hasher(move || {
        let argon2 = argon2()?;
        Ok(match phc.as_deref().map(PasswordHash::new) {
            Some(Ok(parsed)) => argon2.verify_password(password.as_bytes(), &parsed).is_ok(),
            _ => {
                let _ = argon2.hash_password(password.as_bytes());
                false
            }
        })
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_permits_hash_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let permits = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..4 * permits)
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                tokio::spawn(on_hasher(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= permits, "{peak} hashes ran at once, cap {permits}");
    }
}
