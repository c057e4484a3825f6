//! The store: sled behind typed tables. The only module that names sled.
//!
//! One tree per record type, values are versioned bincode ([`codec`]), keys
//! are big-endian ([`StoreKey`]). Under `Durability::Sync` a write counts as
//! acknowledged only after [`Store::commit`] returns, and commits are grouped
//! so one flush serves every writer waiting at that moment.

pub(crate) mod codec;
mod group_commit;
mod key;
mod key_locks;
mod table;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionError;

pub use codec::{VALUE_VERSION, decode, encode};
pub use key::StoreKey;
pub use key_locks::KeyLocks;
pub use table::Table;
pub use tx::{Tx, TxResult};

use group_commit::GroupCommit;

/// The layout of the data directory this build writes. Opening a directory
/// written by a newer build fails instead of misreading it. 2: records of
/// [`VALUE_VERSION`] 2 (an older build would misread none, but would
/// refuse each one; refusing the directory at start is clearer).
pub const SCHEMA_VERSION: u32 = 2;

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After it is flushed to disk (group-committed). Survives `kill -9`.
    #[default]
    Sync,
    /// At once; sled flushes every `flush_every_ms`. A crash loses that window.
    Relaxed,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory holding the database (created if missing).
    pub path: PathBuf,
    /// When a write counts as acknowledged (default `Sync`).
    pub durability: Durability,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Background flush period under `Relaxed`.
    pub flush_every_ms: u64,
}

/// Errors of the store. Messages are for logs, never for clients.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// sled or the file system failed; the text is sled's.
    #[error("storage i/o: {0}")]
    Io(String),
    /// A stored key or value could not be decoded (corrupt, or an unknown version).
    #[error("record codec: {0}")]
    Codec(String),
    /// A uniqueness claim failed inside a transaction; the caller's 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The data directory was written by a newer build; refused rather than misread.
    #[error("data dir has schema version {found}, this build reads up to {supported}")]
    SchemaTooNew {
        /// The schema version recorded in the data directory.
        found: u32,
        /// [`SCHEMA_VERSION`]: the newest this build reads.
        supported: u32,
    },
    /// The group-commit flusher has stopped (the store is shutting down).
    #[error("store is closed")]
    Closed,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(s) => s.into(),
        }
    }
}

/// Creates `path` (and missing parents) readable by the owner only: it
/// holds every user's data and the generated JWT secret. An existing
/// directory keeps the mode its operator gave it.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// A cheap-to-clone handle to the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    durability: Durability,
    commits: GroupCommit,
    path: PathBuf,
    /// The previous run ended without [`Store::close`] (a crash or a kill).
    crashed: bool,
    /// Tests only: while set, commits wait here (a flush that takes as
    /// long as the test wants).
    #[cfg(test)]
    held: std::sync::Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// Tests only: commits that have reached the hold.
    #[cfg(test)]
    at_hold: std::sync::atomic::AtomicUsize,
}

/// The `meta` key present while a process has the store open.
const OPEN_MARKER: &str = "open";

