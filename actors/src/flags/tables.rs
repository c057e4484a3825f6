//! The flags' store operations: the only code that touches their table,
//! `feature_flags` (key -> flag, so a scan is in key order).

use crate::error::CoreError;
use crate::store::{Store, Table};

use super::flag::FeatureFlag;

/// The flags' table. Cheap to clone.
#[derive(Clone)]
pub struct FlagTables {
    store: Store,
    flags: Table<String, FeatureFlag>,
}

impl FlagTables {
    /// Opens the table.
    pub fn open(store: Store) -> Result<Self, CoreError> {
        Ok(Self {
            flags: store.table("feature_flags")?,
            store,
        })
    }

    /// Every stored flag, in key order: what start-up loads.
    pub fn all(&self) -> Result<Vec<FeatureFlag>, CoreError> {
        self.flags
            .iter()
            .map(|r| r.map(|(_, f)| f).map_err(CoreError::from))
            .collect()
    }

    /// Writes `flag` and waits until it is durable.
    pub async fn put(&self, flag: &FeatureFlag) -> Result<(), CoreError> {
        self.flags.insert(&flag.key, flag)?;
        self.store.commit().await?;
        Ok(())
    }

    /// Removes flag `key` and waits until that is durable.
    pub async fn remove(&self, key: &str) -> Result<(), CoreError> {
        self.flags.remove(&key.to_string())?;
        self.store.commit().await?;
        Ok(())
    }
}
