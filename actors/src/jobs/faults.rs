//! Test-only fault hooks of the jobs module: a store error injected into one
//! write, and a gate that holds the commits of `Jobs::create`.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::error::CoreError;
use crate::store::StoreError;

#[derive(Default)]
pub struct Faults {
    /// The next recorded event of this kind fails as a store write would.
    fail_record: Mutex<Option<&'static str>>,
    /// While set, commits of `Jobs::create` wait for a permit.
    gate: Mutex<Option<Arc<Semaphore>>>,
    /// Commits that reached the gate.
    at_gate: AtomicUsize,
}

impl Faults {
    /// Makes the next `kind` event fail to be written.
    pub fn fail_next_record(&self, kind: &'static str) {
        if let Ok(mut f) = self.fail_record.lock() {
            *f = Some(kind);
        }
    }

    /// The injected error, once, if `kind` is armed.
    pub fn on_record(&self, kind: &str) -> Result<(), CoreError> {
        let mut armed = self.fail_record.lock().map_err(|_| poisoned())?;
        if armed.is_some_and(|k| k == kind) {
            *armed = None;
            return Err(CoreError::Store(StoreError::Io(format!(
                "injected fault writing {kind}"
            ))));
        }
        Ok(())
    }

    /// Holds commits until [`Faults::open_commits`].
    pub fn hold_commits(&self) {
        if let Ok(mut g) = self.gate.lock() {
            *g = Some(Arc::new(Semaphore::new(0)));
        }
    }

    pub fn open_commits(&self) {
        if let Ok(mut g) = self.gate.lock()
            && let Some(gate) = g.take()
        {
            gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Commits waiting at (or past) the gate.
    pub fn commits_at_gate(&self) -> usize {
        self.at_gate.load(Ordering::SeqCst)
    }

    pub async fn before_commit(&self) {
        let gate = self.gate.lock().ok().and_then(|g| g.clone());
        if let Some(gate) = gate {
            self.at_gate.fetch_add(1, Ordering::SeqCst);
            let _ = gate.acquire().await;
        }
    }
}

fn poisoned() -> CoreError {
    CoreError::Internal("fault hook poisoned".into())
}