impl Store {
    /// Opens (or creates) the store and checks its schema version. Must be
    /// called inside a tokio runtime: it starts the group-commit flusher.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        create_private_dir(&config.path).map_err(|e| StoreError::Io(e.to_string()))?;
        let flush_every = match config.durability {
            // Under sync only the group-commit flusher may flush (see group_commit.rs).
            Durability::Sync => None,
            Durability::Relaxed => Some(config.flush_every_ms.max(1)),
        };
        let db = sled::Config::new()
            .path(config.path.join("db"))
            .cache_capacity(config.cache_capacity)
            .flush_every_ms(flush_every)
            .open()?;
        let meta = db.open_tree("meta")?;
        let store = Self {
            inner: Arc::new(Inner {
                commits: GroupCommit::start(db.clone())?,
                db,
                durability: config.durability,
                path: config.path.clone(),
                crashed: meta.get(OPEN_MARKER)?.is_some(),
                #[cfg(test)]
                held: std::sync::Mutex::new(None),
                #[cfg(test)]
                at_hold: std::sync::atomic::AtomicUsize::new(0),
            }),
        };
        store.check_schema()?;
        // Removed again by `close`: found at the next start, it means this
        // run did not end cleanly.
        meta.insert(OPEN_MARKER, &[])?;
        store.inner.db.flush()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let meta = self.inner.db.open_tree("meta")?;
        match meta.get("schema_version")? {
            None => {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                self.inner.db.flush()?;
                Ok(())
            }
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Codec("schema_version".into()))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                // Migrations from older versions go here, in order. 1 -> 2
                // needs none: version-1 records are read as they are.
                if found < SCHEMA_VERSION {
                    meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                    self.inner.db.flush()?;
                }
                Ok(())
            }
        }
    }

    /// The typed table stored in tree `name`.
    pub fn table<K: StoreKey + ?Sized, V>(&self, name: &str) -> Result<Table<K, V>, StoreError>
    where
        V: Serialize + for<'de> Deserialize<'de>,
    {
        Ok(Table::new(self.inner.db.open_tree(name)?))
    }

    /// Drops tree `name` and what it holds, if there is one (durable with
    /// the next commit).
    pub fn drop_table(&self, name: &str) -> Result<(), StoreError> {
        self.inner.db.drop_tree(name)?;
        Ok(())
    }

    /// Makes every write made before this call durable (a no-op under
    /// `Relaxed`). Concurrent callers share one flush.
    pub async fn commit(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        self.wait_if_held().await;
        match self.inner.durability {
            Durability::Sync => self.inner.commits.wait_durable().await,
            Durability::Relaxed => Ok(()),
        }
    }

    /// Runs `f` as one atomic transaction over `tables`, then commits.
    /// `f` may run more than once on conflicts, so it must not have side effects.
    pub async fn transaction<T>(
        &self,
        tables: &[&dyn TableRef],
        f: impl Fn(&Tx<'_>) -> TxResult<T>,
    ) -> Result<T, StoreError> {
        let out = self.transaction_unflushed(tables, f)?;
        self.commit().await?;
        Ok(out)
    }

    /// [`Store::transaction`] without waiting for the flush: atomic now,
    /// durable with the next commit. Callers that hold a stripe lock use it
    /// and call [`Store::commit`] after letting go, so the lock is never
    /// held across the flush.
    pub fn transaction_unflushed<T>(
        &self,
        tables: &[&dyn TableRef],
        f: impl Fn(&Tx<'_>) -> TxResult<T>,
    ) -> Result<T, StoreError> {
        let trees: Vec<&sled::Tree> = tables.iter().map(|t| t.sled_tree()).collect();
        let names: Vec<sled::IVec> = trees.iter().map(|t| t.name()).collect();
        Ok(trees.as_slice().transaction(|views| {
            f(&Tx {
                trees: views,
                names: &names,
            })
        })?)
    }

    /// A write and read of a probe record: what `/ready` checks.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let meta = self.inner.db.open_tree("meta")?;
        // One key per probe, so that overlapping probes cannot disturb each other.
        let key = format!("ready_probe/{}", uuid::Uuid::new_v4());
        let stamp = chrono::Utc::now().timestamp_micros().to_be_bytes();
        meta.insert(key.as_bytes(), &stamp)?;
        self.commit().await?;
        let read = meta.get(key.as_bytes())?;
        meta.remove(key.as_bytes())?;
        match read {
            Some(v) if v.as_ref() == stamp => Ok(()),
            _ => Err(StoreError::Io("probe read back a different value".into())),
        }
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.db.size_on_disk().unwrap_or(0)
    }

    /// The configured durability.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Flushes everything; call once on shutdown after the writers stopped.
    /// Goes through the flusher whatever the durability, so that under
    /// `sync` no second flush runs beside it (under `relaxed` sled's own
    /// periodic flush may still run).
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.db.open_tree("meta")?.remove(OPEN_MARKER)?;
        self.inner.commits.wait_durable().await
    }

    /// Whether the previous run ended without closing the store (a crash or
    /// a kill): records written in several steps may need a repair.
    pub fn opened_after_crash(&self) -> bool {
        self.inner.crashed
    }
}

#[cfg(test)]
impl Store {
    /// Holds every commit from now until [`Store::release_commits`]: a
    /// flush as slow as the test needs.
    pub(crate) fn hold_commits(&self) {
        if let Ok(mut held) = self.inner.held.lock() {
            *held = Some(Arc::new(tokio::sync::Semaphore::new(0)));
        }
    }

    /// Lets every held commit (and later ones) through.
    pub(crate) fn release_commits(&self) {
        if let Ok(mut held) = self.inner.held.lock()
            && let Some(gate) = held.take()
        {
            gate.close();
        }
    }

    /// How many commits have reached the hold so far.
    pub(crate) fn commits_at_hold(&self) -> usize {
        self.inner.at_hold.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn wait_if_held(&self) {
        let gate = self.inner.held.lock().ok().and_then(|held| held.clone());
        if let Some(gate) = gate {
            self.inner
                .at_hold
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Closing the semaphore is the release.
            let _ = gate.acquire().await;
        }
    }
}

/// A store in `dir` for unit tests, with a small page cache.
#[cfg(test)]
pub(crate) fn open_for_test(dir: &Path, durability: Durability) -> Store {
    let config = StoreConfig {
        path: dir.to_path_buf(),
        durability,
        cache_capacity: 8 << 20,
        flush_every_ms: 500,
    };
    match Store::open(&config) {
        Ok(store) => store,
        Err(e) => panic!("test store: {e}"),
    }
}

/// A table of any type, as [`Store::transaction`] needs it. Sealed: only
/// [`Table`] implements it.
pub trait TableRef: sealed::Sealed + Sync {
    #[doc(hidden)]
    fn sled_tree(&self) -> &sled::Tree;
}

impl<K: ?Sized, V> TableRef for Table<K, V> {
    fn sled_tree(&self) -> &sled::Tree {
        &self.tree
    }
}

mod sealed {
    pub trait Sealed {}
    impl<K: ?Sized, V> Sealed for super::Table<K, V> {}
}

#[cfg(test)]
mod tests;
